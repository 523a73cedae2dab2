"""Receptive fields: how much of the input image one unit of a layer can see.

Theoretical fields follow the computation graph traced by ``torch.fx`` (Araujo, Norris and
Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019). Per axis,
a layer with kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` maps the field of its
input (size ``r``, jump ``j``, start ``a``) to::

    r' = r + (d(k-1)+1 - 1) * j        a' = a - p * j        j' = j * s

which is the forward form of the Distill recurrence ``r_{l-1} = s_l r_l + (k_l - s_l)``.
Element-wise operations (ReLU, BatchNorm, dropout, ...) keep the field; where paths merge
(``add``, ``cat``, ``mul``) the jumps and centres are checked and the union (the largest
field when aligned) is kept; flatten, linear layers and global pooling see the whole input.

The effective receptive field (Luo et al., "Understanding the Effective Receptive Field in
Deep Convolutional Neural Networks", NeurIPS 2016) is measured by the input gradient of one
centre unit: :func:`effective_receptive_field`.

Examples::

    >>> import cnnviz
    >>> rf = cnnviz.receptive_fields(cnnviz.load_model("vgg16", untrained=True))
    >>> rf["features.30"].size, rf["features.30"].jump
    ((212, 212), (32, 32))
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from cnnviz.core.graph import Tracer, head_until, shape_prop
from cnnviz.core.model import ModelHandle
from cnnviz.core.runtime import WeakMemo
from cnnviz.errors import CnnvizError, LayerError, foreign

__all__ = [
    "ReceptiveField", "ReceptiveFieldError", "UnknownLayerError", "NotAModelError", "EffectiveReceptiveField",
    "receptive_fields", "effective_receptive_field", "layer_output", "recurrence_steps", "spatial_fields",
    "field_table", "default_layer",
]


class ReceptiveFieldError(CnnvizError):
    """The receptive field cannot be computed for this model (untraceable, unknown operation)."""


class UnknownLayerError(ReceptiveFieldError, LayerError):
    """A layer name that is not in the receptive field table (also a ``KeyError``)."""


class NotAModelError(ReceptiveFieldError, TypeError):
    """Something other than a ModelHandle or ``nn.Module`` where a model is needed (also a ``TypeError``)."""


@dataclass(frozen=True)
class ReceptiveField:
    """The theoretical receptive field of the units of one layer, per axis ``(y, x)``.

    Attributes:
        name: module qualified name as in ``model.named_modules()`` (``"layer3.1.conv2"``); a module
            called several times appears as ``name``, ``name#2``, ... (as in ``ModelHandle.activations``);
            functional operations by their torch.fx node name (``"add_3"``, ``"cat"``).
        op: the operation, e.g. ``"Conv2d"``, ``"MaxPool2d"``, ``"add"``, ``"cat"``.
        size: ``(r_y, r_x)`` receptive field in input pixels.
        jump: ``(j_y, j_x)`` effective stride: input pixels between neighbouring units.
        start: input ``(row, col)`` of the top-left pixel of unit (0, 0)'s field; negative when
            the field reaches into the padding.
        output_shape: ``(C, H, W)`` for an input of the model's size, when known.
        whole_input: the unit sees the whole input (after flatten, linear or global pooling).
        global_context: a path into this layer passes through a global operation (e.g. the
            squeeze-and-excitation gate of MobileNetV3), so every unit also depends, weakly, on the
            whole image; ``size`` is then the field of the spatial path.
        aligned: every path merged into this layer has the same jump and centre.
        exact: False where a rule is an approximation (non-uniform adaptive pooling).
        container: the output of a container module (``"layer3"``), repeating a node's values.
        depth: number of spatial operations (conv, pool) on the longest path from the input.
    """

    name: str
    op: str
    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]
    output_shape: tuple | None = None
    whole_input: bool = False
    global_context: bool = False
    aligned: bool = True
    exact: bool = True
    container: bool = False
    depth: int = 0

    def box(self, row: int, col: int) -> tuple[float, float, float, float]:
        """``(top, left, bottom, right)`` of unit ``(row, col)``'s field in input pixels.

        Bottom and right are exclusive; the box is not clipped to the image (it reaches into the
        padding at the borders).

        Examples::

            >>> ReceptiveField("c", "Conv2d", (3, 3), (1, 1), (-1.0, -1.0)).box(0, 0)
            (-1.0, -1.0, 2.0, 2.0)
        """
        top = self.start[0] + row * self.jump[0]
        left = self.start[1] + col * self.jump[1]
        return (top, left, top + self.size[0], left + self.size[1])

    def center(self, row: int, col: int) -> tuple[float, float]:
        """Input pixel ``(row, col)`` at the centre of unit ``(row, col)``'s field (``top + (r-1)/2``)."""
        top, left, _, _ = self.box(row, col)
        return (top + (self.size[0] - 1) / 2, left + (self.size[1] - 1) / 2)

    def clipped_box(self, row: int, col: int, height: int, width: int) -> tuple[float, float, float, float]:
        """:meth:`box` clipped to an image of ``height`` x ``width`` pixels.

        For a unit whose box lies inside the image this is exactly where its input gradient can be
        non-zero. At the border the true support can be a little smaller: padding units of
        intermediate layers carry no input, and a strided layer may drop the last input rows.
        """
        top, left, bottom, right = self.box(row, col)
        return (max(top, 0.0), max(left, 0.0), min(bottom, float(height)), min(right, float(width)))

    def padding_share(self, row: int, col: int, height: int, width: int) -> float:
        """The fraction of unit ``(row, col)``'s field outside a ``height`` x ``width`` image (in the padding).

        Examples::

            >>> ReceptiveField("c", "Conv2d", (3, 3), (1, 1), (-1.0, -1.0)).padding_share(0, 0, 8, 8)  # 5 of 9 outside
            0.5555555555555556
        """
        top, left, bottom, right = self.clipped_box(row, col, height, width)
        return 1 - max(0.0, bottom - top) * max(0.0, right - left) / (self.size[0] * self.size[1])


# ----------------------------------------------------------------------------- per-axis algebra
@dataclass(frozen=True)
class _Field:
    r: tuple[int, int]
    j: tuple[int, int]
    a: tuple[float, float]
    whole: bool = False
    ctx: bool = False
    aligned: bool = True
    exact: bool = True
    depth: int = 0


def _pair(v: Any) -> tuple:
    if isinstance(v, (tuple, list)):
        return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])
    return (v, v)


def _window(f: _Field, k: tuple, s: tuple, p: tuple, d: tuple = (1, 1)) -> _Field:
    """A sliding window (convolution or pooling) of kernel k, stride s, padding p (top/left), dilation d."""
    r = tuple(int(f.r[i] + d[i] * (k[i] - 1) * f.j[i]) for i in range(2))
    a = tuple(float(f.a[i] - p[i] * f.j[i]) for i in range(2))
    j = tuple(int(f.j[i] * s[i]) for i in range(2))
    return replace(f, r=r, j=j, a=a, depth=f.depth + 1)


def _whole(hw: tuple[int, int] | None, where: str, depth: int = 0, ctx: bool = False) -> _Field:
    if hw is None:
        raise ReceptiveFieldError(
            f"{where} sees the whole input, whose size is unknown. Pass input_size=(C, H, W) to "
            "receptive_fields (a ModelHandle knows its own).")
    return _Field(tuple(hw), tuple(hw), (0.0, 0.0), whole=True, ctx=ctx, depth=depth)


def _merge(fields: list[_Field], hw: tuple[int, int] | None, where: str) -> _Field:
    """Paths joining (add, cat, mul, ...): the union of their fields; alignment is recorded."""
    spatial = [f for f in fields if not f.whole]
    depth = max(f.depth for f in fields)
    if not spatial:
        return _whole(hw, where, depth)
    ctx = len(spatial) < len(fields) or any(f.ctx for f in spatial)
    if len(spatial) == 1:
        return replace(spatial[0], ctx=ctx, depth=depth)
    j = tuple(max(f.j[i] for f in spatial) for i in range(2))
    a = tuple(min(f.a[i] for f in spatial) for i in range(2))
    end = tuple(max(f.a[i] + f.r[i] for f in spatial) for i in range(2))
    centres = {tuple(f.a[i] + (f.r[i] - 1) / 2 for i in range(2)) for f in spatial}
    aligned = len({f.j for f in spatial}) == 1 and len(centres) == 1 and all(f.aligned for f in spatial)
    return _Field(tuple(int(round(end[i] - a[i])) for i in range(2)), j, a, False, ctx, aligned,
                  all(f.exact for f in spatial) and len({f.j for f in spatial}) == 1, depth)


def _adaptive(f: _Field, in_hw: tuple[int, int], out_size: Any, where: str, hw_input: tuple[int, int] | None) -> _Field:
    """Adaptive pooling is a fixed window when the input size is a multiple of the output size."""
    out = _pair(out_size)
    out = tuple(in_hw[i] if out[i] is None else int(out[i]) for i in range(2))
    if out == (1, 1) and in_hw != (1, 1):
        return _whole(hw_input, where, f.depth + 1, f.ctx) if not f.whole else f
    if f.whole:
        return f
    k, s, exact = [], [], True
    for i in range(2):
        n, o = in_hw[i], out[i]
        if n % o == 0:
            k.append(n // o)
            s.append(n // o)
        else:  # windows [floor(i n/o), ceil((i+1) n/o)) differ in size: keep the largest
            k.append(max(math.ceil((u + 1) * n / o) - math.floor(u * n / o) for u in range(o)))
            s.append(max(1, n // o))
            exact = False
    g = _window(f, tuple(k), tuple(s), (0, 0))
    return replace(g, exact=g.exact and exact)


# ----------------------------------------------------------------------------- tracing
@dataclass
class _Traced:
    gm: fx.GraphModule
    fields: dict[str, ReceptiveField]
    nodes: dict[str, fx.Node]
    input_hw: tuple[int, int] | None
    subgraphs: dict = field(default_factory=dict)  # layer -> GraphModule ending at that layer


_TRACED = WeakMemo(per_owner=4)  # per model module (held weakly): (model key, input size) -> _Traced


def _trace(module: nn.Module) -> tuple[fx.GraphModule, list]:
    tracer = Tracer(leaves="torch", containers=True)  # torch.nn layers are leaves; blocks traced through
    # fx raises TraceError, TypeError, ... for data-dependent control flow
    with foreign(ReceptiveFieldError, f"torch.fx cannot trace {type(module).__name__} ({{why}}), so its graph is "
                 "unknown. Make forward() free of Python control flow that depends on tensor values, or compute the "
                 "fields of a traceable part, e.g. receptive_fields(model.features, input_size=(C, H, W))."):
        graph = tracer.trace(module)
    return fx.GraphModule(tracer.root, graph, type(module).__name__), tracer.container_outputs


def _val(n: Any) -> Any:
    return n.meta.get("val") if isinstance(n, fx.Node) else None


def _hw(v: Any) -> tuple[int, int] | None:
    return (int(v.shape[-2]), int(v.shape[-1])) if isinstance(v, torch.Tensor) and v.ndim >= 3 else None


def _arg(node: fx.Node, i: int, name: str, default: Any) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


_CONV = (nn.Conv2d,)
_POOL = (nn.MaxPool2d, nn.AvgPool2d, nn.LPPool2d)
_ADAPTIVE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_PAD = (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d)
_UNSUPPORTED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Upsample, nn.UpsamplingNearest2d,
                nn.UpsamplingBilinear2d, nn.PixelShuffle, nn.PixelUnshuffle, nn.Fold, nn.Unfold, nn.Conv1d, nn.Conv3d)
_GLOBAL_STATS = (nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
_POOL_FUNCS = {"max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "lp_pool2d"}
_FLATTENING = {"flatten", "view", "reshape", "linear", "matmul", "mm"}
_ADAPTIVE_FUNCS = {"adaptive_max_pool2d", "adaptive_avg_pool2d", "_adaptive_max_pool2d",
                   "adaptive_max_pool2d_with_indices"}
_REGRIDDING_FUNCS = {"interpolate", "upsample", "conv_transpose2d", "pixel_shuffle", "unfold", "fold"}
_SKIPPED_METHODS = {"size", "dim", "numel", "type"}  # shape queries: they return no tensor, so no field


def _pool_params(m: nn.Module) -> tuple:
    k, s = _pair(m.kernel_size), _pair(m.stride if m.stride is not None else m.kernel_size)
    p = _pair(getattr(m, "padding", 0))
    d = _pair(getattr(m, "dilation", 1))
    return k, s, p, d


def _shift(f: _Field, top: int, left: int) -> _Field:
    """Padding ``top`` rows and ``left`` columns moves the field's start up and left by that many jumps."""
    return replace(f, a=(f.a[0] - top * f.j[0], f.a[1] - left * f.j[1]))


def _conv_padding(padding: Any, k: tuple, d: tuple) -> tuple:
    if padding == "valid":
        return (0, 0)
    if padding == "same":  # PyTorch puts the odd pixel of even kernels at the bottom/right
        return tuple((d[i] * (k[i] - 1)) // 2 for i in range(2))
    return _pair(padding)


def _node_field(node: fx.Node, mod: nn.Module | None, ins: list[_Field], in_vals: list, hw: tuple[int, int] | None,
                where: str) -> _Field:
    """The field of one node from the fields of its tensor inputs."""
    out = _val(node)
    out_hw = _hw(out)
    known = out is not None
    first = ins[0]
    in_hw = _hw(in_vals[0]) if in_vals else None
    depth = max(f.depth for f in ins)

    if mod is not None:
        if isinstance(mod, _UNSUPPORTED):
            raise ReceptiveFieldError(
                f"{where} is a {type(mod).__name__}: receptive fields are defined here for 2-D "
                "convolution, pooling and element-wise layers only (no up-sampling or transposed "
                "convolution). Compute the fields of the encoder part instead.")
        if isinstance(mod, _CONV):
            k, d = _pair(mod.kernel_size), _pair(mod.dilation)
            return first if first.whole else _window(first, k, _pair(mod.stride), _conv_padding(mod.padding, k, d), d)
        if isinstance(mod, _POOL):
            k, s, p, d = _pool_params(mod)
            return first if first.whole else _window(first, k, s, p, d)
        if isinstance(mod, _ADAPTIVE):
            if in_hw is None:
                if _pair(mod.output_size) == (1, 1):
                    return _whole(hw, where, depth + 1, first.ctx)
                raise ReceptiveFieldError(
                    f"{where} ({type(mod).__name__}) needs the input size: pass input_size=(C, H, W).")
            return _adaptive(first, in_hw, mod.output_size, where, hw)
        if isinstance(mod, _PAD):
            pad = tuple(mod.padding)  # (left, right, top, bottom)
            return first if first.whole else _shift(first, top=pad[2], left=pad[0])
        if isinstance(mod, (nn.Linear, nn.Flatten, nn.Bilinear)):
            return _whole(hw, where, depth, first.ctx) if not all(f.whole for f in ins) else first
        if isinstance(mod, _GLOBAL_STATS):
            return replace(first, ctx=True)
    else:
        t = node.target
        fname = getattr(t, "__name__", "")
        if t is F.conv2d or fname == "conv2d":
            w = _val(_arg(node, 1, "weight", None))
            if w is None:
                raise ReceptiveFieldError(
                    f"{where}: the kernel size of this functional conv2d is unknown; pass input_size=(C, H, W).")
            k, d = tuple(w.shape[-2:]), _pair(_arg(node, 6, "dilation", 1))
            p = _conv_padding(_arg(node, 4, "padding", 0), k, d)
            return first if first.whole else _window(first, k, _pair(_arg(node, 3, "stride", 1)), p, d)
        if t in (F.max_pool2d, F.avg_pool2d, F.lp_pool2d) or fname in _POOL_FUNCS:
            lp = t is F.lp_pool2d or fname == "lp_pool2d"
            off = 1 if lp else 0
            k = _pair(_arg(node, 1 + off, "kernel_size", None))
            s = _arg(node, 2 + off, "stride", None)
            s = k if s in (None, [], ()) else _pair(s)
            p = (0, 0) if lp else _pair(_arg(node, 3, "padding", 0))
            d = _pair(_arg(node, 4, "dilation", 1)) if (t is F.max_pool2d or "max" in fname) else (1, 1)
            return first if first.whole else _window(first, k, s, p, d)
        if t in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d) or fname in _ADAPTIVE_FUNCS:
            size = _arg(node, 1, "output_size", None)
            if in_hw is None:
                if _pair(size) == (1, 1):
                    return _whole(hw, where, depth + 1, first.ctx)
                raise ReceptiveFieldError(
                    f"{where} (adaptive pooling) needs the input size: pass input_size=(C, H, W).")
            return _adaptive(first, in_hw, size, where, hw)
        if t is F.pad or fname == "pad":
            pad = tuple(_arg(node, 1, "pad", ()))
            left = pad[0] if len(pad) > 0 else 0
            top = pad[2] if len(pad) > 2 else 0
            return first if first.whole else _shift(first, top=top, left=left)
        if getattr(t, "__name__", None) in _REGRIDDING_FUNCS:
            raise ReceptiveFieldError(f"{where} ({t.__name__}) changes the sampling grid: receptive fields are defined "
                                      "here for convolution, pooling and element-wise operations only.")

    # everything else: element-wise or merging; the shapes tell reductions apart
    if known:
        if not isinstance(out, torch.Tensor):
            return _merge(ins, hw, where)  # tuples (split, chunk): their items keep the field
        if out.ndim < 3:
            return _whole(hw, where, depth) if not all(f.whole for f in ins) else _merge(ins, hw, where)
        spatial = []
        for f, v in zip(ins, in_vals, strict=True):
            vhw = _hw(v)
            if f.whole or (vhw is not None and vhw != out_hw and vhw == (1, 1)):
                spatial.append(replace(f, whole=True) if not f.whole else f)
            elif vhw is not None and vhw != out_hw and not isinstance(v, (tuple, list)):
                if out_hw == (1, 1):  # a global reduction written as a tensor method (x.mean((2, 3), keepdim=True))
                    return _whole(hw, where, depth + 1)
                name = getattr(node.target, "__name__", node.target)
                raise ReceptiveFieldError(
                    f"{where} ({name}) changes the spatial size {vhw} -> {out_hw} in a way cnnviz does not "
                    "know; receptive fields cover convolution, pooling, padding and element-wise operations.")
            else:
                spatial.append(f)
        return _merge(spatial, hw, where)
    name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
    if name in _FLATTENING:
        return _whole(hw, where, depth)
    return _merge(ins, hw, where)


def _op_name(node: fx.Node, mod: nn.Module | None) -> str:
    if mod is not None:
        return type(mod).__name__
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def _compute(module: nn.Module, input_size: Sequence[int] | None,
             example_device: torch.device | None = None) -> _Traced:
    gm, containers = _trace(module)
    hw = None
    if input_size is not None:
        if len(input_size) != 3:
            raise ReceptiveFieldError(f"input_size must be (C, H, W), got {tuple(input_size)}")
        hw = (int(input_size[1]), int(input_size[2]))
        dev = example_device or next((p.device for p in module.parameters()), torch.device("cpu"))
        # any failure of the model's own forward: tell the user which input_size failed
        with foreign(ReceptiveFieldError, f"a {tuple(input_size)} input cannot pass through {type(module).__name__} "
                     "({why}). Check input_size (C, H, W)."):
            shape_prop(gm, torch.zeros(1, *input_size, device=dev))
    mods = dict(module.named_modules())
    env: dict[fx.Node, _Field] = {}
    fields: dict[str, ReceptiveField] = {}
    nodes: dict[str, fx.Node] = {}
    node_name: dict[fx.Node, str] = {}
    calls: dict[str, int] = {}
    placeholder_seen = False
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if not placeholder_seen:  # the image; further inputs are not part of the field
                env[node] = _Field((1, 1), (1, 1), (0.0, 0.0))
                placeholder_seen = True
            continue
        if node.op in ("output", "get_attr"):
            continue
        if node.op == "call_method" and node.target in _SKIPPED_METHODS:
            continue
        if node.op == "call_function" and node.target is getattr:
            continue
        in_nodes = [a for a in node.all_input_nodes if a in env]
        if not in_nodes:
            continue
        val = _val(node)
        if hw is not None and not isinstance(val, (torch.Tensor, tuple, list)):
            continue  # ints and shapes computed from the input
        mod = mods.get(node.target) if node.op == "call_module" else None
        if node.op == "call_module":
            n = calls[node.target] = calls.get(node.target, 0) + 1
            name = node.target if n == 1 else f"{node.target}#{n}"
        else:
            name = node.name
        # the main tensor input first (for conv/pool the data, not the weight)
        first_arg = node.args[0] if node.args else None
        if isinstance(first_arg, (list, tuple)):  # cat([a, b], dim)
            listed = [a for a in first_arg if isinstance(a, fx.Node) and a in env]
            in_nodes = listed + [a for a in in_nodes if a not in first_arg]
        elif isinstance(first_arg, fx.Node) and first_arg in env:
            in_nodes = [first_arg] + [a for a in in_nodes if a is not first_arg]
        ins = [env[a] for a in in_nodes]
        in_vals = [_val(a) for a in in_nodes]
        f = _node_field(node, mod, ins, in_vals, hw, f"{name} ({_op_name(node, mod)})")
        env[node] = f
        shape = tuple(int(s) for s in val.shape[1:]) if isinstance(val, torch.Tensor) else None
        fields[name] = ReceptiveField(name, _op_name(node, mod), f.r, f.j, f.a, shape, f.whole, f.ctx, f.aligned,
                                      f.exact, False, f.depth)
        nodes[name] = node
        node_name[node] = name
    # containers ("layer3", "features") repeat the values of the node they return, placed after it
    ordered: dict[str, ReceptiveField] = {}
    by_node: dict[str, list] = {}
    for cname, ctype, cnode in containers:
        if cnode in node_name:
            by_node.setdefault(node_name[cnode], []).append((cname, ctype, cnode))
    for name, rf in fields.items():
        ordered[name] = rf
        for cname, ctype, cnode in sorted(by_node.get(name, []), key=lambda c: -len(c[0])):
            if cname not in fields and cname not in ordered:
                ordered[cname] = replace(rf, name=cname, op=ctype, container=True)
                nodes[cname] = cnode
    return _Traced(gm, ordered, nodes, hw)


def _traced(model: Any, input_size: Sequence[int] | None) -> _Traced:
    if isinstance(model, ModelHandle):
        size = tuple(input_size) if input_size is not None else tuple(model.input_size)
        return _TRACED.get_or_compute(model.module, (model.key, size),
                                      lambda: _compute(model.module, size, model.device))
    return _compute(_module(model), input_size)


def _module(model: Any) -> nn.Module:
    """The ``nn.Module`` of a ModelHandle or a plain module; anything else is a :class:`NotAModelError`."""
    if isinstance(model, ModelHandle):
        return model.module
    if not isinstance(model, nn.Module):
        raise NotAModelError(
            f"receptive fields need a cnnviz ModelHandle or a torch nn.Module, got {type(model).__name__}. "
            "Hint: cnnviz.load_model(name) returns a ModelHandle")
    return model


def _unknown_layer(layer: str) -> UnknownLayerError:
    return UnknownLayerError(
        f"layer {layer!r} is not in the receptive field table. Hint: receptive_fields(model) lists the names")


def receptive_fields(model: Any, input_size: Sequence[int] | None = None) -> dict[str, ReceptiveField]:
    """The theoretical receptive field of every layer, following the traced graph.

    Args:
        model: a cnnviz :class:`~cnnviz.core.model.ModelHandle` or a plain ``nn.Module``.
        input_size: ``(C, H, W)``; default the handle's own. A plain module without it gets no
            output shapes, and layers that see the whole input (flatten, linear, global pooling)
            then raise :class:`ReceptiveFieldError` asking for it.

    Returns:
        ``{name: ReceptiveField}`` in graph order; container modules (``"layer3"``) follow the
        node they return, with ``container=True``.

    Raises:
        ReceptiveFieldError: the model cannot be traced by torch.fx, or uses an operation whose
            receptive field is not defined here (up-sampling, transposed convolution).

    Examples::

        >>> import torch.nn as nn
        >>> net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
        >>> rf = receptive_fields(net)
        >>> rf["2"].size, rf["2"].jump, rf["2"].start
        ((8, 8), (2, 2), (0.0, 0.0))
    """
    return dict(_traced(model, input_size).fields)


def spatial_fields(fields: dict[str, ReceptiveField]) -> list[str]:
    """Names of layers with a spatial output map (not whole-input, not containers)."""
    return [n for n, f in fields.items() if not f.whole_input and not f.container and f.output_shape is not None
            and len(f.output_shape) == 3]


def field_table(fields: Sequence[ReceptiveField]) -> list[dict[str, str]]:
    """One row of text per layer for a table: op, output shape, field, jump, start and notes.

    Examples::

        >>> field_table([ReceptiveField("c", "Conv2d", (3, 3), (1, 1), (-1.0, -1.0), (8, 6, 6))])[0]["start"]
        '(-1, -1)'
    """
    def notes(f: ReceptiveField) -> str:
        flags = (("global context", f.global_context), ("paths misaligned", not f.aligned),
                 ("approximate", not f.exact), ("block", f.container))
        return ", ".join(text for text, on in flags if on)

    return [{
        "layer": f.name, "op": f.op,
        "output": "×".join(str(s) for s in f.output_shape) if f.output_shape else "—",
        "field": "whole input" if f.whole_input else f"{f.size[0]}×{f.size[1]}",
        "jump": "—" if f.whole_input else f"{f.jump[0]}×{f.jump[1]}",
        "start": "—" if f.whole_input else f"({f.start[0]:g}, {f.start[1]:g})",
        "note": notes(f),
    } for f in fields]


def default_layer(fields: dict[str, ReceptiveField], layers: Sequence[str], input_height: int) -> str:
    """The layer a page opens on: the last top-level block (ResNet stage, Inception module) when there are
    at least 3, else the last convolution (not a shortcut) whose field fits the input, else the last layer.

    Args:
        fields: from :func:`receptive_fields`.
        layers: the names offered (spatial layers, in graph order).
        input_height: the input's height in pixels.

    Examples::

        >>> fields = receptive_fields(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)), (1, 8, 8))
        >>> default_layer(fields, ["0", "1"], 8)
        '1'
    """
    if not layers:
        raise ReceptiveFieldError("no layer has a spatial map, so no unit's field can be shown on the image")
    fits = [n for n in layers if fields[n].size[0] <= input_height]
    blocks = [n for n in fits if fields[n].container and "." not in n]
    convs = [n for n in fits if fields[n].op == "Conv2d" and "downsample" not in n]
    return blocks[-1] if len(blocks) >= 3 else convs[-1] if convs else layers[-1]


# ----------------------------------------------------------------------------- the recurrence, step by step
@dataclass(frozen=True)
class RecurrenceStep:
    """One window layer on the path to a layer: the Distill recurrence r_{l-1} = s_l r_l + (k_l - s_l).

    ``r_after`` is the field (in units of the layer below, ending at the chosen layer) once this
    layer is included; ``k`` the effective kernel ``d (k - 1) + 1``.
    """

    name: str
    op: str
    k: int
    s: int
    p: int
    r_after: int
    r_before: int


def recurrence_steps(model: Any, layer: str, axis: int = 0,
                     input_size: Sequence[int] | None = None) -> list[RecurrenceStep]:
    """The window layers on the longest-field path from the input to ``layer``, last first.

    Walks the Distill recurrence backwards: start with ``r_L = 1`` at the chosen layer, and for each
    layer ``l`` below it ``r_{l-1} = s_l r_l + (k_l - s_l)``; the last step's ``r_before`` is the
    receptive field in input pixels (equal to ``receptive_fields(model)[layer].size[axis]``).

    Args:
        model: a ModelHandle or nn.Module.
        layer: a name from :func:`receptive_fields`.
        axis: 0 for rows (y), 1 for columns (x).
        input_size: as in :func:`receptive_fields`.

    Examples::

        >>> net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
        >>> [(s.k, s.s, s.r_before) for s in recurrence_steps(net, "2")]
        [(3, 1, 3), (2, 2, 6), (3, 1, 8)]
    """
    t = _traced(model, input_size)
    if layer not in t.nodes:
        raise _unknown_layer(layer)
    mods = dict(_module(model).named_modules())
    inv = {}
    for name, node in t.nodes.items():
        if not t.fields[name].container:
            inv.setdefault(node, name)
    for node in t.gm.graph.nodes:  # the image itself: one pixel, jump 1
        if node.op == "placeholder":
            inv[node] = "<input>"
            break
    fields = dict(t.fields)
    fields["<input>"] = ReceptiveField("<input>", "input", (1, 1), (1, 1), (0.0, 0.0))
    steps: list[RecurrenceStep] = []
    node = t.nodes[layer]
    r = 1
    while node is not None:
        name = inv.get(node)
        rf = fields.get(name) if name else None
        preds = [a for a in node.all_input_nodes if a in inv]
        if rf is not None and preds:
            prev = fields[inv[preds[0]]] if len(preds) == 1 else None
            if len(preds) > 1:  # follow the path with the largest field into the merge
                prev = max((fields[inv[a]] for a in preds), key=lambda f: (f.whole_input is False, f.size[axis]))
                preds = [t.nodes[prev.name]]
            changed = prev is not None and (rf.size, rf.jump, rf.start) != (prev.size, prev.jump, prev.start)
            if changed and not rf.whole_input and not prev.whole_input:
                s = rf.jump[axis] // max(1, prev.jump[axis])
                k_eff = (rf.size[axis] - prev.size[axis]) // max(1, prev.jump[axis]) + 1
                p = int(round((prev.start[axis] - rf.start[axis]) / max(1, prev.jump[axis])))
                mod = mods.get(name.split("#")[0])
                if k_eff == 1 and s == 1 and p == 0:  # changes the other axis only
                    node = preds[0]
                    continue
                op = type(mod).__name__ if mod is not None else rf.op
                steps.append(RecurrenceStep(name, op, k_eff, s, p, r, s * r + (k_eff - s)))
                r = s * r + (k_eff - s)
            node = preds[0]
        elif preds:
            node = preds[0]
        else:
            node = None
    return steps


# ----------------------------------------------------------------------------- running a layer
def _subgraph(t: _Traced, layer: str) -> fx.GraphModule:
    if layer not in t.nodes:
        raise _unknown_layer(layer)
    if layer in t.subgraphs:
        return t.subgraphs[layer]
    sub = head_until(t.gm, t.nodes[layer])
    if len(t.subgraphs) > 32:
        t.subgraphs.clear()
    t.subgraphs[layer] = sub
    return sub


def layer_output(model: Any, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The output of ``layer`` (any name from :func:`receptive_fields`, functional nodes too) for batch ``x``.

    Runs only the part of the graph the layer needs (a traced copy sharing the model's layers,
    so nothing of the shared model changes); the tensor stays on the model's device.

    Examples::

        >>> m = cnnviz.load_model("lenet5-mnist")
        >>> layer_output(m, "features.3", m.preprocess(img)).shape
        torch.Size([1, 16, 10, 10])
    """
    sub = _subgraph(_traced(model, None), layer)
    device = model.device if isinstance(model, ModelHandle) else next(
        (p.device for p in model.parameters()), torch.device("cpu"))
    with torch.inference_mode():
        return sub(x.to(device))


@dataclass
class EffectiveReceptiveField:
    """The input gradient of one unit, and its spread (Luo et al. 2016).

    Attributes:
        layer: the layer name.
        unit: ``(row, col)`` of the unit on the layer's output map.
        gradient: ``[H, W]`` mean over samples of |d unit / d input|, summed over input channels.
        theoretical: the layer's :class:`ReceptiveField`.
        mean: gradient-weighted centre ``(y, x)`` in input pixels.
        sigma: gradient-weighted standard deviation ``(s_y, s_x)`` in input pixels.
        mass_in_box: fraction of the gradient inside the theoretical box (1.0 by construction
            up to float error: the field bounds where any gradient can be).
    """

    layer: str
    unit: tuple[int, int]
    gradient: np.ndarray
    theoretical: ReceptiveField
    mean: tuple[float, float]
    sigma: tuple[float, float]
    mass_in_box: float
    samples: int = 1

    def size(self, k: float = 1.0) -> tuple[float, float]:
        """Width ``(h, w)`` of the band ``mean ± k·sigma``: the ERF size at ``k`` standard deviations."""
        return (2 * k * self.sigma[0], 2 * k * self.sigma[1])

    def clipped_theoretical(self) -> tuple[int, int]:
        """Height and width of the theoretical box clipped to the image."""
        h, w = self.gradient.shape
        top, left, bottom, right = self.theoretical.clipped_box(*self.unit, h, w)
        return (int(bottom - top), int(right - left))


def effective_receptive_field(model: Any, layer: str, inputs: torch.Tensor | None = None, *,
                              unit: tuple[int, int] | None = None, samples: int = 4, channel: int | None = None,
                              seed: int = 0) -> EffectiveReceptiveField:
    """The effective receptive field of the centre unit of ``layer``: its input gradient.

    Args:
        model: a cnnviz ModelHandle (the gradient w.r.t. the input runs through a traced copy).
        layer: a spatial layer name from :func:`receptive_fields`.
        inputs: ``[N, C, H, W]`` normalised inputs; default ``samples`` seeded Gaussian noise images,
            as in Luo et al.
        unit: ``(row, col)`` on the output map; default the centre ``(H'//2, W'//2)``.
        samples: number of noise images when ``inputs`` is None.
        channel: one output channel; default the sum over channels.
        seed: seed of the noise.

    Examples::

        >>> erf = effective_receptive_field(m, "features.3")
        >>> erf.size(1), erf.theoretical.size
    """
    if not isinstance(model, ModelHandle):
        raise NotAModelError(
            f"effective_receptive_field needs a cnnviz ModelHandle (it knows the input size and device), got "
            f"{type(model).__name__}. Hint: cnnviz.load_model(name) returns one")
    t = _traced(model, None)
    if layer not in t.fields:
        raise _unknown_layer(layer)
    rf = t.fields[layer]
    if rf.whole_input or rf.output_shape is None or len(rf.output_shape) != 3:
        raise ReceptiveFieldError(
            f"{layer} has no spatial map (its units see the whole input): pick a convolution or pooling layer.")
    c, h, w = rf.output_shape
    row, col = unit if unit is not None else (h // 2, w // 2)
    if not (0 <= row < h and 0 <= col < w):
        raise ReceptiveFieldError(
            f"unit ({row}, {col}) is outside the {h}x{w} map of {layer}: pick row in 0..{h - 1}, col in 0..{w - 1}")
    if channel is not None and not 0 <= channel < c:
        raise ReceptiveFieldError(f"channel {channel} is outside 0..{c - 1} of {layer}")
    if inputs is None:
        gen = torch.Generator().manual_seed(seed)
        inputs = torch.randn(samples, *model.input_size, generator=gen)
    x = inputs.to(model.device).detach().clone().requires_grad_(True)
    sub = _subgraph(t, layer)
    with torch.enable_grad():
        out = sub(x)
        sel = out[:, :, row, col] if channel is None else out[:, channel, row, col]
        (g,) = torch.autograd.grad(sel.sum(), x)
    grad = g.abs().sum(1).mean(0)  # [H, W], still on the device
    total = grad.sum()
    H, W = grad.shape
    ys = torch.arange(H, device=grad.device, dtype=grad.dtype)
    xs = torch.arange(W, device=grad.device, dtype=grad.dtype)
    if float(total) > 0:
        py, px = grad.sum(1) / total, grad.sum(0) / total
        my, mx = float((py * ys).sum()), float((px * xs).sum())
        sy = math.sqrt(max(0.0, float((py * (ys - my) ** 2).sum())))
        sx = math.sqrt(max(0.0, float((px * (xs - mx) ** 2).sum())))
        tb, lb, bb, rb = (int(v) for v in rf.clipped_box(row, col, H, W))
        inside = float(grad[max(tb, 0):max(bb, 0), max(lb, 0):max(rb, 0)].sum() / total)
    else:  # every path dead (ReLU) for these inputs
        my, mx, sy, sx, inside = *rf.center(row, col), 0.0, 0.0, 0.0
    return EffectiveReceptiveField(layer, (row, col), grad.cpu().numpy(), rf, (my, mx), (sy, sx), inside,
                                   int(x.shape[0]))
