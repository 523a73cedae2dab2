"""Networks memorise random labels (Zhang, Bengio, Hardt, Recht & Vinyals 2016).

The same network is trained on the same few hundred digits twice: with their true labels, and with labels drawn
at random (uniformly over the ten classes, seeded) and kept fixed. Given enough epochs it fits both: training
accuracy climbs towards 100% either way. On held-out digits with their true labels the first run generalises;
the second stays at chance (about 10%), because there was nothing to learn but the training set itself. A
network's capacity to fit is therefore no explanation of why it generalises.

Examples::

    >>> y = random_labels(5, seed=0)
    >>> y.shape, bool(((y >= 0) & (y < 10)).all())
    (torch.Size([5]), True)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from cnnviz.core.networks import LeNet5
from cnnviz.core.runtime import Progress, StopFlag, report, stopped
from cnnviz.methods.why_conv.data import MLP, Digits, WhyConvError, accuracy, build, fit, load_digits

NETWORKS: dict[str, tuple[Callable[[], nn.Module], float]] = {  # name -> (constructor, Adam learning rate)
    "mlp": (lambda: MLP((256,)), 3e-3),
    "lenet5": (LeNet5, 2e-3),
}
NETWORK_TITLES = {"mlp": "MLP 784-256-10", "lenet5": "LeNet-5"}
LABELS = ("true", "random")


def random_labels(n: int, seed: int = 0, classes: int = 10) -> torch.Tensor:
    """``n`` labels drawn uniformly from ``classes`` (seeded)."""
    return torch.from_numpy(np.random.default_rng(seed).integers(0, classes, n)).long()


@dataclass
class LabelCurves:
    """Accuracy after each epoch, for the run on true and the run on random labels.

    Attributes:
        train: ``{"true": [...], "random": [...]}``: on the training digits, against the labels each run learned.
        test: the same on held-out digits, against their true labels.
        epochs: 1, 2, ... (as far as each run went).
    """

    network: str
    n_train: int
    n_test: int
    train: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LABELS})
    test: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LABELS})

    def final(self, split: str, labels: str) -> float:
        v = (self.train if split == "train" else self.test)[labels]
        return v[-1] if v else float("nan")

    def snapshot(self) -> LabelCurves:
        """A copy whose curves do not change when this one grows."""
        return LabelCurves(self.network, self.n_train, self.n_test, {k: list(v) for k, v in self.train.items()},
                           {k: list(v) for k, v in self.test.items()})


def label_curves(network: str = "mlp", n_train: int = 300, n_test: int = 500, epochs: int = 30, seed: int = 0,
                 progress: Progress | None = None, stop: StopFlag = None,
                 on_partial: Callable[[LabelCurves], None] | None = None) -> LabelCurves:
    """Train ``network`` (a fresh seeded initialisation each time) on ``n_train`` digits with true labels and with
    random ones, for ``epochs`` epochs of Adam (batches of 50); the accuracies after every epoch.

    ``on_partial`` is called after every epoch (true labels' run first) with a copy of the curves so far; the last
    call's value equals the one returned."""
    if network not in NETWORKS:
        raise WhyConvError(f"unknown network {network!r}; choose one of {sorted(NETWORKS)}")
    make, lr = NETWORKS[network]
    train, test = load_digits("train", n_train, seed), load_digits("test", n_test, seed + 1)
    sets = {"true": train, "random": Digits(train.x, random_labels(n_train, seed))}
    out = LabelCurves(network, n_train, n_test)
    for i, labels in enumerate(LABELS):
        if stopped(stop):
            break
        data = sets[labels]

        def measure(epoch: int, net: nn.Module, labels=labels, data=data, i=i) -> None:
            out.train[labels].append(accuracy(net, data))
            out.test[labels].append(accuracy(net, test))
            report(progress, (i * epochs + epoch) / (len(LABELS) * epochs), f"{labels} labels, epoch {epoch}")
            if on_partial is not None:
                on_partial(out.snapshot())

        fit(build(make, seed), data, epochs, lr=lr, seed=seed, on_epoch=measure, stop=stop)
    report(progress, 1.0, "done")
    return out
