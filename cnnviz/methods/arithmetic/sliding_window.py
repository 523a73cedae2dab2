"""The sliding window on one channel: the grid the kernel slides over (input, padding, a transposed
convolution's inserted zeros) and every kernel position with the values its taps read and what they compute.

Examples::

    >>> import torch
    >>> from cnnviz.methods.arithmetic.layer_spec import LayerSpec
    >>> x = torch.arange(16.).view(4, 4)
    >>> [s.value for s in sliding_windows(x, None, 0.0, LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2))]
    [5.0, 7.0, 13.0, 15.0]
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from cnnviz.methods.arithmetic.layer_spec import LayerSpec

# grid cell kinds of the padded input drawn by the page
CELL_INPUT, CELL_PAD, CELL_INSERTED, CELL_OVERHANG = 0, 1, 2, 3


@dataclass(frozen=True)
class PaddedGrid:
    """The grid the kernel slides over: the input with padding (and, for transposed, inserted zeros).

    ``values`` are what each tap reads (padding reads 0, or -inf for max pooling), ``kind``
    says what each cell is (CELL_INPUT, CELL_PAD, CELL_INSERTED, CELL_OVERHANG), and ``origin``
    maps grid cells back to input pixels (-1 when the cell is not an input pixel).
    """

    values: torch.Tensor  # [GH, GW] float
    kind: torch.Tensor  # [GH, GW] int
    origin_row: torch.Tensor  # [GH] input row or -1
    origin_col: torch.Tensor  # [GW]


@dataclass(frozen=True)
class WindowStep:
    """One kernel position: which grid cells the taps read and what they compute."""

    out_row: int
    out_col: int
    rows: tuple[int, ...]  # grid row of each tap (row-major over the kernel)
    cols: tuple[int, ...]
    xs: tuple[float, ...]  # the values read (padding: 0; max-pool padding: -inf)
    ws: tuple[float, ...]  # kernel weights (pooling: empty)
    value: float


Cells = list[tuple[int, int]]  # (kind, input index or -1) along one axis


def _transposed_axis(n: int, spec: LayerSpec) -> Cells:
    """The equivalent direct convolution's input: ``s-1`` zeros between pixels, ``d(k-1)-p`` padding around."""
    k, s, d = spec.kernel, spec.stride, spec.dilation
    inserted: Cells = []
    for i in range(n):
        inserted.append((CELL_INPUT, i))
        if i < n - 1:
            inserted.extend([(CELL_INSERTED, -1)] * (s - 1))
    pe = d * (k - 1) - int(spec.padding)
    before, after = pe, pe + spec.output_padding
    cells = [(CELL_PAD, -1)] * max(before, 0) + inserted[max(-before, 0):] + [(CELL_PAD, -1)] * max(after, 0)
    return cells[: len(cells) + after] if after < 0 else cells


def _direct_axis(n: int, spec: LayerSpec) -> Cells:
    """The padded input, plus the cells a ceil_mode window hangs over past it."""
    pb, pa = spec.pad
    cells = [(CELL_PAD, -1)] * pb + [(CELL_INPUT, i) for i in range(n)] + [(CELL_PAD, -1)] * pa
    need = (spec.output_size(n) - 1) * spec.stride + spec.dilation * (spec.kernel - 1) + 1
    return cells + [(CELL_OVERHANG, -1)] * max(0, need - len(cells))


def padded_grid(x: torch.Tensor, spec: LayerSpec) -> PaddedGrid:
    """The 2-d input ``x`` [H, W] laid out as the kernel sees it (see :class:`PaddedGrid`).

    For a transposed convolution this is the equivalent direct convolution's input: ``s-1``
    zeros between input pixels, ``d(k-1)-p`` padding around, ``output_padding`` more at the end.

    Examples::

        >>> from cnnviz.methods.arithmetic.layer_spec import LayerSpec
        >>> g = padded_grid(torch.ones(3, 3), LayerSpec("conv", 3, 3, 1, 1, kernel=2, padding=1))
        >>> g.kind[0].tolist(), g.values[1].tolist()
        ([1, 1, 1, 1, 1], [0.0, 1.0, 1.0, 1.0, 0.0])
    """
    axis = _transposed_axis if spec.mode == "transposed" else _direct_axis
    rows, cols = axis(x.shape[0], spec), axis(x.shape[1], spec)
    kind_r, kind_c = torch.tensor([c[0] for c in rows]), torch.tensor([c[0] for c in cols])
    o_r, o_c = torch.tensor([c[1] for c in rows]), torch.tensor([c[1] for c in cols])
    shape = (len(rows), len(cols))
    kr2, kc2 = kind_r[:, None].expand(shape), kind_c[None, :].expand(shape)
    kind = torch.full(shape, CELL_INPUT, dtype=torch.long)
    for k in (CELL_INSERTED, CELL_PAD, CELL_OVERHANG):  # later kinds win: padding beats inserted zeros
        kind[(kr2 == k) | (kc2 == k)] = k
    inside = (o_r[:, None] >= 0) & (o_c[None, :] >= 0)
    vals = torch.zeros(shape, dtype=torch.float64)
    vals[inside] = x.double()[
        o_r.clamp(min=0)[:, None].expand_as(vals)[inside], o_c.clamp(min=0)[None, :].expand_as(vals)[inside]
    ]
    if spec.mode == "maxpool":
        vals[~inside & (kind != CELL_INSERTED)] = float("-inf")
    return PaddedGrid(vals, kind, o_r, o_c)


def sliding_windows(x: torch.Tensor, weight: torch.Tensor | None, bias: float, spec: LayerSpec) -> list[WindowStep]:
    """Every kernel position on one input channel, with the taps and the value they compute.

    Args:
        x: one input channel [H, W].
        weight: the kernel [k, k] (ignored for pooling). For ``"transposed"`` give the
            ``ConvTranspose2d`` weight: the equivalent direct convolution uses it flipped.
        bias: added to each dot product (convolutions only).
        spec: the layer settings (``spec.height/width`` are taken from ``x``).

    Returns:
        Steps in row-major output order; ``value`` equals PyTorch's output for a one-channel
        layer with this kernel and bias (tests check this).

    Examples::

        >>> from cnnviz.methods.arithmetic.layer_spec import LayerSpec
        >>> x = torch.arange(16.).view(4, 4)
        >>> steps = sliding_windows(x, None, 0.0, LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2))
        >>> [s.value for s in steps]
        [5.0, 7.0, 13.0, 15.0]
    """
    spec = replace(spec, height=x.shape[0], width=x.shape[1])
    grid = padded_grid(x, spec)
    k, d = spec.kernel, spec.dilation
    stride = 1 if spec.mode == "transposed" else spec.stride
    _, oh, ow = spec.output_shape()
    ws: tuple[float, ...] = ()
    if not spec.is_pool:
        w = weight.double()
        if spec.mode == "transposed":
            w = torch.flip(w, (0, 1))
        ws = tuple(float(v) for v in w.flatten())
    # the rows and columns inside the padded input (average pooling divides by the window's area there)
    valid_h = int((grid.kind != CELL_OVERHANG).any(1).sum().item())
    valid_w = int((grid.kind != CELL_OVERHANG).any(0).sum().item())
    taps = [(a * d, b * d) for a in range(k) for b in range(k)]
    vals = grid.values.tolist()
    steps = []
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride, j * stride
            rows = tuple(r0 + a for a, _ in taps)
            cols = tuple(c0 + b for _, b in taps)
            xs = tuple(vals[r][c] for r, c in zip(rows, cols, strict=True))
            if spec.mode == "maxpool":
                value = max(xs)
            elif spec.mode == "avgpool":  # PyTorch's count_include_pad=True: the area inside the padded input
                value = sum(xs) / ((min(r0 + k, valid_h) - r0) * (min(c0 + k, valid_w) - c0))
            else:
                value = sum(a * b for a, b in zip(ws, xs, strict=True)) + bias
            steps.append(WindowStep(i, j, rows, cols, xs, ws, float(value)))
    return steps
