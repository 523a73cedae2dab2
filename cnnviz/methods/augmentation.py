"""Data augmentation and the model's response to it: transforms, random samples, invariance sweeps.

One table, :data:`TRANSFORMS`, describes every transform (name, lecture group, parameters with
type, limits, default and help). The page builds its controls from it, :func:`build_transform`
builds the ``torchvision.transforms.v2`` object from it, and :func:`pipeline_code` writes the
matching torchvision code from it, so the three cannot drift apart.

Transforms work in the pixel domain: a float image ``[C, H, W]`` in 0..1 on the model's device, at
the size the model sees (after :meth:`ModelHandle.prepare_image`). Normalisation with the model's
mean/std comes last, exactly as in :meth:`ModelHandle.preprocess`, so a pipeline that does
nothing gives the same probabilities as ``m.predict``.

Examples::

    >>> m = load_model("lenet5-mnist")
    >>> pipe = (step("rotate", degrees=30), step("noise", sigma=0.1))
    >>> batch = sample_batch(m, load_image("assets/samples/digit-6.png"), pipe, n=8, seed=0)
    >>> batch.labels[:3], batch.confidences[:3]
    >>> print(pipeline_code(pipe, m))
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from cnnviz.core.capture import call_key, capture, split_key
from cnnviz.core.images import ImageSource
from cnnviz.core.model import ModelHandle
from cnnviz.errors import CnnvizError, LayerError


class AugmentationError(CnnvizError):
    """A transform value, pipeline or demo setting that cannot be used; the message names the fix."""


# ------------------------------------------------------------------------------------ the table

GROUPS: dict[str, str] = {
    "geometric": "Geometric",
    "colour": "Colour",
    "kernel": "Kernel filters",
    "erasing": "Random erasing",
    "mixing": "Mixing images",
    "noise": "Noise injection",
}


@dataclass(frozen=True)
class Param:
    """One parameter of a transform, as the user sets it.

    Attributes:
        name: keyword in the UI and in the step's values (short; also the URL key suffix).
        kind: ``"float"``, ``"int"``, ``"range"`` (a (low, high) pair of floats) or ``"choice"``.
        default: the starting value (a tuple for ``"range"``).
        low, high: inclusive limits (numbers; for ``"range"`` the limits of both ends).
        step: slider step.
        options: the allowed values of a ``"choice"``.
        help: one sentence for the tooltip.
        label: the control's label (default: ``name``).
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
        """The value, converted to the parameter's type, or a ValueError that says the allowed range."""
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
    """What the transforms are built for: the model's input and its number of classes."""

    channels: int
    height: int
    width: int
    num_classes: int

    @classmethod
    def of(cls, model: ModelHandle) -> Target:
        c, h, w = model.input_size
        return cls(c, h, w, len(model.classes))


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
    help: str
    needs_rgb: bool = False
    mixing: bool = False
    note: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}; it has {[p.name for p in self.params]}")

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def elastic_sigma_limit(target: Target) -> float:
    """The largest smoothing sigma ElasticTransform can use on this image size.

    torchvision smooths the displacement with a Gaussian kernel of ``int(8 * sigma + 1)`` (made odd) pixels
    and reflect-pads by half of it, which must stay below the image side: sigma <= (2 * side - 2) / 8.
    """
    return (2 * min(target.height, target.width) - 2) / 8


def _p(prob_default: float = 0.5) -> Param:
    return Param("p", "float", prob_default, 0.0, 1.0, 0.05, "Probability that the transform is applied to a sample.",
                 "probability p", neutral=0.0)


_CHANNELS = ("red", "green", "blue")

TRANSFORMS: dict[str, TransformSpec] = {s.key: s for s in [
    # geometric
    TransformSpec("hflip", "Horizontal flip", "geometric", "RandomHorizontalFlip", (_p(),),
                  lambda v, t: {"p": v["p"]},
                  "Mirror left-right. Safe for most objects; changes the meaning of text and of some digits."),
    TransformSpec("vflip", "Vertical flip", "geometric", "RandomVerticalFlip", (_p(),),
                  lambda v, t: {"p": v["p"]},
                  "Mirror top-bottom. Label-changing for digits (6 and 9) and unnatural for most photos.",
                  note="Upside-down objects rarely occur in real photos; on digits, a flipped 6 is not a 6."),
    TransformSpec("rotate", "Rotation", "geometric", "RandomRotation",
                  (Param("degrees", "float", 20.0, 0.0, 180.0, 1.0, "Rotate by a random angle in [-degrees, +degrees].",
                         "max angle (degrees)", neutral=0.0),),
                  lambda v, t: {"degrees": v["degrees"], "interpolation": "bilinear"},
                  "Rotate about the centre; corners fill with black."),
    TransformSpec("translate", "Translation", "geometric", "RandomAffine",
                  (Param("fraction", "float", 0.1, 0.0, 0.5, 0.01,
                         "Shift by up to this fraction of the width (and height) in each direction.",
                         "max shift (fraction)", neutral=0.0),),
                  lambda v, t: {"degrees": 0, "translate": (v["fraction"], v["fraction"])},
                  "Shift the image by a random offset; the uncovered border fills with black."),
    TransformSpec("crop", "Crop (pad and crop)", "geometric", "RandomCrop",
                  (Param("padding", "int", 4, 0, 32, 1,
                         "Pad every side by this many pixels, then crop back to the input size.",
                         "padding (pixels)", neutral=0),),
                  lambda v, t: {"size": (t.height, t.width), "padding": v["padding"]},
                  "Pad, then cut a window of the input size at a random place: a random shift by up to `padding` "
                  "pixels."),
    TransformSpec("rcrop", "Resized crop", "geometric", "RandomResizedCrop",
                  (Param("scale", "range", (0.5, 1.0), 0.05, 1.0, 0.05, "Area of the crop as a fraction of the image.",
                         "crop area (fraction)"),),
                  lambda v, t: {"size": (t.height, t.width), "scale": v["scale"], "antialias": True},
                  "Cut a random window (random area and aspect ratio) and resize it to the input size: zoom and "
                  "shift."),
    TransformSpec("affine", "Affine", "geometric", "RandomAffine",
                  (Param("degrees", "float", 15.0, 0.0, 180.0, 1.0, "Random rotation in [-degrees, +degrees].",
                         "max angle"),
                   Param("translate", "float", 0.1, 0.0, 0.5, 0.01, "Random shift up to this fraction.", "max shift"),
                   Param("scale", "range", (0.8, 1.2), 0.3, 2.0, 0.05, "Random zoom factor range.", "zoom range"),
                   Param("shear", "float", 10.0, 0.0, 60.0, 1.0, "Random shear angle in [-shear, +shear] degrees.",
                         "max shear")),
                  lambda v, t: {"degrees": v["degrees"], "translate": (v["translate"], v["translate"]),
                                "scale": v["scale"],
                                "shear": v["shear"], "interpolation": "bilinear"},
                  "Rotation, shift, zoom and shear in one random affine map."),
    TransformSpec("persp", "Perspective", "geometric", "RandomPerspective",
                  (Param("distortion", "float", 0.4, 0.0, 1.0, 0.05, "How far the corners may move (fraction of size).",
                         "distortion", neutral=0.0), _p()),
                  lambda v, t: {"distortion_scale": v["distortion"], "p": v["p"]},
                  "Move the four corners at random: the image as seen from another viewpoint."),
    TransformSpec("elastic", "Elastic", "geometric", "ElasticTransform",
                  (Param("alpha", "float", 30.0, 0.0, 200.0, 1.0,
                         "Strength of the displacement (pixels before smoothing).",
                         "alpha (strength)", neutral=0.0),
                   Param("sigma", "float", 4.0, 1.0, 15.0, 0.5, "Smoothness of the displacement field.",
                         "sigma (smoothness)")),
                  lambda v, t: {"alpha": v["alpha"], "sigma": min(v["sigma"], elastic_sigma_limit(t))},
                  "Smoothly warp the image with a random displacement field, like handwriting wobble."),
    # colour
    TransformSpec("bright", "Brightness", "colour", "ColorJitter",
                  (Param("amount", "float", 0.4, 0.0, 1.0, 0.05, "Multiply pixels by a factor in [1-amount, 1+amount].",
                         "amount", neutral=0.0),),
                  lambda v, t: {"brightness": v["amount"]},
                  "Scale all pixel values: darker or brighter lighting."),
    TransformSpec("contrast", "Contrast", "colour", "ColorJitter",
                  (Param("amount", "float", 0.4, 0.0, 1.0, 0.05,
                         "Blend with the mean grey by a factor in [1-amount, 1+amount].",
                         "amount", neutral=0.0),),
                  lambda v, t: {"contrast": v["amount"]},
                  "Push pixels away from (or towards) the mean grey."),
    TransformSpec("sat", "Saturation", "colour", "ColorJitter",
                  (Param("amount", "float", 0.5, 0.0, 1.0, 0.05,
                         "Blend with the grey image by a factor in [1-amount, 1+amount].",
                         "amount", neutral=0.0),),
                  lambda v, t: {"saturation": v["amount"]},
                  "More or less vivid colours.", needs_rgb=True),
    TransformSpec("hue", "Hue", "colour", "ColorJitter",
                  (Param("amount", "float", 0.1, 0.0, 0.5, 0.01,
                         "Rotate the hue by up to this fraction of the colour wheel.",
                         "amount", neutral=0.0),),
                  lambda v, t: {"hue": v["amount"]},
                  "Shift every colour around the colour wheel (red towards yellow, ...).", needs_rgb=True),
    TransformSpec("channel", "Channel isolation", "colour", "Lambda",
                  (Param("channel", "choice", "red", options=_CHANNELS,
                         help="The colour channel that is kept; the others become 0.",
                         label="keep channel"),),
                  lambda v, t: {"channel": _CHANNELS.index(v["channel"])},
                  "Keep one colour channel and zero the others: what is left when only red (or green, or blue) light "
                  "counts.",
                  needs_rgb=True),
    TransformSpec("gray", "Grayscale", "colour", "RandomGrayscale", (_p(0.5),),
                  lambda v, t: {"p": v["p"]},
                  "Drop the colour (kept as 3 equal channels): the model must not rely on colour alone.",
                  needs_rgb=True),
    # kernel filters
    TransformSpec("blur", "Gaussian blur", "kernel", "GaussianBlur",
                  (Param("kernel", "int", 5, 3, 15, 2, "Kernel size in pixels (odd).", "kernel size", odd=True),
                   Param("sigma", "range", (0.1, 2.0), 0.1, 5.0, 0.1, "Random standard deviation of the Gaussian.",
                         "sigma range")),
                  lambda v, t: {"kernel_size": v["kernel"], "sigma": v["sigma"]},
                  "Convolve with a Gaussian kernel of random width: out-of-focus or low-resolution images."),
    TransformSpec("sharp", "Sharpness", "kernel", "RandomAdjustSharpness",
                  (Param("factor", "float", 2.0, 0.0, 10.0, 0.1,
                         "0 blurs, 1 leaves the image, 2 doubles the sharpening.",
                         "sharpness factor", neutral=1.0), _p()),
                  lambda v, t: {"sharpness_factor": v["factor"], "p": v["p"]},
                  "Blend with a smoothed copy (a 3x3 kernel filter) to sharpen or soften edges."),
    # random erasing
    TransformSpec("erase", "Random erasing", "erasing", "RandomErasing",
                  (_p(0.7), Param("scale", "range", (0.02, 0.2), 0.01, 0.8, 0.01,
                                  "Area of the erased box as a fraction.",
                                  "box area (fraction)")),
                  lambda v, t: {"p": v["p"], "scale": v["scale"], "value": 0.0},
                  "Black out a random box (Cutout): the model must use more than one part of the object."),
    # mixing
    TransformSpec("mixup", "MixUp", "mixing", "MixUp",
                  (Param("alpha", "float", 1.0, 0.1, 5.0, 0.1, "Mixing weight lambda ~ Beta(alpha, alpha).", "alpha"),),
                  lambda v, t: {"alpha": v["alpha"], "num_classes": t.num_classes},
                  "Blend with a second image, lambda*x1 + (1-lambda)*x2; the label is blended with the same weights.",
                  mixing=True),
    TransformSpec("cutmix", "CutMix", "mixing", "CutMix",
                  (Param("alpha", "float", 1.0, 0.1, 5.0, 0.1, "Box area ~ Beta(alpha, alpha).", "alpha"),),
                  lambda v, t: {"alpha": v["alpha"], "num_classes": t.num_classes},
                  "Paste a random box of a second image; the label is mixed in proportion to the pasted area.",
                  mixing=True),
    # noise
    TransformSpec("noise", "Gaussian noise", "noise", "GaussianNoise",
                  (Param("sigma", "float", 0.1, 0.0, 1.0, 0.01, "Standard deviation of the noise (pixel range 0..1).",
                         "sigma", neutral=0.0),),
                  lambda v, t: {"mean": 0.0, "sigma": v["sigma"], "clip": True},
                  "Add independent Gaussian noise to every pixel (sensor noise), clipped to 0..1."),
]}


def transform_spec(key: str) -> TransformSpec:
    """The table row for ``key``, or a KeyError that lists the keys."""
    if key not in TRANSFORMS:
        raise KeyError(f"unknown transform {key!r}; known: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[key]


# ------------------------------------------------------------------------------------ pipelines


@dataclass(frozen=True)
class Step:
    """One transform of a pipeline with its values (hashable, so pipelines can key caches)."""

    key: str
    values: tuple[tuple[str, Any], ...]

    @property
    def spec(self) -> TransformSpec:
        return transform_spec(self.key)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.values)


Pipeline = Sequence[Step]


def step(key: str, **values: Any) -> Step:
    """A pipeline step: the table's defaults, overridden by ``values``, each checked against its limits.

    Examples::

        >>> step("rotate", degrees=45).params
        {'degrees': 45.0}
    """
    spec = transform_spec(key)
    unknown = set(values) - {p.name for p in spec.params}
    if unknown:
        raise AugmentationError(f"{spec.name} has no parameter(s) {sorted(unknown)}; "
                                f"it has {[p.name for p in spec.params]}")
    merged = {p.name: p.validate(values.get(p.name, p.default)) for p in spec.params}
    return Step(key, tuple(merged.items()))


def _isolate_channel(x: torch.Tensor, channel: int) -> torch.Tensor:
    if x.shape[-3] < 3:
        return x  # one-channel image: nothing to isolate
    mask = torch.zeros(x.shape[-3], 1, 1, dtype=x.dtype, device=x.device)
    mask[channel] = 1
    return x * mask


def build_transform(s: Step, target: Target) -> v2.Transform:
    """The torchvision v2 transform of one step, for images of ``target``'s size.

    Examples::

        >>> build_transform(step("hflip", p=1.0), Target(1, 28, 28, 10))
        RandomHorizontalFlip(p=1.0)
    """
    spec = s.spec
    kw = spec.kwargs(s.params, target)
    if spec.key == "channel":
        return v2.Lambda(functools.partial(_isolate_channel, channel=kw["channel"]))
    return getattr(v2, spec.factory)(**kw)


def _code_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}" if "e" not in f"{v:g}" else repr(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_code_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def step_code(s: Step, target: Target) -> str:
    """The torchvision expression that builds the step.

    For example ``v2.RandomRotation(degrees=20, interpolation='bilinear')``.
    """
    kw = s.spec.kwargs(s.params, target)
    if s.key == "channel":
        mask = ", ".join("1." if i == kw["channel"] else "0." for i in range(3))
        return f"v2.Lambda(lambda x: x * torch.tensor([{mask}]).view(3, 1, 1))"
    return f"v2.{s.spec.factory}(" + ", ".join(f"{k}={_code_value(v)}" for k, v in kw.items()) + ")"


def check_pipeline(pipeline: Pipeline, target: Target) -> list[str]:
    """Plain-language notes on steps that do nothing or need care for this model (empty if all is well)."""
    notes = []
    mixing = [s for s in pipeline if s.spec.mixing]
    if len(mixing) > 1:
        notes.append("Only one mixing step (MixUp or CutMix) is used per pipeline; the later ones are ignored.")
    idle = []
    for s in pipeline:
        values = s.params
        if "p" in values and values["p"] == 0:
            idle.append(f"{s.spec.name} (probability 0: never applied)")
            continue
        neutral = [p for p in s.spec.params if p.neutral is not None and p.name != "p"]
        if neutral and all(values[p.name] == p.neutral for p in neutral):
            what = ", ".join(f"{p.label or p.name} = {p.neutral:g}" for p in neutral)
            idle.append(f"{s.spec.name} ({what})")
    if idle:
        notes.append(f"No effect with these settings: {'; '.join(idle)}. Raise the value to see the transform.")
    for s in pipeline:
        if s.key == "elastic" and s.params["sigma"] > elastic_sigma_limit(target):
            notes.append(f"Elastic: sigma {s.params['sigma']:g} needs a smoothing kernel wider than this "
                         f"{target.height}x{target.width} image; "
                         f"sigma {elastic_sigma_limit(target):g} is used instead.")
    if target.channels == 1:
        rgb = [s.spec.name for s in pipeline if s.spec.needs_rgb]
        if rgb:
            notes.append(f"{', '.join(rgb)}: this model sees one grayscale channel, and these transforms act on colour "
                         "(hue, saturation and channels need red, green and blue), so they leave the image unchanged. "
                         "Pick an RGB model (e.g. ResNet-18) in the sidebar to see them work.")
    return notes


def pipeline_code(pipeline: Pipeline, model: ModelHandle | Target | None = None) -> str:
    """Python code that builds the same pipeline with torchvision, including normalisation.

    Args:
        pipeline: the steps.
        model: the model (for input size, classes, mean/std); default a 3x224x224 ImageNet model.

    Examples::

        >>> print(pipeline_code([step("hflip")], m))
    """
    if isinstance(model, ModelHandle):
        target, mean, std = Target.of(model), model.mean, model.std
    else:
        target = model or Target(3, 224, 224, 1000)
        mean, std = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) if target.channels == 3 else ((0.5,), (0.5,))
    mix_at = next((i for i, s in enumerate(pipeline) if s.spec.mixing), None)
    per_image = list(pipeline if mix_at is None else pipeline[:mix_at])
    after = [] if mix_at is None else [s for s in pipeline[mix_at + 1:] if not s.spec.mixing]
    mode = "a grayscale (L)" if target.channels == 1 else "an RGB"
    lines = ["import torch", "from torchvision.transforms import v2", "",
             f"# per image: {mode} image of the model's input size {target.height}x{target.width}",
             "augment = v2.Compose(["
             , "    v2.ToImage(),", "    v2.ToDtype(torch.float32, scale=True),  # uint8 0..255 -> float 0..1"]
    for s in per_image:
        if s.spec.needs_rgb and target.channels == 1:
            lines.append(f"    # {step_code(s, target)},  # needs RGB: no effect on this one-channel model")
        else:
            lines.append(f"    {step_code(s, target)},"
                         + (f"  # keep the {s.params['channel']} channel only" if s.key == "channel" else ""))
    lines.append("])")
    if mix_at is not None:
        lines += ["", "# mixing works on a batch with integer labels; labels become soft [N, num_classes]",
                  f"mix = {step_code(pipeline[mix_at], target)}",
                  "images, labels = mix(torch.stack([augment(img) for img in imgs]), labels)"]
        if after:
            lines += ["after_mix = v2.Compose([" + ", ".join(step_code(s, target) for s in after) + "])",
                      "images = torch.stack([after_mix(x) for x in images])"]
    lines += ["", "# normalise last, with the statistics the model was trained with",
              f"normalize = v2.Normalize(mean={[round(m, 4) for m in mean]}, std={[round(s, 4) for s in std]})"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ tensors


def image_tensor(model: ModelHandle, image: ImageSource | torch.Tensor) -> torch.Tensor:
    """The image as the model sees it, before normalising: float ``[C, H, W]`` in 0..1 on the model's device.

    A tensor is taken as already prepared (``[C, H, W]`` in 0..1) and only moved to the device.
    """
    if isinstance(image, torch.Tensor):
        t = image.to(model.device)
        return (t[0] if t.ndim == 4 else t).float()
    arr = np.asarray(model.prepare_image(image), dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).to(model.device)
    t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
    return t.float().div_(255)


def normalize(model: ModelHandle, x: torch.Tensor) -> torch.Tensor:
    """Pixel-domain images ``[N, C, H, W]`` (0..1) to the model's normalised input.

    The same arithmetic as ``preprocess``.
    """
    mean = torch.tensor(model.mean, device=x.device).view(-1, 1, 1)
    std = torch.tensor(model.std, device=x.device).view(-1, 1, 1)
    return (x - mean) / std


def predict_pixels(model: ModelHandle, x: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities ``[N, classes]`` for pixel-domain images ``[N, C, H, W]``, in one forward pass per 256."""
    return model.predict_batch(normalize(model, x.to(model.device)))


def to_arrays(x: torch.Tensor) -> list[np.ndarray]:
    """Pixel-domain images ``[N, C, H, W]`` to uint8 arrays (HxW or HxWx3) for display; one copy to the CPU."""
    arr = (x.detach().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [a[..., 0] if a.shape[2] == 1 else a for a in arr]


_RNG_LOCK = threading.Lock()


def _rng_devices(device: torch.device) -> list[int]:
    if device.type == "cuda":
        return [device.index if device.index is not None else torch.cuda.current_device()]
    return []


# ------------------------------------------------------------------------------------ samples


@dataclass
class AugmentedBatch:
    """N augmented samples of one image and the model's answer on each.

    Attributes:
        images: pixel-domain samples ``[N, C, H, W]`` (0..1) on the model's device.
        probs: softmax probabilities ``[N, classes]`` on the model's device.
        classes: the model's class names.
        clean_index: the model's top class on the unaugmented image.
        mixed: soft labels ``[N, classes]`` when the pipeline mixes images, else None.
        mix_labels: the two class indices that were mixed (image, partner), else None.
    """

    images: torch.Tensor
    probs: torch.Tensor
    classes: list[str]
    clean_index: int
    mixed: torch.Tensor | None = None
    mix_labels: tuple[int, int] | None = None

    @property
    def top_indices(self) -> list[int]:
        return self.probs.argmax(1).tolist()

    @property
    def labels(self) -> list[str]:
        return [self.classes[i] for i in self.top_indices]

    @property
    def confidences(self) -> list[float]:
        return self.probs.max(1).values.tolist()

    @property
    def kept_fraction(self) -> float:
        """Fraction of samples whose top class is the clean image's top class."""
        return float((self.probs.argmax(1) == self.clean_index).float().mean())

    def mixed_labels(self, k: int = 2) -> list[list[tuple[str, float]]] | None:
        """The ``k`` largest components of each sample's soft label, e.g. ``[("6", 0.7), ("3", 0.3)]``."""
        if self.mixed is None:
            return None
        top = self.mixed.topk(min(k, self.mixed.shape[1]), dim=1)
        return [[(self.classes[i], float(p)) for p, i in zip(ps, ix) if p > 1e-4]
                for ps, ix in zip(top.values.tolist(), top.indices.tolist())]

    def arrays(self) -> list[np.ndarray]:
        return to_arrays(self.images)


def _apply(transforms: list[v2.Transform], steps: Pipeline, a: torch.Tensor, b: torch.Tensor | None,
           labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    soft = None
    mixed_once = False
    for t, s in zip(transforms, steps):
        if s.spec.mixing:
            if mixed_once:
                continue
            # v2.MixUp/CutMix pair image i with image i-1 of the batch: [a, b] -> a mixed with b
            imgs, lab = t(torch.stack([a, b]), labels)
            a, soft, mixed_once = imgs[0], lab[0], True
        else:
            a = t(a)
            if b is not None and not mixed_once:
                b = t(b)  # the partner gets its own draw of the per-image transforms, as in a training batch
    return a, soft


def sample_batch(model: ModelHandle, image: ImageSource | torch.Tensor, pipeline: Pipeline, n: int = 16, seed: int = 0,
                 second_image: ImageSource | torch.Tensor | None = None,
                 labels: tuple[int, int] | None = None) -> AugmentedBatch:
    """``n`` random augmentations of ``image``, each with its own draw, and the model's prediction on each.

    The draws are reproducible: the same ``seed`` gives the same samples, and the global random state
    is left as it was. The samples run through the model in one batched forward pass on its device.

    Args:
        model: the model.
        image: the input (any image source, or a pixel-domain tensor ``[C, H, W]``).
        pipeline: the steps, applied in order.
        n: how many samples (1..256).
        seed: seed of the random draws.
        second_image: the partner image for MixUp/CutMix (required when the pipeline mixes).
        labels: class indices of ``image`` and ``second_image`` for the mixed label; default the model's
            top class on each clean image.

    Examples::

        >>> b = sample_batch(m, img, [step("rotate", degrees=45)], n=16, seed=1)
        >>> len(b.labels), b.images.shape
    """
    if not 1 <= n <= 256:
        raise AugmentationError(f"n must be between 1 and 256 samples, got {n}")
    target = Target.of(model)
    x0 = image_tensor(model, image)
    steps = list(pipeline)
    mixing = any(s.spec.mixing for s in steps)
    x1 = None
    if mixing:
        if second_image is None:
            raise AugmentationError("the pipeline mixes images (MixUp/CutMix) but no second_image was given; "
                                    "pass the partner image")
        x1 = image_tensor(model, second_image)
    clean = [x0] + ([x1] if x1 is not None else [])
    if mixing and labels is None:
        # the mixed label needs the classes of both clean images before mixing: the model's own answer
        labels = tuple(predict_pixels(model, torch.stack(clean)).argmax(1).tolist())
    lab = torch.tensor(list(labels), dtype=torch.int64, device=model.device) if mixing else None
    transforms = [build_transform(s, target) for s in steps]
    outs, softs = [], []
    # v2 transforms draw from the global generator: seed it inside fork_rng (restored afterwards) and
    # keep our own seeded sections from interleaving between sessions
    with _RNG_LOCK, torch.random.fork_rng(devices=_rng_devices(model.device)):
        torch.manual_seed(seed)
        for _ in range(n):
            a, soft = _apply(transforms, steps, x0, x1, lab)
            if a.shape[-2:] != (target.height, target.width):
                a = TF.resize(a, [target.height, target.width], antialias=True)
            outs.append(a.clamp(0, 1))
            softs.append(soft)
    # the clean image rides along: one forward pass for clean + all samples
    probs = predict_pixels(model, torch.stack(clean[:1] + outs))
    clean_top = int(probs[0].argmax())
    mixed = torch.stack(softs).to(probs.device) if mixing else None
    pair = tuple(int(v) for v in lab.tolist()) if lab is not None else None
    return AugmentedBatch(torch.stack(outs), probs[1:], list(model.classes), clean_top, mixed, pair)


# ------------------------------------------------------------------------------------ sweeps


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


def _sweep(model: ModelHandle, x0: torch.Tensor, parameter: str, values: Sequence[float],
           fn: Callable[[torch.Tensor, float], torch.Tensor], reference: int | None = None) -> Sweep:
    batch = torch.stack([x0] + [fn(x0, float(v)) for v in values]).clamp(0, 1)
    probs = predict_pixels(model, batch)  # the clean image rides along in the same forward pass
    ref = int(probs[0].argmax()) if reference is None else reference
    return Sweep(parameter, [float(v) for v in values], probs[1:].cpu(), list(model.classes), ref, batch[1:].cpu())


def rotate_scale(x: torch.Tensor, angles: Sequence[float] | float,
                 scales: Sequence[float] | float = 1.0) -> torch.Tensor:
    """Rotate ``x`` ``[C, H, W]`` by each angle (degrees, counter-clockwise) and zoom by each scale, about the centre.

    All copies come from one ``affine_grid`` + ``grid_sample`` call on the device (bilinear, zeros outside),
    instead of one torchvision call per angle. The map is that of ``TF.affine(x, -angle, scale=...)``;
    only pixels on the rotated image's border differ (torchvision blends its fill differently there).

    Args:
        x: one image ``[C, H, W]``.
        angles: one angle or a sequence; a single value broadcasts against ``scales``.
        scales: zoom factors (1 = unchanged, 0.5 = half size).

    Returns:
        ``[N, C, H, W]`` with N = the longer of ``angles`` / ``scales``.

    Examples::

        >>> x = torch.rand(1, 9, 9)
        >>> torch.allclose(rotate_scale(x, 90)[0], torch.rot90(x, 1, dims=(1, 2)), atol=1e-5)
        True
    """
    a = torch.as_tensor(angles, dtype=torch.float64).reshape(-1)
    z = torch.as_tensor(scales, dtype=torch.float64).reshape(-1)
    a, z = torch.broadcast_tensors(a, z)
    if bool((z <= 0).any()):
        raise AugmentationError(f"scales must be positive zoom factors, got {z.tolist()}")
    n, (c, h, w) = len(a), x.shape[-3:]
    rad = a * torch.pi / 180
    cos, sin = torch.cos(rad), torch.sin(rad)
    # output pixel -> input pixel (the inverse map), in pixel units with y pointing down
    inv = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1) / z.view(-1, 1, 1)
    half = torch.tensor([w / 2, h / 2], dtype=torch.float64)
    inv = inv * half.view(1, 1, 2) / half.view(1, 2, 1)  # to affine_grid's normalised coordinates
    theta = torch.cat([inv, torch.zeros(n, 2, 1, dtype=torch.float64)], 2).to(x.device, torch.float32)
    grid = torch.nn.functional.affine_grid(theta, [n, c, h, w], align_corners=False)
    return torch.nn.functional.grid_sample(x.float().expand(n, c, h, w), grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=False)


def rotation_sweep(model: ModelHandle, image: ImageSource | torch.Tensor,
                   angles: Sequence[float] = tuple(range(0, 181, 15)), scale: float = 1.0) -> Sweep:
    """Predictions for the image rotated by each angle (degrees, counter-clockwise), at one zoom ``scale``."""
    x0 = image_tensor(model, image)
    values = [float(a) for a in angles]
    batch = torch.cat([x0[None], rotate_scale(x0, values, scale)]).clamp(0, 1)
    probs = predict_pixels(model, batch)  # the clean image rides along in the same forward pass
    return Sweep("angle", values, probs[1:].cpu(), list(model.classes), int(probs[0].argmax()), batch[1:].cpu())


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
        return [[f"{lab} ({c:.0%})" for lab, c in zip(lr, cr)] for lr, cr in zip(self.labels(), self.confidences())]

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
    batch = torch.cat([x0[None], rotate_scale(x0, [a for _, a in sa], [s for s, _ in sa])]).clamp(0, 1)
    probs = predict_pixels(model, batch)
    grid = probs[1:].view(len(scales), len(angles), -1).cpu()
    return RotationScaleGrid([float(a) for a in angles], [float(s) for s in scales], grid, list(model.classes),
                             int(probs[0].argmax()))


def brightness_sweep(model: ModelHandle, image: ImageSource | torch.Tensor,
                     factors: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)) -> Sweep:
    """Predictions with all pixels multiplied by each factor (clipped to 0..1), as ``adjust_brightness``."""
    x0 = image_tensor(model, image)
    return _sweep(model, x0, "brightness", factors, lambda x, f: TF.adjust_brightness(x, f))


def contrast_sweep(model: ModelHandle, image: ImageSource | torch.Tensor,
                   factors: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)) -> Sweep:
    """Predictions with the contrast scaled by each factor (blend with the mean grey), as ``adjust_contrast``."""
    x0 = image_tensor(model, image)
    return _sweep(model, x0, "contrast", factors, lambda x, f: TF.adjust_contrast(x, f))


def shift_image(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift ``x`` ``[..., H, W]`` by whole pixels (down by ``dy``, right by ``dx``); uncovered pixels become 0.

    Examples::

        >>> shift_image(torch.tensor([[1., 2., 3.]]), 0, 1)
        tensor([[0., 1., 2.]])
    """
    dy, dx = int(dy), int(dx)
    if dy == 0 and dx == 0:
        return x
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y, dst_y = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    src_x, dst_x = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


SHIFT_DIRECTIONS = {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}


@dataclass
class ShiftSweep:
    """Predictions and a layer's activation change for shifts of 0..k pixels.

    Attributes:
        sweep: the predictions (parameter ``"shift"``, values in pixels).
        layer: the layer whose activations were compared.
        stride: the layer's total stride (input pixels per activation cell), when the output is a map.
        change: relative L2 change ``||a_k - a_0|| / ||a_0||`` of the layer's output.
        aligned_change: the same after moving ``a_0`` by ``round(k / stride)`` cells, i.e. what is left
            once the shift the layer *can* represent is taken out; it dips to ~0 at multiples of the
            stride and rises in between: aliasing from striding and pooling.
    """

    sweep: Sweep
    layer: str
    stride: int | None
    change: list[float]
    aligned_change: list[float] | None


_STRIDES: dict[str, dict[str, int | None]] = {}


def layer_strides(model: ModelHandle) -> dict[str, int | None]:
    """Total stride (input pixels per output cell) of every leaf layer whose output is a feature map.

    Measured, not assumed: the model runs once on an input 64 pixels wider, and the stride is
    64 / (growth of the layer's output width). Layers after a global or adaptive pool do not grow
    and get None. A head that rejects the larger input (a fixed-size Linear) only stops the probe
    after the feature maps were seen. Cached per model.
    """
    if model.key in _STRIDES:
        return _STRIDES[model.key]
    c, h, w = model.input_size
    base: dict[str, tuple] = {}
    calls: dict[str, int] = {}
    for info in model.layers():  # a module called twice (ResNet's shared ReLU): 'name', then 'name#2'
        calls[info.name] = calls.get(info.name, 0) + 1
        if len(info.output_shape) == 3:
            base[call_key(info.name, calls[info.name])] = info.output_shape
    grown: dict[str, tuple] = {}
    try:  # streamed, so the maps before a layer that refuses the larger input are kept
        capture(model.module, torch.zeros(1, c, h + 64, w + 64, device=model.device), sorted(base),
                on_output=lambda key, out: grown.__setitem__(key, tuple(out.shape[1:])))
    except (RuntimeError, ValueError):
        pass  # e.g. a Linear layer expecting the original size: the maps before it were captured
    strides: dict[str, int | None] = {}
    for name, shape in base.items():
        g = grown.get(name)
        d = (g[2] - shape[2]) if g is not None and len(g) == 3 else 0
        strides[name] = round(64 / d) if d > 0 else None
    _STRIDES[model.key] = strides
    return strides


def spatial_layers(model: ModelHandle) -> list[tuple[str, int | None]]:
    """Leaf layers whose output is a feature map, in forward order, with their total stride (see :func:`layer_strides`)."""
    return list(layer_strides(model).items())


def shift_sweep(model: ModelHandle, image: ImageSource | torch.Tensor, max_shift: int = 8, layer: str | None = None,
                direction: str = "right") -> ShiftSweep:
    """Shift the image by 0..``max_shift`` pixels and follow the prediction and one layer's activations.

    One forward pass computes the predictions and captures the layer (through the capture engine).

    Args:
        model: the model.
        image: the input.
        max_shift: the largest shift in pixels.
        layer: a layer name (default: the deepest layer with a feature-map output).
        direction: ``"right"``, ``"down"`` or ``"diagonal"``.
    """
    if direction not in SHIFT_DIRECTIONS:
        raise ValueError(f"direction must be one of {list(SHIFT_DIRECTIONS)}, got {direction!r}")
    if not 0 <= max_shift < min(model.input_size[1:]):
        raise ValueError(f"max_shift must be between 0 and {min(model.input_size[1:]) - 1} pixels, got {max_shift}")
    maps = layer_strides(model)
    if layer is None:
        strided = [n for n, s in maps.items() if s]
        if not strided:
            raise ValueError(f"{model.name} has no layer with a feature-map output; pass layer= (see m.layer_names())")
        layer = strided[-1]
    if split_key(layer)[0] not in dict(model.module.named_modules()):
        raise LayerError(f"layer {layer!r} not in model {model.name}. Hint: m.layer_names() lists them")
    uy, ux = SHIFT_DIRECTIONS[direction]
    x0 = image_tensor(model, image)
    shifts = list(range(max_shift + 1))
    batch = torch.stack([shift_image(x0, k * uy, k * ux) for k in shifts])
    # one forward pass: the predictions and the layer (a plain name is a module's first call, as everywhere)
    key = layer if split_key(layer)[1] is not None else f"{layer}#1"
    rec = capture(model.module, normalize(model, batch), [key], logits=True)
    out = next(iter(rec.outputs.values()))
    probs = torch.softmax(rec.logits, 1)
    acts = out.float().flatten(1) if out.ndim < 4 else out.float()
    a0 = acts[:1]
    norm0 = a0.flatten(1).norm(dim=1).clamp_min(1e-12)
    change = ((acts - a0).flatten(1).norm(dim=1) / norm0).tolist()
    stride = maps.get(layer)
    aligned = None
    if acts.ndim == 4 and stride:
        ref = torch.stack([shift_image(a0[0], round(k * uy / stride), round(k * ux / stride)) for k in shifts])
        aligned = ((acts - ref).flatten(1).norm(dim=1) / norm0).tolist()
    sweep = Sweep("shift", [float(k) for k in shifts], probs.cpu(), list(model.classes), int(probs[0].argmax()), batch.cpu())
    return ShiftSweep(sweep, layer, stride, change, aligned)


# ------------------------------------------------------------------------------------ label-changing


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
            raise AugmentationError(f"class {c!r} is not one of {model.name}'s classes; the 6-to-9 "
                                    "demo needs a digit model "
                                    "such as lenet5-mnist")
    sweep = rotation_sweep(model, image, angles)
    sweep.reference = model.classes.index(source)
    by_size = sorted(zip(sweep.values, sweep.labels), key=lambda al: (abs(al[0]), al[0]))
    flip = next((a for a, lab in by_size if lab == target), None)
    change = next((a for a, lab in by_size if lab != source), None)
    return LabelFlip(sweep, source, target, flip, change)


# ------------------------------------------------------------------------------------ scrambling


def scramble(x: torch.Tensor, grid: int, seed: int = 0) -> torch.Tensor:
    """Cut ``x`` ``[C, H, W]`` into ``grid`` x ``grid`` tiles and shuffle them (the "Picasso problem").

    Tiles are ``H // grid`` x ``W // grid`` pixels; when the size is not divisible, the few pixels of
    the bottom/right margin stay in place. With ``grid >= 2`` the shuffle is never the identity.

    Examples::

        >>> x = torch.arange(16.).view(1, 4, 4)
        >>> scramble(x, 1).equal(x)
        True
    """
    if grid < 1:
        raise AugmentationError(f"grid must be at least 1 tile per side, got {grid}")
    h, w = x.shape[-2:]
    th, tw = h // grid, w // grid
    if th < 1 or tw < 1:
        raise AugmentationError(f"a {grid}x{grid} grid does not fit a {h}x{w} image; "
                                f"use at most {min(h, w)} tiles per side")
    if grid == 1:
        return x
    gen = torch.Generator().manual_seed(int(seed))
    n = grid * grid
    perm = torch.randperm(n, generator=gen)
    while bool((perm == torch.arange(n)).all()):
        perm = torch.randperm(n, generator=gen)
    region = x[..., :grid * th, :grid * tw]
    tiles = region.unflatten(-2, (grid, th)).unflatten(-1, (grid, tw))  # C, gy, th, gx, tw
    tiles = tiles.movedim(-2, -3).flatten(-4, -3)  # C, n, th, tw
    tiles = tiles[..., perm.to(x.device), :, :]
    out = x.clone()
    out[..., :grid * th, :grid * tw] = tiles.unflatten(-3, (grid, grid)).movedim(-3, -2).flatten(-4, -3).flatten(-2, -1)
    return out


@dataclass
class ScrambleSweep:
    """How much of the prediction survives shuffling tiles, per grid size.

    Attributes:
        grids: tiles per side.
        probs: probability of the clean image's top class, ``[len(grids), shuffles]``.
        kept: fraction of shuffles whose top class is still the clean one, per grid.
        examples: one scrambled image per grid ``[len(grids), C, H, W]`` (CPU).
    """

    grids: list[int]
    probs: torch.Tensor
    kept: list[float]
    reference: int
    classes: list[str]
    examples: torch.Tensor

    @property
    def tiles(self) -> list[int]:
        return [g * g for g in self.grids]

    @property
    def mean_probs(self) -> list[float]:
        return self.probs.mean(1).tolist()


def scramble_sweep(model: ModelHandle, image: ImageSource | torch.Tensor, grids: Sequence[int] = (1, 2, 3, 4, 5, 6, 7),
                   shuffles: int = 8, seed: int = 0) -> ScrambleSweep:
    """Scramble the image on each grid with ``shuffles`` different seeds; one forward pass for all of them."""
    x0 = image_tensor(model, image)
    imgs = [scramble(x0, g, seed + r) for g in grids for r in range(shuffles)]
    probs = predict_pixels(model, torch.stack([x0] + imgs))
    ref = int(probs[0].argmax())
    p = probs[1:].view(len(grids), shuffles, -1)
    kept = (p.argmax(2) == ref).float().mean(1).tolist()
    examples = torch.stack([imgs[i * shuffles] for i in range(len(grids))]).cpu()
    return ScrambleSweep(list(grids), p[:, :, ref].cpu(), kept, ref, list(model.classes), examples)


# ------------------------------------------------------------------------------------ what the page shows


def mixed_label_text(label: Sequence[tuple[str, float]]) -> str:
    """A soft label as ``"0.70·6 + 0.30·3"`` (weights first, as the pixels were blended).

    Examples::

        >>> mixed_label_text([("6", 0.7), ("3", 0.3)])
        '0.70·6 + 0.30·3'
    """
    return " + ".join(f"{p:.2f}·{c}" for c, p in label)


def scramble_limits(model: ModelHandle) -> tuple[int, int]:
    """``(largest grid, shuffles per grid)`` for the scramble demo: tiles of at least 4 pixels, at most 8 per side;
    ImageNet-size models get 4 shuffles instead of 8 (fewer forward passes).

    Examples::

        >>> scramble_limits(load_model("lenet5-mnist"))
        (7, 8)
    """
    side = min(model.input_size[1:])
    return max(2, min(8, side // 4)), 8 if side <= 64 else 4


@dataclass
class ScrambleDemo:
    """One scrambled image next to the clean one, and the sweep over grid sizes.

    Attributes:
        clean, scrambled: uint8 images for display.
        grid: tiles per side of ``scrambled``.
        clean_probs, scrambled_probs: the model's probabilities on each (CPU).
        sweep: probabilities of the clean class over grids 1..max_grid.
    """

    clean: np.ndarray
    scrambled: np.ndarray
    grid: int
    clean_probs: torch.Tensor
    scrambled_probs: torch.Tensor
    sweep: ScrambleSweep

    @property
    def reference(self) -> int:
        return int(self.clean_probs.argmax())

    @property
    def clean_class(self) -> str:
        return self.sweep.classes[self.reference]

    @property
    def scrambled_class(self) -> str:
        return self.sweep.classes[int(self.scrambled_probs.argmax())]


def scramble_demo(model: ModelHandle, image: ImageSource | torch.Tensor, grid: int, seed: int = 0,
                  max_grid: int | None = None, shuffles: int | None = None) -> ScrambleDemo:
    """The image scrambled on a ``grid`` x ``grid`` tiling, and :func:`scramble_sweep` up to ``max_grid``.

    Defaults come from :func:`scramble_limits`.

    Examples::

        >>> d = scramble_demo(load_model("lenet5-mnist"), "assets/samples/digit-6.png", 1)
        >>> d.clean_class == d.scrambled_class  # one tile: the image itself
        True
    """
    limit, n = scramble_limits(model)
    x0 = image_tensor(model, image)
    x = scramble(x0, grid, seed)
    probs = predict_pixels(model, torch.stack([x0, x])).cpu()
    sweep = scramble_sweep(model, x0, grids=list(range(1, (max_grid or limit) + 1)), shuffles=shuffles or n, seed=seed)
    clean, scrambled = to_arrays(torch.stack([x0, x]))
    return ScrambleDemo(clean, scrambled, grid, probs[0], probs[1], sweep)


def transform_label(key: str, target: Target) -> str:
    """``"Geometric: Rotation"``, marked ``(RGB only)`` when the transform needs colour the target lacks.

    Examples::

        >>> transform_label("rotate", Target(1, 28, 28, 10))
        'Geometric: Rotation'
    """
    spec = transform_spec(key)
    return f"{GROUPS[spec.group]}: {spec.name}" + (" (RGB only)" if spec.needs_rgb and target.channels == 1 else "")


def sweep_table(sweep: Sweep, parameter: str | None = None) -> list[dict[str, Any]]:
    """A sweep as table rows: the value, the top class and its confidence, P(clean class).

    Examples::

        >>> s = Sweep("brightness", [0.5, 1.0], torch.tensor([[0.2, 0.8], [0.9, 0.1]]), ["a", "b"], 0)
        >>> sweep_table(s, "factor")[0]
        {'factor': 0.5, 'top class': 'b', 'confidence': '80.0%', 'P(a)': '20.0%'}
    """
    clean = sweep.classes[sweep.reference]
    return [
        {parameter or sweep.parameter: v, "top class": lab, "confidence": f"{c:.1%}", f"P({clean})": f"{p:.1%}"}
        for v, lab, c, p in zip(sweep.values, sweep.labels, sweep.confidences, sweep.reference_probs)
    ]


def shift_table(s: ShiftSweep) -> list[dict[str, Any]]:
    """The shift sweep as table rows: :func:`sweep_table` plus the layer's change, raw and after alignment."""
    rows = sweep_table(s.sweep, "shift (px)")
    for i, row in enumerate(rows):
        row["shift (px)"] = int(row["shift (px)"])
        row[f"change of {s.layer}"] = f"{s.change[i]:.3f}"
        row["change after alignment"] = f"{s.aligned_change[i]:.3f}" if s.aligned_change is not None else "—"
    return rows


def mixing_note(batch: AugmentedBatch) -> str | None:
    """What the soft labels of a mixing pipeline mean, and a warning when both images are of one class."""
    if batch.mix_labels is None:
        return None
    a, b = (batch.classes[i] for i in batch.mix_labels)
    return (f"Mixed labels: the soft target the network would be trained on, with the same weights as the pixels. "
            f"The labels of the two clean images are the model's own predictions on them: {a} and {b}."
            + (" Both are the same class here, so mixing leaves the label unchanged: pick a second image of another "
               "class." if a == b else ""))


def label_flip_summary(flip: LabelFlip, image_name: str = "the image") -> str:
    """Where the rotated image turns from ``source`` into ``target``, in words (markdown)."""
    if flip.flip_angle is None:
        return (f"This model never reads the rotated {flip.source} as a {flip.target}; the curves show what it reads "
                "instead.")
    way = "clockwise" if flip.flip_angle < 0 else "counter-clockwise"
    return (f"{image_name} is read as **{flip.target}** once it is rotated by **{flip.flip_angle:g}°** ({way}); it "
            f"stops being a {flip.source} already at {flip.first_change:g}°.")
