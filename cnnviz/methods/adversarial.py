"""Adversarial examples: FGSM and PGD (L-inf and L2), the smallest flipping epsilon, accuracy against epsilon
beside random noise of the same size, transfer between models, and adversarial batches for robust training.

Every attack works in **pixel space** (0..1, whatever the model's normalisation): epsilon is a size in that
scale, the image is normalised inside the loss, and the result is clipped back to valid pixels. Gradients are
input gradients only (``pixels.detach().requires_grad_(True)`` and ``torch.autograd.grad``), so the shared,
frozen module is never changed and several sessions can attack it at once. Batches are attacked together
(one forward and one backward pass per step for the whole batch), on the model's device.

The attacks follow Captum's ``captum.robust.FGSM`` and ``PGD`` (the tests compare them step for step), with
one difference: L2 PGD here steps along the L2-normalised gradient (Madry et al. 2018), where Captum's steps
along its sign and only projects onto the L2 ball.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods import adversarial as adv
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> ex = adv.attack_image(m, cnnviz.load_image("assets/samples/digit-7.png"),
    ...                       adv.AttackSpec("pgd", epsilon=0.15))
    >>> ex.clean_class, ex.adversarial_class, round(ex.linf, 2)
    (7, 3, 0.15)
    >>> batch = adv.test_batch(m, n=500)
    >>> curve = adv.robustness_curve(m, batch, adv.AttackSpec("fgsm"), epsilons=[0.0, 0.1, 0.2])
    >>> curve.attack_accuracy, curve.noise_accuracy
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from cnnviz.core.runtime import Progress, StopFlag, report, stopped
from cnnviz.errors import CnnvizError

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle

METHODS = {"fgsm": "FGSM (one signed-gradient step)", "pgd": "PGD (projected gradient steps)"}
NORMS = {"linf": "L∞", "l2": "L2"}


class AdversarialError(CnnvizError):
    """An attack that cannot work: a setting out of range, a model with no input gradient, unlabelled data."""


class NoGradientError(AdversarialError):
    """The model gives no gradient of its output with respect to its input (a non-differentiable graph)."""


# ============================================================== the attack's settings
@dataclass(frozen=True)
class AttackSpec:
    """One attack (hashable: it keys caches and is mirrored in the page's URL).

    Attributes:
        method: ``"fgsm"`` (one step of size epsilon) or ``"pgd"`` (``steps`` projected steps).
        epsilon: the perturbation budget in the 0..1 pixel scale (max per pixel for L-inf, vector length for L2).
        norm: ``"linf"`` or ``"l2"``.
        steps: PGD steps.
        step_size: PGD step in pixels; None: ``2.5 * epsilon / steps`` (Madry et al.).
        random_start: PGD starts from a uniform random point of the epsilon ball.
        target: the class to push towards (targeted attack); None: away from the clean class.
        seed: the random start's generator.
    """

    method: str = "fgsm"
    epsilon: float = 0.1
    norm: str = "linf"
    steps: int = 10
    step_size: float | None = None
    random_start: bool = True
    target: int | None = None
    seed: int = 0

    def check(self, num_classes: int | None = None) -> AttackSpec:
        """The spec itself, or an :class:`AdversarialError` naming the setting to change."""
        if self.method not in METHODS:
            raise AdversarialError(f"unknown attack {self.method!r}; choose one of {sorted(METHODS)}")
        if self.norm not in NORMS:
            raise AdversarialError(f"unknown norm {self.norm!r}; choose 'linf' or 'l2'")
        if not (0.0 <= self.epsilon <= (1.0 if self.norm == "linf" else 1000.0)):
            raise AdversarialError(f"epsilon must be in [0, 1] for L-inf (pixels are 0..1), got {self.epsilon}")
        if self.method == "pgd" and not 1 <= self.steps <= 1000:
            raise AdversarialError(f"PGD takes 1 to 1000 steps, got {self.steps}")
        if self.step_size is not None and self.step_size <= 0:
            raise AdversarialError(f"the step size must be positive, got {self.step_size}")
        if self.target is not None and num_classes is not None and not 0 <= self.target < num_classes:
            raise AdversarialError(f"target class {self.target} out of range: the model has {num_classes} classes "
                                   f"(0..{num_classes - 1})")
        return self

    @property
    def targeted(self) -> bool:
        return self.target is not None

    def alpha(self, epsilon: float | None = None) -> float:
        """The PGD step for budget ``epsilon`` (default the spec's)."""
        eps = self.epsilon if epsilon is None else epsilon
        return self.step_size if self.step_size is not None else 2.5 * eps / self.steps

    @property
    def label(self) -> str:
        """A short name, e.g. ``PGD-10 L∞`` or ``FGSM L2``."""
        name = f"PGD-{self.steps}" if self.method == "pgd" else "FGSM"
        return f"{name} {NORMS[self.norm]}" + (" targeted" if self.targeted else "")


# ============================================================== pixels <-> model input
def loss_gradient(m: ModelHandle, pixels: torch.Tensor, labels: torch.Tensor, targeted: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The direction that raises the attack's objective, and the logits, for a pixel batch.

    The objective is the summed cross-entropy of ``labels`` (untargeted: raise it) or minus it (targeted:
    ``labels`` are the targets, lower it), so each image's gradient is its own.

    Args:
        m: the model (its module is only read).
        pixels: ``[N, C, H, W]`` in 0..1 on the model's device.
        labels: ``[N]`` class indices.
        targeted: descend instead of ascend.

    Raises:
        NoGradientError: the model's output does not depend differentiably on its input.

    Examples::

        >>> g, logits = loss_gradient(m, pixels, labels)
        >>> g.shape == pixels.shape
        True
    """
    p = pixels.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = m.module(m.normalize(p))
        if not isinstance(logits, torch.Tensor) or not logits.requires_grad:
            raise NoGradientError(f"{m.name} gives no gradient of its output with respect to its input, so "
                                  "gradient attacks cannot run on it (a converted or quantised graph, or one that "
                                  "detaches its input). Use a PyTorch model with differentiable layers.")
        loss = F.cross_entropy(logits.float(), labels, reduction="sum")
        (g,) = torch.autograd.grad(loss, p, allow_unused=True)
    if g is None:
        raise NoGradientError(f"{m.name}'s loss does not depend on its input pixels; gradient attacks need a "
                              "model whose output is computed from its input by differentiable layers")
    return (-g if targeted else g), logits.detach()


def _per_sample(eps: float | torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
    e = torch.as_tensor(eps, dtype=torch.float32, device=device)
    return (e.expand(n) if e.ndim == 0 else e).view(n, 1, 1, 1)


def _l2_unit(v: torch.Tensor) -> torch.Tensor:
    """Each sample of ``v`` divided by its L2 norm (zero stays zero)."""
    n = v.flatten(1).norm(dim=1).clamp_min(1e-12)
    return v / n.view(-1, *([1] * (v.ndim - 1)))


def _project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return torch.maximum(torch.minimum(delta, eps), -eps)
    n = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    return delta * torch.where(n > eps, eps / n.clamp_min(1e-12), torch.ones_like(n))


def random_start(shape: Sequence[int], norm: str, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """A uniform random point of the unit ball (per sample), to be scaled by epsilon: ``[-1, 1]`` per pixel for
    L-inf; for L2 a uniform direction with radius ``u ** (1 / d)`` (as Captum's PGD draws it)."""
    shape = tuple(shape)
    if norm == "linf":
        return (torch.rand(shape, generator=generator) * 2 - 1).to(device)
    d = math.prod(shape[1:])
    u = _l2_unit(torch.randn(shape, generator=generator))
    r = torch.rand(shape[0], generator=generator) ** (1.0 / d)
    return (u * r.view(-1, *([1] * (len(shape) - 1)))).to(device)


def perturb(m: ModelHandle, pixels: torch.Tensor, labels: torch.Tensor, spec: AttackSpec,
            epsilon: float | torch.Tensor | None = None, start: torch.Tensor | None = None) -> torch.Tensor:
    """Adversarial pixels for a batch: FGSM or PGD, L-inf or L2, untargeted or targeted.

    Args:
        m: the model attacked.
        pixels: ``[N, C, H, W]`` in 0..1 on the model's device.
        labels: ``[N]``: the true (or clean-predicted) classes; for a targeted spec, the classes to reach.
        spec: the attack.
        epsilon: overrides ``spec.epsilon``; a tensor ``[N]`` gives each image its own budget (the
            minimal-epsilon search attacks one image at many budgets in one batch).
        start: PGD's random start on the unit ball ``[N, C, H, W]``; default drawn from ``spec.seed``.

    Examples::

        >>> adv = perturb(m, pixels, labels, AttackSpec("pgd", epsilon=0.15, steps=10))
        >>> float((adv - pixels).abs().max()) <= 0.15 + 1e-6
        True
    """
    n = len(pixels)
    x = pixels.detach()
    eps = _per_sample(spec.epsilon if epsilon is None else epsilon, n, x.device)
    if spec.method == "fgsm":
        g, _ = loss_gradient(m, x, labels, spec.targeted)
        step = g.sign() if spec.norm == "linf" else _l2_unit(g)
        return (x + eps * step).clamp(0, 1)
    if epsilon is None or spec.step_size is not None:
        alpha = _per_sample(spec.alpha(), n, x.device)
    else:
        alpha = eps * (2.5 / spec.steps)
    if spec.random_start:
        if start is None:
            start = random_start(x.shape, spec.norm, torch.Generator().manual_seed(spec.seed), x.device)
        adv = (x + eps * start).clamp(0, 1)
    else:
        adv = x.clone()
    for _ in range(spec.steps):
        g, _ = loss_gradient(m, adv, labels, spec.targeted)
        adv = adv + alpha * (g.sign() if spec.norm == "linf" else _l2_unit(g))
        adv = (x + _project(adv - x, eps, spec.norm)).clamp(0, 1)
    return adv.detach()


def random_noise(pixels: torch.Tensor, epsilon: float, norm: str, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """Random noise of the attack's size: ``±epsilon`` random signs per pixel (L-inf) or a random direction of
    length epsilon (L2), added and clipped to 0..1 the way an attack is.

    Examples::

        >>> noisy = random_noise(pixels, 0.2, "linf", torch.Generator().manual_seed(0))
    """
    shape = pixels.shape
    if norm == "linf":
        d = torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
    else:
        d = _l2_unit(torch.randn(shape, generator=generator))
    return (pixels + epsilon * d.to(pixels.device)).clamp(0, 1)


@torch.no_grad()
def predict_classes(m: ModelHandle, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The predicted class of each pixel image (batched forward passes, no gradients)."""
    out = [m.module(m.normalize(pixels[i:i + batch_size])).argmax(1) for i in range(0, len(pixels), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=pixels.device)


# ============================================================== one image
@dataclass
class AdversarialExample:
    """One image before and after the attack.

    Attributes:
        spec: the attack.
        clean, adversarial: pixels ``[C, H, W]`` (0..1, on the device).
        clean_probs, adversarial_probs: softmax over the classes.
        clean_class: the class predicted on the clean image (the class an untargeted attack pushes away from).
        classes: the model's class names.
    """

    spec: AttackSpec
    clean: torch.Tensor
    adversarial: torch.Tensor
    clean_probs: torch.Tensor
    adversarial_probs: torch.Tensor
    clean_class: int
    classes: list[str]

    @property
    def adversarial_class(self) -> int:
        return int(self.adversarial_probs.argmax())

    @property
    def perturbation(self) -> torch.Tensor:
        """adversarial - clean, in pixels (what was added)."""
        return self.adversarial - self.clean

    @property
    def linf(self) -> float:
        return float(self.perturbation.abs().max())

    @property
    def l2(self) -> float:
        return float(self.perturbation.flatten().norm())

    @property
    def success(self) -> bool:
        """Untargeted: the prediction changed; targeted: it is the target class."""
        if self.spec.targeted:
            return self.adversarial_class == self.spec.target
        return self.adversarial_class != self.clean_class

    def top(self, adversarial: bool, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable ``(class, probability)`` before or after the attack."""
        p = self.adversarial_probs if adversarial else self.clean_probs
        v, i = p.topk(min(k, len(p)))
        return [(self.classes[int(j)], float(q)) for q, j in zip(v, i, strict=True)]


def image_pixels(m: ModelHandle, img) -> torch.Tensor:
    """The image as the model sees it (resized, cropped, grey or RGB), in pixels ``[1, C, H, W]``."""
    x = m.preprocess(img)
    if x.ndim != 4 or x.shape[0] != 1:
        raise AdversarialError(f"expected one image, got a batch of shape {tuple(x.shape)}; attack one image at a time")
    return m.to_pixels(x.detach())


@torch.no_grad()
def _probs(m: ModelHandle, pixels: torch.Tensor) -> torch.Tensor:
    return F.softmax(m.module(m.normalize(pixels)).float(), dim=1)


def attack_image(m: ModelHandle, img, spec: AttackSpec) -> AdversarialExample:
    """Attack one image (a PIL image, path, bytes or a normalised ``[1, C, H, W]`` tensor).

    Examples::

        >>> ex = attack_image(m, img, AttackSpec("fgsm", epsilon=0.2))
        >>> ex.success, ex.top(adversarial=True, k=3)
    """
    spec = spec.check(len(m.classes))
    clean = image_pixels(m, img)
    p0 = _probs(m, clean)
    c0 = int(p0[0].argmax())
    labels = torch.tensor([spec.target if spec.targeted else c0], device=clean.device)
    adv = perturb(m, clean, labels, spec)
    return AdversarialExample(spec, clean[0], adv[0], p0[0], _probs(m, adv)[0], c0, list(m.classes))


@dataclass
class FlipPoint:
    """How far an image is from the decision boundary along the attack.

    Attributes:
        epsilon: the smallest budget found that flips the prediction (untargeted) or reaches the target;
            None when even ``max_epsilon`` does not.
        below: the largest budget tried below ``epsilon`` that did not.
        example: the attack at ``epsilon`` (None when nothing flipped).
        max_epsilon: the search range's top.
        evaluations: attacked copies of the image (one batch of ``points`` per round).
    """

    epsilon: float | None
    below: float
    example: AdversarialExample | None
    max_epsilon: float
    evaluations: int


def minimal_epsilon(m: ModelHandle, img, spec: AttackSpec, max_epsilon: float | None = None, points: int = 16,
                    rounds: int = 3) -> FlipPoint:
    """The smallest epsilon at which the attack flips the prediction, found by bisection: each round attacks
    ``points`` copies of the image at evenly spaced budgets in one batch (a ``points``-way bisection) and
    keeps the interval between the last budget that failed and the first that flipped.

    PGD's random start is drawn once and scaled with the budget, so each budget's attack is deterministic and
    the same in every round. Precision: ``max_epsilon / points ** rounds``.

    Args:
        m: the model.
        img: the image (as :func:`attack_image` takes it).
        spec: the attack; its ``epsilon`` is ignored.
        max_epsilon: the top of the search (default 0.5 for L-inf, 10 for L2).
        points, rounds: budgets per round, and rounds.

    Examples::

        >>> fp = minimal_epsilon(m, img, AttackSpec("fgsm"))
        >>> attack_image(m, img, replace(spec, epsilon=fp.epsilon)).success
        True
    """
    spec = spec.check(len(m.classes))
    if points < 2 or rounds < 1:
        raise AdversarialError("the search needs at least 2 points per round and 1 round")
    top = float(max_epsilon if max_epsilon is not None else (0.5 if spec.norm == "linf" else 10.0))
    clean = image_pixels(m, img)
    p0 = _probs(m, clean)
    c0 = int(p0[0].argmax())
    goal = spec.target if spec.targeted else c0
    start = (random_start(clean.shape, spec.norm, torch.Generator().manual_seed(spec.seed), clean.device)
             if spec.method == "pgd" and spec.random_start else None)
    lo, hi, evals = 0.0, top, 0
    hits: list[float] = []  # the last round's flipping budgets, smallest first
    batch = clean.expand(points, *clean.shape[1:])
    labels = torch.full((points,), goal, device=clean.device, dtype=torch.long)
    starts = None if start is None else start.expand(points, *start.shape[1:])
    for _ in range(rounds):
        eps = torch.linspace(lo, hi, points + 1, device=clean.device)[1:]
        pred = predict_classes(m, perturb(m, batch, labels, spec, epsilon=eps, start=starts))
        evals += points
        hit = (pred == goal) if spec.targeted else (pred != goal)
        if not bool(hit.any()):
            break  # (a later round always re-tries its own top, which flipped before)
        i = int(hit.float().argmax())
        hits = [float(e) for e, h in zip(eps[i:], hit[i:], strict=True) if h]
        lo, hi = (float(eps[i - 1]) if i > 0 else lo), hits[0]
    one = torch.tensor([goal], device=clean.device)
    for found in hits:  # the single-image attack confirms it (a batch's rounding can differ at the boundary)
        ex = replace(spec, epsilon=found)
        adv = perturb(m, clean, one, ex, start=start)
        example = AdversarialExample(ex, clean[0], adv[0], p0[0], _probs(m, adv)[0], c0, list(m.classes))
        if example.success:
            return FlipPoint(found, lo, example, top, evals)
    return FlipPoint(None, top, None, top, evals)


# ============================================================== batches of labelled images
@dataclass
class ImageBatch:
    """Images to measure robustness on.

    Attributes:
        pixels: ``[N, C, H, W]`` in 0..1 on the model's device.
        labels: ``[N]`` classes: the true labels, or (``labelled`` False) the model's clean predictions, so that
            "accuracy" reads "how many answers survive".
        source: where the images came from, in words.
        labelled: whether ``labels`` are ground truth.
    """

    pixels: torch.Tensor
    labels: torch.Tensor
    source: str
    labelled: bool = True

    def __len__(self) -> int:
        return len(self.labels)


def dataset_for(m: ModelHandle) -> str | None:
    """The bundled data set whose images and classes fit ``m``: its own, or (for a user's weights of a bundled
    architecture) the one with the same classes and 28x28 grey input; None for ImageNet-style models."""
    from cnnviz.core.datasets import DATASETS

    if m.dataset:
        return m.dataset
    if tuple(m.input_size) != (1, 28, 28):
        return None
    return next((name for name, classes in DATASETS.items() if list(classes) == list(m.classes)), None)


def test_batch(m: ModelHandle, n: int = 500) -> ImageBatch:
    """The first ``n`` images of the bundled test split that fits ``m`` (see :func:`dataset_for`).

    Examples::

        >>> len(test_batch(m, 500))
        500
    """
    from cnnviz.core.datasets import load_dataset

    name = dataset_for(m)
    if name is None:
        raise AdversarialError(f"{m.name} was not trained on a bundled data set; give a folder of images "
                               "(ImageFolder layout) to measure it on, or use the sample photos")
    ds = load_dataset(name, "test")
    k = min(n, len(ds))
    x = torch.from_numpy(np.array(ds.images[:k], copy=True)).float().div_(255).unsqueeze(1).to(m.device)
    y = torch.from_numpy(np.array(ds.labels[:k], copy=True)).long().to(m.device)
    return ImageBatch(x, y, f"the first {k} bundled {name} test images", True)


def folder_batch(m: ModelHandle, folder: str | None = None, n: int = 64) -> ImageBatch:
    """Images for a model without bundled data: a folder (ImageFolder layout), or the bundled sample photos
    with random crops. Labelled by the model's clean predictions (a folder's sub-folder names need not be
    the model's class names), so accuracy means "answers that survive"."""
    from cnnviz.methods.maximal import FolderImageSet, sample_photo_images

    if folder:
        images = FolderImageSet(folder, m, limit=n)
        arrays, source = images.arrays(0, len(images)), images.note
    else:
        images = sample_photo_images(m, crops_per_photo=max(1, math.ceil(n / 6)))
        arrays, source = images.images[:n], f"{min(n, len(images.images))} crops of the bundled sample photos"
    x = torch.from_numpy(np.array(arrays, copy=True)).float().div_(255)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    x = x.to(m.device)
    return ImageBatch(x, predict_classes(m, x), source, False)


def _accuracy(m: ModelHandle, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predict_classes(m, pixels) == labels).float().mean()) if len(labels) else float("nan")


@dataclass
class RobustnessCurve:
    """Accuracy against epsilon, for the attack and for random noise of the same size on the same images.

    Attributes:
        model: the model's title; spec: the attack (its epsilon is replaced by each value).
        epsilons: the budgets done so far (all of them unless stopped).
        attack_accuracy, noise_accuracy: per budget.
        n: images; labelled: whether accuracy is against true labels (else against clean predictions).
        complete: False when stopped early.
    """

    model: str
    spec: AttackSpec
    epsilons: list[float] = field(default_factory=list)
    attack_accuracy: list[float] = field(default_factory=list)
    noise_accuracy: list[float] = field(default_factory=list)
    n: int = 0
    labelled: bool = True
    complete: bool = False

    def at(self, epsilon: float) -> tuple[float, float]:
        """(attack, noise) accuracy at the budget closest to ``epsilon``."""
        i = int(np.argmin(np.abs(np.asarray(self.epsilons) - epsilon)))
        return self.attack_accuracy[i], self.noise_accuracy[i]


def _attack_batches(m: ModelHandle, batch: ImageBatch, spec: AttackSpec, epsilon: float, batch_size: int,
                    stop: StopFlag) -> torch.Tensor | None:
    """Adversarial pixels for the whole batch, in chunks; None when stopped."""
    out = []
    gen = torch.Generator().manual_seed(spec.seed)
    for i in range(0, len(batch), batch_size):
        if stopped(stop):
            return None
        x, y = batch.pixels[i:i + batch_size], batch.labels[i:i + batch_size]
        if spec.targeted:
            y = torch.full_like(y, spec.target)
        start = random_start(x.shape, spec.norm, gen, x.device) if spec.method == "pgd" else None
        out.append(perturb(m, x, y, spec, epsilon=epsilon, start=start))
    return torch.cat(out)


def robustness_curve(m: ModelHandle, batch: ImageBatch, spec: AttackSpec, epsilons: Sequence[float],
                     batch_size: int = 256, progress: Progress | None = None, stop: StopFlag = None) -> RobustnessCurve:
    """Accuracy under the attack and under random noise of the same norm, at each epsilon, on one batch.

    The lesson: at the same size, the gradient's direction wrecks the model and a random one barely touches
    it. Noise is ``±epsilon`` random signs for L-inf (the same L-inf and L2 size as FGSM's step) and a random
    direction of length epsilon for L2. A targeted spec counts accuracy against the true labels too.

    Args:
        m: the model; batch: the images (:func:`test_batch` or :func:`folder_batch`).
        spec: the attack; epsilons: the budgets (0 gives the clean accuracy).
        batch_size: images per forward/backward pass.
        progress: ``progress(fraction, text)`` after each budget; stop: checked between chunks.

    Examples::

        >>> c = robustness_curve(m, test_batch(m), AttackSpec("fgsm"), [0.0, 0.2])
        >>> c.at(0.2)   # (attack, noise) accuracy
    """
    spec = spec.check(len(m.classes))
    curve = RobustnessCurve(m.title, spec, n=len(batch), labelled=batch.labelled)
    gen = torch.Generator().manual_seed(spec.seed + 1)
    for k, eps in enumerate(epsilons):
        adv = batch.pixels if eps == 0 else _attack_batches(m, batch, spec, float(eps), batch_size, stop)
        if adv is None:
            return curve
        noisy = batch.pixels if eps == 0 else random_noise(batch.pixels, float(eps), spec.norm, gen)
        curve.epsilons.append(float(eps))
        curve.attack_accuracy.append(_accuracy(m, adv, batch.labels))
        curve.noise_accuracy.append(_accuracy(m, noisy, batch.labels))
        report(progress, (k + 1) / len(epsilons),
               f"ε = {eps:g}: attack {curve.attack_accuracy[-1]:.0%}, noise {curve.noise_accuracy[-1]:.0%}")
    curve.complete = True
    return curve


# ============================================================== transfer
@dataclass
class TransferResult:
    """Adversarial images made on ``source`` and shown to other models trained on the same data.

    Attributes:
        source: the attacked model's title; targets: every model's title, source first.
        spec: the attack on the source.
        clean, adversarial, noise: accuracy of each model (``targets`` order) on the clean images, on the
            source's adversarial images, and on random noise of the same size.
        n: images.
    """

    source: str
    spec: AttackSpec
    targets: list[str]
    clean: list[float]
    adversarial: list[float]
    noise: list[float]
    n: int


def check_same_task(a: ModelHandle, b: ModelHandle) -> None:
    """An :class:`AdversarialError` unless ``a`` and ``b`` take the same input and predict the same classes."""
    if tuple(a.input_size) != tuple(b.input_size) or list(a.classes) != list(b.classes):
        raise AdversarialError(f"{b.name} does not take {a.name}'s images or predict its classes "
                               f"(input {tuple(b.input_size)} vs {tuple(a.input_size)}, {len(b.classes)} vs "
                               f"{len(a.classes)} classes); transfer needs two models of the same task")


def transfer(source: ModelHandle, others: Sequence[ModelHandle], batch: ImageBatch, spec: AttackSpec,
             batch_size: int = 256, progress: Progress | None = None, stop: StopFlag = None) -> TransferResult | None:
    """Attack ``source`` and test the adversarial images on ``others`` (same input and classes; they may
    normalise differently: the images are pixels). None when stopped.

    Examples::

        >>> t = transfer(lenet, [vgg], test_batch(lenet), AttackSpec("pgd", epsilon=0.2))
        >>> t.adversarial   # [white-box accuracy on lenet, transferred accuracy on vgg]
    """
    spec = spec.check(len(source.classes))
    for o in others:
        check_same_task(source, o)
    adv = _attack_batches(source, batch, spec, spec.epsilon, batch_size, stop)
    if adv is None:
        return None
    noisy = random_noise(batch.pixels, spec.epsilon, spec.norm, torch.Generator().manual_seed(spec.seed + 1))
    models = [source, *others]
    res = TransferResult(source.title, spec, [mm.title for mm in models], [], [], [], len(batch))
    for k, mm in enumerate(models):
        dev = mm.device
        res.clean.append(_accuracy(mm, batch.pixels.to(dev), batch.labels.to(dev)))
        res.adversarial.append(_accuracy(mm, adv.to(dev), batch.labels.to(dev)))
        res.noise.append(_accuracy(mm, noisy.to(dev), batch.labels.to(dev)))
        report(progress, (k + 1) / len(models), f"tested {mm.name}")
    return res


# ============================================================== robust training
def adversarial_batch(module: torch.nn.Module, normalize: Callable[[torch.Tensor], torch.Tensor],
                      pixels: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                      max_epsilon: float = 0.3, fraction: float = 0.5) -> torch.Tensor:
    """A training batch with ``fraction`` of its images replaced by FGSM examples against the network as it is
    now (Goodfellow et al. 2015), each with its own epsilon drawn uniformly from ``[0, max_epsilon]``.

    Only input gradients are taken (``torch.autograd.grad`` w.r.t. the pixels), so the parameters'
    ``.grad`` is untouched and the training step that follows sees only its own loss.

    Args:
        module: the network being trained; normalize: pixels -> its input.
        pixels: ``[N, C, H, W]`` 0..1; labels: ``[N]``.
        generator: draws which images and which epsilons (seeded: the run is reproducible).

    Examples::

        >>> xb = adversarial_batch(net, lambda p: (p - 0.1307) / 0.3081, xb, yb, torch.Generator().manual_seed(0))
    """
    n = len(pixels)
    k = int(round(n * fraction))
    if k == 0:
        return pixels
    pick = torch.randperm(n, generator=generator)[:k].to(pixels.device)
    eps = (torch.rand(k, generator=generator) * max_epsilon).to(pixels.device).view(-1, 1, 1, 1)
    p = pixels[pick].detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(module(normalize(p)), labels[pick], reduction="sum")
        (g,) = torch.autograd.grad(loss, p)
    out = pixels.clone()
    out[pick] = (p.detach() + eps * g.sign()).clamp(0, 1)
    return out


def first_layer_filters(m: ModelHandle) -> torch.Tensor:
    """The first conv layer's weights ``[out, in, k, k]`` (the robust model's are smoother)."""
    conv = next((mod for mod in m.module.modules() if isinstance(mod, torch.nn.Conv2d)), None)
    if conv is None:
        raise AdversarialError(f"{m.name} has no Conv2d layer, so there are no first-layer filters to show")
    return conv.weight.detach()


def filter_roughness(weights: torch.Tensor) -> float:
    """Mean squared difference of neighbouring kernel taps over the mean squared tap (0: constant kernels).

    A smoothness figure for the filters beside each other: noisy kernels score high, smooth ones low.

    Examples::

        >>> filter_roughness(torch.ones(6, 1, 5, 5))
        0.0
    """
    w = weights.float()
    dy = (w[..., 1:, :] - w[..., :-1, :]).pow(2).mean()
    dx = (w[..., :, 1:] - w[..., :, :-1]).pow(2).mean()
    return float((dx + dy) / 2 / w.pow(2).mean().clamp_min(1e-12))
