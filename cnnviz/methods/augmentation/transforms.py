"""The transform table: every augmentation the page offers, its parameters and its torchvision constructor.

One table, :data:`TRANSFORMS`, describes every transform (key, name, lecture group, parameters with type,
limits, default, control label and tooltip, and how the values become the keyword arguments of
``torchvision.transforms.v2.<factory>``). The page builds its controls from it,
:func:`~cnnviz.methods.augmentation.pipeline.build_transform` builds the transform from it and
:func:`~cnnviz.methods.augmentation.pipeline.pipeline_code` writes the matching code from it, so the three
cannot drift apart. What each transform is good for, in words, is page text (:mod:`cnnviz.text.augmentation`).

Examples::

    >>> TRANSFORMS["rotate"].param("degrees").high
    180.0
    >>> Target(1, 28, 28, 10).stats
    ((0.5,), (0.5,))
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnviz.core.model import ModelHandle
from cnnviz.methods.augmentation.errors import AugmentationError, UnknownTransformError

GROUPS: dict[str, str] = {
    "geometric": "Geometric",
    "colour": "Colour",
    "kernel": "Kernel filters",
    "erasing": "Random erasing",
    "mixing": "Mixing images",
    "noise": "Noise injection",
}

# (mean, std) written into the code of a pipeline built without a model: ImageNet's for RGB, 0.5 for one channel
IMAGENET_STATS: tuple[tuple[float, ...], tuple[float, ...]] = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
GRAY_STATS: tuple[tuple[float, ...], tuple[float, ...]] = ((0.5,), (0.5,))


@dataclass(frozen=True)
class Param:
    """One parameter of a transform, as the user sets it.

    Attributes:
        name: keyword in the UI and in the step's values (short; also the URL key suffix).
        kind: ``"float"``, ``"int"``, ``"range"`` (a (low, high) pair of floats) or ``"choice"``.
        default: the starting value (a tuple for ``"range"``).
        low, high: inclusive limits (numbers; for ``"range"`` the limits of both ends).
        step: slider step.
        help: one sentence for the control's tooltip.
        label: the control's label (default: ``name``).
        options: the allowed values of a ``"choice"``.
        odd: integers that must be odd (kernel sizes).
        neutral: the value at which the parameter makes the transform do nothing (0 degrees, padding 0).
    """

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    help: str = ""
    label: str = ""
    options: tuple = ()
    odd: bool = False
    neutral: Any = None

    def validate(self, value: Any) -> Any:
        """The value, converted to the parameter's type, or an :class:`AugmentationError` that says the allowed range.

        Examples::

            >>> Param("k", "int", 3, 1, 9, 2, odd=True).validate(5)
            5
        """
        what = f"parameter {self.name!r}"
        if self.kind == "choice":
            if value not in self.options:
                raise AugmentationError(f"{what} must be one of {list(self.options)}, got {value!r}")
            return value
        if self.kind == "range":
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise AugmentationError(f"{what} must be a (low, high) pair, got {value!r}") from None
            if not (self.low <= lo <= hi <= self.high):
                raise AugmentationError(f"{what} must satisfy {self.low} <= low <= high <= {self.high}, "
                                        f"got ({lo}, {hi})")
            return (lo, hi)
        try:
            v = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError):
            raise AugmentationError(f"{what} must be a number, got {value!r}") from None
        if self.kind == "int" and v != value:
            raise AugmentationError(f"{what} must be a whole number, got {value!r}")
        if not (self.low <= v <= self.high):
            raise AugmentationError(f"{what} must lie in [{self.low}, {self.high}], got {v}")
        if self.odd and v % 2 == 0:
            raise AugmentationError(f"{what} must be odd (a kernel has a centre pixel), got {v}; use {v + 1}")
        return v


@dataclass(frozen=True)
class Target:
    """What the transforms are built for: the model's input, its number of classes and its normalisation.

    ``mean`` and ``std`` are the model's (``Target.of``); a target made by hand leaves them None and
    :attr:`stats` gives the usual ones for its number of channels.
    """

    channels: int
    height: int
    width: int
    num_classes: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @classmethod
    def of(cls, model: ModelHandle) -> Target:
        c, h, w = model.input_size
        return cls(c, h, w, len(model.classes), tuple(model.mean), tuple(model.std))

    @property
    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)`` per channel that the model normalises its input with."""
        if self.mean is not None and self.std is not None:
            return self.mean, self.std
        return IMAGENET_STATS if self.channels == 3 else GRAY_STATS


@dataclass(frozen=True)
class TransformSpec:
    """One row of the table: a transform, its parameters and how they become constructor arguments.

    ``kwargs(values, target)`` maps the user's values to the keyword arguments of
    ``torchvision.transforms.v2.<factory>``; the same dictionary builds the object and writes the code.
    """

    key: str
    name: str
    group: str
    factory: str
    params: tuple[Param, ...]
    kwargs: Callable[[dict, Target], dict]
    needs_rgb: bool = False
    mixing: bool = False

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise UnknownTransformError(f"{self.name} has no parameter {name!r}; it has {[p.name for p in self.params]}")

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def elastic_sigma_limit(target: Target) -> float:
    """The largest smoothing sigma ElasticTransform can use on this image size.

    torchvision smooths the displacement with a Gaussian kernel of ``int(8 * sigma + 1)`` (made odd) pixels
    and reflect-pads by half of it, which must stay below the image side: sigma <= (2 * side - 2) / 8.

    Examples::

        >>> elastic_sigma_limit(Target(1, 28, 28, 10))
        6.75
    """
    return (2 * min(target.height, target.width) - 2) / 8


def probability(default: float = 0.5) -> Param:
    """The ``p`` parameter of a random transform: how often it is applied."""
    return Param("p", "float", default, 0.0, 1.0, 0.05, "Probability that the transform is applied to a sample.",
                 "probability p", neutral=0.0)


CHANNELS = ("red", "green", "blue")

TRANSFORMS: dict[str, TransformSpec] = {s.key: s for s in [
    # geometric
    TransformSpec("hflip", "Horizontal flip", "geometric", "RandomHorizontalFlip", (probability(),),
                  lambda v, t: {"p": v["p"]}),
    TransformSpec("vflip", "Vertical flip", "geometric", "RandomVerticalFlip", (probability(),),
                  lambda v, t: {"p": v["p"]}),
    TransformSpec("rotate", "Rotation", "geometric", "RandomRotation",
                  (Param("degrees", "float", 20.0, 0.0, 180.0, 1.0, "Rotate by a random angle in [-degrees, +degrees].",
                         "max angle (degrees)", neutral=0.0),),
                  lambda v, t: {"degrees": v["degrees"], "interpolation": "bilinear"}),
    TransformSpec("translate", "Translation", "geometric", "RandomAffine",
                  (Param("fraction", "float", 0.1, 0.0, 0.5, 0.01,
                         "Shift by up to this fraction of the width (and height) in each direction.",
                         "max shift (fraction)", neutral=0.0),),
                  lambda v, t: {"degrees": 0, "translate": (v["fraction"], v["fraction"])}),
    TransformSpec("crop", "Crop (pad and crop)", "geometric", "RandomCrop",
                  (Param("padding", "int", 4, 0, 32, 1,
                         "Pad every side by this many pixels, then crop back to the input size.",
                         "padding (pixels)", neutral=0),),
                  lambda v, t: {"size": (t.height, t.width), "padding": v["padding"]}),
    TransformSpec("rcrop", "Resized crop", "geometric", "RandomResizedCrop",
                  (Param("scale", "range", (0.5, 1.0), 0.05, 1.0, 0.05, "Area of the crop as a fraction of the image.",
                         "crop area (fraction)"),),
                  lambda v, t: {"size": (t.height, t.width), "scale": v["scale"], "antialias": True}),
    TransformSpec("affine", "Affine", "geometric", "RandomAffine",
                  (Param("degrees", "float", 15.0, 0.0, 180.0, 1.0, "Random rotation in [-degrees, +degrees].",
                         "max angle"),
                   Param("translate", "float", 0.1, 0.0, 0.5, 0.01, "Random shift up to this fraction.", "max shift"),
                   Param("scale", "range", (0.8, 1.2), 0.3, 2.0, 0.05, "Random zoom factor range.", "zoom range"),
                   Param("shear", "float", 10.0, 0.0, 60.0, 1.0, "Random shear angle in [-shear, +shear] degrees.",
                         "max shear")),
                  lambda v, t: {"degrees": v["degrees"], "translate": (v["translate"], v["translate"]),
                                "scale": v["scale"], "shear": v["shear"], "interpolation": "bilinear"}),
    TransformSpec("persp", "Perspective", "geometric", "RandomPerspective",
                  (Param("distortion", "float", 0.4, 0.0, 1.0, 0.05, "How far the corners may move (fraction of size).",
                         "distortion", neutral=0.0), probability()),
                  lambda v, t: {"distortion_scale": v["distortion"], "p": v["p"]}),
    TransformSpec("elastic", "Elastic", "geometric", "ElasticTransform",
                  (Param("alpha", "float", 30.0, 0.0, 200.0, 1.0,
                         "Strength of the displacement (pixels before smoothing).",
                         "alpha (strength)", neutral=0.0),
                   Param("sigma", "float", 4.0, 1.0, 15.0, 0.5, "Smoothness of the displacement field.",
                         "sigma (smoothness)")),
                  lambda v, t: {"alpha": v["alpha"], "sigma": min(v["sigma"], elastic_sigma_limit(t))}),
    # colour
    TransformSpec("bright", "Brightness", "colour", "ColorJitter",
                  (Param("amount", "float", 0.4, 0.0, 1.0, 0.05, "Multiply pixels by a factor in [1-amount, 1+amount].",
                         "amount", neutral=0.0),),
                  lambda v, t: {"brightness": v["amount"]}),
    TransformSpec("contrast", "Contrast", "colour", "ColorJitter",
                  (Param("amount", "float", 0.4, 0.0, 1.0, 0.05,
                         "Blend with the mean grey by a factor in [1-amount, 1+amount].",
                         "amount", neutral=0.0),),
                  lambda v, t: {"contrast": v["amount"]}),
    TransformSpec("sat", "Saturation", "colour", "ColorJitter",
                  (Param("amount", "float", 0.5, 0.0, 1.0, 0.05,
                         "Blend with the grey image by a factor in [1-amount, 1+amount].",
                         "amount", neutral=0.0),),
                  lambda v, t: {"saturation": v["amount"]}, needs_rgb=True),
    TransformSpec("hue", "Hue", "colour", "ColorJitter",
                  (Param("amount", "float", 0.1, 0.0, 0.5, 0.01,
                         "Rotate the hue by up to this fraction of the colour wheel.",
                         "amount", neutral=0.0),),
                  lambda v, t: {"hue": v["amount"]}, needs_rgb=True),
    TransformSpec("channel", "Channel isolation", "colour", "Lambda",
                  (Param("channel", "choice", "red", options=CHANNELS,
                         help="The colour channel that is kept; the others become 0.",
                         label="keep channel"),),
                  lambda v, t: {"channel": CHANNELS.index(v["channel"])}, needs_rgb=True),
    TransformSpec("gray", "Grayscale", "colour", "RandomGrayscale", (probability(0.5),),
                  lambda v, t: {"p": v["p"]}, needs_rgb=True),
    # kernel filters
    TransformSpec("blur", "Gaussian blur", "kernel", "GaussianBlur",
                  (Param("kernel", "int", 5, 3, 15, 2, "Kernel size in pixels (odd).", "kernel size", odd=True),
                   Param("sigma", "range", (0.1, 2.0), 0.1, 5.0, 0.1, "Random standard deviation of the Gaussian.",
                         "sigma range")),
                  lambda v, t: {"kernel_size": v["kernel"], "sigma": v["sigma"]}),
    TransformSpec("sharp", "Sharpness", "kernel", "RandomAdjustSharpness",
                  (Param("factor", "float", 2.0, 0.0, 10.0, 0.1,
                         "0 blurs, 1 leaves the image, 2 doubles the sharpening.",
                         "sharpness factor", neutral=1.0), probability()),
                  lambda v, t: {"sharpness_factor": v["factor"], "p": v["p"]}),
    # random erasing
    TransformSpec("erase", "Random erasing", "erasing", "RandomErasing",
                  (probability(0.7), Param("scale", "range", (0.02, 0.2), 0.01, 0.8, 0.01,
                                           "Area of the erased box as a fraction.", "box area (fraction)")),
                  lambda v, t: {"p": v["p"], "scale": v["scale"], "value": 0.0}),
    # mixing
    TransformSpec("mixup", "MixUp", "mixing", "MixUp",
                  (Param("alpha", "float", 1.0, 0.1, 5.0, 0.1, "Mixing weight lambda ~ Beta(alpha, alpha).", "alpha"),),
                  lambda v, t: {"alpha": v["alpha"], "num_classes": t.num_classes}, mixing=True),
    TransformSpec("cutmix", "CutMix", "mixing", "CutMix",
                  (Param("alpha", "float", 1.0, 0.1, 5.0, 0.1, "Box area ~ Beta(alpha, alpha).", "alpha"),),
                  lambda v, t: {"alpha": v["alpha"], "num_classes": t.num_classes}, mixing=True),
    # noise
    TransformSpec("noise", "Gaussian noise", "noise", "GaussianNoise",
                  (Param("sigma", "float", 0.1, 0.0, 1.0, 0.01, "Standard deviation of the noise (pixel range 0..1).",
                         "sigma", neutral=0.0),),
                  lambda v, t: {"mean": 0.0, "sigma": v["sigma"], "clip": True}),
]}


def transform_spec(key: str) -> TransformSpec:
    """The table row for ``key``, or an :class:`UnknownTransformError` (a ``KeyError``) that lists the keys."""
    if key not in TRANSFORMS:
        raise UnknownTransformError(f"unknown transform {key!r}; known: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[key]
