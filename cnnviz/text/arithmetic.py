"""Page text of /arithmetic: the presets, the formulas with the layer's numbers (LaTeX), the key numbers, notes
on coverage and the animation, the PyTorch check in words and code, im2col's matrix sizes and the quiz's
questions and answers. The special cases' explanations are in :mod:`cnnviz.text.arithmetic_cases`.

Streamlit-free and computation-free: every number comes from :mod:`cnnviz.methods.arithmetic` (the one source
of the formulas); these functions only put it into words.

Examples::

    >>> from cnnviz.methods.arithmetic import LayerSpec
    >>> [v for _, v, _ in headline(LayerSpec("conv", 32, 32, 3, 20, kernel=5))]
    ['20 × 28 × 28', '1,520', '1.18 M', '15,680', '3,072']
"""
from __future__ import annotations

from collections.abc import Sequence

from cnnviz.methods.arithmetic import (
    MODE_TITLES,
    DemoLayer,
    Im2colExample,
    LayerSpec,
    ShapeCheck,
    StackRow,
    WindowStep,
    human,
)

# Starting points, as LayerSpec fields; pooling presets keep the filters/groups the user had set
PRESETS: dict[str, dict] = {
    "Lecture: 32×32×3, twenty 5×5": dict(mode="conv", height=32, width=32, in_channels=3, out_channels=20, kernel=5,
                                         stride=1, padding=0, dilation=1, groups=1),
    "Stride 2, padding 1": dict(mode="conv", height=7, width=7, in_channels=1, out_channels=1, kernel=3, stride=2,
                                padding=1, dilation=1, groups=1),
    "Stride that does not tile": dict(mode="conv", height=8, width=8, in_channels=1, out_channels=1, kernel=3,
                                      stride=3, padding=0, dilation=1, groups=1),
    "'same' padding": dict(mode="conv", height=10, width=10, in_channels=3, out_channels=8, kernel=5, stride=1,
                           padding="same", dilation=1, groups=1),
    "Dilated 3×3, D=2": dict(mode="conv", height=9, width=9, in_channels=1, out_channels=1, kernel=3, stride=1,
                             padding=0, dilation=2, groups=1),
    "Depthwise 3×3": dict(mode="conv", height=12, width=12, in_channels=32, out_channels=32, kernel=3, stride=1,
                          padding=1, dilation=1, groups=32),
    "Max pool 2×2": dict(mode="maxpool", height=8, width=8, in_channels=1, kernel=2, stride=2, padding=0, dilation=1),
    "Transposed 3×3, stride 2": dict(mode="transposed", height=4, width=4, in_channels=1, out_channels=1, kernel=3,
                                     stride=2, padding=1, dilation=1, groups=1, output_padding=1),
}

# labels of cnnviz.methods.arithmetic.INPUT_SOURCES and KERNEL_KINDS
INPUT_SOURCE_LABELS = {"digit": "A bundled digit, scaled to 0–9", "random": "Random 0–9", "custom": "Type your own"}
KERNEL_KIND_LABELS = {
    "edge": "Vertical edge (−1 … +1)",
    "ones": "All ones (box sum)",
    "random": "Random integers −1…2",
    "custom": "Type your own",
}

QUIZ_SYNTAX = (
    "Syntax: `conv k5 f20 s1 p0` (kernel, filters, stride, padding — or `psame`, dilation `d2`, groups `g2`), "
    "`maxpool k2` (stride defaults to the kernel), `avgpool k2`, `tconv k2 f8 s2`; layers separated by `;`."
)


# ---------------------------------------------------------------------------------------------- the numbers
def size_latex(spec: LayerSpec, axis: str = "H") -> str:
    """The output-size formula for one axis (``"H"`` or ``"W"``), then the same with this layer's numbers.

    Examples::

        >>> size_latex(LayerSpec("conv", 32, 32, 3, 20, kernel=5)).endswith(r"\\mathbf{28}\\end{aligned}")
        True
    """
    s, n = spec, spec.height if axis == "H" else spec.width
    out = s.output_size(n)
    if s.mode == "transposed":
        return (
            rf"\begin{{aligned}}{axis}_{{out}} &= ({axis}-1)S - 2P + D(K-1) + \text{{out\_pad}} + 1 \\ "
            rf"&= ({n}-1)\cdot{s.stride} - 2\cdot{int(s.padding)} + {s.dilation}\cdot({s.kernel}-1) + "
            rf"{s.output_padding} + 1 = \mathbf{{{out}}}\end{{aligned}}"
        )
    pb, pa = s.pad
    br_l, br_r = (r"\left\lceil", r"\right\rceil") if s.ceil_mode else (r"\left\lfloor", r"\right\rfloor")
    two_p = f"2\\cdot{pb}" if pb == pa else f"({pb}+{pa})"
    return (
        rf"\begin{{aligned}}{axis}_{{out}} &= {br_l}\frac{{{axis} + 2P - D(K-1) - 1}}{{S}}{br_r} + 1 \\ "
        rf"&= {br_l}\frac{{{n} + {two_p} - {s.dilation}\cdot({s.kernel}-1) - 1}}{{{s.stride}}}{br_r} + 1 = "
        rf"\mathbf{{{out}}}\end{{aligned}}"
    )


def size_formulas(spec: LayerSpec) -> list[str]:
    """The output-size formulas to show: one when height and width agree, else one per axis.

    Examples::

        >>> len(size_formulas(LayerSpec("conv", 8, 6, 1, 1, kernel=3)))
        2
    """
    if spec.height == spec.width:
        return [size_latex(spec, "H") + r"\qquad (W_{out} = H_{out})"]
    return [size_latex(spec, "H"), size_latex(spec, "W")]


def headline(spec: LayerSpec) -> list[tuple[str, str, str | None]]:
    """The page's key numbers as ``(label, value, help)``: output shape, parameters, MACs, output and input values.

    Examples::

        >>> [v for _, v, _ in headline(LayerSpec("conv", 32, 32, 3, 20, kernel=5))]
        ['20 × 28 × 28', '1,520', '1.18 M', '15,680', '3,072']
    """
    c, oh, ow = spec.output_shape()
    return [
        ("Output shape (C × H × W)", f"{c} × {oh} × {ow}", f"PyTorch: torch.Size([N, {c}, {oh}, {ow}])"),
        ("Parameters", f"{spec.params().total:,}", None),
        ("MACs (one image)", "0" if spec.is_pool else human(spec.macs()), None),
        ("Output values", f"{c * oh * ow:,}", None),
        ("Input values", f"{spec.in_channels * spec.height * spec.width:,}", None),
    ]


def _thousands(latex: str) -> str:
    return latex.replace(",", "{,}")  # a bare comma in LaTeX math gets a space after it


def cost_latex(spec: LayerSpec) -> list[str]:
    """Weights, biases and MACs (pooling: the operations) as formulas with this layer's numbers.

    Examples::

        >>> cost_latex(LayerSpec("conv", 32, 32, 3, 20, kernel=5))[0].endswith("= 1,500")
        True
    """
    s = spec
    k, cin, cout, g = s.kernel, s.in_channels, s.out_channels, s.groups
    p = s.params()
    _, oh, ow = s.output_shape()
    biases = _thousands(rf"\text{{biases}} = C_{{out}} = {cout} \qquad \text{{parameters}} = {p.total:,}")
    if s.mode == "conv":
        return [
            rf"\text{{weights}} = K\cdot K\cdot\frac{{C_{{in}}}}{{groups}}\cdot C_{{out}} = "
            rf"{k}\cdot{k}\cdot\frac{{{cin}}}{{{g}}}\cdot{cout} = {p.weights:,}",
            biases,
            _thousands(
                rf"\begin{{aligned}}\text{{MACs}} &= H_{{out}} W_{{out}} C_{{out}}\cdot K K \frac{{C_{{in}}}}{{groups}}"
                rf" \\ &= {oh}\cdot{ow}\cdot{cout}\cdot{k}\cdot{k}\cdot\frac{{{cin}}}{{{g}}} = {s.macs():,}"
                r"\end{aligned}"
            ),
        ]
    if s.mode == "transposed":
        return [
            _thousands(
                rf"\text{{weights}} = C_{{in}}\cdot\frac{{C_{{out}}}}{{groups}}\cdot K\cdot K = "
                rf"{cin}\cdot\frac{{{cout}}}{{{g}}}\cdot{k}\cdot{k} = {p.weights:,}"
            ),
            biases,
            _thousands(
                rf"\begin{{aligned}}\text{{MACs}} &= H W C_{{in}}\cdot\frac{{C_{{out}}}}{{groups}} K K \\ &= "
                rf"{s.height}\cdot{s.width}\cdot{cin}\cdot\frac{{{cout}}}{{{g}}}\cdot{k}\cdot{k} = {s.macs():,}"
                r"\end{aligned}"
            ),
        ]
    what, per = ("comparisons", "(K^2-1)") if s.mode == "maxpool" else ("additions", "K^2")
    return [
        _thousands(
            rf"\text{{parameters}} = 0 \qquad \text{{{what}}} = C\cdot H_{{out}} W_{{out}}\cdot {per} = "
            rf"{s.pool_ops():,}"
        )
    ]


def size_notes(spec: LayerSpec) -> list[str]:
    """What the formulas do not say by themselves ('same' split, ceil_mode's dropped window).

    Examples::

        >>> size_notes(LayerSpec("conv", 10, 10, 1, 1, kernel=4, padding="same"))[0][:45]
        "'same' pads D(K−1) = 3 in total: 1 before and"
    """
    pb, pa = spec.pad
    notes = []
    if spec.padding == "same":
        notes.append(
            f"'same' pads D(K−1) = {pb + pa} in total: {pb} before and {pa} after (PyTorch puts the odd pixel after)."
        )
    if spec.ceil_mode:
        notes.append(
            "ceil_mode rounds up, but a last window that would start in the right-hand padding is dropped "
            "(as in PyTorch)."
        )
    return notes


def describe_indices(idx: Sequence[int]) -> str:
    """``[0, 1, 2, 7]`` -> ``"0–2, 7"``: runs of indices for messages.

    Examples::

        >>> describe_indices([0, 1, 2, 7])
        '0–2, 7'
    """
    parts, run = [], []
    for i in idx:
        if run and i == run[-1] + 1:
            run.append(i)
        else:
            if run:
                parts.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
            run = [i]
    if run:
        parts.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(parts)


def coverage_note(spec: LayerSpec) -> str | None:
    """Which input rows and columns the kernel never reads and why (None when every pixel is read).

    Examples::

        >>> coverage_note(LayerSpec("conv", 8, 8, 1, 1, kernel=3, stride=3))[:42]
        '**Never covered:** input rows 6–7 and colu'
    """
    rows, cols = spec.uncovered()
    if not rows and not cols:
        return None
    parts = []
    if rows:
        parts.append(f"input row{'s' if len(rows) > 1 else ''} {describe_indices(rows)}")
    if cols:
        parts.append(f"column{'s' if len(cols) > 1 else ''} {describe_indices(cols)}")
    pb, pa = spec.pad
    span = spec.height + pb + pa - spec.effective_kernel
    return (
        f"**Never covered:** {' and '.join(parts)} (0-based) are never under the kernel, so they have no influence "
        f"on the output. H + 2P − D(K−1) − 1 = {span} leaves a remainder of {span % spec.stride} when divided by "
        f"the stride {spec.stride}"
        + (", and dilation larger than the stride skips rows between taps" if spec.dilation > spec.stride else "")
        + ". Pad a little more, or choose a stride that tiles the input."
    )


# ---------------------------------------------------------------------------------------------- the check
def shape_check_summary(check: ShapeCheck) -> str:
    """The verdict of :func:`cnnviz.methods.arithmetic.check_shape` in words (markdown).

    Examples::

        >>> from cnnviz.methods.arithmetic import ShapeCheck
        >>> shape_check_summary(ShapeCheck((1, 4, 4, 3), (1, 4, 4, 3), "cpu"))
        "PyTorch's output shape **[1, 4, 4, 3]** equals the formula's **4 × 4 × 3**."
    """
    if not check.agrees:  # must never happen: the unit tests sweep thousands of combinations
        return (
            f"Mismatch: PyTorch gives {list(check.pytorch)}, the formula {list(check.formula)}. "
            "Please report this combination."
        )
    c, h, w = check.formula[1:]
    meta = " (shape rules run on PyTorch's 'meta' device: the layer is too large to compute here)"
    return (f"PyTorch's output shape **{list(check.pytorch)}** equals the formula's **{c} × {h} × {w}**"
            f"{meta if check.device == 'meta' else ''}.")


def check_code(spec: LayerSpec, check: ShapeCheck) -> str:
    """The few lines of PyTorch that build this layer and print its output shape and parameter count.

    Examples::

        >>> from cnnviz.methods.arithmetic import ShapeCheck
        >>> check = ShapeCheck((1, 20, 28, 28), (1, 20, 28, 28), "cpu")
        >>> check_code(LayerSpec("conv", 32, 32, 3, 20, kernel=5), check).splitlines()[-2]
        'print(layer(x).shape)   # torch.Size([1, 20, 28, 28])'
    """
    layer = spec.torch_code().replace(", stride=", ",\n    stride=")
    return (
        f"import torch\nfrom torch import nn\n\nlayer = {layer}\n"
        f"x = torch.randn(1, {spec.in_channels}, {spec.height}, {spec.width})   # N, C, H, W\n"
        f"print(layer(x).shape)   # torch.Size({list(check.pytorch)})\n"
        f"print(sum(p.numel() for p in layer.parameters()))   # {spec.params().total}"
    )


# ---------------------------------------------------------------------------------------------- the sliding window
def _number(v: float, fmt: str) -> str:
    if v == float("-inf"):
        return "−∞"
    return fmt.format(round(v, 4)).replace("-", "−")


def _factor(v: float, fmt: str) -> str:
    """A number as a factor of a product: negative ones in parentheses."""
    t = _number(v, fmt)
    return f"({t})" if t.startswith("−") else t


def _join_lines(terms: list[str], sep: str, per_line: int | None, newline: str) -> str:
    if per_line is None:
        return sep.join(terms)
    lines = [sep.join(terms[i : i + per_line]) for i in range(0, len(terms), per_line)]
    return (sep.rstrip() + newline).join(lines)


def format_dot_product(
    step: WindowStep,
    bias: float,
    mode: str = "conv",
    max_terms: int = 12,
    fmt: str = "{:g}",
    per_line: int | None = None,
    newline: str = "\n",
) -> str:
    """The computation of one step in words: ``"1·3 + 0·5 + … + b = 17"`` (plain text).

    Args:
        step: one kernel position from :func:`cnnviz.methods.arithmetic.sliding_windows`.
        bias: the bias added (convolutions; shown even when 0).
        mode: the layer mode (pooling shows ``max(...)`` / ``mean(...)``).
        max_terms: longer sums are cut with an ellipsis.
        fmt: number format.
        per_line: break the line after this many terms (e.g. ``k``: one kernel row per line).
        newline: the line break to insert (``"<br>"`` for Plotly).

    Examples::

        >>> s = WindowStep(0, 0, (0, 0), (0, 1), (3.0, 5.0), (1.0, -1.0), -1.0)
        >>> format_dot_product(s, 1.0)
        '1·3 + (−1)·5 + 1 = −1'
        >>> format_dot_product(s, 0.0, per_line=1, newline="|")
        '1·3 +|(−1)·5 + 0 = −1'
    """
    if mode in ("maxpool", "avgpool"):
        terms = [_number(v, fmt) for v in step.xs]
        shown = terms if len(terms) <= max_terms else terms[: max_terms - 1] + ["…"]
        body = _join_lines(shown, ", ", per_line, newline)
        return f"{'max' if mode == 'maxpool' else 'mean'}({body}) = {_number(step.value, fmt)}"
    terms = [f"{_factor(w, fmt)}·{_factor(x, fmt)}" for w, x in zip(step.ws, step.xs, strict=True)]
    shown = terms if len(terms) <= max_terms else terms[: max_terms - 1] + [f"… ({len(terms)} products)"]
    return _join_lines(shown, " + ", per_line, newline) + f" + {_factor(bias, fmt)} = {_number(step.value, fmt)}"


def demo_note(demo: DemoLayer) -> str | None:
    """Why the animation's size differs from the formulas' H×W (a typed input of its own size), else None.

    Examples::

        >>> from cnnviz.methods.arithmetic import demo_layer
        >>> demo_note(demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=2), "custom", input_text="1 2 3; 4 5 6"))[:22]
        'Your input is 2×3: the'
    """
    if not demo.typed_size_differs or demo.x is None:
        return None
    h, w = demo.x.shape
    return f"Your input is {h}×{w}: the animation uses that size (the formulas above use H×W)."


def animation_notes(spec: LayerSpec, in_channels: int, out_channels: int, groups: int) -> str:
    """What the animation's colours mean and what it leaves out (one channel, one filter).

    Examples::

        >>> animation_notes(LayerSpec("maxpool", 8, 8, 1, 1, kernel=2, stride=2), 1, 1, 1)[-41:]
        '(−∞ for max pooling: padding never wins).'
    """
    s = spec
    notes = [
        "The kernel (red) reads the cells under its taps; the sand-coloured cells are padding"
        + (" (−∞ for max pooling: padding never wins)" if s.mode == "maxpool" else " (zeros)")
        + "."
    ]
    if s.mode == "transposed":
        notes.append(
            f"A transposed convolution is drawn as the equivalent ordinary convolution: {s.stride - 1} zero(s) "
            f"inserted between input pixels (light blue), D(K−1)−P = {s.dilation * (s.kernel - 1) - int(s.padding)} "
            "padding, stride 1 and the kernel flipped by 180°."
        )
    if in_channels > 1 and not s.is_pool:
        per = in_channels // groups
        notes.append(
            f"The animation shows one input channel and one filter. The real layer adds such sums over all "
            f"{per} input channels of its group (K·K·C_in/groups = {s.kernel * s.kernel * per} products per "
            f"output value) and repeats it for each of the {out_channels} filters."
        )
    if s.mode == "avgpool" and (s.pad[0] or s.ceil_mode):
        notes.append(
            "Average pooling divides by the window's area inside the padded input (PyTorch's count_include_pad=True)."
        )
    return " ".join(notes)


# ---------------------------------------------------------------------------------------------- im2col
def im2col_latex(ex: Im2colExample) -> str:
    """``W [1 x KK] X_cols [KK x L] + b = Y [1 x L] -> reshape`` with the sizes filled in.

    Examples::

        >>> import torch
        >>> from cnnviz.methods.arithmetic import im2col_example
        >>> ex = im2col_example(torch.ones(3, 3), torch.ones(2, 2), 0.0, LayerSpec("conv", 3, 3, 1, 1, kernel=2))
        >>> im2col_latex(ex).endswith(r"\\text{reshape to } 2\\times2")
        True
    """
    kk, n = ex.cols.shape
    oh, ow = ex.y.shape
    return (
        rf"\underbrace{{W}}_{{1\times{kk}}}\;\underbrace{{X_{{cols}}}}_{{{kk}\times{n}}} + b = "
        rf"\underbrace{{Y}}_{{1\times{n}}} \;\to\; \text{{reshape to }} {oh}\times{ow}"
    )


def im2col_summary(ex: Im2colExample, layer: LayerSpec) -> str:
    """The check against ``F.conv2d`` and the matrix sizes of the whole ``layer`` (all channels and filters).

    Examples::

        >>> import torch
        >>> from cnnviz.methods.arithmetic import im2col_example
        >>> ex = im2col_example(torch.ones(3, 3), torch.ones(2, 2), 0.0, LayerSpec("conv", 3, 3, 1, 1, kernel=2))
        >>> im2col_summary(ex, LayerSpec("conv", 32, 32, 3, 20, kernel=5))[-29:]
        'W is 20×75, X_cols is 75×784.'
    """
    oh, ow = ex.y.shape
    rows = layer.kernel * layer.kernel * layer.in_channels // layer.groups
    _, loh, low = layer.output_shape()
    return (
        f"W·X_cols + b reshaped to {oh}×{ow} equals PyTorch's `F.conv2d` (largest difference "
        f"{ex.max_difference:g}). With C_in channels and C_out filters: W is {layer.out_channels}×{rows}, "
        f"X_cols is {rows}×{loh * low}."
    )


# ---------------------------------------------------------------------------------------------- the quiz
def quiz_question(row: StackRow) -> str:
    """The layer of a quiz row in words (kernel, stride, padding, filters).

    Examples::

        >>> from cnnviz.methods.arithmetic import evaluate_stack, parse_stack
        >>> quiz_question(evaluate_stack((3, 32, 32), parse_stack("maxpool k2"))[0])
        '**`maxpool k2`** — max pooling, kernel 2, stride 2, padding 0'
    """
    layer = row.layer
    return (
        f"**`{layer.text}`** — {MODE_TITLES[layer.mode].lower()}, kernel {layer.kernel}, stride {layer.stride}, "
        f"padding {layer.padding}" + (f", {layer.filters} filters" if layer.filters else "")
    )


def quiz_answer(row: StackRow) -> str:
    """The answer of a quiz row: the shape and how it follows (or why the layer does not fit).

    Examples::

        >>> from cnnviz.methods.arithmetic import evaluate_stack, parse_stack
        >>> quiz_answer(evaluate_stack((3, 32, 32), parse_stack("conv k5 f20"))[0])[:12]
        '### 20×28×28'
    """
    if row.output_shape is None:
        return " ".join(p.message for p in row.problems)
    c, h, w = row.output_shape
    s = row.spec
    if s.mode == "transposed":
        return f"### {c}×{h}×{w}\n({row.params:,} parameters)"
    return (
        f"### {c}×{h}×{w}\n({h} = ⌊({s.height} + 2·{s.pad[0]} − {s.effective_kernel}) / {s.stride}⌋ + 1; "
        f"{row.params:,} parameters)"
    )


# ---------------------------------------------------------------------------------------------- what to notice
def numbers_note(uncovered: bool) -> str:
    """The "what to notice" note of the numbers view (``uncovered``: the drawing shows rows never read)."""
    return ("- The output size depends on H, K, S, P and D only; the **depth** of the output is the number of "
            "filters, whatever the input depth.\n"
            "- Each filter spans the **whole input depth**: twenty 5×5 filters on a 3-channel image are 5×5×3 each, "
            "so 75 weights + 1 bias each, 1,520 in all.\n"
            "- Padding (K−1)/2 with stride 1 keeps the size ('same'); stride 2 roughly halves it"
            + (" (the dark rows and columns are never read)." if uncovered else ".") + "\n"
            "- Pooling and stride both shrink the map; pooling has no parameters, a strided convolution learns how "
            "to downsample.\n"
            "- Transposed convolutions run the arithmetic backwards: they are how decoders and GANs upsample.")


WINDOW_NOTE = ("- Each output cell is one dot product of the kernel with the patch under it, plus the bias.\n"
               "- The sand-coloured border is padding; the window jumps S cells at a time.")
CHECK_NOTE = "- The formula and PyTorch agree for every valid combination; PyTorch refuses the invalid ones."
CHECK_CAPTION = ("The unit tests check the formula against PyTorch for thousands of random combinations of sizes, "
                 "kernels, strides, paddings, dilations and groups, for all four operations.")
SPECIAL_NOTE = ("- A **1×1** convolution mixes channels at each pixel and never changes the size.\n"
                "- **Dilation** widens the span without adding weights; **groups** divide weights and work by the "
                "number of groups.\n"
                "- **Pooling** has no parameters; **im2col** turns the whole convolution into one matrix product.")
QUIZ_INTRO = ("Stack layers and ask, layer by layer, for the output size; reveal each answer when the room has "
              "guessed. " + QUIZ_SYNTAX)
QUIZ_NOTE = ("- Work each shape from the one before: the output size formula, the depth = the number of filters; "
             "pooling keeps the depth.\n"
             "- Reveal one answer at a time (the slide's Controls) once the room has guessed.")
