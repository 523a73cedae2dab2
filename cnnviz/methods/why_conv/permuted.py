"""Permuted pixels: what a convolution assumes about images, and what a dense network does not.

One fixed permutation of the 784 pixel positions (seeded) is applied to every digit, training and test alike. A
multilayer perceptron treats its input as an unordered list of numbers: permuting the pixels only permutes the
columns of its first weight matrix, which the random initialisation does not care about, so it learns the
permuted digits as well as the plain ones. A CNN (LeNet-5) assumes that neighbouring pixels belong together
(small kernels, pooling); on permuted digits that prior is wrong and its accuracy falls.

Each network is trained twice from the same seeded, fresh initialisation (never a permuted copy of the other
run's weights), on the same digits in the same order: once plain, once permuted. The MLP's two runs come first
(about a second each), then LeNet-5's; ``on_partial`` is given the accuracies so far after every run.

Examples::

    >>> p = pixel_permutation(seed=0)
    >>> sorted(p.tolist()) == list(range(784))
    True
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from cnnviz.core.networks import LeNet5
from cnnviz.core.runtime import Progress, StopFlag, report, stopped
from cnnviz.methods.why_conv.data import MLP, Digits, accuracy, build, fit, load_digits

MODELS: dict[str, tuple[Callable[[], nn.Module], float]] = {  # name -> (constructor, Adam learning rate)
    "MLP": (lambda: MLP((256,)), 1e-3),
    "LeNet-5": (LeNet5, 2e-3),
}
PIXELS = ("plain", "permuted")
COST = {"MLP": 1, "LeNet-5": 5}  # a run's time relative to the MLP's (1 thread): the progress bar's weights


def pixel_permutation(seed: int = 0, size: int = 28 * 28) -> np.ndarray:
    """A fixed random order of the ``size`` pixel positions (seeded)."""
    return np.random.default_rng(seed).permutation(size)


def permute(data: Digits, perm: np.ndarray) -> Digits:
    """The same digits with their pixels moved by ``perm`` (new pixel i = old pixel ``perm[i]``)."""
    x = data.x.flatten(1)[:, torch.from_numpy(np.asarray(perm))].reshape(data.x.shape)
    return Digits(x.contiguous(), data.y)


@dataclass(frozen=True)
class PermutedResult:
    """Test accuracies of each network trained and tested on plain and on permuted digits.

    Attributes:
        accuracy: ``{"MLP": {"plain": 0.91, "permuted": 0.91}, "LeNet-5": {...}}`` (runs a stop cut off are absent).
        permutation: the pixel permutation used.
    """

    accuracy: dict[str, dict[str, float]]
    permutation: np.ndarray
    n_train: int
    n_test: int
    epochs: int
    seed: int

    def snapshot(self) -> PermutedResult:
        """A copy whose accuracies do not change when this result grows."""
        return replace(self, accuracy={m: dict(a) for m, a in self.accuracy.items()})

    def drop(self, model: str) -> float:
        """Accuracy on plain digits minus accuracy on permuted ones (in [−1, 1])."""
        a = self.accuracy[model]
        return a["plain"] - a["permuted"]

    @property
    def complete(self) -> bool:
        return all(len(self.accuracy.get(m, {})) == len(PIXELS) for m in MODELS)


def permuted_experiment(n_train: int = 1000, n_test: int = 2000, epochs: int = 10, seed: int = 0,
                        dataset: str = "mnist", progress: Progress | None = None, stop: StopFlag = None,
                        on_partial: Callable[[PermutedResult], None] | None = None) -> PermutedResult:
    """Train the MLP and LeNet-5 on ``n_train`` digits, plain and permuted; test on ``n_test`` digits each way.

    Args:
        epochs: of Adam, batches of 50, for every run.
        seed: draws the digits, the permutation, each network's initialisation and the order of the batches.
        progress, stop: the usual long-work contract (a stop returns the runs finished so far).
        on_partial: called after every finished run with a copy of the result so far (the runs in order: MLP
            plain, MLP permuted, LeNet-5 plain, LeNet-5 permuted); the last call's value equals the one returned.
    """
    train, test = load_digits("train", n_train, seed, dataset), load_digits("test", n_test, seed + 1, dataset)
    perm = pixel_permutation(seed)
    sets = {"plain": (train, test), "permuted": (permute(train, perm), permute(test, perm))}
    runs = [(m, p) for m in MODELS for p in PIXELS]
    total, done = sum(COST.get(m, 1) for m, _ in runs), 0
    out = PermutedResult({}, perm, n_train, n_test, epochs, seed)
    for name, pixels in runs:
        if stopped(stop):
            break
        make, lr = MODELS[name]
        report(progress, done / total, f"{name} on {pixels} digits")
        done += COST.get(name, 1)
        net = build(make, seed)
        tr, te = sets[pixels]
        if fit(net, tr, epochs, lr=lr, seed=seed, stop=stop) < epochs:
            break
        out.accuracy.setdefault(name, {})[pixels] = accuracy(net, te)
        if on_partial is not None:
            on_partial(out.snapshot())
    report(progress, 1.0, "done")
    return out
