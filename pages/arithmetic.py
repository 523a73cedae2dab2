"""Convolution arithmetic: output size, parameters and MACs with the numbers substituted, the sliding window
animated with its dot products, a PyTorch self-check, special cases and a layer-stack quiz."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.figures import arithmetic as fa
from cnnviz.methods import arithmetic as ar
from cnnviz.ui import state, widgets

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

# URL key of each LayerSpec field (links made before keep working)
KEYS = dict(mode="ar_mode", height="ar_h", width="ar_w", in_channels="ar_cin", out_channels="ar_cout", kernel="ar_k",
            stride="ar_s", padding="ar_p", dilation="ar_d", groups="ar_g", output_padding="ar_op")


def _apply_preset(values: dict) -> None:
    for field, v in values.items():
        st.session_state[f"qp:{KEYS[field]}"] = v
    st.session_state["qp:ar_pos"] = 0


with st.container(border=True):
    st.caption("Start from an example:")
    cols = st.columns(4)
    for i, (label, values) in enumerate(ar.PRESETS.items()):
        cols[i % 4].button(label, on_click=_apply_preset, args=(values,), width="stretch", key=f"ar_preset_{i}")

# ---------------------------------------------------------------------------------------------- controls
mode = state.select("Operation", "ar_mode", list(ar.MODES), "conv", format_func=ar.MODE_TITLES.get, radio=True,
                    horizontal=True)
is_pool = mode in ("maxpool", "avgpool")
c1, c2, c3, c4 = st.columns(4)
h = state.number("Input height H", "ar_h", 1, 512, 32, container=c1)
w = state.number("Input width W", "ar_w", 1, 512, 32, container=c1)
cin = state.number("Input channels C_in", "ar_cin", 1, 2048, 3, container=c2)
cout = state.number("Filters C_out", "ar_cout", 1, 2048, 20, container=c2, disabled=is_pool,
                    help="Pooling keeps the number of channels." if is_pool else
                    "Each filter gives one output channel.")
groups = state.number("Groups", "ar_g", 1, 2048, 1, container=c2, disabled=is_pool,
                      help="Split the channels into groups that do not see each other; groups = C_in = C_out is a "
                           "depthwise convolution.")
k = state.number("Kernel size K", "ar_k", 1, 15, 5, container=c3)
stride = state.number("Stride S", "ar_s", 0, 8, 1, container=c3, help="0 is allowed here to see why it is invalid.")
dilation = state.number("Dilation D", "ar_d", 1, 6, 1, container=c3,
                        help="Gaps between the kernel taps (1 = ordinary kernel).")
padding = state.select("Padding P", "ar_p", list(range(0, 11)) + ["same", "valid"], 0, container=c4,
                       help="Zeros added on each side; 'same' keeps the size (stride 1 only), 'valid' adds none.")
out_pad = state.number("Output padding", "ar_op", 0, 7, 0, container=c4, disabled=mode != "transposed",
                       help="Transposed convolution only: extra rows/columns at the end of the output.")
ceil_mode = state.toggle("Round up (ceil_mode)", "ar_ceil", False, container=c4, disabled=not is_pool,
                         help="Pooling only: count a last, partial window.")
spec = ar.layer_from_controls(mode, h, w, cin, cout, k, stride, padding, dilation, groups, out_pad, ceil_mode)

# ---------------------------------------------------------------------------------------------- formulas
st.header("The numbers", divider="gray")
problems = spec.problems()
if problems:
    for p in problems:
        st.warning(f"**This combination does not work ({p.field}).** {p.message}", icon=":material/block:")
    st.info("Change the highlighted setting; the animation and the PyTorch check appear once the layer is valid.")
    st.stop()

left, right = st.columns([3, 2])
formulas = ar.size_formulas(spec)
for col, formula in zip(left.columns(len(formulas)), formulas):
    col.latex(formula)
for note in ar.size_notes(spec):
    left.caption(note)
for formula in ar.cost_latex(spec):
    left.latex(formula)
(label, value, tip), *numbers = ar.headline(spec)
right.metric(label, value, help=tip)  # the output shape on its own row, then two columns of counts
for col, (label, value, tip) in zip(right.columns(2) * 2, numbers):
    col.metric(label, value, help=tip)
coverage = ar.coverage_note(spec)
if coverage:
    st.info(coverage, icon=":material/visibility_off:")
elif mode != "transposed":
    st.caption("Every input pixel is covered by at least one kernel position.")

# ---------------------------------------------------------------------------------------------- animation
st.header("The sliding window", divider="gray")
with st.expander("Animation input and kernel", expanded=False):
    a1, a2, a3, a4 = st.columns(4)
    source = state.select("Input values", "ar_src", list(ar.INPUT_SOURCES), "digit", container=a1,
                          format_func=ar.INPUT_SOURCES.get)
    digit = state.select("Digit", "ar_digit", list(range(10)), 3, container=a1, disabled=source != "digit")
    kernel_kind = state.select("Kernel", "ar_kern", list(ar.KERNEL_KINDS), "edge", container=a2,
                               format_func=ar.KERNEL_KINDS.get, disabled=is_pool)
    bias = state.number("Bias b", "ar_b", -100.0, 100.0, 1.0, step=1.0, container=a3, disabled=is_pool)
    with widgets.secondary_controls(a4):
        speed = state.slider("Speed (steps per second)", "ar_speed", 1, 20, 3)
    custom_x = custom_w = ""
    if source == "custom":
        custom_x = state.text("Input rows (numbers separated by spaces, rows by ';')", "ar_x",
                              "1 2 3 0; 4 5 6 1; 7 8 9 2; 0 1 0 3", container=a1)
    if kernel_kind == "custom" and not is_pool:
        custom_w = state.text(f"Kernel ({k} rows of {k} numbers, rows by ';')", "ar_wk", ar.identity_kernel_text(k),
                              container=a2)

demo = ar.demo_layer(spec, source, digit, custom_x, kernel_kind, custom_w)
for e in demo.errors:
    widgets.show_error(e)
if demo.note:
    st.caption(demo.note)
x2d, weight, anim_spec, anim_ok = demo.x, demo.weight, demo.spec, demo.ok
if anim_ok and (too_large := fa.animation_too_large(x2d, anim_spec)):
    st.info(too_large, icon=":material/zoom_out:")
    anim_ok = False

if anim_ok:
    _, aoh, aow = anim_spec.output_shape()
    n_steps = aoh * aow
    s1, s2, s3 = st.columns([1, 1, 4])

    def _step(delta: int) -> None:
        st.session_state["qp:ar_pos"] = int(min(max(st.session_state.get("qp:ar_pos", 0) + delta, 0), n_steps - 1))

    s1.button("◀ Step back", on_click=_step, args=(-1,), width="stretch", key="ar_back")
    s2.button("Step ▶", on_click=_step, args=(1,), width="stretch", key="ar_fwd")
    pos = min(state.slider("Kernel position (scrub)", "ar_pos", 0, max(n_steps - 1, 1), 0, container=s3,
                           help="Or press ▶ Play under the figure; its slider scrubs too."), n_steps - 1)
    fig = fa.sliding_window_figure(x2d, weight, bias, anim_spec, start=pos, speed_ms=int(1000 / speed))
    widgets.show_figure(fig, "arithmetic-sliding-window", config={"displayModeBar": False})
    step = ar.sliding_windows(x2d, weight, bias, anim_spec)[pos]
    st.markdown(f"**Output cell ({step.out_row}, {step.out_col})** (the scrubbed position) = "
                f"`{ar.format_dot_product(step, bias, mode, max_terms=30)}`")
    st.caption(ar.animation_notes(spec, cin, cout, groups))

# ---------------------------------------------------------------------------------------------- self-check
st.header("Self-check with PyTorch", divider="gray")
check = st.cache_data(max_entries=64, show_spinner="Running the layer in PyTorch…")(ar.check_shape)(spec)
cc1, cc2 = st.columns([3, 2])
cc1.code(ar.check_code(spec, check), language="python")
if check.agrees:
    cc2.success(check.summary(), icon=":material/check_circle:")
else:
    cc2.error(check.summary())
cc2.caption("The unit tests check the formula against PyTorch for thousands of random combinations of sizes, kernels, "
            "strides, paddings, dilations and groups, for all four operations.")

# ---------------------------------------------------------------------------------------------- special cases
st.header("Special cases", divider="gray")
cases = ar.special_cases(spec)
for tab, case in zip(st.tabs([c.title for c in cases]), cases):
    tab.markdown(case.text)
    if case.table:
        tab.dataframe(pd.DataFrame(case.table), hide_index=True)
    if case.caption:
        tab.caption(case.caption)
    if case.key == "pool":
        q1, q2 = tab.columns(2)
        pool_in, pool_out = fa.pool_example_figures(ar.pool_example())
        widgets.show_figure(pool_in, "arithmetic-pool-input", container=q1)
        widgets.show_figure(pool_out, "arithmetic-pool-output", container=q2)
    elif case.key == "im2col" and mode == "conv" and anim_ok:
        ex = ar.im2col_example(x2d, weight, bias, anim_spec)
        tab.latex(ex.latex())
        fig_w, fig_x = fa.im2col_figures(ex)
        widgets.show_figure(fig_w, "arithmetic-im2col-weights", container=tab)
        widgets.show_figure(fig_x, "arithmetic-im2col-columns", container=tab)
        tab.success(ex.summary(spec), icon=":material/check_circle:")
    elif case.key == "im2col":
        tab.info("Choose the convolution operation (and settings the animation can draw) to see the matrices of "
                 "your example.")

# ---------------------------------------------------------------------------------------------- quiz
st.header("Quiz: what is the size?", divider="gray")
st.markdown("Stack layers and ask, layer by layer, for the output size; reveal each answer when the room has guessed. "
            + ar.QUIZ_SYNTAX)
qa, qb = st.columns([1, 4])
in_text = state.text("Input C×H×W (e.g. 3x32x32)", "ar_qin", "3x32x32", container=qa)
stack_text = state.text("Layers", "ar_stack", "conv k5 f20; maxpool k2; conv k5 f16 p2; maxpool k2; conv k3 f10",
                        container=qb)
reveal_all = state.toggle("Reveal all answers", "ar_qall", False)
try:
    in_shape, layers = ar.parse_shape(in_text), ar.parse_stack(stack_text)
except CnnvizError as e:
    widgets.show_error(e)
    layers = []
if layers:
    rows = ar.evaluate_stack(in_shape, layers)
    st.markdown(f"**Input:** {'×'.join(map(str, in_shape))}")
    for i, r in enumerate(rows):
        l1, l2, l3 = st.container(border=True).columns([3, 1, 3])
        l1.markdown(f"**{i + 1}.** " + ar.quiz_question(r))
        if not (reveal_all or state.toggle("Reveal", f"ar_q{i}", False, container=l2)):
            l3.markdown("### What is the size?")
        elif r.output_shape is None:
            l3.warning(ar.quiz_answer(r))
        else:
            l3.markdown(ar.quiz_answer(r))
    if len(rows) < len(layers):
        st.caption("The stack stops at the first layer that does not fit.")

widgets.what_to_notice(
    "- The output size depends on H, K, S, P and D only; the **depth** of the output is the number of filters, "
    "whatever the input depth.\n"
    "- Each filter spans the **whole input depth**: twenty 5×5 filters on a 3-channel image are 5×5×3 each, so 75 "
    "weights + 1 bias each, 1,520 in all.\n"
    "- Padding (K−1)/2 with stride 1 keeps the size ('same'); stride 2 roughly halves it.\n"
    "- Pooling and stride both shrink the map; pooling has no parameters, a strided convolution learns how to "
    "downsample.\n"
    "- Transposed convolutions run the arithmetic backwards: they are how decoders and GANs upsample."
)
st.page_link(__file__.replace("arithmetic.py", "network.py"), icon=":material/hub:",
             label="The same operation in the loaded model: one unit computed with its real weights")
