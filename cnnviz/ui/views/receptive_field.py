"""Views of /receptive-field: how much of the image one unit sees, in theory and in effect."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from cnnviz.errors import CnnvizError
from cnnviz.figures import receptive_field as fr
from cnnviz.methods import receptive_field as rfm
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_untrained_twin
from cnnviz.ui.view import Frame, register

LAYER_KEYS = ("rf_blocks", "rf_layer")  # owned by the first view, read by the others


class FieldsUnavailable(CnnvizError):
    """The receptive fields of the model cannot be computed (or it has no spatial layer)."""


def _fields(m) -> dict[str, rfm.ReceptiveField]:
    try:
        return rfm.receptive_fields(m)
    except CnnvizError as e:
        raise FieldsUnavailable(f"The receptive fields of {m.title} cannot be computed: {e}") from e


def _rows(m, show_blocks: bool) -> tuple[dict[str, rfm.ReceptiveField], list[rfm.ReceptiveField], list[str]]:
    """(every field, the table's rows, the layers with a spatial map one can pick)."""
    fields = _fields(m)
    rows = [f for f in fields.values() if show_blocks or not f.container]
    spatial = [f.name for f in rows if not f.whole_input and f.output_shape is not None and len(f.output_shape) == 3]
    if not spatial:
        raise FieldsUnavailable(f"{m.title} has no layer with a spatial map.")
    return fields, rows, spatial


def _default(m, fields, spatial) -> str:
    return rfm.default_layer(fields, spatial, m.input_size[1])


def _selection(m) -> tuple[dict[str, rfm.ReceptiveField], str]:
    """(every field, the layer the first view picked): what the views below it read."""
    show_blocks = state.peek("rf_blocks", True, state.parse_bool)
    fields, _, spatial = _rows(m, show_blocks)
    return fields, state.peek("rf_layer", _default(m, fields, spatial), valid=lambda n: n in spatial)


@st.cache_data(max_entries=24, show_spinner="Running the network up to the layer…")
def _activation(model_key: str, image_key: str, name: str, _model, _x) -> np.ndarray:
    return rfm.layer_output(_model, name, _x)[0].float().cpu().numpy()


@st.cache_data(max_entries=16, show_spinner=False)
def _erf(model_key: str, name: str, src: str, n: int, image_key: str, _model, _x):
    return rfm.effective_receptive_field(_model, name, _x if src == "image" else None, samples=n)


# ----------------------------------------------------------------------------- 1. every layer
@register("receptive-field.depth", "Field size through the network", keys=LAYER_KEYS,
          anchors=("field-size-through-the-network",))
def depth(f: Frame) -> None:
    m = f.model
    H, W = m.input_size[1], m.input_size[2]
    c1, c2 = f.controls([3, 2])
    show_blocks = state.toggle("Show blocks (containers such as layer3) in the table and the layer list", "rf_blocks",
                               True, container=c2)
    fields, rows, spatial = _rows(m, show_blocks)
    layer = state.select("Layer", "rf_layer", spatial, _default(m, fields, spatial), container=c1,
                         help="The layer every view of this page looks at.",
                         format_func=lambda n: f"{n} ({fields[n].op}) — "
                                               f"field {fields[n].size[0]}×{fields[n].size[1]} px")
    left, right = st.columns([1, 1])
    widgets.show_figure(fr.depth_chart([r for r in rows if not r.whole_input], layer, (H, W)), "rf-depth",
                        container=left)
    right.dataframe(pd.DataFrame(rfm.field_table(rows)), hide_index=True, height=f.figure_height or 380,
                    width="stretch")
    if not f.slide:
        st.caption("*start*: input pixel (row, col) where the field of unit (0, 0) begins; negative means it reaches "
                   "into the zero padding. *global context*: a squeeze-and-excitation gate (or a normalisation over "
                   "the whole map) lets every unit depend, weakly, on the whole image. Merging paths (add, cat) keep "
                   "the largest field.")
    f.note("- On the chart the field grows by a constant step within a stage and the step doubles after every stride "
           "2: strides, not depth, make fields large.\n"
           "- In ResNets the field of the last stage (427 px for ResNet-50) is larger than the 224 px input; the "
           "effective field stays well inside the image.")


# ----------------------------------------------------------------------------- 2. the recurrence
@register("receptive-field.recurrence", "The recurrence for one layer", reads=LAYER_KEYS,
          anchors=("the-recurrence-for-one-layer",))
def recurrence(f: Frame) -> None:
    m = f.model
    fields, layer = _selection(m)
    rf = fields[layer]
    steps = rfm.recurrence_steps(m, layer)
    if not f.slide:
        st.markdown(
            "Walk down from one unit of the chosen layer (Araujo et al., *Distill* 2019). A layer with kernel $k_l$ "
            "and stride $s_l$ turns a field of $r_l$ units of its output into $r_{l-1} = s_l\\,r_l + (k_l - s_l)$ "
            "units of its input (a dilated kernel counts as $k = d(k-1)+1$). Layers that do not look at neighbours "
            "(ReLU, batch norm, 1×1 convolutions) leave it unchanged; at a merge the widest path is followed.")
    if not steps:
        st.info(f"{layer} sits before any layer that looks at neighbours: its field is one pixel.")
        return
    if f.slide:
        st.latex(r"r_{l-1} = s_l\,r_l + (k_l - s_l), \qquad j = \prod_l s_l = " + str(rf.jump[0]))
        widgets.show_figure(fr.recurrence_figure(steps, rf), "rf-recurrence", slide_height=f.figure_height - 70)
    else:
        st.markdown(f"For **{layer}** (rows):")
        st.latex(fr.recurrence_latex(steps, rf))
        st.latex(fr.jump_latex(steps, rf))
        widgets.show_figure(fr.recurrence_figure(steps, rf), "rf-recurrence")
    if rf.size[0] != rf.size[1]:
        st.caption(f"Rows shown; along columns the field is {rf.size[1]} px with jump {rf.jump[1]}.")
    f.note(f"- Read the pyramid bottom up: one unit of `{layer}` sees {rf.size[0]} input pixels.\n"
           "- Every stride multiplies what the layers above it add, so strides early in the network make the field "
           "grow fastest.")


# ----------------------------------------------------------------------------- 3. one unit on the image
@register("receptive-field.unit", "One unit's field on the image", keys=("rf_ch", "rf_row", "rf_col"),
          reads=LAYER_KEYS, anchors=("one-unit-s-field-on-the-image",))
def unit(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    fields, layer = _selection(m)
    rf = fields[layer]
    H, W = m.input_size[1], m.input_size[2]
    x = ctx.input()
    act = torch.from_numpy(_activation(m.key, ctx.image_key, layer, m, x))
    C, h, w = act.shape
    c1, c2, c3 = f.controls(3) if not f.slide else (f.controls()[0],) * 3
    channel = state.slider("Channel (−1: mean of all channels)", "rf_ch", -1, C - 1, -1, container=c1)
    amap = act.mean(0) if channel < 0 else act[channel]
    # the unit sliders are drawn after the map (they mirror a click on it); a unit off this layer's map is re-centred
    for key, n in (("qp:rf_row", h), ("qp:rf_col", w)):
        if key in st.session_state and not 0 <= st.session_state[key] < n:
            st.session_state[key] = n // 2
    cur = tuple(min(max(st.session_state.get(f"qp:{k}", state.get_param(k, n // 2, int)), 0), n - 1)
                for k, n in (("rf_row", h), ("rf_col", w)))
    what = "mean of channels" if channel < 0 else f"channel {channel}"
    pick, show = st.columns([2, 3])
    pick.markdown(f"**Click a unit** of `{layer}` ({h}×{w}, {what})")
    side = f.figure_height - 60 if f.slide else 320
    pic, scale = fr.activation_picture(amap, cur, side=side)

    def _pick_unit(i: int) -> None:
        st.session_state["qp:rf_row"], st.session_state["qp:rf_col"] = divmod(i, w)
        state.mark_changed("rf_row")
        state.mark_changed("rf_col")

    with pick:
        widgets.clickable_grid(np.asarray(pic), f"rf_click_{layer}_{h}x{w}",
                               lambda y, x_: fr.unit_at(y, x_, scale, (h, w)), _pick_unit, cursor="crosshair",
                               width=min(side, pic.size[0]) if f.slide else None)
    row = state.slider("Unit row", "rf_row", 0, h - 1, h // 2, container=c2)
    col = state.slider("Unit column", "rf_col", 0, w - 1, w // 2, container=c3)
    widgets.show_figure(fr.field_on_image(m.deprocess(x), rf, (row, col),
                                          title=f"Field of unit ({row}, {col}) of {layer}"), "rf-field", container=show)
    top, lft, bot, rgt = rf.box(row, col)
    ct, cl, cb, cr = rf.clipped_box(row, col, H, W)
    if not f.slide:
        pick.metric("Unit value" + (" (mean over channels)" if channel < 0 else f" (channel {channel})"),
                    f"{float(amap[row, col]):.4g}")
    pick.markdown(
        f"- field rows {top:g}…{bot - 1:g}, columns {lft:g}…{rgt - 1:g} ({rf.size[0]}×{rf.size[1]} px)\n"
        f"- on the image: {int(cb - ct)}×{int(cr - cl)} px; **{rf.padding_share(row, col, H, W):.0%}** of the "
        f"field lies in the padding (grey)\n"
        f"- the next unit to the right starts {rf.jump[1]} px further" if not f.slide else
        f"Field rows {top:g}…{bot - 1:g}, columns {lft:g}…{rgt - 1:g}; "
        f"{rf.padding_share(row, col, H, W):.0%} in the padding.")
    f.note("- Click a unit at the border: part of its field lies in the zero padding (grey), so it sees less of the "
           "image than a unit in the middle.\n"
           "- Neighbouring units' fields overlap: they start one *jump* apart, much less than the field's width.")


# ----------------------------------------------------------------------------- 4. effective receptive field
@register("receptive-field.erf", "Effective receptive field", keys=("rf_src", "rf_n", "rf_log"), reads=LAYER_KEYS,
          anchors=("effective-receptive-field",))
def erf(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    _, layer = _selection(m)
    x = ctx.input()
    if not f.slide:
        st.markdown(
            "Luo et al. (2016) asked how strongly each input pixel actually moves one unit: the magnitude of the input "
            "gradient of the centre unit, averaged over inputs. The theoretical field (dashed white) bounds where the "
            "gradient can be non-zero; inside it the gradient falls off like a Gaussian, because the many paths from "
            "a centre pixel to the unit outnumber the few from a corner pixel. The coloured boxes span ±1σ (cyan) and "
            "±2σ (green) of the gradient's spread.")
    e1, e2, e3 = f.controls(3)
    source = state.select("Inputs", "rf_src", ["noise", "image"], "noise", container=e1, radio=True, horizontal=True,
                          format_func=lambda s: {"noise": "random noise (as Luo et al.)", "image": "this image"}[s])
    samples = state.slider("Noise samples", "rf_n", 1, 16, 4, container=e2, disabled=source == "image")
    with widgets.secondary_controls(e3):
        log = state.toggle("Log colour scale", "rf_log", False)
    models = [("this model" + ("" if m.trained else " (untrained)"), m)]
    if m.trained:
        models.append(("same architecture, untrained", shared_untrained_twin(m)))
    elif not f.slide:
        st.info("The loaded model is untrained, so there is no trained twin to compare with: load trained weights to "
                "see how training changes the effective field.")
    with st.spinner("Back-propagating from the centre unit…"):
        for (label, model), column in zip(models, st.columns(len(models)), strict=True):
            try:
                field = _erf(model.key, layer, source, samples, ctx.image_key if source == "image" else "", model, x)
            except CnnvizError as e:
                widgets.show_error(e, container=column)
                continue
            title = label if f.slide else f"{label}: unit {field.unit} of {layer}"
            widgets.show_figure(fr.erf_figure(field, title, log),
                                f"rf-erf-{label.split()[0]}", container=column, theme=None,
                                slide_height=f.figure_height - 40 if f.slide else None)
            cover = fr.erf_coverage(field)
            if not f.slide:
                column.markdown(fr.erf_size_table(field))
            if cover is not None:
                column.caption((f"Unit {field.unit} of {layer}: the" if f.slide else "The")
                               + f" ±2σ band covers {cover:.0%} of the theoretical square's area.")
    f.note("- The gradient is strongest at the centre and fades towards the edge of the theoretical square: the "
           "effective field is much smaller.\n"
           "- Compare the trained and the untrained effective fields: training changes how the gradient spreads.")


# ----------------------------------------------------------------------------- 5. why it matters
def _ladder(fields: dict[str, rfm.ReceptiveField], layer: str, most: int = 6) -> list[rfm.ReceptiveField]:
    """A few layers from shallow to the chosen one whose fields differ, evenly spread: the fields to draw."""
    chosen = fields[layer]
    pos = {name: i for i, name in enumerate(fields)}  # graph order (a block follows the node it returns)
    upto = [f for f in fields.values() if not f.whole_input and not f.container and f.output_shape is not None
            and len(f.output_shape) == 3 and "downsample" not in f.name and pos[f.name] <= pos[layer]]
    distinct: list[rfm.ReceptiveField] = []
    for f in upto:
        if not distinct or f.size != distinct[-1].size:  # the first layer of a run with the same field (the conv)
            distinct.append(f)
    if distinct and distinct[-1].size == chosen.size:
        distinct[-1] = chosen  # the chosen layer names its own box
    elif chosen.name not in {f.name for f in distinct}:
        distinct.append(chosen)
    if len(distinct) <= most:
        return distinct
    idx = sorted({round(i * (len(distinct) - 1) / (most - 1)) for i in range(most)})
    return [distinct[i] for i in idx]


@register("receptive-field.why", "Why it matters", reads=LAYER_KEYS, anchors=("why-it-matters",))
def why(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    fields, layer = _selection(m)
    ladder = _ladder(fields, layer)
    fig = fr.fields_on_image(ctx.seen(), ladder,
                             title=f"What the centre unit of each layer sees, up to {layer}")
    text = (
        "- A unit can only respond to what falls inside its field. An object larger than the field of the last "
        "convolutional layer cannot be seen whole by any single unit: the network must recognise it from parts, "
        "and only the global pooling or fully connected layers put the parts together.\n"
        "- The **effective** field is smaller still, so in practice a unit mostly looks at the centre of its "
        "theoretical square. Networks for large objects or dense tasks (segmentation, detection) add pooling, "
        "strides or dilated convolutions to grow the field, and training widens the effective field.\n"
        "- Units near the border spend part of their field on zero padding: they see less of the image than units "
        "in the middle.")
    if f.slide:
        widgets.show_figure(fig, "rf-why")
    else:
        left, right = st.columns([3, 2])
        widgets.show_figure(fig, "rf-why", container=left)
        right.markdown(text)
    f.note("- Shallow units see a few pixels (an edge); deep units see a whole part of the object.\n"
           "- A unit near the border spends part of its field on zero padding.")
