"""Train a CNN on the bundled data and watch it learn: one training loop for the app, the presets and the CLI.

:class:`Trainer` runs the loop. Every ``log_every`` batches it reports the training loss and accuracy, the
gradient norm of every layer and the first layer's filters; after every epoch the test accuracy, the
confusion matrix and a snapshot of the first-layer filters. It checks a stop flag before every batch and
resumes exactly where it stopped (same permutation, same batch). The command line trains the bundled
checkpoints with the same loop::

    python -m cnnviz.train lenet5-mnist --epochs 12
    python -m cnnviz.train small-vgg-fashion --epochs 20

which writes ``assets/models/<name>.safetensors`` and a JSON card (architecture, data, epochs, test
accuracy, the command) beside it.

Examples::

    >>> cfg = TrainConfig("lenet5", "mnist", epochs=1, train_size=2000)
    >>> trainer = Trainer(cfg)
    >>> history = trainer.run(progress=lambda p: print(p.step, round(p.loss, 3)))
    >>> history.epochs[-1].test_accuracy
    >>> handle = trainer.handle()          # a frozen ModelHandle, like load_model's
    >>> data, card = trainer.export()      # safetensors bytes (card inside) + the JSON card
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cnnviz.core.capture import prepare_for_serving
from cnnviz.core.datasets import DATASETS, load_dataset
from cnnviz.core.device import pick_device
from cnnviz.core.model import ModelHandle, load_state_into, read_state_dict, weights_digest
from cnnviz.core.networks import ARCHITECTURES
from cnnviz.core.runtime import StopFlag, stopped
from cnnviz.core.zoo import BUNDLED, MODELS_DIR
from cnnviz.errors import CnnvizError

# per-data-set normalisation, the same as the bundled models' (so weights load back through either path)
NORMALIZATION = {spec["dataset"]: (spec["mean"], spec["std"]) for spec in BUNDLED.values()}
OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD with momentum 0.9", "adam": "Adam", "adamw": "AdamW"}
ARCHITECTURE_TITLES = {"lenet5": "LeNet-5", "small-vgg": "Small VGG", "deep-cnn": "Deep CNN (configurable)",
                       "simple-cnn": "Plain 3x3 CNN"}
CARD_KEY = "cnnviz_training_card"  # safetensors metadata key that carries the JSON card


class TrainingError(CnnvizError):
    """A training setting that cannot work, or a weight file that is not a cnnviz training result."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (hashable: it keys caches and names the run).

    Attributes:
        architecture: ``"lenet5"``, ``"small-vgg"`` or ``"deep-cnn"``.
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        depth, activation, batchnorm, residual, width: the deep CNN's shape (see ``DeepCNN``).
        optimizer: ``"sgd"``, ``"momentum"``, ``"adam"`` or ``"adamw"``.
        lr, batch_size, epochs, weight_decay: as usual.
        schedule: ``"constant"`` or ``"onecycle"`` (the bundled recipe).
        train_size: use the first ``train_size`` training images (None: all); ``per_class`` instead takes
            that many of every class (seeded), for transfer learning.
        dropout: dropout probability before the linear layers (0: off).
        augmentation: steps from the augmentation page's table (``augmentation.step(...)``), applied per image.
        shift, flip: the bundled recipe's fast batched augmentation (random shift up to ``shift`` px, h-flip).
        label_smoothing: cross-entropy label smoothing.
        seed: weights, order of the images and the batched augmentation.
        log_every: batches between progress reports.
        test_every: batches between quick test evaluations on ``quick_test`` test images (0: per epoch only).
        test_epochs: evaluate the whole test split every ``test_epochs`` epochs (and always after the last).
    """

    architecture: str = "lenet5"
    dataset: str = "mnist"
    depth: int = 8
    activation: str = "relu"
    batchnorm: bool = False
    residual: bool = False
    width: int = 16
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 1
    weight_decay: float = 0.0
    schedule: str = "constant"
    train_size: int | None = None
    per_class: int | None = None
    dropout: float = 0.0
    augmentation: tuple = ()
    shift: int = 0
    flip: bool = False
    label_smoothing: float = 0.0
    seed: int = 0
    log_every: int = 10
    test_every: int = 0
    quick_test: int = 500
    test_epochs: int = 1

    def check(self) -> TrainConfig:
        """The config itself, or a :class:`TrainingError` naming the setting to change."""
        if self.architecture not in ARCHITECTURES:
            raise TrainingError(f"unknown architecture {self.architecture!r}; choose one of {sorted(ARCHITECTURES)}")
        if self.dataset not in DATASETS:
            raise TrainingError(f"unknown data set {self.dataset!r}; choose one of {sorted(DATASETS)}")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {self.optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
        if not (0 < self.lr <= 10):
            raise TrainingError(f"learning rate must be in (0, 10], got {self.lr}")
        if self.batch_size < 1 or self.epochs < 1:
            raise TrainingError("batch size and epochs must be at least 1")
        if self.train_size is not None and self.train_size < 10:
            raise TrainingError(f"training-set size must be at least 10 images, got {self.train_size}")
        if not (0.0 <= self.dropout < 1.0):
            raise TrainingError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.architecture == "deep-cnn" and not 2 <= self.depth <= 20:
            raise TrainingError(f"the deep CNN takes 2 to 20 conv layers, got {self.depth}")
        return self

    @property
    def title(self) -> str:
        """A short human description, e.g. ``Deep CNN 20 sigmoid residual on mnist``."""
        if self.architecture == "deep-cnn":
            arch = (f"{self.depth}-layer {self.activation}{' BN' if self.batchnorm else ''}"
                    f"{' residual' if self.residual else ' plain'} CNN")
        else:
            arch = ARCHITECTURE_TITLES[self.architecture]
        return f"{arch} on {self.dataset}"

    def summary(self) -> str:
        """The settings in one line, for the model card and the sidebar."""
        aug = ", ".join(s.spec.name for s in self.augmentation) or ("shift" if self.shift else "none")
        n = self.per_class and f"{self.per_class}/class" or self.train_size or "all"
        return (f"{OPTIMIZERS[self.optimizer]} lr {self.lr:g}{' one-cycle' if self.schedule == 'onecycle' else ''}, "
                f"batch {self.batch_size}, {self.epochs} epoch(s), {n} images, dropout {self.dropout:g}, "
                f"weight decay {self.weight_decay:g}, augmentation {aug}, seed {self.seed}")

    def arch_kwargs(self) -> dict[str, Any]:
        if self.architecture == "deep-cnn":
            return dict(depth=self.depth, activation=self.activation, batchnorm=self.batchnorm, residual=self.residual,
                        width=self.width, dropout=self.dropout)
        return {}

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["augmentation"] = [[s.key, dict(s.values)] for s in self.augmentation]
        return d

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        from cnnviz.methods.augmentation import step

        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["augmentation"] = tuple(step(k, **{n: tuple(v) if isinstance(v, list) else v for n, v in vals.items()})
                                  for k, vals in d.get("augmentation", ()))
        return cls(**d).check()


def build_module(config: TrainConfig, num_classes: int = 10) -> nn.Module:
    """The untrained network of ``config`` (built from the current random state)."""
    module = ARCHITECTURES[config.architecture](num_classes=num_classes, **config.arch_kwargs())
    if config.dropout and config.architecture != "deep-cnn":
        _set_dropout(module, config.dropout)
    return module


def _set_dropout(module: nn.Module, p: float) -> None:
    """Dropout ``p`` in the classifier: existing Dropout layers get ``p``; otherwise it follows each classifier
    ReLU (parameter-free, so the state_dict keys, and loading back, stay the same)."""
    drops = [m for m in module.modules() if isinstance(m, nn.Dropout)]
    if drops:
        for m in drops:
            m.p = p
        return
    head = getattr(module, "classifier", None)
    if isinstance(head, nn.Sequential):
        for i, m in enumerate(head):
            if isinstance(m, nn.ReLU):
                head[i] = nn.Sequential(m, nn.Dropout(p))


def weight_layers(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(layer name, weight)`` of every conv and linear layer, input to output: the gradient-norm chart's rows."""
    return [(name, m.weight) for name, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def first_conv(module: nn.Module) -> nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


@dataclass(frozen=True)
class LogPoint:
    """One progress report: means over the batches since the previous report.

    Attributes:
        step: batches done; epoch: fractional epochs done; images: training images seen.
        loss, train_accuracy: on the (augmented) training batches, in training mode.
        test_accuracy: on the quick test subset when one was evaluated at this point, else None.
        grad_norms: L2 norm of each weight layer's gradient (``History.layers`` order).
        seconds: training time so far (evaluation excluded).
    """

    step: int
    epoch: float
    images: int
    loss: float
    train_accuracy: float
    test_accuracy: float | None
    grad_norms: tuple[float, ...]
    seconds: float


@dataclass(frozen=True)
class EpochRecord:
    """The state after an epoch (epoch 0: before training).

    Attributes:
        filters: the first conv layer's weights ``[out, in, k, k]`` (CPU float32).
        test_accuracy: on the whole test split (None for epoch 0).
        train_accuracy: clean training images (up to 1,000) in eval mode: the train side of the gap.
        confusion: ``[true, predicted]`` counts on the test split (None for epoch 0).
    """

    epoch: int
    filters: np.ndarray
    test_accuracy: float | None = None
    train_accuracy: float | None = None
    train_loss: float | None = None
    confusion: np.ndarray | None = None


@dataclass
class History:
    """What a run has produced so far (appended to by the training thread; read by the page)."""

    layers: list[str]
    classes: list[str]
    points: list[LogPoint] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)
    latest_filters: np.ndarray | None = None

    @property
    def test_accuracy(self) -> float | None:
        """The test accuracy of the latest evaluated epoch (None before the first)."""
        return next((e.test_accuracy for e in reversed(self.epochs) if e.test_accuracy is not None), None)

    def grad_norms_at(self, index: int = -1) -> dict[str, float]:
        """The per-layer gradient norms of one report (default: the last)."""
        return dict(zip(self.layers, self.points[index].grad_norms, strict=True)) if self.points else {}


def _to_pixels(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(images, copy=True)).float().div_(255).unsqueeze(1)


def _shift_flip(x: torch.Tensor, gen: torch.Generator, flip: bool, shift: int) -> torch.Tensor:
    """Random translation by up to ``shift`` pixels (padded with the image minimum) and optional horizontal flip,
    for a whole batch at once (the bundled recipe)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), value=float(x.min()))
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen).to(x.device)
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    rows = (dy[:, None] + ar_h[None]).view(n, 1, h, 1).expand(n, c, h, w + 2 * shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + ar_w[None]).view(n, 1, 1, w).expand(n, c, h, w)
    out = out.gather(3, cols)
    if flip:
        mask = (torch.rand(n, generator=gen) < 0.5).to(x.device)
        out[mask] = out[mask].flip(-1)
    return out


def select_subset(labels: np.ndarray, train_size: int | None, per_class: int | None, seed: int) -> np.ndarray:
    """Indices of the training images a run uses: the first ``train_size``, or ``per_class`` of each class (seeded).

    Examples::

        >>> select_subset(np.array([0, 1, 0, 1, 0]), None, 1, seed=0).size
        2
    """
    if per_class is not None:
        rng = np.random.default_rng(seed)
        picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
        return np.sort(np.concatenate(picks))
    return np.arange(len(labels) if train_size is None else min(train_size, len(labels)))


class Trainer:
    """One training run: model, optimizer and position in the data, resumable after a stop.

    Args:
        config: the run's settings (checked here).
        device: where to train; default :func:`cnnviz.core.device.pick_device`.
        module: start from this network instead of a fresh one (transfer learning); it is trained in place.
        params: train only these parameters, or optimizer parameter groups (dicts with their own ``lr``);
            default: all that require gradients.
        frozen: submodules kept in eval mode while training (frozen features keep their BatchNorm statistics).
        global_seed: also seed torch's global generator (the command line does; a server must not, as it
            is shared by every thread). Dropout and the per-image transforms draw from it.
        batch_transform: ``f(module, normalize, pixels, labels) -> pixels`` applied to every training batch
            after augmentation (adversarial training: :func:`cnnviz.methods.adversarial.adversarial_batch`).
    """

    def __init__(self, config: TrainConfig, device: str | torch.device | None = None, module: nn.Module | None = None,
                 params: list | None = None, frozen: tuple[nn.Module, ...] = (), global_seed: bool = False,
                 batch_transform: Callable | None = None):
        self.batch_transform = batch_transform
        self.config = cfg = config.check()
        self.device = torch.device(device) if device is not None else pick_device()
        tr, te = load_dataset(cfg.dataset, "train"), load_dataset(cfg.dataset, "test")
        self.classes = list(tr.classes)
        idx = select_subset(tr.labels, cfg.train_size, cfg.per_class, cfg.seed)
        self.mean, self.std = NORMALIZATION[cfg.dataset]
        self._xtr = _to_pixels(tr.images[idx]).to(self.device)  # pixels 0..1, normalised per batch
        self._ytr = torch.from_numpy(np.array(tr.labels[idx])).to(self.device)
        self._xte = self.normalize(_to_pixels(te.images).to(self.device))
        self._yte = torch.from_numpy(np.array(te.labels)).to(self.device)
        if module is None:
            if global_seed:
                torch.manual_seed(cfg.seed)
                module = build_module(cfg, len(self.classes))
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(cfg.seed)
                    module = build_module(cfg, len(self.classes))
        self.module = module.to(self.device)
        self.frozen = tuple(frozen)
        trainable = params if params is not None else [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = self._make_optimizer(trainable)
        self.batches_per_epoch = (len(self._xtr) + cfg.batch_size - 1) // cfg.batch_size
        self.scheduler = (torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=cfg.lr,
                                                              total_steps=cfg.epochs * self.batches_per_epoch)
                          if cfg.schedule == "onecycle" else None)
        self._layers = [(n, w) for n, w in weight_layers(self.module) if w.requires_grad]
        self.history = History([n for n, _ in self._layers], self.classes)
        self._gen = torch.Generator().manual_seed(cfg.seed)
        self._augment = self._build_augmentation()
        self.epoch, self.step, self.images, self._batch, self._perm = 0, 0, 0, 0, None
        self.train_seconds = self.eval_seconds = 0.0
        self._acc_at: tuple[int, float | None] = (-1, None)
        self._reset_window()
        self.history.epochs.append(EpochRecord(0, self._filters()))
        self.history.latest_filters = self.history.epochs[0].filters

    # ------------------------------------------------------------------ setup
    def _make_optimizer(self, params) -> torch.optim.Optimizer:
        cfg = self.config
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "momentum":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _build_augmentation(self) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None:
        cfg = self.config
        if not cfg.augmentation and not cfg.shift:
            return None
        from torchvision.transforms import v2

        from cnnviz.methods.augmentation import Target, build_transform

        target = Target(1, 28, 28, len(self.classes))
        steps = [s for s in cfg.augmentation if not s.spec.needs_rgb]
        has_per_image = any(not s.spec.mixing for s in steps)
        per_image = (v2.Compose([build_transform(s, target) for s in steps if not s.spec.mixing])
                     if has_per_image else None)
        mixing = next((build_transform(s, target) for s in steps if s.spec.mixing), None)

        def augment(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if cfg.shift:
                x = _shift_flip(x, self._gen, cfg.flip, cfg.shift)
            if has_per_image:  # v2 draws one set of parameters per call: one call per image
                x = torch.stack([per_image(img) for img in x])
            if mixing is not None:
                return mixing(x, y)
            return x, y

        return augment

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / self.std

    def _filters(self) -> np.ndarray:
        return first_conv(self.module).weight.detach().float().cpu().numpy().copy()

    def _reset_window(self) -> None:
        z = torch.zeros((), device=self.device)
        self._w_loss, self._w_correct, self._w_n = z.clone(), z.clone(), 0
        self._w_grads = torch.zeros(len(self._layers), device=self.device)
        self._w_batches = 0

    @property
    def done(self) -> bool:
        return self.epoch >= self.config.epochs

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> tuple[float, np.ndarray]:
        """Accuracy and confusion matrix ``[true, predicted]`` of the network (eval mode) on normalised ``x``."""
        was = self.module.training
        self.module.eval()
        k = len(self.classes)
        conf = torch.zeros(k * k, dtype=torch.long, device=self.device)
        for i in range(0, len(x), batch):
            pred = self.module(x[i:i + batch]).argmax(1)
            conf += torch.bincount(y[i:i + batch] * k + pred, minlength=k * k)
        self.module.train(was)
        conf = conf.view(k, k).cpu().numpy()
        return float(np.trace(conf) / max(1, conf.sum())), conf

    # ------------------------------------------------------------------ the loop
    def run(self, progress: Callable[[LogPoint | EpochRecord], None] | None = None, stop: StopFlag = None) -> History:
        """Train until ``config.epochs`` are done or ``stop`` is set; call again to resume.

        Args:
            progress: called with every :class:`LogPoint` and :class:`EpochRecord` as it is added to
                :attr:`history` (from this thread).
            stop: a ``threading.Event`` or a callable; checked before every batch.

        Examples::

            >>> flag = threading.Event()
            >>> trainer.run(stop=flag)   # another thread may flag.set(); run() returns at the next batch
        """
        cfg = self.config
        n, bs = len(self._xtr), cfg.batch_size
        while not self.done:
            if self._perm is None:
                self._perm = torch.randperm(n, generator=self._gen).to(self.device)
                self._batch = 0
            self.module.train()
            for m in self.frozen:
                m.eval()
            t0 = time.perf_counter()
            while self._batch < self.batches_per_epoch:
                if stopped(stop):
                    self.train_seconds += time.perf_counter() - t0
                    self._report(progress)
                    return self.history
                idx = self._perm[self._batch * bs:(self._batch + 1) * bs]
                xb, yb = self._xtr[idx], self._ytr[idx]
                xb, target = self._augment(xb, yb) if self._augment else (xb, yb)
                if self.batch_transform is not None:
                    xb = self.batch_transform(self.module, self.normalize, xb, yb)
                out = self.module(self.normalize(xb))
                loss = F.cross_entropy(out, target, label_smoothing=cfg.label_smoothing)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grads = [w.grad if w.grad is not None else torch.zeros((), device=self.device) for _, w in self._layers]
                if grads:
                    self._w_grads += torch.stack(torch._foreach_norm(grads))
                self.optimizer.step()
                if self.scheduler is not None:
                    self.scheduler.step()
                self._w_loss += loss.detach() * len(idx)
                self._w_correct += (out.detach().argmax(1) == yb).sum()
                self._w_n += len(idx)
                self._w_batches += 1
                self.images += len(idx)
                self._batch += 1
                self.step += 1
                if self.step % cfg.log_every == 0 or self._batch == self.batches_per_epoch:
                    self.train_seconds += time.perf_counter() - t0
                    self._report(progress)
                    t0 = time.perf_counter()
            self.train_seconds += time.perf_counter() - t0
            self._end_epoch(progress)
        return self.history

    def _report(self, progress) -> None:
        if not self._w_batches:
            return
        cfg = self.config
        quick = None
        if cfg.test_every and self.step % cfg.test_every == 0 and self._batch < self.batches_per_epoch:
            t0 = time.perf_counter()
            quick, _ = self.evaluate(self._xte[:cfg.quick_test], self._yte[:cfg.quick_test])
            self.eval_seconds += time.perf_counter() - t0
        point = LogPoint(self.step, self.epoch + self._batch / self.batches_per_epoch, self.images,
                         float(self._w_loss) / self._w_n, float(self._w_correct) / self._w_n, quick,
                         tuple((self._w_grads / self._w_batches).tolist()), self.train_seconds)
        self.history.points.append(point)
        self.history.latest_filters = self._filters()
        self._reset_window()
        if progress:
            progress(point)

    def _end_epoch(self, progress) -> None:
        t0 = time.perf_counter()
        self.epoch += 1
        acc = conf = tr_acc = None
        if self.epoch % self.config.test_epochs == 0 or self.done:
            acc, conf = self.evaluate(self._xte, self._yte)
            tr_acc, _ = self.evaluate(self.normalize(self._xtr[:1000]), self._ytr[:1000])
        self.eval_seconds += time.perf_counter() - t0
        self._perm = None
        last = self.history.points[-1] if self.history.points else None
        rec = EpochRecord(self.epoch, self._filters(), acc, tr_acc, last.loss if last else None, conf)
        self.history.epochs.append(rec)
        if progress:
            progress(rec)

    # ------------------------------------------------------------------ results
    def test_accuracy(self) -> float | None:
        """Test accuracy of the weights as they are now: the last epoch's, or (stopped mid-epoch) evaluated now."""
        last = self.history.epochs[-1]
        if self._perm is None and last.test_accuracy is not None and last.epoch == self.epoch:
            return last.test_accuracy
        if self.step == 0:
            return None
        if self._acc_at[0] != self.step:
            self._acc_at = (self.step, self.evaluate(self._xte, self._yte)[0])
        return self._acc_at[1]

    def card(self, name: str | None = None) -> dict:
        """The JSON card: what was trained, how and how well (the bundled cards' fields, plus the config)."""
        cfg = self.config
        acc = self.test_accuracy()
        return {
            "name": name or f"trained-{cfg.architecture}-{cfg.dataset}",
            "title": f"{cfg.title}, trained in cnnviz" + (f" ({acc:.1%})" if acc is not None else ""),
            "architecture": cfg.architecture,
            "dataset": cfg.dataset,
            "classes": self.classes,
            "mean": self.mean,
            "std": self.std,
            "train_images": len(self._xtr),
            "test_images": len(self._xte),
            "epochs": round(self.epoch + (self._batch / self.batches_per_epoch if self._perm is not None else 0), 2),
            "seed": cfg.seed,
            "settings": cfg.summary(),
            "test_accuracy": round(acc, 4) if acc is not None else None,
            "parameters": sum(p.numel() for p in self.module.parameters()),
            "trained_on": str(self.device),
            "train_seconds": round(self.train_seconds, 1),
            "config": cfg.to_json(),
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous().clone() for k, v in self.module.state_dict().items()}

    def export(self, name: str | None = None) -> tuple[bytes, dict]:
        """The weights as safetensors bytes (the card rides in the file's metadata) and the card itself."""
        from safetensors.torch import save

        card = self.card(name)
        return save(self.state_dict(), metadata={CARD_KEY: json.dumps(card)}), card

    def handle(self, name: str | None = None, device: str | torch.device | None = None) -> ModelHandle:
        """A frozen copy of the network as a :class:`ModelHandle` (the run's own module keeps training)."""
        return handle_from_state(self.state_dict(), self.card(name), device or self.device, source="session")


def card_of(data: bytes) -> dict | None:
    """The training card stored in a safetensors file written by :meth:`Trainer.export`, or None."""
    if len(data) < 8:
        return None
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8:8 + n])
        return json.loads(header.get("__metadata__", {}).get(CARD_KEY, "null"))
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None


def handle_from_state(state: dict[str, torch.Tensor], card: dict, device: str | torch.device | None = None,
                      source: str = "upload") -> ModelHandle:
    """Build a frozen handle for trained weights the way ``load_model`` builds bundled ones.

    Args:
        state: the state_dict.
        card: a card from :meth:`Trainer.card` (architecture, config, classes, normalisation).
        source: ``"session"`` (trained in this session) or ``"upload"`` (loaded back from a file).
    """
    try:
        cfg = TrainConfig.from_json(card["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise TrainingError(f"the file's training card is incomplete ({e}); "
                            "re-export the model from the Training page") from None
    dev = torch.device(device) if device is not None else pick_device()
    classes = list(card.get("classes") or DATASETS[cfg.dataset])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = build_module(cfg, len(classes))
    load_state_into(module, state, cfg.title)
    card = dict(card, weights_digest=weights_digest(state), data=cfg.dataset)
    mean, std = card.get("mean", NORMALIZATION[cfg.dataset][0]), card.get("std", NORMALIZATION[cfg.dataset][1])
    return ModelHandle(card.get("name", cfg.architecture), prepare_for_serving(module).to(dev), dev, classes,
                       (1, 28, 28), (mean,), (std,), cfg.architecture, None, True, source, cfg.dataset, card,
                       invert_light_background=cfg.dataset == "mnist")


def load_trained(data: bytes, device: str | torch.device | None = None,
                 filename: str = "upload.safetensors") -> ModelHandle:
    """Load back a model downloaded from the Training page (safetensors with its card inside).

    Examples::

        >>> data, card = trainer.export()
        >>> m = load_trained(data)
        >>> m.card["settings"]
    """
    card = card_of(data)
    if card is None:
        raise TrainingError(f"{filename} carries no cnnviz training card; "
                            "pick its architecture under 'Your own weights' instead")
    return handle_from_state(read_state_dict(data, filename), card, device, source="upload")


# ---------------------------------------------------------------------- the bundled recipe (command line)

def bundled_config(name: str, epochs: int, seed: int = 0, lr: float = 2e-3, batch_size: int = 64,
                   limit: int | None = None) -> TrainConfig:
    """The recipe that trained bundled model ``name``: AdamW, one-cycle, shift (and flip) augmentation."""
    spec = BUNDLED[name]
    return TrainConfig(spec["architecture"], spec["dataset"], optimizer="adamw", lr=lr, batch_size=batch_size,
                       epochs=epochs, weight_decay=spec.get("weight_decay", 1e-4), schedule="onecycle",
                       train_size=limit, shift=spec.get("shift", 0), flip=spec.get("flip", False),
                       label_smoothing=spec.get("label_smoothing", 0.0), seed=seed, log_every=50)


def train(name: str, epochs: int, seed: int = 0, lr: float = 2e-3, batch_size: int = 64, device: str | None = None,
          out_dir=None, limit: int | None = None, adversarial: bool = False) -> dict:
    """Train bundled model ``name`` and write its safetensors + JSON card to ``out_dir`` (default assets/models).

    Args:
        limit: use only the first ``limit`` training images (for quick reproducibility checks).
        adversarial: half of every batch replaced by FGSM examples, epsilon uniform in 0..0.3
            (:func:`cnnviz.methods.adversarial.adversarial_batch`).
    """
    from safetensors.torch import save_file

    spec = BUNDLED[name]
    transform = None
    if adversarial:
        from cnnviz.methods.adversarial import adversarial_batch

        adv_gen = torch.Generator().manual_seed(seed + 1)
        transform = lambda net, norm, xb, yb: adversarial_batch(net, norm, xb, yb, adv_gen)  # noqa: E731
    trainer = Trainer(bundled_config(name, epochs, seed, lr, batch_size, limit), device=device, global_seed=True,
                      batch_transform=transform)

    def report(p):
        if isinstance(p, LogPoint):
            print(f"\repoch {p.epoch:.2f}/{epochs}  loss {p.loss:.4f}", end="", file=sys.stderr, flush=True)
        else:
            print(f"\repoch {p.epoch}/{epochs}  loss {p.train_loss:.4f}  test acc {p.test_accuracy:.4f}  "
                  f"({trainer.train_seconds:.0f} s)", file=sys.stderr)

    trainer.run(report)
    out = Path(out_dir) if out_dir is not None else MODELS_DIR
    out.mkdir(parents=True, exist_ok=True)
    save_file(trainer.state_dict(), str(out / f"{name}.safetensors"))
    card = {
        "name": name,
        "architecture": spec["architecture"],
        "dataset": spec["dataset"],
        "train_images": len(trainer._xtr),
        "test_images": len(trainer._xte),
        "epochs": epochs,
        "seed": seed,
        "optimizer": f"AdamW lr {lr} one-cycle, batch {batch_size}",
        "augmentation": f"shift {spec.get('shift', 0)} px" + (", horizontal flip" if spec.get("flip") else "")
        + (", half of each batch FGSM with epsilon uniform in 0..0.3" if adversarial else ""),
        "test_accuracy": round(trainer.history.test_accuracy, 4),
        "parameters": sum(p.numel() for p in trainer.module.parameters()),
        "command": f"python -m cnnviz.train {name} --epochs {epochs} --seed {seed}"
        + (" --adversarial" if adversarial else ""),
        "trained_on": str(trainer.device),
        "train_seconds": round(trainer.train_seconds + trainer.eval_seconds, 1),
    }
    (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))
    return card


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="cnnviz train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(BUNDLED))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--device", default=None)
    p.add_argument("--out-dir", default=None, help="where to write the checkpoint and card (default: assets/models)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (a quick check)")
    p.add_argument("--adversarial", action="store_true", help="adversarial training: half of each batch FGSM examples")
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train(a.name, a.epochs, a.seed, a.lr, device=a.device, out_dir=a.out_dir, limit=a.limit, adversarial=a.adversarial)


if __name__ == "__main__":
    main()
