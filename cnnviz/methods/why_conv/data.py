"""The small experiments' shared parts: a few hundred bundled digits as tensors, a seeded training loop, accuracy.

Every experiment of /why-convolutions trains small networks on the CPU, from a seeded initialisation, on a
seeded subset of the bundled digits, in a seeded order: the same call gives the same numbers (on one machine and
thread count). The global random generator is left as it was (``torch.random.fork_rng``), so a server's other
work is not disturbed.

Examples::

    >>> d = load_digits("train", 100, seed=0)
    >>> tuple(d.x.shape), d.y.dtype
    ((100, 1, 28, 28), torch.int64)
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.core.datasets import load_dataset
from cnnviz.core.runtime import StopFlag, stopped
from cnnviz.errors import CnnvizError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class WhyConvError(CnnvizError):
    """A setting of a /why-convolutions experiment that cannot work (the message says which and why)."""


@dataclass(frozen=True)
class Digits:
    """Images ``x`` [N, 1, 28, 28] (normalised: mean 0.1307, std 0.3081 subtracted and divided), labels ``y`` [N]."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def pixels(self) -> np.ndarray:
        """The images back in [0, 1], [N, 28, 28] (for showing them)."""
        return (self.x[:, 0] * MNIST_STD + MNIST_MEAN).clamp(0, 1).numpy()


def load_digits(split: str, n: int, seed: int = 0, dataset: str = "mnist") -> Digits:
    """``n`` images of the bundled ``dataset`` split, drawn at random (seeded) without replacement.

    Raises:
        WhyConvError: more images than the split has.
    """
    ds = load_dataset(dataset, split)
    if not 1 <= n <= len(ds):
        raise WhyConvError(f"the bundled {dataset} {split} split has {len(ds)} images; ask for 1 to {len(ds)}, "
                           f"not {n}")
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    x = torch.from_numpy(ds.images[idx].astype(np.float32) / 255.0).unsqueeze(1)
    return Digits((x - MNIST_MEAN) / MNIST_STD, torch.from_numpy(ds.labels[idx].copy()))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global generator seeded, and restore it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build(make: Callable[[], nn.Module], seed: int) -> nn.Module:
    """A fresh network from ``make()``, its initialisation drawn from ``seed``."""
    with seeded(seed):
        return make()


class MLP(nn.Module):
    """A multilayer perceptron on flattened 28x28 images: 784 -> hidden (ReLU) ... -> classes."""

    def __init__(self, hidden: tuple[int, ...] = (256,), num_classes: int = 10, inputs: int = 784):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for h in hidden:
            layers += [nn.Linear(inputs, h), nn.ReLU()]
            inputs = h
        layers.append(nn.Linear(inputs, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@torch.no_grad()
def accuracy(module: nn.Module, data: Digits, batch_size: int = 1000) -> float:
    """The share of ``data`` the module classifies correctly (in eval mode; its mode is restored)."""
    was = module.training
    module.eval()
    right = sum(int((module(data.x[i:i + batch_size]).argmax(1) == data.y[i:i + batch_size]).sum())
                for i in range(0, len(data), batch_size))
    module.train(was)
    return right / max(1, len(data))


def fit(module: nn.Module, data: Digits, epochs: int, lr: float = 1e-3, batch_size: int = 50, seed: int = 0,
        on_epoch: Callable[[int, nn.Module], None] | None = None, stop: StopFlag = None) -> int:
    """Train ``module`` in place with Adam and cross-entropy, the order of the images drawn from ``seed``.

    Args:
        on_epoch: called after each epoch with (epochs done, module).
        stop: checked between epochs.

    Returns:
        The epochs trained (fewer than ``epochs`` after a stop).
    """
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    module.train()
    for epoch in range(epochs):
        if stopped(stop):
            return epoch
        order = torch.randperm(len(data), generator=gen)
        for i in range(0, len(data), batch_size):
            b = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(module(data.x[b]), data.y[b]).backward()
            opt.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, module)
    return epochs
