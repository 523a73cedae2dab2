"""The layer-stack quiz: a stack typed as ``"conv k5 f20; maxpool k2"`` and an input ``C×H×W``, propagated layer
by layer to each output shape (or to the first layer that does not fit).

Examples::

    >>> rows = evaluate_stack(parse_shape("3x32x32"), parse_stack("conv k5 f20; pool k2"))
    >>> [r.output_shape for r in rows]
    [(20, 28, 28), (20, 14, 14)]
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cnnviz.errors import CnnvizError
from cnnviz.methods.arithmetic.layer_spec import LayerSpec, Problem, problems
from cnnviz.methods.arithmetic.sizes import Padding


class StackError(CnnvizError):
    """A quiz stack or input shape that cannot be read; the message gives the syntax."""


_TOKEN = re.compile(r"^([a-z]+)(-?\d+)$")
_STACK_KINDS = {
    "conv": "conv",
    "maxpool": "maxpool",
    "pool": "maxpool",
    "avgpool": "avgpool",
    "tconv": "transposed",
    "transposed": "transposed",
}


@dataclass(frozen=True)
class StackLayer:
    """One layer of a quiz stack (input size filled in when the stack is evaluated)."""

    text: str
    mode: str
    filters: int | None
    kernel: int
    stride: int
    padding: Padding
    dilation: int = 1
    groups: int = 1


def _parse_layer(number: int, part: str) -> StackLayer:
    """One ``;``-separated part of a stack (``number`` counts from 1, for messages)."""
    toks = part.lower().split()
    kind = _STACK_KINDS.get(toks[0])
    if kind is None:
        raise StackError(
            f"layer {number} ({part!r}): unknown kind {toks[0]!r}; start with conv, maxpool, avgpool or tconv"
        )
    vals: dict[str, Padding] = {}
    for t in toks[1:]:
        if t in ("psame", "pvalid"):
            vals["p"] = t[1:]
            continue
        m = _TOKEN.match(t)
        if not m or m.group(1) not in ("k", "f", "s", "p", "d", "g"):
            raise StackError(
                f"layer {number} ({part!r}): cannot read {t!r}; write e.g. 'conv k5 f20 s1 p0' "
                "(k kernel, f filters, s stride, p padding or psame, d dilation, g groups)"
            )
        vals[m.group(1)] = int(m.group(2))
    k = int(vals.get("k", 3 if kind in ("conv", "transposed") else 2))
    pool = kind in ("maxpool", "avgpool")
    if not pool and "f" not in vals:
        raise StackError(f"layer {number} ({part!r}): say how many filters, e.g. 'f20'")
    return StackLayer(part, kind, None if pool else int(vals["f"]), k, int(vals.get("s", k if pool else 1)),
                      vals.get("p", 0), int(vals.get("d", 1)), int(vals.get("g", 1)))


def parse_stack(text: str) -> list[StackLayer]:
    """Parse ``"conv k5 f20; maxpool k2; conv k3 f40 p1 s2"`` into layers.

    Each layer is a kind (``conv``, ``maxpool``/``pool``, ``avgpool``, ``tconv``) followed by
    ``kK`` kernel, ``fF`` filters, ``sS`` stride (pooling default: the kernel), ``pP`` padding
    (or ``psame``/``pvalid``), ``dD`` dilation, ``gG`` groups. Layers are separated by ``;``.

    Raises:
        StackError: (a ValueError) naming the layer and the token that cannot be read, with the syntax.

    Examples::

        >>> [l.kernel for l in parse_stack("conv k5 f20; pool k2")]
        [5, 2]
    """
    parts = (p.strip() for p in text.replace("\n", ";").split(";"))
    return [_parse_layer(i + 1, part) for i, part in enumerate(parts) if part]


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` (or ``3×32×32``) -> ``(3, 32, 32)``.

    Raises:
        StackError: not three positive whole numbers.

    Examples::

        >>> parse_shape("3×32×32")
        (3, 32, 32)
    """
    try:
        c, h, w = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError as e:
        raise StackError(f"cannot read the input {text!r} ({e}). Input is written C×H×W like `3x32x32`.") from e
    if min(c, h, w) < 1:
        raise StackError(
            f"the input {text!r} has a size below 1: sizes must be positive, written C×H×W like `3x32x32`."
        )
    return c, h, w


@dataclass(frozen=True)
class StackRow:
    """One evaluated quiz layer: its spec, output shape (or the problem), parameters."""

    layer: StackLayer
    spec: LayerSpec
    output_shape: tuple[int, int, int] | None
    params: int
    problems: tuple[Problem, ...]


def evaluate_stack(input_shape: tuple[int, int, int], layers: Sequence[StackLayer]) -> list[StackRow]:
    """Propagate ``(C, H, W)`` through the layers; stops after the first invalid layer.

    Examples::

        >>> rows = evaluate_stack((3, 32, 32), parse_stack("conv k5 f20; pool k2"))
        >>> [r.output_shape for r in rows]
        [(20, 28, 28), (20, 14, 14)]
    """
    c, h, w = input_shape
    rows = []
    for layer in layers:
        spec = LayerSpec(layer.mode, h, w, c, layer.filters or c, layer.kernel, layer.stride, layer.padding,
                         layer.dilation, layer.groups)
        probs = tuple(problems(spec))
        if probs:
            rows.append(StackRow(layer, spec, None, 0, probs))
            break
        shape = spec.output_shape()
        rows.append(StackRow(layer, spec, shape, spec.params().total, ()))
        c, h, w = shape
    return rows
