"""Train a bundled model on its bundled data set, reproducibly.

    python -m cnnviz.train lenet5-mnist --epochs 12
    python -m cnnviz.train small-vgg-fashion --epochs 15

Writes ``assets/models/<name>.safetensors`` and a JSON card (architecture, data, epochs,
test accuracy, the command) beside it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cnnviz.core.networks import ARCHITECTURES
from cnnviz.core.datasets import load_dataset
from cnnviz.core.device import pick_device
from cnnviz.core.zoo import BUNDLED, MODELS_DIR


def _to_tensor(images: np.ndarray, mean: float, std: float) -> torch.Tensor:
    return (torch.from_numpy(np.ascontiguousarray(images)).float().div(255).unsqueeze(1) - mean) / std


def _augment(x: torch.Tensor, gen: torch.Generator, flip: bool, shift: int) -> torch.Tensor:
    """Random translation by up to ``shift`` pixels (zero padded) and optional horizontal flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), value=float(x.min()))
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 2 * shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    out = out.gather(3, cols)
    if flip:
        mask = torch.rand(n, generator=gen) < 0.5
        out[mask] = out[mask].flip(-1)
    return out


@torch.no_grad()
def evaluate(module: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int = 500) -> float:
    """Top-1 accuracy of ``module`` on normalised tensors ``x`` with labels ``y``."""
    module.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (module(x[i:i + batch].to(device)).argmax(1).cpu() == y[i:i + batch]).sum().item()
    return correct / len(x)


def train(name: str, epochs: int, seed: int = 0, lr: float = 2e-3, batch_size: int = 64, device: str | None = None,
          out_dir=None, limit: int | None = None) -> dict:
    """Train bundled model ``name`` and write its safetensors + JSON card to ``out_dir`` (default assets/models).

    Args:
        limit: use only the first ``limit`` training images (for quick reproducibility checks).
    """
    from safetensors.torch import save_file

    spec = BUNDLED[name]
    dev = pick_device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tr, te = load_dataset(spec["dataset"], "train"), load_dataset(spec["dataset"], "test")
    xtr, ytr = _to_tensor(tr.images[:limit], spec["mean"], spec["std"]), torch.from_numpy(tr.labels[:limit])
    xte, yte = _to_tensor(te.images, spec["mean"], spec["std"]), torch.from_numpy(te.labels)
    module = ARCHITECTURES[spec["architecture"]](num_classes=len(tr.classes)).to(dev)
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=spec.get("weight_decay", 1e-4))
    steps = epochs * ((len(xtr) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        module.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total, n = 0.0, 0
        for bi, i in enumerate(range(0, len(xtr), batch_size)):
            idx = perm[i:i + batch_size]
            xb = _augment(xtr[idx], gen, spec.get("flip", False), spec.get("shift", 0)) if spec.get("shift", 0) else xtr[idx]
            xb, yb = xb.to(dev), ytr[idx].to(dev)
            loss = F.cross_entropy(module(xb), yb, label_smoothing=spec.get("label_smoothing", 0.0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            n += len(idx)
            if bi % 50 == 0:
                print(f"\repoch {epoch}/{epochs}  {n}/{len(xtr)}  loss {total / n:.4f}", end="", file=sys.stderr, flush=True)
        acc = evaluate(module, xte, yte, dev)
        print(f"\repoch {epoch}/{epochs}  loss {total / n:.4f}  test acc {acc:.4f}  ({time.time() - t0:.0f} s)", file=sys.stderr)
    acc = evaluate(module, xte, yte, dev)
    out = Path(out_dir) if out_dir is not None else MODELS_DIR
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(out / f"{name}.safetensors"))
    card = {
        "name": name,
        "architecture": spec["architecture"],
        "dataset": spec["dataset"],
        "train_images": len(xtr),
        "test_images": len(xte),
        "epochs": epochs,
        "seed": seed,
        "optimizer": f"AdamW lr {lr} one-cycle, batch {batch_size}",
        "augmentation": f"shift {spec.get('shift', 0)} px" + (", horizontal flip" if spec.get("flip") else ""),
        "test_accuracy": round(acc, 4),
        "parameters": sum(p.numel() for p in module.parameters()),
        "command": f"python -m cnnviz.train {name} --epochs {epochs} --seed {seed}",
        "trained_on": str(dev),
        "train_seconds": round(time.time() - t0, 1),
    }
    (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))
    return card


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="cnnviz train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(BUNDLED))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--device", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train(a.name, a.epochs, a.seed, a.lr, device=a.device)


if __name__ == "__main__":
    main()
