"""Views of /arithmetic: the layer drawn with its numbers, the sliding window, the PyTorch self-check, special
cases and the layer-stack quiz.

``arithmetic.numbers`` owns the layer's settings (``ar_mode``, ``ar_h``, ... and the presets); the other views
read them with :func:`layer` (``state.peek``), so a slide of any of them follows its link's settings.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from cnnviz.errors import CnnvizError
from cnnviz.figures import arithmetic as fa
from cnnviz.figures import volumes as fv
from cnnviz.methods import arithmetic as ar
from cnnviz.text import arithmetic as txt
from cnnviz.text.arithmetic_cases import special_cases
from cnnviz.ui import state, widgets
from cnnviz.ui.nav import available_pages
from cnnviz.ui.resources import shared_figure
from cnnviz.ui.view import Frame, register

# URL key of each LayerSpec field (links made before keep working)
KEYS = dict(mode="ar_mode", height="ar_h", width="ar_w", in_channels="ar_cin", out_channels="ar_cout", kernel="ar_k",
            stride="ar_s", padding="ar_p", dilation="ar_d", groups="ar_g", output_padding="ar_op")
PADDINGS = list(range(0, 11)) + ["same", "valid"]
# key: (default, min, max) of the layer's number controls
NUMBERS = {"ar_h": (32, 1, 512), "ar_w": (32, 1, 512), "ar_cin": (3, 1, 2048), "ar_cout": (20, 1, 2048),
           "ar_g": (1, 1, 2048), "ar_k": (5, 1, 15), "ar_s": (1, 0, 8), "ar_d": (1, 1, 6), "ar_op": (0, 0, 7)}
LAYER_KEYS = ("ar_mode", *NUMBERS, "ar_p", "ar_ceil")
# the animation's input and kernel (owned by the sliding window; im2col reads them)
DEMO_KEYS = ("ar_src", "ar_digit", "ar_kern", "ar_b", "ar_x", "ar_wk")
DEFAULT_X = "1 2 3 0; 4 5 6 1; 7 8 9 2; 0 1 0 3"
DEFAULT_STACK = "conv k5 f20; maxpool k2; conv k5 f16 p2; maxpool k2; conv k3 f10"
QUIZ_ROWS = 20  # reveal toggles ar_q0 ... ar_q19


class InvalidLayer(CnnvizError):
    """The layer's settings do not work together (the numbers view says why)."""


# ---------------------------------------------------------------------------------------------- shared state
def _peek_number(key: str) -> int:
    default, lo, hi = NUMBERS[key]
    return state.peek(key, default, int, valid=lambda v: isinstance(v, int) and lo <= v <= hi)


def _parse_padding(s: str):
    by_str = {str(p): p for p in PADDINGS}
    if s not in by_str:
        raise ValueError(s)
    return by_str[s]


def layer() -> ar.LayerSpec:
    """The layer the numbers view's controls describe (read, not drawn: for the other views)."""
    mode = state.peek("ar_mode", "conv", valid=lambda m: m in ar.MODES)
    n = {k: _peek_number(k) for k in NUMBERS}
    padding = state.peek("ar_p", 0, _parse_padding, valid=lambda p: p in PADDINGS)
    ceil_mode = state.peek("ar_ceil", False, state.parse_bool, valid=lambda v: isinstance(v, bool))
    return ar.layer_from_controls(mode, n["ar_h"], n["ar_w"], n["ar_cin"], n["ar_cout"], n["ar_k"], n["ar_s"], padding,
                                  n["ar_d"], n["ar_g"], n["ar_op"], ceil_mode)


def valid_layer(f: Frame) -> ar.LayerSpec | None:
    """:func:`layer` when its settings work. Otherwise, on a page (where the numbers view explains above) a quiet
    line and None; on a slide, InvalidLayer with the reason."""
    spec = layer()
    problems = spec.problems()
    if not problems:
        return spec
    if not f.slide:
        st.info("This part appears once the layer in **The numbers** is valid.", icon=":material/block:")
        return None
    raise InvalidLayer(f"This layer does not work ({problems[0].field}: {problems[0].message}) Change it in "
                       "**The numbers** (or the link); this slide appears once the layer is valid.")


def _demo_settings(spec: ar.LayerSpec) -> tuple[str, int, str, float, str, str]:
    """The animation's input and kernel settings, as the sliding window's controls hold them."""
    source = state.peek("ar_src", "digit", valid=lambda v: v in ar.INPUT_SOURCES)
    digit = state.peek("ar_digit", 3, int, valid=lambda v: v in range(10))
    kernel_kind = state.peek("ar_kern", "edge", valid=lambda v: v in ar.KERNEL_KINDS)
    bias = state.peek("ar_b", 1.0, float, valid=lambda v: isinstance(v, (int, float)) and -100 <= v <= 100)
    text_x = state.peek("ar_x", DEFAULT_X, valid=lambda v: isinstance(v, str) and len(v) <= 500)
    text_w = state.peek("ar_wk", ar.identity_kernel_text(spec.kernel),
                        valid=lambda v: isinstance(v, str) and len(v) <= 500)
    return source, digit, kernel_kind, float(bias), text_x, text_w


@st.cache_data(max_entries=64, show_spinner="Running the layer in PyTorch…")
def _check(spec: ar.LayerSpec) -> ar.ShapeCheck:
    return ar.check_shape(spec)


@st.cache_resource(max_entries=32, show_spinner=False)
def _window_animation(x: np.ndarray, weight: np.ndarray | None, bias: float, spec: ar.LayerSpec, speed_ms: int,
                      height: int | None, width: int) -> dict:
    """The sliding window's animation, built once per input and shared by every session: scrubbing shows another
    of its frames (``fa.at_step``) instead of building hundreds of frames again. Read-only."""
    return fa.window_animation(torch.from_numpy(x), None if weight is None else torch.from_numpy(weight), bias, spec,
                               speed_ms, height, width)


# ---------------------------------------------------------------------------------------------- the numbers
def _apply_preset(values: dict) -> None:
    for field, v in values.items():
        st.session_state[f"qp:{KEYS[field]}"] = v
        state.mark_changed(KEYS[field])
    st.session_state["qp:ar_pos"] = 0
    state.mark_changed("ar_pos")


def _layer_controls(box, slide: bool) -> ar.LayerSpec:
    """The presets and every setting of the layer, drawn into ``box``."""
    with box:
        with st.container(border=not slide):
            st.caption("Start from an example:")
            cols = st.columns(4)
            for i, (label, values) in enumerate(txt.PRESETS.items()):
                cols[i % 4].button(label, on_click=_apply_preset, args=(values,), width="stretch", key=f"ar_preset_{i}")
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
    padding = state.select("Padding P", "ar_p", PADDINGS, 0, container=c4,
                           help="Zeros added on each side; 'same' keeps the size (stride 1 only), 'valid' adds none.")
    out_pad = state.number("Output padding", "ar_op", 0, 7, 0, container=c4, disabled=mode != "transposed",
                           help="Transposed convolution only: extra rows/columns at the end of the output.")
    ceil_mode = state.toggle("Round up (ceil_mode)", "ar_ceil", False, container=c4, disabled=not is_pool,
                             help="Pooling only: count a last, partial window.")
    return ar.layer_from_controls(mode, h, w, cin, cout, k, stride, padding, dilation, groups, out_pad, ceil_mode)


@register("arithmetic.numbers", "The numbers", keys=(*LAYER_KEYS,), anchors=("the-numbers",))
def numbers(f: Frame) -> None:
    spec = _layer_controls(f.controls()[0], f.slide)
    problems = spec.problems()
    if problems:
        for p in problems:
            st.warning(f"**This combination does not work ({p.field}).** {p.message}", icon=":material/block:")
        st.info("Change the highlighted setting; the drawing, the animation and the PyTorch check appear once the "
                "layer is valid.")
        return
    widgets.show_figure(fv.layer_shape_figure(spec), "arithmetic-layer-shape")
    coverage = txt.coverage_note(spec)
    if not f.slide:
        left, right = st.columns([3, 2])
        formulas = txt.size_formulas(spec)
        for col, formula in zip(left.columns(len(formulas)), formulas, strict=True):
            col.latex(formula)
        for note in txt.size_notes(spec):
            left.caption(note)
        for formula in txt.cost_latex(spec):
            left.latex(formula)
        (label, value, tip), *counts = txt.headline(spec)
        right.metric(label, value, help=tip)  # the output shape on its own row, then two columns of counts
        for col, (label, value, tip) in zip(right.columns(2) * 2, counts, strict=True):
            col.metric(label, value, help=tip)
        if coverage:
            st.info(coverage, icon=":material/visibility_off:")
        elif spec.mode != "transposed":
            st.caption("Every input pixel is covered by at least one kernel position.")
        network = next((p for p in available_pages() if p.url_path == "network"), None)
        if network is not None:
            st.page_link(str(network.path), icon=":material/hub:",
                         label="The same operation in the loaded model: one unit computed with its real weights")
    f.note(txt.numbers_note(bool(coverage)))


# ---------------------------------------------------------------------------------------------- the sliding window
@register("arithmetic.window", "The sliding window",
          keys=(*DEMO_KEYS, "ar_speed", "ar_pos"), reads=LAYER_KEYS, anchors=("the-sliding-window",))
def window(f: Frame) -> None:
    spec = valid_layer(f)
    if spec is None:
        return
    mode, is_pool = spec.mode, spec.is_pool
    s1, s2, s3, s4 = f.controls([1.3, 1, 3, 2.7])
    box = s4 if f.slide else s4.expander("Animation input and kernel", expanded=False)
    a1, a2 = box.columns(2)
    source = state.select("Input values", "ar_src", list(ar.INPUT_SOURCES), "digit", container=a1,
                          format_func=txt.INPUT_SOURCE_LABELS.get)
    digit = state.select("Digit", "ar_digit", list(range(10)), 3, container=a1, disabled=source != "digit")
    kernel_kind = state.select("Kernel", "ar_kern", list(ar.KERNEL_KINDS), "edge", container=a2,
                               format_func=txt.KERNEL_KIND_LABELS.get, disabled=is_pool)
    bias = state.number("Bias b", "ar_b", -100.0, 100.0, 1.0, step=1.0, container=a2, disabled=is_pool)
    with widgets.secondary_controls(a2):
        speed = state.slider("Speed (steps per second)", "ar_speed", 1, 20, 3)
    custom_x = custom_w = ""
    if source == "custom":
        custom_x = state.text("Input rows (numbers separated by spaces, rows by ';')", "ar_x", DEFAULT_X, container=box)
    if kernel_kind == "custom" and not is_pool:
        custom_w = state.text(f"Kernel ({spec.kernel} rows of {spec.kernel} numbers, rows by ';')", "ar_wk",
                              ar.identity_kernel_text(spec.kernel), container=box)

    demo = ar.demo_layer(spec, source, digit, custom_x, kernel_kind, custom_w)
    for e in demo.errors:
        widgets.show_error(e)
    note = txt.demo_note(demo)
    if note and not f.slide:
        st.caption(note)
    x2d, weight, anim_spec, anim_ok = demo.x, demo.weight, demo.spec, demo.ok
    if anim_ok and (too_large := fa.animation_too_large(x2d, anim_spec)):
        st.info(too_large, icon=":material/zoom_out:")
        anim_ok = False
    if not anim_ok:
        return
    _, aoh, aow = anim_spec.output_shape()
    n_steps = aoh * aow

    def _step(delta: int) -> None:
        st.session_state["qp:ar_pos"] = int(min(max(st.session_state.get("qp:ar_pos", 0) + delta, 0), n_steps - 1))

    s1.button("◀ Step back", on_click=_step, args=(-1,), width="stretch", key="ar_back")
    s2.button("Step ▶", on_click=_step, args=(1,), width="stretch", key="ar_fwd")
    pos = min(state.slider("Kernel position (scrub)", "ar_pos", 0, max(n_steps - 1, 1), 0, container=s3,
                           help="Or press ▶ Play under the figure; its slider scrubs too."), n_steps - 1)
    animation = _window_animation(x2d.numpy(), None if weight is None else weight.numpy(), bias, anim_spec,
                                  int(1000 / speed), f.figure_height, 1200 if f.slide else 1050)
    fig = fa.at_step(animation, pos)
    widgets.show_figure(fig, "arithmetic-sliding-window", config={"displayModeBar": False})
    if not f.slide:
        step = ar.sliding_windows(x2d, weight, bias, anim_spec)[pos]
        st.markdown(f"**Output cell ({step.out_row}, {step.out_col})** (the scrubbed position) = "
                    f"`{txt.format_dot_product(step, bias, mode, max_terms=30)}`")
        st.caption(txt.animation_notes(spec, spec.in_channels, spec.out_channels, spec.groups))
    f.note(txt.WINDOW_NOTE)


# ---------------------------------------------------------------------------------------------- self-check
@register("arithmetic.check", "Self-check with PyTorch", reads=LAYER_KEYS, anchors=("self-check-with-pytorch",))
def check(f: Frame) -> None:
    spec = valid_layer(f)
    if spec is None:
        return
    result = _check(spec)
    cc1, cc2 = st.columns([3, 2])
    cc1.code(txt.check_code(spec, result), language="python")
    if result.agrees:
        cc2.success(txt.shape_check_summary(result), icon=":material/check_circle:")
    else:
        cc2.error(txt.shape_check_summary(result))
    cc2.caption(txt.CHECK_CAPTION)
    f.note(txt.CHECK_NOTE)


# ---------------------------------------------------------------------------------------------- special cases
@register("arithmetic.special", "Special cases", keys=("ar_case",), reads=(*LAYER_KEYS, *DEMO_KEYS),
          anchors=("special-cases",))
def special(f: Frame) -> None:
    spec = valid_layer(f)
    if spec is None:
        return
    cases = {c.key: c for c in special_cases(spec)}
    (c1,) = f.controls()
    key = state.select("Case", "ar_case", list(cases), ar.default_case(spec), container=c1, radio=True,
                       horizontal=True, format_func=lambda k: cases[k].title,
                       help="The case your layer is an example of comes first; pick any other.")
    case = cases[key]
    h = f.figure_height
    if not f.slide:
        st.markdown(case.text)
    if key == "1x1":
        widgets.show_figure(fv.layer_shape_figure(ar.one_by_one_layer(spec)), "arithmetic-1x1")
    elif key == "grouped":
        left, right = st.columns([1, 1] if f.slide else [3, 2])
        widgets.show_figure(fv.layer_shape_figure(ar.grouped_layer(spec), height=h or 400), "arithmetic-grouped-layer",
                            container=left)
        widgets.show_figure(fv.grouped_figure(ar.grouped_costs(spec.height, spec.width, spec.in_channels),
                                              height=h or 400), "arithmetic-grouped-costs", container=right)
    elif key == "dilated":
        widgets.show_figure(fv.dilation_figure(spec.kernel if spec.kernel > 1 else 3), "arithmetic-dilation")
    elif key == "pool":
        q1, q2 = st.columns(2)
        pool_in, pool_out = fa.pool_example_figures(ar.pool_example())
        widgets.show_figure(pool_in, "arithmetic-pool-input", container=q1)
        widgets.show_figure(pool_out, "arithmetic-pool-output", container=q2)
    elif key == "im2col":
        _im2col(f, spec)
    if case.table and not f.slide:
        st.dataframe(pd.DataFrame(case.table), hide_index=True)
    if case.caption and not f.slide:
        st.caption(case.caption)
    f.note(txt.SPECIAL_NOTE)


def _im2col(f: Frame, spec: ar.LayerSpec) -> None:
    if spec.mode != "conv":
        st.info("Choose the convolution operation (and settings the animation can draw) to see the matrices of "
                "your example.")
        return
    source, digit, kernel_kind, bias, text_x, text_w = _demo_settings(spec)
    demo = ar.demo_layer(spec, source, digit, text_x if source == "custom" else "", kernel_kind,
                         text_w if kernel_kind == "custom" else "")
    if not demo.ok or fa.animation_too_large(demo.x, demo.spec):
        st.info("Choose settings the animation can draw (a smaller input, a valid typed input or kernel) to see the "
                "matrices of your example.")
        return
    ex = ar.im2col_example(demo.x, demo.weight, bias, demo.spec)
    st.latex(txt.im2col_latex(ex))
    fig_w, fig_x = fa.im2col_figures(ex)
    widgets.show_figure(fig_w, "arithmetic-im2col-weights", slide_height=150)
    widgets.show_figure(fig_x, "arithmetic-im2col-columns", slide_height=330)
    if not f.slide:
        st.success(txt.im2col_summary(ex, spec), icon=":material/check_circle:")


# ---------------------------------------------------------------------------------------------- the quiz
@shared_figure()
def _stack_figure(in_text: str, stack_text: str, revealed: tuple[bool, ...]):
    """The quiz's stack of volumes (0.3-0.6 s to build: one per question text and answers shown, for the server)."""
    in_shape = ar.parse_shape(in_text)
    return fv.stack_figure(in_shape, ar.evaluate_stack(in_shape, ar.parse_stack(stack_text))[:QUIZ_ROWS],
                           list(revealed))


@register("arithmetic.quiz", "Quiz: what is the size?",
          keys=("ar_qin", "ar_stack", "ar_qall", *(f"ar_q{i}" for i in range(QUIZ_ROWS))),
          anchors=("quiz-what-is-the-size",))
def quiz(f: Frame) -> None:
    qa, qb, qc = f.controls([1, 3, 1])
    in_text = state.text("Input C×H×W (e.g. 3x32x32)", "ar_qin", "3x32x32", container=qa)
    stack_text = state.text("Layers", "ar_stack", DEFAULT_STACK, container=qb, help=txt.QUIZ_SYNTAX)
    reveal_all = state.toggle("Reveal all answers", "ar_qall", False, container=qc)
    if not f.slide:
        st.markdown(txt.QUIZ_INTRO)
    try:
        in_shape, layers = ar.parse_shape(in_text), ar.parse_stack(stack_text)
    except CnnvizError as e:
        widgets.show_error(e)
        return
    if not layers:
        st.info("Type at least one layer.")
        return
    rows = ar.evaluate_stack(in_shape, layers)[:QUIZ_ROWS]
    figure = st.container()
    revealed = []
    for i, r in enumerate(rows):
        if f.slide:
            revealed.append(reveal_all or state.toggle(f"Reveal {i + 1}", f"ar_q{i}", False, container=qc))
            continue
        l1, l2, l3 = st.container(border=True).columns([3, 1, 3])
        l1.markdown(f"**{i + 1}.** " + txt.quiz_question(r))
        revealed.append(reveal_all or state.toggle("Reveal", f"ar_q{i}", False, container=l2))
        if not revealed[-1]:
            l3.markdown("### What is the size?")
        elif r.output_shape is None:
            l3.warning(txt.quiz_answer(r))
        else:
            l3.markdown(txt.quiz_answer(r))
    widgets.show_figure(_stack_figure(in_text, stack_text, tuple(revealed)), "arithmetic-quiz-stack", container=figure)
    if len(rows) < len(layers) and not f.slide:
        st.caption("The stack stops at the first layer that does not fit.")
    f.note(txt.QUIZ_NOTE)
