"""The layer table of a model: shapes, parameters, MACs and receptive fields, plus case studies.

Built from :meth:`cnnviz.core.model.ModelHandle.layers` (one forward pass, cached on the handle)
and, when available, :func:`cnnviz.methods.receptive_field.receptive_fields`. Works on multi-branch
models (ResNet, GoogLeNet): rows follow the execution order, and a module called twice
(the shared ReLU of a ResNet block) appears as ``name`` and ``name#2``.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods.architecture import layer_table, totals, main_path
    >>> rows = layer_table(cnnviz.load_model("lenet5-mnist"))
    >>> totals(rows).params, totals(rows).macs
    (61706, 416520)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from cnnviz.core.model import ModelHandle
from cnnviz.errors import CnnvizError

# layer types that change the shape or hold most parameters: the "compact" view keeps these
SHAPE_TYPES = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "Linear", "MaxPool2d", "AvgPool2d",
               "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Flatten", "LocalResponseNorm")


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer table.

    Attributes:
        index: position in execution order (0 = first layer run).
        name: module name as in ``named_modules()`` (``#2`` for a second call).
        type: the module's class name.
        kernel, stride, padding: ``(h, w)`` pairs for conv/pool layers, else None.
        output_shape: ``(C, H, W)`` or ``(features,)`` for one image.
        params: the module's own parameters (0 for a repeated call of the same module).
        macs: multiply-accumulates for one image.
        rf: receptive field ``(ry, rx)`` in input pixels, or None when unknown/whole input.
        rf_jump: input pixels between neighbouring units, or None.
    """

    index: int
    name: str
    type: str
    kernel: tuple | None
    stride: tuple | None
    padding: tuple | str | None
    output_shape: tuple[int, ...]
    params: int
    macs: int
    rf: tuple[int, int] | None = None
    rf_jump: tuple[int, int] | None = None

    @property
    def spatial(self) -> tuple[int, int] | None:
        """``(H, W)`` of the output map, or None for vectors."""
        return tuple(self.output_shape[1:3]) if len(self.output_shape) == 3 else None

    @property
    def channels(self) -> int:
        return int(self.output_shape[0])

    def as_dict(self) -> dict[str, Any]:
        """A flat row for tables (strings for pairs)."""
        def pair(v):
            if v is None:
                return ""
            if isinstance(v, str):
                return v
            return f"{v[0]}" if len(set(v)) == 1 else "x".join(str(x) for x in v)

        return {
            "#": self.index, "layer": self.name, "type": self.type, "kernel": pair(self.kernel),
            "stride": pair(self.stride), "padding": pair(self.padding),
            "output": "×".join(str(s) for s in self.output_shape), "params": self.params, "MACs": self.macs,
            "receptive field": "" if self.rf is None else
            ("x".join(str(r) for r in self.rf) if self.rf[0] != self.rf[1] else str(self.rf[0])),
        }


@dataclass(frozen=True)
class Totals:
    params: int  # counted once per module
    macs: int
    model_params: int  # sum(p.numel()) of the whole module
    layers: int

    @property
    def unused_params(self) -> int:
        """Parameters of modules that the forward pass never ran (e.g. removed auxiliary heads)."""
        return self.model_params - self.params


def receptive_fields_or_none(handle: ModelHandle) -> tuple[Mapping[str, Any] | None, str | None]:
    """``(fields, None)`` from :mod:`cnnviz.methods.receptive_field`, or ``(None, reason)`` when unavailable."""
    try:
        from cnnviz.methods.receptive_field import receptive_fields
    except ImportError as e:  # the module is optional for this table
        return None, f"receptive fields unavailable ({e})"
    try:
        return receptive_fields(handle), None
    except CnnvizError as e:  # an untraceable model must not take the table down (foreign failures come as these)
        return None, f"receptive fields unavailable for {handle.name}: {e}"


def layer_table(handle: ModelHandle, fields: Mapping[str, Any] | None = None) -> list[LayerRow]:
    """Every leaf layer run in the forward pass, in execution order.

    Args:
        handle: the model; its :meth:`~cnnviz.core.model.ModelHandle.layers` runs one forward pass
            (cached on the handle).
        fields: receptive fields keyed by layer name (``receptive_fields(handle)``); layers
            without an entry (or that see the whole input) get ``rf=None``.

    Examples::

        >>> rows = layer_table(cnnviz.load_model("lenet5-mnist"))
        >>> rows[0].name, rows[0].output_shape, rows[0].params, rows[0].macs
        ('features.0', (6, 28, 28), 156, 117600)
    """
    seen: dict[str, int] = {}
    rows = []
    for i, info in enumerate(handle.layers()):
        n = seen.get(info.name, 0) + 1
        seen[info.name] = n
        name = info.name if n == 1 else f"{info.name}#{n}"
        rf = jump = None
        f = fields.get(name) if fields else None
        if f is not None and not getattr(f, "whole_input", False):
            rf = tuple(int(v) for v in f.size)
            jump = tuple(int(v) for v in f.jump)
        rows.append(LayerRow(i, name, info.type, info.kernel, info.stride, info.padding, tuple(info.output_shape),
                             info.params if n == 1 else 0, info.macs, rf, jump))
    return rows


def compact(rows: list[LayerRow]) -> list[LayerRow]:
    """Only the layers that change the shape or hold weights (drops ReLU, BatchNorm, dropout...)."""
    return [r for r in rows if r.type in SHAPE_TYPES or (r.params and r.type not in ("BatchNorm2d", "BatchNorm1d"))]


def totals(rows: list[LayerRow], handle: ModelHandle | None = None) -> Totals:
    """Sum of parameters (each module once) and MACs over the table."""
    params = sum(r.params for r in rows)
    model = handle.num_parameters if handle is not None else params
    return Totals(params, sum(r.macs for r in rows), model, len(rows))


@dataclass(frozen=True)
class DepthPoint:
    """One step along the main path of a network, for the depth charts."""

    name: str
    output_shape: tuple[int, ...]
    rf: int | None


def main_path(module: nn.Module) -> list[str]:
    """Names of the modules on the main path: the root's children, plain ``nn.Sequential`` expanded.

    Blocks (an Inception block, a ResNet BasicBlock) stay whole, so their branches do not
    make the depth charts zig-zag.

    Examples::

        >>> main_path(cnnviz.load_model("resnet18", untrained=True).module)[:6]
        ['conv1', 'bn1', 'relu', 'maxpool', 'layer1.0', 'layer1.1']
    """
    out: list[str] = []

    def walk(mod: nn.Module, prefix: str) -> None:
        for name, child in mod.named_children():
            full = f"{prefix}{name}"
            if type(child) is nn.Sequential:
                walk(child, full + ".")
            elif child is not None:
                out.append(full)

    walk(module, "")
    return out


def depth_profile(handle: ModelHandle, rows: list[LayerRow], fields: Mapping[str, Any] | None) -> list[DepthPoint]:
    """Output shape and receptive field along :func:`main_path`, spatial outputs only.

    Block outputs come from the receptive-field trace (which records containers); without it,
    only leaf layers on the main path are known.
    """
    by_name = {r.name: r for r in rows}
    points = []
    for name in main_path(handle.module):
        f = fields.get(name) if fields else None
        shape = tuple(f.output_shape) if f is not None and f.output_shape is not None else (
            by_name[name].output_shape if name in by_name else None)
        if shape is None or len(shape) != 3:
            continue
        rf = int(f.size[0]) if f is not None and not getattr(f, "whole_input", False) else None
        points.append(DepthPoint(name, shape, rf))
    return points


# --------------------------------------------------------------------------- case studies
@dataclass(frozen=True)
class CaseStudy:
    title: str
    paper: str
    introduced: tuple[str, ...]
    look_for: str


CASE_STUDIES: dict[str, CaseStudy] = {
    "lenet5": CaseStudy(
        "LeNet-5 (LeCun et al., 1998)", "Gradient-based learning applied to document recognition",
        ("Convolution + subsampling + fully connected: the template every CNN since follows.",
         "Weight sharing: 6 filters of 5x5 cover the whole 28x28 digit with 156 parameters, where a fully "
         "connected layer to the same 6x28x28 output would need 3.7 million.",
         "Depth grows as space shrinks: 1x28x28 → 6x28x28 → 6x14x14 → 16x10x10 → 16x5x5 → 120 → 84 → 10."),
        "Most parameters sit in the first fully connected layer (400 → 120: 48,120); most MACs in the conv layers."),
    "small-vgg": CaseStudy(
        "A small VGG-style network (this project)", "after Simonyan & Zisserman, 2014",
        ("Blocks of stacked 3x3 convolutions with BatchNorm, each block ending in 2x2 max pooling.",
         "Global average pooling instead of large fully connected layers: the classifier has only 1,290 parameters."),
        "The receptive field grows by 2 per 3x3 conv and doubles its step at each pooling."),
    "alexnet": CaseStudy(
        "AlexNet (Krizhevsky, Sutskever & Hinton, 2012)",
        "ImageNet classification with deep convolutional neural networks",
        ("ReLU instead of tanh/sigmoid: training several times faster, no saturation for positive inputs.",
         "Dropout in the fully connected layers against overfitting; data augmentation; training on GPUs.",
         "A large first layer (11x11, stride 4) that shrinks 224x224 to 55x55 at once; overlapping 3x3/2 max pooling."),
        "About 58.6 of its 61.1 million parameters are in the three fully connected layers, while nearly all MACs "
        "are in the convolutions."),
    "vgg16": CaseStudy(
        "VGG-16 (Simonyan & Zisserman, 2014)", "Very deep convolutional networks for large-scale image recognition",
        ("Only 3x3 convolutions, stacked: two 3x3 layers see 5x5 and three see 7x7, with fewer parameters "
         "(3·9C² = 27C² vs 49C² for one 7x7) and more non-linearities.",
         "A regular design: channels double (64 → 512) each time max pooling halves the resolution."),
        "15.5 G MACs per image, most in the early high-resolution blocks; 124 M of its 138 M parameters in the fully "
        "connected layers."),
    "googlenet": CaseStudy(
        "GoogLeNet / Inception v1 (Szegedy et al., 2014)", "Going deeper with convolutions",
        ("Inception blocks: 1x1, 3x3 and 5x5 convolutions and pooling side by side, concatenated along depth.",
         "1x1 bottleneck convolutions reduce the depth before the expensive 3x3/5x5 filters.",
         "Global average pooling replaces the big fully connected layers: 6.6 M parameters, 9x fewer than AlexNet."),
        "The table lists the branches of each Inception block one after another; their outputs are concatenated "
        "(channels add up)."),
    "resnet18": CaseStudy(
        "ResNet-18 (He et al., 2015)", "Deep residual learning for image recognition",
        ("Residual connections: each block learns a correction F(x) added to its input, x + F(x), so very deep "
         "networks train; a 1x1 stride-2 'downsample' convolution matches shapes where the block shrinks.",
         "Batch normalisation after every convolution; global average pooling and a single fully connected layer."),
        "Each block's ReLU runs twice (name and name#2): the shortcut addition sits between the two calls."),
    "resnet50": CaseStudy(
        "ResNet-50 (He et al., 2015)", "Deep residual learning for image recognition",
        ("Residual connections (x + F(x)) make a 50-layer network trainable.",
         "Bottleneck blocks: 1x1 reduce → 3x3 → 1x1 expand, so the 3x3 works on 4x fewer channels.",
         "Global average pooling, then one fully connected layer (2048 → 1000)."),
        "4.1 G MACs and 25.6 M parameters: fewer parameters than VGG-16 at 3.8x fewer MACs, and much deeper."),
    "mobilenet_v3_small": CaseStudy(
        "MobileNetV3-Small (Howard et al., 2019)", "Searching for MobileNetV3",
        ("Depthwise separable convolutions: a depthwise 3x3/5x5 (groups = channels) followed by a 1x1 pointwise one.",
         "Squeeze-and-excitation blocks and the hard-swish activation; the architecture was found by search."),
        "Look at the groups of the depthwise layers: their parameter counts are tiny (k·k per channel)."),
}


def case_study(architecture: str) -> CaseStudy | None:
    """The case-study notes for an architecture name (``m.architecture``), if any."""
    return CASE_STUDIES.get(architecture)


# --------------------------------------------------------------------------- what the pages show
def depth_steps(handle: ModelHandle, rows: list[LayerRow], fields: Mapping[str, Any] | None) -> list[DepthPoint]:
    """:func:`depth_profile` with the input as step 0 (receptive field 1 when fields are known), or [] without maps.

    Examples::

        >>> m = cnnviz.load_model("lenet5-mnist")
        >>> [p.output_shape for p in depth_steps(m, layer_table(m), None)][:2]
        [(1, 28, 28), (6, 28, 28)]
    """
    profile = depth_profile(handle, rows, fields)
    if not profile:
        return []
    return [DepthPoint("input", tuple(handle.input_size), 1 if fields else None)] + profile


def outline(steps: list[DepthPoint], rows: list[LayerRow]) -> list[tuple[str, tuple[int, int, int]]]:
    """The network as a row of volumes: each change of shape along the main path (:func:`depth_steps`), then the
    fully connected layers after the last map (a vector of C values as ``(C, 1, 1)``).

    Examples::

        >>> m = cnnviz.load_model("lenet5-mnist")
        >>> rows = layer_table(m)
        >>> [shape for _, shape in outline(depth_steps(m, rows, None), rows)]
        [(1, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1), (84, 1, 1), (10, 1, 1)]
    """
    out: list[tuple[str, tuple[int, int, int]]] = []
    for p in steps:
        if not out or out[-1][1] != tuple(p.output_shape):
            out.append((p.name, tuple(p.output_shape)))
    last_map = max((r.index for r in rows if len(r.output_shape) == 3), default=-1)
    out += [(r.name, (int(r.output_shape[0]), 1, 1)) for r in rows if r.index > last_map and r.type == "Linear"]
    return out


def table_records(rows: list[LayerRow], receptive_field: bool = True) -> list[dict[str, Any]]:
    """The layer table as flat records (``LayerRow.as_dict``), without the receptive-field column when unknown."""
    records = [r.as_dict() for r in rows]
    if not receptive_field:
        for rec in records:
            rec.pop("receptive field", None)
    return records


def by_type(rows: list[LayerRow]) -> list[dict[str, Any]]:
    """Layers, parameters and MACs summed per layer type, most MACs first, with each type's share of the totals.

    Examples::

        >>> lenet = by_type(layer_table(cnnviz.load_model("lenet5-mnist")))
        >>> [(r["type"], r["layers"], r["params"]) for r in lenet if r["type"] == "Conv2d"]
        [('Conv2d', 2, 2572)]
    """
    tot = totals(rows)
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(r.type, {"type": r.type, "layers": 0, "params": 0, "MACs": 0})
        g["layers"] += 1
        g["params"] += r.params
        g["MACs"] += r.macs
    out = sorted(groups.values(), key=lambda g: (-g["MACs"], g["type"]))
    for g in out:
        g["share of params"] = f"{g['params'] / max(tot.params, 1):.1%}"
        g["share of MACs"] = f"{g['MACs'] / max(tot.macs, 1):.1%}"
    return out


def model_card_rows(handle: ModelHandle) -> dict[str, str]:
    """The model card as ``{fact: value}`` (markdown values): architecture, size, data, accuracy, device, weights.

    Examples::

        >>> card = model_card_rows(cnnviz.load_model("lenet5-mnist"))
        >>> card["Parameters"], card["Input"]
        ('61,706', '1×28×28 (grayscale)')
    """
    m, card = handle, handle.card
    acc = card.get("test_accuracy")
    trained_on = card.get("data", "—")
    if "train_images" in card:
        trained_on += f" ({card['train_images']:,} images, {card['epochs']} epochs)"
    if acc:
        accuracy = f"{acc:.2%}" + (f" on {card['test_images']:,} bundled test images" if "test_images" in card
                                   else " (ImageNet top-1, from torchvision)")
    else:
        accuracy = "— (untrained or unknown)"
    c, h, w = m.input_size
    rows = {
        "Model": m.title,
        "Architecture": m.architecture,
        "Parameters": f"{m.num_parameters:,}",
        "Input": f"{c}×{h}×{w} ({'grayscale' if m.grayscale else 'RGB'})",
        "Trained on": trained_on,
        "Test accuracy": accuracy,
        "Classes": f"{len(m.classes)}: " + ", ".join(m.classes[:10]) + (" …" if len(m.classes) > 10 else ""),
        "Device": m.device_description,
        "Weights": "random (untrained)" if not m.trained else
                   ("bundled, trained by cnnviz" if m.source == "bundled" else "loaded from file"),
    }
    if "command" in card:
        rows["Reproduce"] = f"`{card['command']}`"
    return rows
