"""Shift invariance and aliasing: shift the image by whole pixels and follow the prediction and one layer's output.

A layer whose total stride is s can represent a shift by a multiple of s as a move of its map by whole cells;
shifts in between change its features although the content only moved (aliasing from striding and pooling).

Examples::

    >>> s = shift_sweep(load_model("lenet5-mnist"), "assets/samples/digit-6.png", max_shift=8, layer="features.3")
    >>> s.stride, s.aligned_change[2]  # stride 2: a shift by 2 pixels is one whole cell
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cnnviz.core.capture import call_key, capture, split_key
from cnnviz.core.images import ImageSource
from cnnviz.core.model import ModelHandle
from cnnviz.core.runtime import WeakMemo
from cnnviz.errors import LayerError
from cnnviz.methods.augmentation.errors import AugmentationError
from cnnviz.methods.augmentation.geometry import shift_image
from cnnviz.methods.augmentation.pixels import image_tensor
from cnnviz.methods.augmentation.sweeps import Sweep, sweep_pass

SHIFT_DIRECTIONS = {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}
PROBE_GROWTH = 64  # pixels added to the input's height and width to measure each layer's stride

_STRIDES = WeakMemo(per_owner=1)  # per model module: dropped with the model


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


def _measure_strides(model: ModelHandle) -> dict[str, int | None]:
    c, h, w = model.input_size
    base: dict[str, tuple] = {}
    calls: dict[str, int] = {}
    for info in model.layers():  # a module called twice (ResNet's shared ReLU): 'name', then 'name#2'
        calls[info.name] = calls.get(info.name, 0) + 1
        if len(info.output_shape) == 3:
            base[call_key(info.name, calls[info.name])] = info.output_shape
    grown: dict[str, tuple] = {}
    probe = torch.zeros(1, c, h + PROBE_GROWTH, w + PROBE_GROWTH, device=model.device)
    try:  # streamed, so the maps before a layer that refuses the larger input are kept
        capture(model.module, probe, sorted(base),
                on_output=lambda key, out: grown.__setitem__(key, tuple(out.shape[1:])))
    except (RuntimeError, ValueError):
        pass  # e.g. a Linear layer expecting the original size: the maps before it were captured
    strides: dict[str, int | None] = {}
    for name, shape in base.items():
        g = grown.get(name)
        d = (g[2] - shape[2]) if g is not None and len(g) == 3 else 0
        strides[name] = round(PROBE_GROWTH / d) if d > 0 else None
    return strides


def layer_strides(model: ModelHandle) -> dict[str, int | None]:
    """Total stride (input pixels per output cell) of every leaf layer whose output is a feature map.

    Measured, not assumed: the model runs once on an input 64 pixels wider, and the stride is
    64 / (growth of the layer's output width). Layers after a global or adaptive pool do not grow
    and get None. A head that rejects the larger input (a fixed-size Linear) only stops the probe
    after the feature maps were seen. Cached per model (and freed with it).

    Examples::

        >>> layer_strides(load_model("lenet5-mnist"))["features.3"]
        2
    """
    return _STRIDES.get_or_compute(model.module, "strides", lambda: _measure_strides(model))


def _default_layer(model: ModelHandle, strides: dict[str, int | None]) -> str:
    strided = [n for n, s in strides.items() if s]
    if not strided:
        raise AugmentationError(f"{model.name} has no layer with a feature-map output; "
                                "pass layer= (see m.layer_names())")
    return strided[-1]


def _relative_change(acts: torch.Tensor, ref: torch.Tensor) -> list[float]:
    """``||acts_k - ref_k|| / ||acts_0||`` per row (``ref`` broadcasts)."""
    norm0 = acts[:1].flatten(1).norm(dim=1).clamp_min(1e-12)
    return ((acts - ref).flatten(1).norm(dim=1) / norm0).tolist()


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
        raise AugmentationError(f"direction must be one of {list(SHIFT_DIRECTIONS)}, got {direction!r}")
    side = min(model.input_size[1:])
    if not 0 <= max_shift < side:
        raise AugmentationError(f"max_shift must be between 0 and {side - 1} pixels, got {max_shift}")
    strides = layer_strides(model)
    layer = layer or _default_layer(model, strides)
    if split_key(layer)[0] not in dict(model.module.named_modules()):
        raise LayerError(f"layer {layer!r} not in model {model.name}. Hint: m.layer_names() lists them")
    uy, ux = SHIFT_DIRECTIONS[direction]
    x0 = image_tensor(model, image)
    shifts = list(range(max_shift + 1))
    # shift 0 is the clean image (row 0); a plain layer name is the module's first call, as everywhere
    key = layer if split_key(layer)[1] is not None else f"{layer}#1"
    copies = x0.new_empty((0, *x0.shape))
    if max_shift:
        copies = torch.stack([shift_image(x0, k * uy, k * ux) for k in shifts[1:]])
    p = sweep_pass(model, x0, copies, key)
    acts = p.outputs.float().flatten(1) if p.outputs.ndim < 4 else p.outputs.float()
    stride = strides.get(layer)
    aligned = None
    if acts.ndim == 4 and stride:
        ref = torch.stack([shift_image(acts[0], round(k * uy / stride), round(k * ux / stride)) for k in shifts])
        aligned = _relative_change(acts, ref)
    sweep = p.as_sweep("shift", shifts, model.classes, with_clean=True)
    return ShiftSweep(sweep, layer, stride, _relative_change(acts, acts[:1]), aligned)
