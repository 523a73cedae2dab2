"""Invariance sweeps: the model's answer as one transformation parameter changes (rotation, zoom, brightness,
contrast), and the label-changing rotation of a 6 into a 9.

Every sweep goes through :func:`sweep_pass`: the clean image and all its transformed copies run through the
model in one batched forward pass, so the clean answer and the curve come from the same pass.

Examples::

    >>> g = rotation_scale_grid(m, img, angles=[0, 90, 180], scales=[1.0, 0.6])
    >>> g.labels()[0][0] == m.predict(img, 1)[0][0]
    True
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

from cnnviz.core.capture import capture
from cnnviz.core.images import ImageSource
from cnnviz.core.model import ModelHandle
from cnnviz.methods.augmentation.errors import AugmentationError
from cnnviz.methods.augmentation.geometry import rotate_scale
from cnnviz.methods.augmentation.pixels import image_tensor, predict_pixels


@dataclass
class Sweep:
    """The model's answer along one transformation parameter.

    Attributes:
        parameter: what was varied (``"angle"``, ``"brightness"``, ...).
        values: the parameter values.
        probs: probabilities ``[len(values), classes]`` (CPU).
        classes: class names.
        reference: the class followed by :attr:`reference_probs` (the clean image's top class).
        images: the transformed images ``[len(values), C, H, W]`` in 0..1 (CPU).
    """

    parameter: str
    values: list[float]
    probs: torch.Tensor
    classes: list[str]
    reference: int
    images: torch.Tensor | None = None

    @property
    def labels(self) -> list[str]:
        return [self.classes[i] for i in self.probs.argmax(1).tolist()]

    @property
    def confidences(self) -> list[float]:
        return self.probs.max(1).values.tolist()

    @property
    def reference_probs(self) -> list[float]:
        return self.probs[:, self.reference].tolist()

    def probs_of(self, cls: str) -> list[float]:
        return self.probs[:, self.classes.index(cls)].tolist()


@dataclass
class SweepPass:
    """One forward pass over an image and its transformed copies; row 0 is always the clean image.

    Attributes:
        images: ``[1 + N, C, H, W]`` in 0..1, on the model's device.
        probs: softmax probabilities ``[1 + N, classes]``, on the model's device.
        outputs: the requested layer's output ``[1 + N, ...]``, or None when no layer was asked for.
    """

    images: torch.Tensor
    probs: torch.Tensor
    outputs: torch.Tensor | None = None

    @property
    def reference(self) -> int:
        """The clean image's top class."""
        return int(self.probs[0].argmax())

    def as_sweep(self, parameter: str, values: Sequence[float], classes: Sequence[str],
                 reference: int | None = None, with_clean: bool = False) -> Sweep:
        """The copies as a :class:`Sweep` over ``values`` (the clean row as well when ``with_clean``: its value
        is the first one, such as a shift of 0)."""
        rows = slice(0 if with_clean else 1, None)
        return Sweep(parameter, [float(v) for v in values], self.probs[rows].cpu(), list(classes),
                     self.reference if reference is None else reference, self.images[rows].cpu())


def sweep_pass(model: ModelHandle, x0: torch.Tensor, copies: torch.Tensor, layer: str | None = None) -> SweepPass:
    """The clean image ``x0`` ``[C, H, W]`` and its ``copies`` ``[N, C, H, W]`` (clipped to 0..1) through the
    model in one batched forward pass; with ``layer`` (a capture key such as ``"features.3#1"``), that layer's
    output is captured in the same pass (through the capture engine).

    Examples::

        >>> p = sweep_pass(m, x0, torch.stack([x0.flip(-1)]))
        >>> p.probs.shape  # the clean image, then its mirror image
        torch.Size([2, 10])
    """
    batch = torch.cat([x0[None].to(copies.device), copies]).clamp(0, 1)
    if layer is None:
        return SweepPass(batch, predict_pixels(model, batch))
    rec = capture(model.module, model.normalize(batch.to(model.device)), [layer], logits=True)
    return SweepPass(batch, torch.softmax(rec.logits, 1), next(iter(rec.outputs.values())))


def rotation_sweep(model: ModelHandle, image: ImageSource | torch.Tensor,
                   angles: Sequence[float] = tuple(range(0, 181, 15)), scale: float = 1.0) -> Sweep:
    """Predictions for the image rotated by each angle (degrees, counter-clockwise), at one zoom ``scale``."""
    x0 = image_tensor(model, image)
    values = [float(a) for a in angles]
    return sweep_pass(model, x0, rotate_scale(x0, values, scale)).as_sweep("angle", values, model.classes)


@dataclass
class RotationScaleGrid:
    """Predictions on a grid of rotation angles x scales (the lecture's invariance table).

    ``probs`` is ``[len(scales), len(angles), classes]``; ``reference`` the clean image's top class.
    """

    angles: list[float]
    scales: list[float]
    probs: torch.Tensor
    classes: list[str]
    reference: int

    def labels(self) -> list[list[str]]:
        return [[self.classes[i] for i in row] for row in self.probs.argmax(2).tolist()]

    def confidences(self) -> list[list[float]]:
        return self.probs.max(2).values.tolist()

    def reference_probs(self) -> list[list[float]]:
        return self.probs[:, :, self.reference].tolist()

    def cells(self) -> list[list[str]]:
        """``"label (confidence)"`` per (scale, angle), for the invariance table."""
        return [[f"{lab} ({c:.0%})" for lab, c in zip(lr, cr, strict=True)]
                for lr, cr in zip(self.labels(), self.confidences(), strict=True)]

    def kept(self) -> list[list[bool]]:
        """Whether each (scale, angle) keeps the clean image's top class."""
        return (self.probs.argmax(2) == self.reference).tolist()


def rotation_scale_grid(model: ModelHandle, image: ImageSource | torch.Tensor,
                        angles: Sequence[float] = tuple(range(0, 181, 15)),
                        scales: Sequence[float] = (1.0, 0.8, 0.6)) -> RotationScaleGrid:
    """The model's prediction for every (scale, angle) pair, all in one forward pass.

    Examples::

        >>> g = rotation_scale_grid(m, img, angles=[0, 90, 180], scales=[1.0, 0.6])
        >>> g.labels()[0][0] == m.predict(img, 1)[0][0]
        True
    """
    x0 = image_tensor(model, image)
    sa = [(float(s), float(a)) for s in scales for a in angles]
    p = sweep_pass(model, x0, rotate_scale(x0, [a for _, a in sa], [s for s, _ in sa]))
    grid = p.probs[1:].view(len(scales), len(angles), -1).cpu()
    return RotationScaleGrid([float(a) for a in angles], [float(s) for s in scales], grid, list(model.classes),
                             p.reference)


def brightness_sweep(model: ModelHandle, image: ImageSource | torch.Tensor,
                     factors: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)) -> Sweep:
    """Predictions with all pixels multiplied by each factor (clipped to 0..1), as ``adjust_brightness``."""
    x0 = image_tensor(model, image)
    copies = torch.stack([TF.adjust_brightness(x0, float(f)) for f in factors])
    return sweep_pass(model, x0, copies).as_sweep("brightness", factors, model.classes)


def contrast_sweep(model: ModelHandle, image: ImageSource | torch.Tensor,
                   factors: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)) -> Sweep:
    """Predictions with the contrast scaled by each factor (blend with the mean grey), as ``adjust_contrast``."""
    x0 = image_tensor(model, image)
    copies = torch.stack([TF.adjust_contrast(x0, float(f)) for f in factors])
    return sweep_pass(model, x0, copies).as_sweep("contrast", factors, model.classes)


@dataclass
class LabelFlip:
    """Rotate an image until the model reads another class (a 6 turned into a 9).

    Angles are in degrees, positive counter-clockwise. ``flip_angle`` is the angle of smallest size at
    which the top class is ``target`` (None if it never is); ``first_change`` the angle of smallest size
    at which the top class is no longer ``source``.
    """

    sweep: Sweep
    source: str
    target: str
    flip_angle: float | None
    first_change: float | None

    def view_indices(self) -> list[int]:
        """Sweep positions worth showing: upright, -45°, -90°, the flip (if any) and 180° (those swept)."""
        pick = [0.0, -45.0, -90.0] + ([self.flip_angle] if self.flip_angle is not None else []) + [180.0]
        return [self.sweep.values.index(a) for a in dict.fromkeys(pick) if a in self.sweep.values]


def rotate_until(model: ModelHandle, image: ImageSource | torch.Tensor, source: str = "6", target: str = "9",
                 angles: Sequence[float] = tuple(range(-180, 181, 5))) -> LabelFlip:
    """Rotate by each angle (one batched pass) and find where the prediction turns from ``source`` to ``target``.

    Examples::

        >>> f = rotate_until(load_model("lenet5-mnist"), "assets/samples/digit-6.png")
        >>> f.flip_angle  # the smallest rotation at which the 6 is read as a 9
    """
    for c in (source, target):
        if c not in model.classes:
            raise AugmentationError(f"class {c!r} is not one of {model.name}'s classes; the 6-to-9 demo needs a "
                                    "digit model such as lenet5-mnist")
    sweep = rotation_sweep(model, image, angles)
    sweep.reference = model.classes.index(source)
    by_size = sorted(zip(sweep.values, sweep.labels, strict=True), key=lambda al: (abs(al[0]), al[0]))
    flip = next((a for a, lab in by_size if lab == target), None)
    change = next((a for a, lab in by_size if lab != source), None)
    return LabelFlip(sweep, source, target, flip, change)
