"""Receptive fields: how much of the image one unit sees, in theory and in effect."""
import numpy as np
import pandas as pd
import streamlit as st
import torch
from streamlit_image_coordinates import streamlit_image_coordinates

from cnnviz.methods.receptive_field import (ReceptiveFieldError, effective_receptive_field, layer_output, receptive_fields,
                                    recurrence_steps)
from cnnviz.ui import state
from cnnviz.ui.widgets import untrained_badge
from cnnviz.figures.receptive_field import activation_picture, depth_chart, erf_figure, field_on_image, recurrence_latex
from cnnviz.ui.resources import shared_untrained_twin
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model
st.title("Receptive fields")
st.markdown(
    "A unit of a convolutional layer looks at a small window of the layer below; that window looks at a window "
    "of the layer before, and so on down to the pixels. The **receptive field** of the unit is the patch of the "
    "input image that can influence it. Each layer with kernel *k* and stride *s* widens it, and strides make "
    "neighbouring units sit further apart on the image (the **jump**). Deep units see large patches; yet the "
    "pixels near the centre of the patch matter far more than those at its edge: the **effective** receptive "
    "field, measured with gradients, is much smaller than the theoretical square."
)
untrained_badge(m)

try:
    fields = receptive_fields(m)
except ReceptiveFieldError as e:
    st.error(f"The receptive fields of {m.title} cannot be computed: {e}")
    st.stop()

H, W = m.input_size[1], m.input_size[2]
show_blocks = state.toggle("Show blocks (containers such as layer3) in the table and the layer list", "rf_blocks", True)
rows = [f for f in fields.values() if show_blocks or not f.container]
spatial = [f.name for f in rows if not f.whole_input and f.output_shape is not None and len(f.output_shape) == 3]
if not spatial:
    st.warning(f"{m.title} has no layer with a spatial map.")
    st.stop()
# default: the last block (ResNet stage, Inception module) or else the last convolution whose field fits the input
blocks = [n for n in spatial if fields[n].container and "." not in n and fields[n].size[0] <= H]
convs = [n for n in spatial if fields[n].op == "Conv2d" and "downsample" not in n and fields[n].size[0] <= H]
default_layer = blocks[-1] if len(blocks) >= 3 else convs[-1] if convs else spatial[-1]
layer = state.select("Layer", "rf_layer", spatial, default_layer,
                     format_func=lambda n: f"{n} ({fields[n].op}) — field {fields[n].size[0]}×{fields[n].size[1]} px")
rf = fields[layer]

# ----------------------------------------------------------------------------- 1. every layer
st.header("Field size through the network", divider="gray")
left, right = st.columns([1, 1])
with left:
    st.plotly_chart(depth_chart([f for f in rows if not f.whole_input], layer, (H, W)), width="stretch")
with right:
    table = pd.DataFrame([{
        "layer": f.name, "op": f.op,
        "output": "×".join(str(s) for s in f.output_shape) if f.output_shape else "—",
        "field": "whole input" if f.whole_input else f"{f.size[0]}×{f.size[1]}",
        "jump": "—" if f.whole_input else f"{f.jump[0]}×{f.jump[1]}",
        "start": "—" if f.whole_input else f"({f.start[0]:g}, {f.start[1]:g})",
        "note": ", ".join(x for x in ("global context" if f.global_context else "", "paths misaligned" if not f.aligned else "",
                                      "approximate" if not f.exact else "", "block" if f.container else "") if x),
    } for f in rows])
    st.dataframe(table, hide_index=True, height=380, width="stretch")
st.caption("*start*: input pixel (row, col) where the field of unit (0, 0) begins; negative means it reaches into the "
           "zero padding. *global context*: a squeeze-and-excitation gate (or a normalisation over the whole map) "
           "lets every unit depend, weakly, on the whole image. Merging paths (add, cat) keep the largest field.")

# ----------------------------------------------------------------------------- 2. the recurrence
st.header(f"The recurrence for {layer}", divider="gray")
steps = recurrence_steps(m, layer)
st.markdown(
    "Walk down from one unit of the chosen layer (Araujo et al., *Distill* 2019). A layer with kernel $k_l$ and "
    "stride $s_l$ turns a field of $r_l$ units of its output into $r_{l-1} = s_l\\,r_l + (k_l - s_l)$ units of its "
    "input (a dilated kernel counts as $k = d(k-1)+1$). Layers that do not look at neighbours (ReLU, batch norm, "
    "1×1 convolutions) leave it unchanged; at a merge the widest path is followed.")
if steps:
    st.latex(recurrence_latex(steps, rf))
    prod = " \\cdot ".join(str(s.s) for s in reversed(steps))
    st.latex(r"j = \prod_l s_l = %s = %d \text{ input pixels between neighbouring units}" % (prod, rf.jump[0]))
    if rf.size[0] != rf.size[1]:
        st.caption(f"Rows shown; along columns the field is {rf.size[1]} px with jump {rf.jump[1]}.")
else:
    st.info(f"{layer} sits before any layer that looks at neighbours: its field is one pixel.")

# ----------------------------------------------------------------------------- 3. one unit on the image
st.header("One unit's field on the image", divider="gray")
x = m.preprocess(ctx.image)


@st.cache_data(max_entries=24, show_spinner="Running the network up to the layer…")
def _activation(model_key: str, image_key: str, name: str, _model, _x) -> np.ndarray:
    return layer_output(_model, name, _x)[0].float().cpu().numpy()


act = torch.from_numpy(_activation(m.key, ctx.image_key, layer, m, x))
C, h, w = act.shape
ctrl = st.container()
pick, show = st.columns([2, 3])
with ctrl:
    c1, c2, c3 = st.columns(3)
    channel = state.slider("Channel (−1: mean of all channels)", "rf_ch", -1, C - 1, -1, container=c1)
amap = act.mean(0) if channel < 0 else act[channel]
# a click on the map sets the unit; the sliders below mirror it (and work alone)
row_key, col_key = "qp:rf_row", "qp:rf_col"
if row_key in st.session_state and not (0 <= st.session_state[row_key] < h):
    st.session_state[row_key] = h // 2
if col_key in st.session_state and not (0 <= st.session_state[col_key] < w):
    st.session_state[col_key] = w // 2
cur = (st.session_state.get(row_key, state.get_param("rf_row", h // 2, int)),
       st.session_state.get(col_key, state.get_param("rf_col", w // 2, int)))
cur = (min(max(cur[0], 0), h - 1), min(max(cur[1], 0), w - 1))
with pick:
    st.markdown(f"**Click a unit** of `{layer}` ({h}×{w}{', mean of channels' if channel < 0 else f', channel {channel}'})")
    pic, scale = activation_picture(amap, cur, side=320)
    click = streamlit_image_coordinates(pic, key=f"rf_click_{layer}_{h}x{w}", cursor="crosshair")
if click and click.get("unix_time") != st.session_state.get("_rf_last_click"):
    st.session_state["_rf_last_click"] = click.get("unix_time")
    disp_w = click.get("width") or pic.width
    disp_h = click.get("height") or pic.height
    r_new = int(click["y"] / disp_h * h)
    c_new = int(click["x"] / disp_w * w)
    st.session_state[row_key] = min(max(r_new, 0), h - 1)
    st.session_state[col_key] = min(max(c_new, 0), w - 1)
    st.rerun()
with ctrl:
    row = state.slider("Unit row", "rf_row", 0, h - 1, h // 2, container=c2)
    col = state.slider("Unit column", "rf_col", 0, w - 1, w // 2, container=c3)
unit = (row, col)
with show:
    img = m.deprocess(x)
    st.plotly_chart(field_on_image(img, rf, unit, title=f"Field of unit ({row}, {col}) of {layer}"), width="stretch")
top, lft, bot, rgt = rf.box(*unit)
ct, cl, cb, cr = rf.clipped_box(*unit, H, W)
inside = (cb - ct) * (cr - cl)
value = float(amap[row, col])
with pick:
    st.metric("Unit value" + (" (mean over channels)" if channel < 0 else f" (channel {channel})"), f"{value:.4g}")
    st.markdown(
        f"- field rows {top:g}…{bot - 1:g}, columns {lft:g}…{rgt - 1:g} ({rf.size[0]}×{rf.size[1]} px)\n"
        f"- on the image: {int(cb - ct)}×{int(cr - cl)} px; **{1 - inside / (rf.size[0] * rf.size[1]):.0%}** of the "
        f"field lies in the padding (grey)\n"
        f"- the next unit to the right starts {rf.jump[1]} px further")

# ----------------------------------------------------------------------------- 4. effective receptive field
st.header("Effective receptive field", divider="gray")
st.markdown(
    "Luo et al. (2016) asked how strongly each input pixel actually moves one unit: the magnitude of the input "
    "gradient of the centre unit, averaged over inputs. The theoretical field (dashed white) bounds where the "
    "gradient can be non-zero; inside it the gradient falls off like a Gaussian, because the many paths from "
    "a centre pixel to the unit outnumber the few from a corner pixel. The coloured boxes span ±1σ (cyan) and "
    "±2σ (green) of the gradient's spread.")
e1, e2, e3 = st.columns(3)
source = state.select("Inputs", "rf_src", ["noise", "image"], "noise", container=e1, radio=True, horizontal=True,
                      format_func=lambda s: {"noise": "random noise (as Luo et al.)", "image": "this image"}[s])
samples = state.slider("Noise samples", "rf_n", 1, 16, 4, container=e2, disabled=source == "image")
log = state.toggle("Log colour scale", "rf_log", False, container=e3)


@st.cache_data(max_entries=16, show_spinner=False)
def _erf(model_key: str, name: str, src: str, n: int, image_key: str, _model, _x):
    return effective_receptive_field(_model, name, _x if src == "image" else None, samples=n)


models = [("this model" + ("" if m.trained else " (untrained)"), m)]
if m.trained:
    models.append(("same architecture, untrained", shared_untrained_twin(m.name, m.key)))
else:
    st.info("The loaded model is untrained, so there is no trained twin to compare with: load trained weights to "
            "see how training changes the effective field.")
cols = st.columns(len(models))
with st.spinner("Back-propagating from the centre unit…"):
    for (label, model), column in zip(models, cols):
        try:
            erf = _erf(model.key, layer, source, samples, ctx.image_key if source == "image" else "", model, x)
        except (ReceptiveFieldError, ValueError) as e:
            column.error(str(e))
            continue
        with column:
            st.plotly_chart(erf_figure(erf, f"{label}: unit {erf.unit}", log), width="stretch", theme=None)
            s1, s2 = erf.size(1), erf.size(2)
            th = erf.clipped_theoretical()
            st.markdown(
                f"| | height | width |\n|---|---|---|\n"
                f"| ±1σ (68 % of a Gaussian) | {s1[0]:.1f} px | {s1[1]:.1f} px |\n"
                f"| ±2σ (95 %) | {s2[0]:.1f} px | {s2[1]:.1f} px |\n"
                f"| theoretical (on the image) | {th[0]} px | {th[1]} px |")
            if th[0] > 0:
                st.caption(f"The ±2σ band covers {min(1.0, s2[0] * s2[1] / (th[0] * th[1])):.0%} of the theoretical "
                           f"square's area.")

# ----------------------------------------------------------------------------- 5. why it matters
st.header("Why it matters", divider="gray")
st.markdown(
    f"- A unit can only respond to what falls inside its field. An object larger than the field of the last "
    f"convolutional layer cannot be seen whole by any single unit: the network must recognise it from parts, "
    f"and only the global pooling or fully connected layers put the parts together.\n"
    f"- The **effective** field is smaller still, so in practice a unit mostly looks at the centre of its "
    f"theoretical square. Networks for large objects or dense tasks (segmentation, detection) add pooling, "
    f"strides or dilated convolutions to grow the field, and training widens the effective field.\n"
    f"- Units near the border spend part of their field on zero padding: they see less of the image than units "
    f"in the middle.")
st.subheader("What to notice")
st.markdown(
    "- On the chart the field grows by a constant step within a stage and the step doubles after every stride 2: "
    "strides, not depth, make fields large.\n"
    "- In ResNets the field of the last stage (427 px for ResNet-50) is larger than the 224 px input; the "
    "effective field stays well inside the image.\n"
    "- Compare the trained and the untrained effective fields: training changes how the gradient spreads.")
