"""Training the bundled ``digit-detector`` (``python -m cnnviz.train digit-detector``).

Every epoch draws fresh canvases from the bundled MNIST *train* digits (sides 96-160 px, 2-6 digits of
20-44 px), in batches of 8 canvases of one size; AdamW, 10 epochs with a one-cycle schedule then 2 at
a tenth of the learning rate; one CPU thread, all seeded, so the same command gives the same weights.
At the end the detector is scored on held-out canvases of *test* digits at sizes it never saw (64 and
256 px, and 200x300) and the numbers go on the card ``assets/models/digit-detector.json`` beside
``digit-detector.safetensors``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from cnnviz.core.paths import MODELS_DIR
from cnnviz.core.weights import read_state_dict
from cnnviz.methods.detection.canvases import make_canvas, make_canvases
from cnnviz.methods.detection.detector import NAME, build_detector
from cnnviz.methods.detection.evaluate import precision_recall

TRAIN_SIDES = (96, 160)
TRAIN_OBJECTS = (2, 6)
BATCH = 8
EVAL_SIZES = {"64": 64, "256": 256, "200x300": (200, 300)}  # none of them in 96-160
EVAL_OBJECTS = {"64": (1, 3), "256": (3, 8), "200x300": (3, 8)}
EVAL_SEED = 1000


def training_batch(seed: int, epoch: int, batch: int) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """One batch: ``BATCH`` canvases of one random size, as images in [0, 1] and torchvision targets."""
    rng = np.random.default_rng([seed, epoch, batch])
    h, w = (int(v) for v in rng.integers(TRAIN_SIDES[0], TRAIN_SIDES[1] + 1, size=2))
    images, targets = [], []
    for k in range(BATCH):
        c = make_canvas((h, w), TRAIN_OBJECTS, "mnist", "train", seed=int(rng.integers(2**31)) + k)
        images.append(torch.from_numpy(c.image.astype(np.float32) / 255.0)[None])
        targets.append({"boxes": torch.from_numpy(c.boxes), "labels": torch.from_numpy(c.labels) + 1})
    return images, targets


def evaluate(model, count: int, seed: int = EVAL_SEED) -> dict[str, dict[str, float]]:
    """Precision and recall at IoU 0.5 on ``count`` held-out canvases of test digits per size."""
    model.eval()
    out = {}
    for key, size in EVAL_SIZES.items():
        pr = precision_recall(model, make_canvases(count, size, EVAL_OBJECTS[key], "mnist", "test", seed))
        out[key] = {"precision": round(pr.precision, 4), "recall": round(pr.recall, 4),
                    "objects": pr.objects, "detections": pr.detections}
    return out


def _epochs(model, dev, seed: int, first: int, epochs: int, batches: int, opt, sched, log) -> None:
    t0 = time.perf_counter()
    for epoch in range(first, first + epochs):
        model.train()
        total = 0.0
        for b in range(batches):
            images, targets = training_batch(seed, epoch, b)
            losses = model([i.to(dev) for i in images], [{k: v.to(dev) for k, v in t.items()} for t in targets])
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
        log(f"epoch {epoch + 1}: loss {total / batches:.4f} ({time.perf_counter() - t0:.0f} s)")


def train(epochs: int = 10, seed: int = 0, device: str | None = None, out_dir: str | Path | None = None,
          batches: int = 150, eval_canvases: int = 200, lr: float = 2e-3, finetune_epochs: int = 2,
          resume: str | Path | None = None, log=print) -> dict:
    """Train, score and write the weights and the card; returns the card.

    Two stages: ``epochs`` with a one-cycle schedule peaking at ``lr``, then ``finetune_epochs`` more at
    ``lr / 10`` decaying to 0 (cosine), reseeded with ``seed + 1`` so that ``resume`` (the weights after the
    first stage) continues exactly as one run does.
    """
    from safetensors.torch import save_file

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        dev = torch.device(device or "cpu")
        model = build_detector().to(dev)
        t0 = time.perf_counter()
        if resume:
            model.load_state_dict(read_state_dict(resume))
        else:
            opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * batches),
                                                        pct_start=0.15)
            _epochs(model, dev, seed, 0, epochs, batches, opt, sched, log)
        torch.manual_seed(seed + 1)
        opt = torch.optim.AdamW(model.parameters(), lr=lr / 10, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, finetune_epochs * batches))
        _epochs(model, dev, seed, epochs, finetune_epochs, batches, opt, sched, log)
        seconds = time.perf_counter() - t0
        scores = evaluate(model, eval_canvases)
        log(f"held-out: {scores}")
    finally:
        torch.set_num_threads(threads)
    out = Path(out_dir) if out_dir else MODELS_DIR
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / f"{NAME}.safetensors"))
    card = {
        "name": NAME,
        "architecture": "torchvision FasterRCNN: 5-conv backbone (stride 4, 64 channels), RPN with 9 anchors "
                        "(16/28/44 px x height/width 1/2/3), RoIAlign 7x7, 2x128 MLP head, 11 classes",
        "dataset": "mnist",
        "train_canvases": (epochs + finetune_epochs) * batches * BATCH,
        "train_canvas_sides": f"{TRAIN_SIDES[0]}-{TRAIN_SIDES[1]} px (height and width drawn apart)",
        "digits_per_canvas": f"{TRAIN_OBJECTS[0]}-{TRAIN_OBJECTS[1]} of 20-44 px, bundled train digits",
        "epochs": epochs + finetune_epochs,
        "seed": seed,
        "optimizer": f"AdamW, weight decay 1e-4, batch {BATCH}, fresh canvases every epoch: {epochs} epochs one-cycle "
                     f"to lr {lr}, then {finetune_epochs} at lr {lr / 10} cosine to 0",
        "held_out": {"canvases_per_size": eval_canvases, "digits": "bundled test digits", "iou": 0.5,
                     "score_threshold": 0.5, "scores": scores},
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": f"python -m cnnviz.train {NAME} --epochs {epochs} --seed {seed}",
        "trained_on": str(dev),
        "threads": 1,
        "train_seconds": round(seconds, 1),
    }
    (out / f"{NAME}.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv=None) -> dict:
    """``python -m cnnviz.train digit-detector [--epochs --seed --device --out-dir --limit]``."""
    p = argparse.ArgumentParser(prog=f"cnnviz train {NAME}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--finetune-epochs", type=int, default=2, help="epochs at a tenth of the learning rate after")
    p.add_argument("--resume", default=None, help="weights after the first stage: run only the second")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out-dir", default=None, help="where to write the weights and card (default: assets/models)")
    p.add_argument("--limit", type=int, default=None,
                   help="a quick check: this many batches per epoch and as many held-out canvases per size")
    p.add_argument("--lr", type=float, default=2e-3)
    a = p.parse_args(argv)
    batches = a.limit if a.limit else 150
    return train(a.epochs, a.seed, a.device, a.out_dir, batches=batches, eval_canvases=a.limit or 200, lr=a.lr,
                 finetune_epochs=a.finetune_epochs, resume=a.resume)


if __name__ == "__main__":
    main()
