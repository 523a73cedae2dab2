"""Convolution arithmetic: output size, parameters and MACs with the numbers substituted, the sliding
window animated with its dot products, a PyTorch self-check, special cases and a layer-stack quiz."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch
import torch.nn.functional as F
from PIL import Image

from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec
from cnnviz.figures.arithmetic import MAX_GRID, number_grid, sliding_window_figure
from cnnviz.core.images import load_image
from cnnviz.ui import state
from cnnviz.ui.sidebar import sample_path

st.title("Convolution arithmetic")
st.markdown(
    "A convolutional layer slides a small **kernel** over its input. At each position it multiplies the "
    "kernel's weights with the input values under it, adds the products and a bias (**w·x + b**), and "
    "writes the sum into one cell of the output. How many positions there are, and so the output size, "
    "depends only on the input size *W*, the kernel size *K*, the **stride** *S* (how far the kernel jumps), "
    "the **padding** *P* (zeros added around the border) and the **dilation** *D* (gaps between kernel taps). "
    "The depth of the output is the number of filters; the parameters are the weights of those filters. "
    "Set any combination below: the page works out every number, animates the window, and checks itself "
    "against PyTorch."
)

# ---------------------------------------------------------------------------------------------- presets
PRESETS = {
    "Lecture: 32×32×3, twenty 5×5": dict(ar_mode="conv", ar_h=32, ar_w=32, ar_cin=3, ar_cout=20, ar_k=5, ar_s=1, ar_p=0, ar_d=1, ar_g=1),
    "Stride 2, padding 1": dict(ar_mode="conv", ar_h=7, ar_w=7, ar_cin=1, ar_cout=1, ar_k=3, ar_s=2, ar_p=1, ar_d=1, ar_g=1),
    "Stride that does not tile": dict(ar_mode="conv", ar_h=8, ar_w=8, ar_cin=1, ar_cout=1, ar_k=3, ar_s=3, ar_p=0, ar_d=1, ar_g=1),
    "'same' padding": dict(ar_mode="conv", ar_h=10, ar_w=10, ar_cin=3, ar_cout=8, ar_k=5, ar_s=1, ar_p="same", ar_d=1, ar_g=1),
    "Dilated 3×3, D=2": dict(ar_mode="conv", ar_h=9, ar_w=9, ar_cin=1, ar_cout=1, ar_k=3, ar_s=1, ar_p=0, ar_d=2, ar_g=1),
    "Depthwise 3×3": dict(ar_mode="conv", ar_h=12, ar_w=12, ar_cin=32, ar_cout=32, ar_k=3, ar_s=1, ar_p=1, ar_d=1, ar_g=32),
    "Max pool 2×2": dict(ar_mode="maxpool", ar_h=8, ar_w=8, ar_cin=1, ar_k=2, ar_s=2, ar_p=0, ar_d=1),
    "Transposed 3×3, stride 2": dict(ar_mode="transposed", ar_h=4, ar_w=4, ar_cin=1, ar_cout=1, ar_k=3, ar_s=2, ar_p=1, ar_d=1, ar_g=1, ar_op=1),
}


def _apply_preset(values: dict) -> None:
    for k, v in values.items():
        st.session_state[f"qp:{k}"] = v
    st.session_state["qp:ar_pos"] = 0


with st.container(border=True):
    st.caption("Start from an example:")
    cols = st.columns(4)
    for i, (label, values) in enumerate(PRESETS.items()):
        cols[i % 4].button(label, on_click=_apply_preset, args=(values,), width="stretch", key=f"ar_preset_{i}")

# ---------------------------------------------------------------------------------------------- controls
mode = state.select("Operation", "ar_mode", list(ar.MODES), "conv", format_func=ar.MODE_TITLES.get, radio=True, horizontal=True)
is_pool = mode in ("maxpool", "avgpool")
c1, c2, c3, c4 = st.columns(4)
h = state.number("Input height H", "ar_h", 1, 512, 32, container=c1)
w = state.number("Input width W", "ar_w", 1, 512, 32, container=c1)
cin = state.number("Input channels C_in", "ar_cin", 1, 2048, 3, container=c2)
cout = state.number("Filters C_out", "ar_cout", 1, 2048, 20, container=c2, disabled=is_pool,
                    help="Pooling keeps the number of channels." if is_pool else "Each filter gives one output channel.")
groups = state.number("Groups", "ar_g", 1, 2048, 1, container=c2, disabled=is_pool,
                      help="Split the channels into groups that do not see each other; groups = C_in = C_out is a depthwise convolution.")
k = state.number("Kernel size K", "ar_k", 1, 15, 5, container=c3)
stride = state.number("Stride S", "ar_s", 0, 8, 1, container=c3, help="0 is allowed here to see why it is invalid.")
dilation = state.number("Dilation D", "ar_d", 1, 6, 1, container=c3, help="Gaps between the kernel taps (1 = ordinary kernel).")
padding = state.select("Padding P", "ar_p", list(range(0, 11)) + ["same", "valid"], 0, container=c4,
                       help="Zeros added on each side; 'same' keeps the size (stride 1 only), 'valid' adds none.")
out_pad = state.number("Output padding", "ar_op", 0, 7, 0, container=c4, disabled=mode != "transposed",
                       help="Transposed convolution only: extra rows/columns at the end of the output.")
ceil_mode = state.toggle("Round up (ceil_mode)", "ar_ceil", False, container=c4, disabled=not is_pool,
                         help="Pooling only: count a last, partial window.")

spec = LayerSpec(mode, h, w, cin, cin if is_pool else cout, k, stride, padding, dilation, 1 if is_pool else groups,
                 out_pad if mode == "transposed" else 0, ceil_mode and is_pool)
problems = spec.problems()

# ---------------------------------------------------------------------------------------------- formulas
st.header("The numbers", divider="gray")
if problems:
    for p in problems:
        st.warning(f"**This combination does not work ({p.field}).** {p.message}", icon=":material/block:")
    st.info("Change the highlighted setting; the animation and the PyTorch check appear once the layer is valid.")
    st.stop()

C, OH, OW = spec.output_shape()
pb, pa = spec.pad
pad_txt = f"{pb}" if pb == pa else f"({pb}+{pa})/2"


def size_latex(n: int, sym: str, out: int) -> str:
    """The output-size formula, then the same with this layer's numbers (cnnviz.methods.arithmetic computes it)."""
    if mode == "transposed":
        return (rf"\begin{{aligned}}{sym}_{{out}} &= ({sym}-1)S - 2P + D(K-1) + \text{{out\_pad}} + 1 \\ "
                rf"&= ({n}-1)\cdot{stride} - 2\cdot{int(padding)} + {dilation}\cdot({k}-1) + {out_pad} + 1 = \mathbf{{{out}}}\end{{aligned}}")
    br_l, br_r = (r"\left\lceil", r"\right\rceil") if spec.ceil_mode else (r"\left\lfloor", r"\right\rfloor")
    two_p = f"2\\cdot{pb}" if pb == pa else f"({pb}+{pa})"
    return (rf"\begin{{aligned}}{sym}_{{out}} &= {br_l}\frac{{{sym} + 2P - D(K-1) - 1}}{{S}}{br_r} + 1 \\ "
            rf"&= {br_l}\frac{{{n} + {two_p} - {dilation}\cdot({k}-1) - 1}}{{{stride}}}{br_r} + 1 = \mathbf{{{out}}}\end{{aligned}}")


left, right = st.columns([3, 2])
with left:
    if w != h or OW != OH:
        hl, wl = st.columns(2)
        hl.latex(size_latex(h, "H", OH))
        wl.latex(size_latex(w, "W", OW))
    else:
        st.latex(size_latex(h, "H", OH) + r"\qquad (W_{out} = H_{out})")
    if padding == "same":
        st.caption(f"'same' pads D(K−1) = {pb + pa} in total: {pb} before and {pa} after (PyTorch puts the odd pixel after).")
    if spec.ceil_mode:
        st.caption("ceil_mode rounds up, but a last window that would start in the right-hand padding is dropped (as in PyTorch).")
    params = spec.params()
    if mode == "conv":
        st.latex(rf"\text{{weights}} = K\cdot K\cdot\frac{{C_{{in}}}}{{groups}}\cdot C_{{out}} = {k}\cdot{k}\cdot\frac{{{cin}}}{{{groups}}}\cdot{cout} = {params.weights:,}")
        st.latex(rf"\text{{biases}} = C_{{out}} = {cout} \qquad \text{{parameters}} = {params.total:,}".replace(",", "{,}"))
        st.latex(rf"\begin{{aligned}}\text{{MACs}} &= H_{{out}} W_{{out}} C_{{out}}\cdot K K \frac{{C_{{in}}}}{{groups}} \\ &= {OH}\cdot{OW}\cdot{cout}\cdot{k}\cdot{k}\cdot\frac{{{cin}}}{{{groups}}} = {spec.macs():,}\end{{aligned}}".replace(",", "{,}"))
    elif mode == "transposed":
        st.latex(rf"\text{{weights}} = C_{{in}}\cdot\frac{{C_{{out}}}}{{groups}}\cdot K\cdot K = {cin}\cdot\frac{{{cout}}}{{{groups}}}\cdot{k}\cdot{k} = {params.weights:,}".replace(",", "{,}"))
        st.latex(rf"\text{{biases}} = C_{{out}} = {cout} \qquad \text{{parameters}} = {params.total:,}".replace(",", "{,}"))
        st.latex(rf"\begin{{aligned}}\text{{MACs}} &= H W C_{{in}}\cdot\frac{{C_{{out}}}}{{groups}} K K \\ &= {h}\cdot{w}\cdot{cin}\cdot\frac{{{cout}}}{{{groups}}}\cdot{k}\cdot{k} = {spec.macs():,}\end{{aligned}}".replace(",", "{,}"))
    else:
        what = "comparisons" if mode == "maxpool" else "additions"
        st.latex(rf"\text{{parameters}} = 0 \qquad \text{{{what}}} = C\cdot H_{{out}} W_{{out}}\cdot {'(K^2-1)' if mode == 'maxpool' else 'K^2'} = {spec.pool_ops():,}".replace(",", "{,}"))
with right:
    st.metric("Output shape (C × H × W)", f"{C} × {OH} × {OW}", help=f"PyTorch: torch.Size([N, {C}, {OH}, {OW}])")
    m1, m2 = st.columns(2)
    m1.metric("Parameters", f"{spec.params().total:,}")
    m2.metric("MACs (one image)", ar.human(spec.macs()) if not is_pool else "0")
    m1.metric("Output values", f"{C * OH * OW:,}")
    m2.metric("Input values", f"{cin * h * w:,}")

rows_unc, cols_unc = spec.uncovered()
if rows_unc or cols_unc:
    parts = []
    if rows_unc:
        parts.append(f"input row{'s' if len(rows_unc) > 1 else ''} {ar.describe_indices(rows_unc)}")
    if cols_unc:
        parts.append(f"column{'s' if len(cols_unc) > 1 else ''} {ar.describe_indices(cols_unc)}")
    rem_h = (h + pb + pa - spec.effective_kernel) % stride
    st.info(f"**Never covered:** {' and '.join(parts)} (0-based) are never under the kernel, so they have no influence "
            f"on the output. H + 2P − D(K−1) − 1 = {h + pb + pa - spec.effective_kernel} leaves a remainder of {rem_h} "
            f"when divided by the stride {stride}"
            + (", and dilation larger than the stride skips rows between taps" if dilation > stride else "")
            + ". Pad a little more, or choose a stride that tiles the input.", icon=":material/visibility_off:")
elif mode != "transposed":
    st.caption("Every input pixel is covered by at least one kernel position.")

# ---------------------------------------------------------------------------------------------- animation
st.header("The sliding window", divider="gray")
with st.expander("Animation input and kernel", expanded=False):
    a1, a2, a3, a4 = st.columns(4)
    source = state.select("Input values", "ar_src", ["digit", "random", "custom"], "digit", container=a1,
                          format_func={"digit": "A bundled digit, scaled to 0–9", "random": "Random 0–9", "custom": "Type your own"}.get)
    digit = state.select("Digit", "ar_digit", list(range(10)), 3, container=a1, disabled=source != "digit")
    kernel_kind = state.select("Kernel", "ar_kern", ["edge", "ones", "random", "custom"], "edge", container=a2,
                               format_func={"edge": "Vertical edge (−1 … +1)", "ones": "All ones (box sum)",
                                            "random": "Random integers −1…2", "custom": "Type your own"}.get,
                               disabled=is_pool)
    bias = state.number("Bias b", "ar_b", -100.0, 100.0, 1.0, step=1.0, container=a3, disabled=is_pool)
    speed = state.slider("Speed (steps per second)", "ar_speed", 1, 20, 3, container=a4)
    custom_x = custom_w = ""
    if source == "custom":
        custom_x = state.text("Input rows (numbers separated by spaces, rows by ';')", "ar_x", "1 2 3 0; 4 5 6 1; 7 8 9 2; 0 1 0 3", container=a1)
    if kernel_kind == "custom" and not is_pool:
        custom_w = state.text(f"Kernel ({k} rows of {k} numbers, rows by ';')", "ar_wk",
                              "; ".join(" ".join("1" if i == j else "0" for j in range(k)) for i in range(k)), container=a2)


def parse_matrix(text: str, what: str) -> torch.Tensor | None:
    try:
        rows = [[float(v) for v in r.replace(",", " ").split()] for r in text.split(";") if r.strip()]
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            raise ValueError("rows of different lengths")
        return torch.tensor(rows, dtype=torch.float64)
    except ValueError as e:
        st.warning(f"The {what} cannot be read ({e}). Write numbers separated by spaces, rows separated by ';', e.g. `1 2; 3 4`.")
        return None


@st.cache_data(max_entries=32, show_spinner=False)
def digit_values(d: int, hh: int, ww: int) -> np.ndarray:
    img = load_image(sample_path(f"digit-{d}").read_bytes()).convert("L").resize((ww, hh), Image.BILINEAR)
    return np.round(np.asarray(img, dtype=np.float64) / 255 * 9)


if source == "digit":
    x2d = torch.from_numpy(digit_values(digit, min(h, 64), min(w, 64)))
elif source == "random":
    g = torch.Generator().manual_seed(h * 1000 + w)
    x2d = torch.randint(0, 10, (min(h, 64), min(w, 64)), generator=g).double()
else:
    x2d = parse_matrix(custom_x, "input")
anim_spec = spec
if x2d is not None and tuple(x2d.shape) != (h, w):
    if source == "custom":
        st.caption(f"Your input is {x2d.shape[0]}×{x2d.shape[1]}: the animation uses that size (the formulas above use H×W).")
    anim_spec = LayerSpec(mode, x2d.shape[0], x2d.shape[1], 1, 1, k, stride, padding, dilation, 1, spec.output_padding, spec.ceil_mode)
weight = None
if not is_pool:
    if kernel_kind == "edge":
        weight = torch.zeros(k, k, dtype=torch.float64)
        weight[:, 0], weight[:, -1] = -1.0, 1.0
        if k == 1:
            weight[:] = 1.0
    elif kernel_kind == "ones":
        weight = torch.ones(k, k, dtype=torch.float64)
    elif kernel_kind == "random":
        weight = torch.randint(-1, 3, (k, k), generator=torch.Generator().manual_seed(k)).double()
    else:
        weight = parse_matrix(custom_w, "kernel")
        if weight is not None and tuple(weight.shape) != (k, k):
            st.warning(f"The kernel you typed is {weight.shape[0]}×{weight.shape[1]}, but K = {k}: type {k} rows of {k} numbers.")
            weight = None

anim_problems = anim_spec.problems() if x2d is not None else []
anim_ok = x2d is not None and (is_pool or weight is not None) and not anim_problems
if anim_problems:
    st.warning("The typed input does not fit these settings: " + " ".join(p.message for p in anim_problems))
grid_side = 0
if anim_ok:
    gshape = ar.padded_grid(x2d, anim_spec).values.shape
    grid_side = max(gshape)
    if grid_side > MAX_GRID:
        st.info(f"The animation draws grids up to {MAX_GRID}×{MAX_GRID} cells so the numbers stay readable; this one is "
                f"{gshape[0]}×{gshape[1]}. Make the input smaller (the formulas above work for any size), or use a preset.",
                icon=":material/zoom_out:")
        anim_ok = False

if anim_ok:
    _, aoh, aow = anim_spec.output_shape()
    n_steps = aoh * aow
    s1, s2, s3 = st.columns([1, 1, 4])

    def _step(delta: int) -> None:
        st.session_state["qp:ar_pos"] = int(min(max(st.session_state.get("qp:ar_pos", 0) + delta, 0), n_steps - 1))

    s1.button("◀ Step back", on_click=_step, args=(-1,), width="stretch", key="ar_back")
    s2.button("Step ▶", on_click=_step, args=(1,), width="stretch", key="ar_fwd")
    pos = state.slider("Kernel position (scrub)", "ar_pos", 0, max(n_steps - 1, 1), 0, container=s3,
                       help="Or press ▶ Play under the figure; its slider scrubs too.")
    pos = min(pos, n_steps - 1)
    fig = sliding_window_figure(x2d, weight, bias, anim_spec, start=pos, speed_ms=int(1000 / speed))
    st.plotly_chart(fig, width="stretch", key="ar_anim", config={"displayModeBar": False})
    step = ar.sliding_windows(x2d, weight, bias, anim_spec)[pos]
    st.markdown(f"**Output cell ({step.out_row}, {step.out_col})** (the scrubbed position) = "
                f"`{ar.format_dot_product(step, bias, mode, max_terms=30)}`")
    notes = ["The kernel (red) reads the cells under its taps; the sand-coloured cells are padding"
             + (" (−∞ for max pooling: padding never wins)" if mode == "maxpool" else " (zeros)") + "."]
    if mode == "transposed":
        notes.append(f"A transposed convolution is drawn as the equivalent ordinary convolution: {stride - 1} zero(s) "
                     f"inserted between input pixels (light blue), D(K−1)−P = {dilation * (k - 1) - int(padding)} padding, "
                     "stride 1 and the kernel flipped by 180°.")
    if cin > 1 and not is_pool:
        notes.append(f"The animation shows one input channel and one filter. The real layer adds such sums over all "
                     f"{cin // groups} input channels of its group (K·K·C_in/groups = {k * k * (cin // groups)} products per "
                     f"output value) and repeats it for each of the {cout} filters.")
    if mode == "avgpool" and (pb or spec.ceil_mode):
        notes.append("Average pooling divides by the window's area inside the padded input (PyTorch's count_include_pad=True).")
    st.caption(" ".join(notes))

# ---------------------------------------------------------------------------------------------- self-check
st.header("Self-check with PyTorch", divider="gray")


@st.cache_data(max_entries=64, show_spinner="Running the layer in PyTorch…")
def run_pytorch(s: LayerSpec) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """Run the layer on random data (or on the meta device when it is too big to compute quickly)."""
    if s.macs() + s.pool_ops() > 3e8 or s.in_channels * s.height * s.width > 5e6:
        mod = s.torch_module().to("meta")
        with torch.no_grad():
            y = mod(torch.empty(1, s.in_channels, s.height, s.width, device="meta"))
        return tuple(y.shape), (1, *s.output_shape()), "meta"
    got, formula = ar.pytorch_check(s)
    return got, formula, "cpu"


got, formula, where = run_pytorch(spec)
layer_code = spec.torch_code().replace(", stride=", ",\n    stride=")
code = (f"import torch\nfrom torch import nn\n\nlayer = {layer_code}\n"
        f"x = torch.randn(1, {cin}, {h}, {w})   # N, C, H, W\n"
        f"print(layer(x).shape)   # {torch.Size(got)}\n"
        f"print(sum(p.numel() for p in layer.parameters()))   # {spec.params().total}")
cc1, cc2 = st.columns([3, 2])
cc1.code(code, language="python")
if got == formula:
    cc2.success(f"PyTorch's output shape **{list(got)}** equals the formula's **{C} × {OH} × {OW}**"
                + (" (shape rules run on PyTorch's 'meta' device: the layer is too large to compute here)" if where == "meta" else "")
                + ".", icon=":material/check_circle:")
else:  # must never happen: the unit tests sweep thousands of combinations
    cc2.error(f"Mismatch: PyTorch gives {list(got)}, the formula {list(formula)}. Please report this combination.")
cc2.caption("The unit tests check the formula against PyTorch for thousands of random combinations of sizes, kernels, "
            "strides, paddings, dilations and groups, for all four operations.")

# ---------------------------------------------------------------------------------------------- special cases
st.header("Special cases", divider="gray")
t1, t2, t3, t4, t5 = st.tabs(["1×1 convolution", "Dilated (atrous)", "Grouped and depthwise", "Pooling", "im2col: one matrix product"])
base_h, base_w, base_c = h, w, cin
with t1:
    one = LayerSpec("conv", base_h, base_w, base_c, cout, kernel=1)
    st.markdown(
        f"A **1×1 convolution** looks at one pixel at a time, across all channels: it mixes the {base_c} input "
        f"channel{'s' if base_c > 1 else ''} into {cout} new one{'s' if cout > 1 else ''} and leaves the spatial size alone: "
        f"{base_c}×{base_h}×{base_w} → **{'×'.join(map(str, one.output_shape()))}**, with "
        f"{ar.conv_params(base_c, cout, 1).weights:,} weights (1·1·{base_c}·{cout}) + {cout} biases. "
        "GoogLeNet and ResNet use them as cheap bottlenecks that shrink the depth before an expensive 3×3 or 5×5 layer.")
    bott = ar.conv_params(256, 256, 3).total
    cheap = ar.conv_params(256, 64, 1).total + ar.conv_params(64, 64, 3).total + ar.conv_params(64, 256, 1).total
    st.markdown(f"Example: a 3×3 convolution from 256 to 256 channels has **{bott:,}** parameters; a ResNet bottleneck "
                f"(1×1 to 64, 3×3 at 64, 1×1 back to 256) has **{cheap:,}**: {bott / cheap:.1f}× fewer.")
with t2:
    rows = []
    n = max(base_h, 9)
    for d in (1, 2, 3, 4):
        s_ = LayerSpec("conv", n, n, 1, 1, kernel=3, dilation=d)
        ok = not s_.problems()
        rows.append({"dilation D": d, "taps": "3×3 = 9", "span D(K−1)+1": s_.effective_kernel,
                     f"output on {n}×{n}": f"{s_.output_size(n)}×{s_.output_size(n)}" if ok else "does not fit",
                     "parameters": s_.params().total})
    st.markdown("A **dilated** kernel spreads its taps *D* pixels apart: the same 9 weights see a wider area, "
                "so the receptive field grows without extra parameters or pooling (used in segmentation networks, e.g. DeepLab).")
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("Try the preset 'Dilated 3×3, D=2' to watch the spread-out taps slide.")
with t3:
    c = base_c if base_c >= 8 and base_c % 4 == 0 else 32  # enough channels for the groups to mean something
    cards = [("standard (groups = 1)", LayerSpec("conv", base_h, base_w, c, c, kernel=3, padding=1)),
             ("2 groups", LayerSpec("conv", base_h, base_w, c, c, kernel=3, padding=1, groups=2)),
             ("4 groups", LayerSpec("conv", base_h, base_w, c, c, kernel=3, padding=1, groups=4)),
             (f"depthwise (groups = C = {c})", LayerSpec("conv", base_h, base_w, c, c, kernel=3, padding=1, groups=c))]
    pw = LayerSpec("conv", base_h, base_w, c, c, kernel=1)
    rows = [{"layer": name, "weights K·K·C_in/groups·C_out": f"3·3·{c // s_.groups}·{c} = {s_.params().weights:,}",
             "MACs": ar.human(s_.macs())} for name, s_ in cards]
    dw = cards[-1][1]
    sep_w = dw.params().weights + pw.params().weights
    rows.append({"layer": "depthwise separable (depthwise 3×3 + 1×1)", "weights K·K·C_in/groups·C_out":
                 f"{dw.params().weights:,} + {pw.params().weights:,} = {sep_w:,}",
                 "MACs": ar.human(dw.macs() + pw.macs())})
    st.markdown(f"**Grouped** convolution (here a 3×3 layer from {c} to {c} channels on {base_h}×{base_w}) splits the {c} channels into groups that do not see each other: each filter "
                "looks at C_in/groups channels only, so weights and MACs drop by the factor *groups*. With groups = C_in "
                "it is **depthwise**: one K×K filter per channel. MobileNet follows it with a 1×1 convolution to mix the "
                f"channels again (*depthwise separable*), here {cards[0][1].params().weights / sep_w:.1f}× fewer weights "
                "than the standard 3×3 layer.")
    st.dataframe(pd.DataFrame(rows), hide_index=True)
with t4:
    x4 = torch.tensor([[1., 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    p4 = LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2)
    vals = [s_.value for s_ in ar.sliding_windows(x4, None, 0, p4)]
    y4 = np.array(vals).reshape(2, 2)
    assert np.allclose(y4, F.max_pool2d(x4[None, None], 2)[0, 0].numpy())  # the same machinery as PyTorch
    st.markdown("**Pooling** shrinks each channel on its own with a fixed rule (the maximum, or the mean, of each "
                "window): no parameters to learn, depth unchanged. The classic example: 2×2 max pooling with stride 2 "
                "halves a 4×4 map to 2×2, keeping the strongest response of each quarter.")
    colors = ["#e4572e", "#17becf", "#2ca02c", "#9467bd"]
    q1, q2 = st.columns(2)
    q1.plotly_chart(number_grid(x4.numpy(), "Input 4×4", highlight=[(r, c_, r + 1, c_ + 1, colors[i]) for i, (r, c_) in enumerate([(0, 0), (0, 2), (2, 0), (2, 2)])],
                                height=300), key="ar_pool_in")
    q2.plotly_chart(number_grid(y4, "Max pool 2×2, stride 2 → 2×2", highlight=[(r, c_, r, c_, colors[2 * r + c_]) for r in range(2) for c_ in range(2)],
                                height=300), key="ar_pool_out")
with t5:
    st.markdown("**im2col** turns every window position into one column: the K·K·C_in values under the kernel. The "
                "filters become the rows of a weight matrix, and the whole convolution is **one matrix product** "
                "(which is how GPUs and BLAS libraries run it fast).")
    if mode == "conv" and anim_ok and not is_pool:
        xs = x2d[None, None]
        cols_m = ar.im2col(xs, k, stride, padding, dilation)[0]  # [K*K, L]
        y = (weight.reshape(1, -1) @ cols_m + bias).reshape(anim_spec.output_shape()[1:])
        ref = F.conv2d(xs, weight[None, None], torch.tensor([bias], dtype=torch.float64), stride, padding, dilation)[0, 0]
        L = cols_m.shape[1]
        show = min(L, 24)
        st.latex(rf"\underbrace{{W}}_{{1\times{k * k}}}\;\underbrace{{X_{{cols}}}}_{{{k * k}\times{L}}} + b = "
                 rf"\underbrace{{Y}}_{{1\times{L}}} \;\to\; \text{{reshape to }} {y.shape[0]}\times{y.shape[1]}")
        st.plotly_chart(number_grid(weight.reshape(1, -1).numpy(), "W: the kernel as one row", colorscale="RdBu", height=120),
                        key="ar_im2col_w")
        st.plotly_chart(number_grid(cols_m[:, :show].numpy(), f"X_cols: one column per window position"
                                    + (f" (first {show} of {L})" if show < L else ""), colorscale="Greys", height=min(520, 28 * k * k + 80)),
                        key="ar_im2col_x")
        diff = float((y - ref).abs().max())
        st.success(f"W·X_cols + b reshaped to {y.shape[0]}×{y.shape[1]} equals PyTorch's `F.conv2d` (largest difference {diff:g}). "
                   f"With C_in channels and C_out filters: W is {cout}×{k * k * cin // groups}, X_cols is {k * k * cin // groups}×{OH * OW}.",
                   icon=":material/check_circle:")
    else:
        st.info("Choose the convolution operation (and settings the animation can draw) to see the matrices of your example.")

# ---------------------------------------------------------------------------------------------- quiz
st.header("Quiz: what is the size?", divider="gray")
st.markdown("Stack layers and ask, layer by layer, for the output size; reveal each answer when the room has guessed. "
            "Syntax: `conv k5 f20 s1 p0` (kernel, filters, stride, padding — or `psame`, dilation `d2`, groups `g2`), "
            "`maxpool k2` (stride defaults to the kernel), `avgpool k2`, `tconv k2 f8 s2`; layers separated by `;`.")
qa, qb = st.columns([1, 4])
in_text = state.text("Input C×H×W (e.g. 3x32x32)", "ar_qin", "3x32x32", container=qa)
stack_text = state.text("Layers", "ar_stack", "conv k5 f20; maxpool k2; conv k5 f16 p2; maxpool k2; conv k3 f10", container=qb)
reveal_all = state.toggle("Reveal all answers", "ar_qall", False)
try:
    qc, qh, qw = (int(v) for v in in_text.lower().replace("×", "x").split("x"))
    if min(qc, qh, qw) < 1:
        raise ValueError("sizes must be positive")
    layers = ar.parse_stack(stack_text)
except ValueError as e:
    st.warning(f"Cannot read the quiz: {e}. Input is written C×H×W like `3x32x32`.")
    layers = []
if layers:
    rows = ar.evaluate_stack((qc, qh, qw), layers)
    st.markdown(f"**Input:** {qc}×{qh}×{qw}")
    for i, r in enumerate(rows):
        box = st.container(border=True)
        l1, l2, l3 = box.columns([3, 1, 3])
        l1.markdown(f"**{i + 1}. `{r.layer.text}`** — {ar.MODE_TITLES[r.layer.mode].lower()}, kernel {r.layer.kernel}, "
                    f"stride {r.layer.stride}, padding {r.layer.padding}"
                    + (f", {r.layer.filters} filters" if r.layer.filters else ""))
        shown = reveal_all or state.toggle("Reveal", f"ar_q{i}", False, container=l2)
        if not shown:
            l3.markdown("### What is the size?")
        elif r.output_shape is None:
            l3.warning(" ".join(p.message for p in r.problems))
        else:
            cc_, hh_, ww_ = r.output_shape
            sp = r.spec
            l3.markdown(f"### {cc_}×{hh_}×{ww_}\n({hh_} = ⌊({sp.height} + 2·{sp.pad[0]} − {sp.effective_kernel}) / {sp.stride}⌋ + 1; "
                        f"{r.params:,} parameters)" if sp.mode != "transposed" else f"### {cc_}×{hh_}×{ww_}\n({r.params:,} parameters)")
    if len(rows) < len(layers):
        st.caption("The stack stops at the first layer that does not fit.")

st.header("What to notice", divider="gray")
st.markdown(
    "- The output size depends on H, K, S, P and D only; the **depth** of the output is the number of filters, whatever the input depth.\n"
    "- Each filter spans the **whole input depth**: twenty 5×5 filters on a 3-channel image are 5×5×3 each, so 75 weights + 1 bias each, 1,520 in all.\n"
    "- Padding (K−1)/2 with stride 1 keeps the size ('same'); stride 2 roughly halves it.\n"
    "- Pooling and stride both shrink the map; pooling has no parameters, a strided convolution learns how to downsample.\n"
    "- Transposed convolutions run the arithmetic backwards: they are how decoders and GANs upsample."
)
