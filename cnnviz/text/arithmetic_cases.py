"""Page text of /arithmetic's special cases: 1×1 convolutions, dilation, grouped and depthwise convolutions,
pooling and im2col, each explained with the numbers of the layer the user set (computed in
:mod:`cnnviz.methods.arithmetic.special_cases`).

Examples::

    >>> from cnnviz.methods.arithmetic import LayerSpec
    >>> [c.key for c in special_cases(LayerSpec())]
    ['1x1', 'dilated', 'grouped', 'pool', 'im2col']
"""
from __future__ import annotations

from dataclasses import dataclass

from cnnviz.methods.arithmetic import (
    GroupedCost,
    LayerSpec,
    bottleneck_params,
    dilation_sweep,
    grouped_costs,
    human,
    one_by_one_layer,
)


@dataclass(frozen=True)
class SpecialCase:
    """One tab of the page's special cases: its explanation and, where it has one, a table."""

    key: str
    title: str
    text: str
    table: list[dict] | None = None
    caption: str | None = None


def grouped_name(cost: GroupedCost) -> str:
    """The layer of one row of the grouped comparison in words.

    Examples::

        >>> [grouped_name(c) for c in grouped_costs(12, 12, 32)][2:]
        ['4 groups', 'depthwise (groups = C = 32)', 'depthwise separable (depthwise 3×3 + 1×1)']
    """
    if cost.separable:
        return "depthwise separable (depthwise 3×3 + 1×1)"
    if cost.depthwise:
        return f"depthwise (groups = C = {cost.channels})"
    return "standard (groups = 1)" if cost.groups == 1 else f"{cost.groups} groups"


def grouped_label(cost: GroupedCost) -> str:
    """A short label of one row of the grouped comparison, for a chart.

    Examples::

        >>> [grouped_label(c) for c in grouped_costs(12, 12, 32)]
        ['groups = 1', 'groups = 2', 'groups = 4', 'depthwise (32)', 'depthwise + 1×1']
    """
    if cost.separable:
        return "depthwise + 1×1"
    return f"depthwise ({cost.channels})" if cost.depthwise else f"groups = {cost.groups}"


def _one_by_one(spec: LayerSpec) -> SpecialCase:
    one = one_by_one_layer(spec)
    c, cout, h, w = one.in_channels, one.out_channels, one.height, one.width
    plain, cheap = bottleneck_params()
    text = (
        f"A **1×1 convolution** looks at one pixel at a time, across all channels: it mixes the {c} input "
        f"channel{'s' if c > 1 else ''} into {cout} new one{'s' if cout > 1 else ''} and leaves the spatial size "
        f"alone: {c}×{h}×{w} → **{'×'.join(map(str, one.output_shape()))}**, with "
        f"{one.params().weights:,} weights (1·1·{c}·{cout}) + {cout} biases. "
        "GoogLeNet and ResNet use them as cheap bottlenecks that shrink the depth before an expensive 3×3 or 5×5 layer."
        f"\n\nExample: a 3×3 convolution from 256 to 256 channels has **{plain:,}** parameters; a ResNet bottleneck "
        f"(1×1 to 64, 3×3 at 64, 1×1 back to 256) has **{cheap:,}**: {plain / cheap:.1f}× fewer."
    )
    return SpecialCase("1x1", "1×1 convolution", text)


def _dilated(h: int) -> SpecialCase:
    n = max(h, 9)
    rows = [
        {
            "dilation D": r.dilation,
            "taps": f"{r.kernel}×{r.kernel} = {r.kernel * r.kernel}",
            "span D(K−1)+1": r.span,
            f"output on {n}×{n}": "does not fit" if r.output is None else f"{r.output}×{r.output}",
            "parameters": r.params,
        }
        for r in dilation_sweep(n)
    ]
    return SpecialCase(
        "dilated",
        "Dilated (atrous)",
        "A **dilated** kernel spreads its taps *D* pixels apart: the same 9 weights see a wider area, so the "
        "receptive field grows without extra parameters or pooling (used in segmentation networks, "
        "e.g. DeepLab).",
        rows,
        "Try the preset 'Dilated 3×3, D=2' to watch the spread-out taps slide.",
    )


def _grouped(spec: LayerSpec) -> SpecialCase:
    costs = grouped_costs(spec.height, spec.width, spec.in_channels)
    *layers, separable = costs
    c = separable.channels
    rows = [
        {
            "layer": grouped_name(g),
            "weights K·K·C_in/groups·C_out": f"3·3·{c // g.groups}·{c} = {g.weights:,}",
            "MACs": human(g.macs),
        }
        for g in layers
    ]
    rows.append(
        {
            "layer": grouped_name(separable),
            "weights K·K·C_in/groups·C_out": f"{layers[-1].weights:,} + {separable.pointwise_weights:,} = "
                                             f"{separable.weights:,}",
            "MACs": human(separable.macs),
        }
    )
    text = (
        f"**Grouped** convolution (here a 3×3 layer from {c} to {c} channels on {spec.height}×{spec.width}) splits "
        f"the {c} channels into groups that do not see each other: each filter looks at C_in/groups channels only, "
        "so weights and MACs drop by the factor *groups*. With groups = C_in it is **depthwise**: one K×K filter per "
        "channel. MobileNet follows it with a 1×1 convolution to mix the channels again (*depthwise separable*), here "
        f"{layers[0].weights / separable.weights:.1f}× fewer weights than the standard 3×3 layer."
    )
    return SpecialCase("grouped", "Grouped and depthwise", text, rows)


POOLING = SpecialCase(
    "pool",
    "Pooling",
    "**Pooling** shrinks each channel on its own with a fixed rule (the maximum, or the mean, of each "
    "window): no parameters to learn, depth unchanged. The classic example: 2×2 max pooling with "
    "stride 2 halves a 4×4 map to 2×2, keeping the strongest response of each quarter.",
)
IM2COL = SpecialCase(
    "im2col",
    "im2col: one matrix product",
    "**im2col** turns every window position into one column: the K·K·C_in values under the kernel. "
    "The filters become the rows of a weight matrix, and the whole convolution is **one matrix "
    "product** (which is how GPUs and BLAS libraries run it fast).",
)


def special_cases(spec: LayerSpec) -> list[SpecialCase]:
    """The page's special-case tabs (in the order of :data:`cnnviz.methods.arithmetic.SPECIAL_CASES`), worked
    out for the input size and depth the user set.

    Examples::

        >>> [c.key for c in special_cases(LayerSpec())]
        ['1x1', 'dilated', 'grouped', 'pool', 'im2col']
    """
    return [_one_by_one(spec), _dilated(spec.height), _grouped(spec), POOLING, IM2COL]
