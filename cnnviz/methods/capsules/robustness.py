"""CapsNet beside a CNN on digits it was not trained for (rotated, shifted, scrambled), and Hinton's critique of
pooling measured on one digit.

Every number is measured on the bundled MNIST test digits; which network comes out ahead is whatever the
measurement says.

Examples::

    >>> caps, lenet = load_model("capsnet-mnist"), load_model("lenet5-mnist")
    >>> r = robustness(caps, lenet, "rotate", n=200)
    >>> r.values, r.accuracy["capsnet-mnist"]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from cnnviz.core.capsnet import capsule_lengths
from cnnviz.core.datasets import load_dataset
from cnnviz.core.model import ModelHandle
from cnnviz.core.runtime import Progress, StopFlag, stopped
from cnnviz.errors import CnnvizError
from cnnviz.methods.augmentation.geometry import rotate_scale, scramble, shift_image
from cnnviz.methods.augmentation.pixels import image_tensor
from cnnviz.methods.capsules.readout import as_capsnet

# kind -> (the values swept, their unit)
DISTORTIONS: dict[str, tuple[tuple[float, ...], str]] = {
    "rotate": ((0, 20, 40, 60, 90), "degrees"),
    "shift": ((0, 2, 4, 6), "pixels right and down"),
    "scramble": ((1, 2, 3, 4), "tiles per side"),
}


class DistortionError(CnnvizError, ValueError):
    """An unknown distortion."""


def distort(pixels: torch.Tensor, kind: str, value: float, seed: int = 0) -> torch.Tensor:
    """Digits (N, 1, 28, 28) in 0..1 rotated by ``value`` degrees, shifted ``value`` pixels right and down, or cut
    into ``value`` x ``value`` tiles and shuffled (each digit its own shuffle, seeded)."""
    if kind == "rotate":
        return torch.cat([rotate_scale(x, float(value)) for x in pixels]) if value else pixels
    if kind == "shift":
        return shift_image(pixels, int(value), int(value))
    if kind == "scramble":
        return torch.stack([scramble(x, int(value), seed + i) for i, x in enumerate(pixels)])
    raise DistortionError(f"distortion must be one of {', '.join(DISTORTIONS)}, not {kind!r}")


def mnist_test_digits(n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` bundled MNIST test digits (N, 1, 28, 28) in 0..1 and their labels."""
    ds = load_dataset("mnist", "test")
    x = torch.from_numpy(np.asarray(ds.images[:n], np.float32) / 255.0).unsqueeze(1)
    return x, torch.tensor(ds.labels[:n])


@torch.no_grad()
def accuracy_on(model: ModelHandle, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of ``pixels`` (0..1) whose top class is the label."""
    probs = model.predict_batch(model.normalize(pixels.to(model.device)))
    return float((probs.argmax(1).cpu() == labels).float().mean())


@dataclass(frozen=True)
class Robustness:
    """Accuracy per model along one distortion.

    Attributes:
        kind, unit: the distortion and the unit of ``values``.
        values: the amounts swept.
        accuracy: model name -> accuracy at each value.
        n: the test digits measured.
        examples: one distorted digit per value (len(values), 28, 28), 0..1.
    """

    kind: str
    unit: str
    values: list[float]
    accuracy: dict[str, list[float]]
    n: int
    examples: np.ndarray


def _unchanged(kind: str, value: float) -> bool:
    return float(value) == (1.0 if kind == "scramble" else 0.0)


def robustness(capsnet: ModelHandle, cnn: ModelHandle, kind: str, n: int = 200,
               values: Sequence[float] | None = None, progress: Progress | None = None,
               stop: StopFlag = None, clean: dict[str, float] | None = None) -> Robustness:
    """Accuracy of both models on the first ``n`` test digits under ``kind`` (see :data:`DISTORTIONS`).

    Args:
        clean: model name -> accuracy on the undistorted digits, when already measured (filled in otherwise).
    """
    if kind not in DISTORTIONS:
        raise DistortionError(f"distortion must be one of {', '.join(DISTORTIONS)}, not {kind!r}")
    as_capsnet(capsnet)
    vals, unit = DISTORTIONS[kind]
    vals = list(values if values is not None else vals)
    clean = {} if clean is None else clean
    x, y = mnist_test_digits(n)
    acc: dict[str, list[float]] = {capsnet.name: [], cnn.name: []}
    examples = []
    for k, v in enumerate(vals):
        if stopped(stop):
            break
        xd = distort(x, kind, v)
        examples.append(xd[0, 0].numpy())
        for m in (capsnet, cnn):
            if _unchanged(kind, v):
                if m.name not in clean:
                    clean[m.name] = accuracy_on(m, xd, y)
                acc[m.name].append(clean[m.name])
            else:
                acc[m.name].append(accuracy_on(m, xd, y))
        if progress:
            progress((k + 1) / len(vals), f"{kind} {v:g}")
    return Robustness(kind, unit, vals[:len(examples)], acc, len(y), np.stack(examples))


def robustness_all(capsnet: ModelHandle, cnn: ModelHandle, n: int = 200,
                   progress: Progress | None = None, stop: StopFlag = None) -> list[Robustness]:
    """:func:`robustness` for every distortion of :data:`DISTORTIONS`, the undistorted digits measured once."""
    clean: dict[str, float] = {}
    out = []
    for k, kind in enumerate(DISTORTIONS):
        def part(f: float, text: str, k: int = k) -> None:
            if progress:
                progress((k + f) / len(DISTORTIONS), text)
        out.append(robustness(capsnet, cnn, kind, n, progress=part, stop=stop, clean=clean))
    return out


@dataclass(frozen=True)
class PoolingCritique:
    """One digit scrambled on growing grids: what pooled CNN features, the CNN and the CapsNet make of it.

    Attributes:
        grids: tiles per side (1 = the digit itself).
        images: the scrambled digits (len(grids), 28, 28), 0..1.
        label: the class of the digit as the CapsNet reads it unscrambled.
        pooled_similarity: cosine similarity of the CNN's last conv features, max-pooled over the whole image
            (a bag of parts: which features are present, not where), to the unscrambled digit's.
        cnn_probability: the CNN's probability of ``label``.
        capsule_length: the CapsNet's capsule length for ``label``.
        capsule_agreement: cosine between that capsule's pose vector and the unscrambled digit's.
    """

    grids: list[int]
    images: np.ndarray
    label: int
    pooled_similarity: list[float]
    cnn_probability: list[float]
    capsule_length: list[float]
    capsule_agreement: list[float]


def _bag_of_parts(cnn: ModelHandle, x: torch.Tensor) -> torch.Tensor:
    """The CNN's last convolution (after its activation, before any pooling of its own) max-pooled globally."""
    convs = [name for name, mod in cnn.module.named_modules() if isinstance(mod, torch.nn.Conv2d)]
    if not convs:
        raise CnnvizError(f"{cnn.title} has no convolution to pool")
    out = cnn.activations(x, [convs[-1]])[convs[-1]]
    return F.relu(out).amax(dim=(2, 3))


@torch.no_grad()
def pooling_critique(capsnet: ModelHandle, cnn: ModelHandle, image, grids: Sequence[int] = (1, 2, 3, 4),
                     seed: int = 0) -> PoolingCritique:
    """Scramble ``image`` on each grid (same seed) and measure what survives (see :class:`PoolingCritique`)."""
    net = as_capsnet(capsnet)
    x0 = image_tensor(capsnet, image).cpu()
    xs = torch.stack([scramble(x0, int(g), seed) for g in grids])  # (G, 1, 28, 28)
    v = net.capsules(capsnet.normalize(xs.to(capsnet.device))).cpu()
    label = int(capsule_lengths(v[0]).argmax())
    pose = v[:, label]
    bag = _bag_of_parts(cnn, cnn.normalize(xs.to(cnn.device))).cpu()
    probs = cnn.predict_batch(cnn.normalize(xs.to(cnn.device))).cpu()
    return PoolingCritique(
        [int(g) for g in grids], xs[:, 0].numpy(), label,
        F.cosine_similarity(bag, bag[:1]).tolist(), probs[:, label].tolist(),
        capsule_lengths(pose).tolist(), F.cosine_similarity(pose, pose[:1]).tolist(),
    )
