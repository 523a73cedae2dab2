"""The lecture's training experiments as ready-made runs: vanishing gradients, overfitting, transfer learning.

Each preset is a set of :class:`~cnnviz.methods.training.TrainConfig` run one after another by
:func:`run_comparison` (resumable: pass the trainers back in), or, for transfer learning, a curve of
accuracy against labelled examples per class computed by :func:`transfer_curve` and cached.

Examples::

    >>> trainers = run_comparison(vanishing_configs(), progress=print)
    >>> {k: t.history.points[-1].grad_norms[0] / t.history.points[-1].grad_norms[-1] for k, t in trainers.items()}
    >>> curve = transfer_curve("lenet5-mnist", ns=(10, 100))
    >>> curve.accuracy["frozen features, new head"]
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from cnnviz.core.model import load_model
from cnnviz.core.paths import cache_dir
from cnnviz.core.runtime import StopFlag, stopped
from cnnviz.core.zoo import BUNDLED
from cnnviz.methods.training import (
    NORMALIZATION,
    History,
    LogPoint,
    TrainConfig,
    Trainer,
    TrainingError,
    build_module,
    weight_layers,
)

# ---------------------------------------------------------------------- vanishing gradients

VANISHING_LABELS = ("plain sigmoid", "residual sigmoid", "plain BN + ReLU", "residual BN + ReLU")


def vanishing_configs(depth: int = 20, dataset: str = "mnist", train_size: int = 1000, epochs: int = 1,
                      labels: tuple[str, ...] = VANISHING_LABELS) -> dict[str, TrainConfig]:
    """Same-depth deep CNNs that differ only in activation, BatchNorm and skips (Adam, lr 1e-3, batch 32).

    Args:
        depth: conv layers in every net (the lecture's case: 20).
        labels: which of :data:`VANISHING_LABELS` to train.

    Examples::

        >>> vanishing_configs(labels=("plain sigmoid",))["plain sigmoid"].activation
        'sigmoid'
    """
    shapes = {"plain sigmoid": ("sigmoid", False, False), "residual sigmoid": ("sigmoid", False, True),
              "plain BN + ReLU": ("relu", True, False), "residual BN + ReLU": ("relu", True, True)}
    return {k: TrainConfig("deep-cnn", dataset, depth=depth, activation=shapes[k][0], batchnorm=shapes[k][1],
                           residual=shapes[k][2], width=8, optimizer="adam", lr=1e-3, batch_size=32, epochs=epochs,
                           train_size=train_size, log_every=4)
            for k in labels}


def gradient_ratio(trainer: Trainer, last_points: int = 3) -> float:
    """First weight layer's gradient norm over the last one's, averaged over the last ``last_points`` reports."""
    pts = trainer.history.points[-last_points:]
    first = sum(p.grad_norms[0] for p in pts) / len(pts)
    last = sum(p.grad_norms[-1] for p in pts) / len(pts)
    return first / last if last > 0 else float("nan")


def initial_gradients(configs: dict[str, TrainConfig], images: int = 64) -> dict[str, History]:
    """The picture before any training: each config's fresh network (seeded as :class:`Trainer` builds it), one
    batch of its first ``images`` training images, and the gradient norm of every weight layer, as a
    :class:`History` with one report at step 0 (what the gradient-norm chart draws). Seconds on a CPU.

    Examples::

        >>> h = initial_gradients(vanishing_configs(labels=("plain sigmoid",)))["plain sigmoid"]
        >>> h.points[0].grad_norms[0] / h.points[0].grad_norms[-1]   # tiny: the first layer gets no gradient
    """
    from cnnviz.core.datasets import load_dataset

    out = {}
    for label, cfg in configs.items():
        ds = load_dataset(cfg.dataset, "train")
        mean, std = NORMALIZATION[cfg.dataset]
        x = (torch.from_numpy(np.array(ds.images[:images], copy=True)).float().div_(255).unsqueeze(1) - mean) / std
        y = torch.from_numpy(np.array(ds.labels[:images], copy=True)).long()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            module = build_module(cfg, len(ds.classes))
            module.train()
            out_ = module(x)
            loss = nn.functional.cross_entropy(out_, y)
            loss.backward()
        layers = weight_layers(module)
        norms = tuple(float(w.grad.norm()) if w.grad is not None else 0.0 for _, w in layers)
        acc = float((out_.argmax(1) == y).float().mean())
        h = History([n for n, _ in layers], list(ds.classes))
        h.points.append(LogPoint(0, 0.0, 0, float(loss.detach()), acc, None, norms, 0.0))
        out[label] = h
    return out


# ---------------------------------------------------------------------- overfitting

def overfitting_configs(train_size: int = 500, epochs: int = 30, dataset: str = "mnist") -> dict[str, TrainConfig]:
    """LeNet-5 on ``train_size`` images, without and with augmentation (affine + random erasing) and dropout.

    Examples::

        >>> [c.dropout for c in overfitting_configs().values()]
        [0.0, 0.5]
    """
    from cnnviz.methods.augmentation import step

    base = TrainConfig("lenet5", dataset, optimizer="adam", lr=1e-3, batch_size=32, epochs=epochs,
                       train_size=train_size, log_every=8)
    aug = (step("affine", degrees=15.0, translate=0.1, scale=(0.85, 1.15), shear=10.0), step("erase", p=0.5))
    return {"no augmentation, no dropout": base,
            "augmentation + dropout 0.5": dataclasses.replace(base, augmentation=aug, dropout=0.5)}


def run_comparison(configs: dict[str, TrainConfig], progress: Callable[[str, object], None] | None = None,
                   stop: StopFlag = None, trainers: dict[str, Trainer] | None = None,
                   device: str | torch.device | None = None) -> dict[str, Trainer]:
    """Train every config in turn; returns the trainers (their histories hold the curves).

    Args:
        progress: called as ``progress(label, point_or_epoch_record)``.
        stop: stops the run at the next batch; pass the returned ``trainers`` back in to resume.
        trainers: trainers from a stopped call (resumed where they stopped); new ones are created as needed.
    """
    trainers = trainers if trainers is not None else {}
    for label, cfg in configs.items():
        if stopped(stop):
            break
        if label not in trainers:
            trainers[label] = Trainer(cfg, device=device)
        t = trainers[label]
        t.run((lambda p, label=label: progress(label, p)) if progress else None, stop)
    return trainers


# ---------------------------------------------------------------------- transfer learning

TRANSFER_METHODS = ("from scratch", "frozen features, new head", "fine-tuned, small lr")
TRANSFER_TARGET = {"lenet5-mnist": "fashion-mnist", "small-vgg-fashion": "mnist"}


@dataclass
class TransferCurve:
    """Mean test accuracy on the target data set against labelled examples per class, for each method."""

    source: str
    target: str
    ns: tuple[int, ...]
    steps: int
    seeds: tuple[int, ...]
    accuracy: dict[str, dict[int, float]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(n in self.accuracy.get(m, {}) for m in TRANSFER_METHODS for n in self.ns)

    def to_json(self) -> dict:
        return {"source": self.source, "target": self.target, "ns": list(self.ns), "steps": self.steps,
                "seeds": list(self.seeds),
                "accuracy": {m: {str(n): a for n, a in d.items()} for m, d in self.accuracy.items()}}

    @classmethod
    def from_json(cls, d: dict) -> TransferCurve:
        return cls(d["source"], d["target"], tuple(d["ns"]), d["steps"], tuple(d["seeds"]),
                   {m: {int(n): a for n, a in v.items()} for m, v in d["accuracy"].items()})


def _transfer_trainer(source: str, method: str, n: int, steps: int, seed: int, device) -> Trainer:
    spec = BUNDLED[source]
    target = TRANSFER_TARGET[source]
    batch = min(32, 10 * n)
    batches_per_epoch = -(-10 * n // batch)
    cfg = TrainConfig(spec["architecture"], target, optimizer="adam", lr=1e-3, batch_size=batch,
                      epochs=max(1, -(-steps // batches_per_epoch)), per_class=n, seed=seed, log_every=25,
                      test_epochs=10_000)
    if method == "from scratch":
        return Trainer(cfg, device=device)
    module = load_model(source, device=device).module  # a fresh copy: load_model builds a new module per call
    for p in module.parameters():
        p.requires_grad_(True)
    dim = next(m for m in module.classifier.modules() if isinstance(m, nn.Linear)).in_features
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # a new linear head on the conv features: with 10 images a class, a deeper head overfits them
        module.classifier = nn.Sequential(nn.Flatten(), nn.Linear(dim, 10))
    head = list(module.classifier.parameters())
    if method == "frozen features, new head":
        module.features.requires_grad_(False)
        return Trainer(cfg, device=device, module=module, params=head, frozen=(module.features,))
    rest = [p for name, p in module.named_parameters() if not name.startswith("classifier")]
    return Trainer(cfg, device=device, module=module, params=[{"params": head}, {"params": rest, "lr": 1e-4}])


def _transfer_path(source: str, ns: tuple[int, ...], steps: int, seeds: tuple[int, ...]):
    tag = f"{'-'.join(map(str, ns))}-s{steps}-seeds{'-'.join(map(str, seeds))}"
    return cache_dir("training") / f"transfer-{source}-{tag}.json"


def cached_transfer_curve(source: str = "lenet5-mnist", ns: tuple[int, ...] = (10, 50, 100, 500), steps: int = 200,
                          seeds: tuple[int, ...] = (0, 1, 2)) -> TransferCurve | None:
    """The complete curve :func:`transfer_curve` cached for these settings, or None (nothing is computed)."""
    path = _transfer_path(source, ns, steps, seeds)
    if not path.is_file():
        return None
    try:
        return TransferCurve.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError):
        return None  # a damaged cache file is recomputed


def transfer_curve(source: str = "lenet5-mnist", ns: tuple[int, ...] = (10, 50, 100, 500), steps: int = 200,
                   seeds: tuple[int, ...] = (0, 1, 2),
                   progress: Callable[[TransferCurve, str], None] | None = None, stop: StopFlag = None,
                   curve: TransferCurve | None = None, device: str | torch.device | None = None,
                   cache: bool = True) -> TransferCurve:
    """Accuracy on the other data set from ``n`` labelled examples per class, three ways.

    The bundled model's conv features (``source``: ``"lenet5-mnist"`` -> Fashion-MNIST, ``"small-vgg-fashion"``
    -> MNIST) are reused: frozen with a new linear head, or fine-tuned (head lr 1e-3, the rest 1e-4),
    against the same architecture trained from scratch. Each cell is ``steps`` Adam steps (batch 32) on
    ``10 * n`` images (a seeded draw per class), tested on the whole target test split, averaged over
    ``seeds``. A complete curve is cached as JSON under ``cache_dir("training")``.

    Args:
        progress: called as ``progress(curve, message)`` after every cell.
        stop: stop after the current cell; pass the returned ``curve`` back in to resume.
        curve: a partial curve from a stopped call.

    Examples::

        >>> c = transfer_curve("lenet5-mnist", ns=(10,))
        >>> c.accuracy["frozen features, new head"][10] > c.accuracy["from scratch"][10]
        True
    """
    if source not in TRANSFER_TARGET:
        raise TrainingError(f"transfer starts from a bundled model: {sorted(TRANSFER_TARGET)}, not {source!r}")
    path = _transfer_path(source, ns, steps, seeds)
    if cache and curve is None:
        hit = cached_transfer_curve(source, ns, steps, seeds)
        if hit is not None:
            return hit
    curve = curve or TransferCurve(source, TRANSFER_TARGET[source], tuple(ns), steps, tuple(seeds))
    for n in ns:
        for method in TRANSFER_METHODS:
            if n in curve.accuracy.get(method, {}):
                continue
            if stopped(stop):
                return curve
            accs = []
            for seed in seeds:
                t = _transfer_trainer(source, method, n, steps, seed, device)
                t.run(stop=stop)
                if not t.done:
                    return curve
                accs.append(t.history.test_accuracy)
            curve.accuracy.setdefault(method, {})[n] = sum(accs) / len(accs)
            if progress:
                progress(curve, f"{method}, {n} per class: {curve.accuracy[method][n]:.1%}")
    if cache and curve.complete:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(curve.to_json(), indent=1))
    return curve
