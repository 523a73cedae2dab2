"""Train the bundled ``capsnet-mnist``: margin loss + 0.0005 x reconstruction, Adam, shifts up to 2 px, seeded.

::

    python -m cnnviz.train capsnet-mnist --epochs 15 --seed 0

writes ``assets/models/capsnet-mnist.safetensors`` and its JSON card. The run is seeded (the weights, the
order of the digits and the shifts each from the seed, one thread), so the command reproduces the file.

Examples::

    >>> result = train_capsnet(epochs=1, limit=256)
    >>> result.test_accuracy
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from cnnviz.core.capsnet import CapsNet, capsule_lengths
from cnnviz.core.datasets import load_dataset
from cnnviz.core.device import pick_device
from cnnviz.core.paths import MODELS_DIR
from cnnviz.core.runtime import Progress, StopFlag, report, stopped
from cnnviz.core.zoo import BUNDLED
from cnnviz.methods.capsules.losses import LAMBDA, M_MINUS, M_PLUS, RECONSTRUCTION_WEIGHT, capsnet_loss

NAME = "capsnet-mnist"
SHIFT = 2  # pixels, as in the paper
LR_DECAY = 0.9  # per epoch


@dataclass
class CapsNetTraining:
    """The trained module and how it went (per epoch: the mean training loss and the test accuracy)."""

    module: CapsNet
    train_images: int
    test_images: int
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    train_seconds: float = 0.0

    @property
    def test_accuracy(self) -> float:
        return self.accuracies[-1] if self.accuracies else float("nan")


def shift_batch(pixels: torch.Tensor, gen: torch.Generator, shift: int = SHIFT) -> torch.Tensor:
    """Every image (batch, 1, 28, 28) moved by a random whole number of pixels in -shift..shift each way,
    zero-padded (pixels in [0, 1], so 0 is the background)."""
    n, _, h, w = pixels.shape
    padded = F.pad(pixels, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None]).to(pixels.device)  # (n, h)
    cols = (dx[:, None] + torch.arange(w)[None]).to(pixels.device)  # (n, w)
    idx = torch.arange(n, device=pixels.device)[:, None, None]
    return padded[:, 0][idx, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def _pixels(split: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    ds = load_dataset("mnist", split)
    images, labels = ds.images[:limit], ds.labels[:limit]
    return torch.from_numpy(np.asarray(images, np.float32) / 255.0).unsqueeze(1), torch.tensor(labels)


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    spec = BUNDLED[NAME]
    return (pixels - spec["mean"]) / spec["std"]


@torch.no_grad()
def accuracy(module: CapsNet, pixels: torch.Tensor, labels: torch.Tensor, batch: int = 500) -> float:
    """The share of ``pixels`` whose longest digit capsule is the label."""
    module.eval()
    device = next(module.parameters()).device
    hits = 0
    for i in range(0, len(labels), batch):
        pred = module(normalize(pixels[i:i + batch]).to(device)).argmax(dim=1).cpu()
        hits += int((pred == labels[i:i + batch]).sum())
    return hits / len(labels)


def train_capsnet(epochs: int = 15, seed: int = 0, lr: float = 1e-3, batch_size: int = 64,
                  device: str | torch.device | None = None, limit: int | None = None, test_limit: int | None = None,
                  progress: Progress | None = None,
                  stop: StopFlag = None) -> CapsNetTraining:
    """Train a :class:`CapsNet` on the bundled MNIST training digits (the first ``limit``, or all 8,000), measured
    after every epoch on the test digits (the first ``test_limit``, or all 2,000).

    Adam at ``lr`` decayed by 0.9 per epoch; each batch shifted up to 2 px; the loss is the margin loss on the
    capsule lengths plus 0.0005 x the sum-squared error of the decoder's reconstruction from the true digit's
    capsule. ``progress(fraction, text)`` follows every batch (:func:`cnnviz.core.runtime.report`; the text gives
    the epoch, the batch and its loss); ``stop`` is checked before every batch.
    """
    dev = pick_device(device) if not isinstance(device, torch.device) else device
    torch.manual_seed(seed)
    module = CapsNet().to(dev)
    order_gen = torch.Generator().manual_seed(seed)
    shift_gen = torch.Generator().manual_seed(seed + 1)
    x_train, y_train = _pixels("train", limit)
    x_test, y_test = _pixels("test", test_limit)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, LR_DECAY)
    result = CapsNetTraining(module, len(y_train), len(y_test))
    start = time.perf_counter()
    for epoch in range(epochs):
        module.train()
        perm = torch.randperm(len(y_train), generator=order_gen)
        total, seen = 0.0, 0
        for b, i in enumerate(range(0, len(perm), batch_size)):
            if stopped(stop):
                result.train_seconds = time.perf_counter() - start
                return result
            idx = perm[i:i + batch_size]
            pixels = shift_batch(x_train[idx], shift_gen).to(dev)
            labels = y_train[idx].to(dev)
            v = module.capsules(normalize(pixels))
            loss = capsnet_loss(capsule_lengths(v), labels, module.decode(v, labels), pixels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
            if progress is not None:
                n_batches = -(-len(perm) // batch_size)
                report(progress, (epoch + (b + 1) / n_batches) / epochs,
                       f"epoch {epoch + 1}/{epochs}, batch {b + 1}/{n_batches}, loss {float(loss.detach()):.4f}")
        sched.step()
        result.losses.append(total / max(seen, 1))
        result.accuracies.append(accuracy(module, x_test, y_test))
        print(f"epoch {epoch + 1}/{epochs}  loss {result.losses[-1]:.4f}  test acc {result.accuracies[-1]:.4f}  "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    result.train_seconds = time.perf_counter() - start
    module.eval()
    return result


def card(result: CapsNetTraining, epochs: int, seed: int, lr: float, batch_size: int, device: str) -> dict:
    """The JSON card: the keys of the other bundled models' cards plus the loss, routing and what forward returns."""
    spec, net = BUNDLED[NAME], result.module
    return {
        "name": NAME,
        "architecture": spec["architecture"],
        "dataset": spec["dataset"],
        "train_images": result.train_images,
        "test_images": result.test_images,
        "epochs": epochs,
        "seed": seed,
        "optimizer": f"Adam lr {lr} decayed x{LR_DECAY} per epoch, batch {batch_size}",
        "augmentation": f"shift {SHIFT} px",
        "test_accuracy": round(result.test_accuracy, 4),
        "parameters": sum(p.numel() for p in net.parameters()),
        "command": f"python -m cnnviz.train {NAME} --epochs {epochs} --seed {seed}"
        + (f" --lr {lr}" if lr != 1e-3 else ""),
        "trained_on": device,
        "train_seconds": round(result.train_seconds, 1),
        "loss": f"margin loss (m+ {M_PLUS}, m- {M_MINUS}, lambda {LAMBDA}) + {RECONSTRUCTION_WEIGHT} x sum-squared "
                "reconstruction error (decoder fed the true digit's capsule, the others masked)",
        "layers": f"conv {net.conv1.out_channels}@9x9 ReLU -> PrimaryCaps {net.primary.types} types x 6x6 of "
                  f"{net.primary.dim}-D (conv 9x9 stride 2, squashed) -> DigitCaps 10 x {net.digit_dim}-D; "
                  "decoder FC 512 -> 1024 -> 784 sigmoid",
        "routing_iterations": net.iterations,
        "forward_returns": "the logit of each digit capsule's length, log(|v| / (1 - |v|)); softmax gives "
                           "probabilities, the argmax is the longest capsule",
    }


def main(argv=None) -> dict:
    """``python -m cnnviz.train capsnet-mnist [--epochs --seed --lr --batch-size --device --out-dir --limit
    --test-limit]``."""
    p = argparse.ArgumentParser(prog="cnnviz train capsnet-mnist", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None)
    p.add_argument("--out-dir", default=None, help="where to write the checkpoint and card (default: assets/models)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (a quick check)")
    p.add_argument("--test-limit", type=int, default=None, help="measure on the first N test images only")
    a = p.parse_args(argv)
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    result = train_capsnet(a.epochs, a.seed, a.lr, a.batch_size, device=a.device, limit=a.limit,
                           test_limit=a.test_limit)
    out = Path(a.out_dir) if a.out_dir is not None else MODELS_DIR
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in result.module.state_dict().items()}
    save_file(state, str(out / f"{NAME}.safetensors"))
    c = card(result, a.epochs, a.seed, a.lr, a.batch_size, str(next(result.module.parameters()).device))
    (out / f"{NAME}.json").write_text(json.dumps(c, indent=2) + "\n")
    print(json.dumps(c, indent=2))
    return c


if __name__ == "__main__":
    main()
