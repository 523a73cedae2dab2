"""Receptive fields: how much of the image one unit sees, in theory and in effect."""
import numpy as np
import pandas as pd
import streamlit as st
import torch

from cnnviz.errors import CnnvizError
from cnnviz.figures import receptive_field as fr
from cnnviz.methods import receptive_field as rfm
from cnnviz.ui import state, widgets
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
    "field, measured with gradients, is much smaller than the theoretical square.")
widgets.untrained_badge(m)

try:
    fields = rfm.receptive_fields(m)
except CnnvizError as e:
    st.error(f"The receptive fields of {m.title} cannot be computed: {e}", icon=":material/error:")
    st.stop()
H, W = m.input_size[1], m.input_size[2]
show_blocks = state.toggle("Show blocks (containers such as layer3) in the table and the layer list", "rf_blocks", True)
rows = [f for f in fields.values() if show_blocks or not f.container]
spatial = [f.name for f in rows if not f.whole_input and f.output_shape is not None and len(f.output_shape) == 3]
if not spatial:
    st.warning(f"{m.title} has no layer with a spatial map.")
    st.stop()
layer = state.select("Layer", "rf_layer", spatial, rfm.default_layer(fields, spatial, H),
                     format_func=lambda n: f"{n} ({fields[n].op}) — field {fields[n].size[0]}×{fields[n].size[1]} px")
rf = fields[layer]

# ----------------------------------------------------------------------------- 1. every layer
st.header("Field size through the network", divider="gray")
left, right = st.columns([1, 1])
widgets.show_figure(fr.depth_chart([f for f in rows if not f.whole_input], layer, (H, W)), "rf-depth", container=left)
right.dataframe(pd.DataFrame(rfm.field_table(rows)), hide_index=True, height=380, width="stretch")
st.caption("*start*: input pixel (row, col) where the field of unit (0, 0) begins; negative means it reaches into the "
           "zero padding. *global context*: a squeeze-and-excitation gate (or a normalisation over the whole map) "
           "lets every unit depend, weakly, on the whole image. Merging paths (add, cat) keep the largest field.")

# ----------------------------------------------------------------------------- 2. the recurrence
st.header(f"The recurrence for {layer}", divider="gray")
steps = rfm.recurrence_steps(m, layer)
st.markdown(
    "Walk down from one unit of the chosen layer (Araujo et al., *Distill* 2019). A layer with kernel $k_l$ and "
    "stride $s_l$ turns a field of $r_l$ units of its output into $r_{l-1} = s_l\\,r_l + (k_l - s_l)$ units of its "
    "input (a dilated kernel counts as $k = d(k-1)+1$). Layers that do not look at neighbours (ReLU, batch norm, "
    "1×1 convolutions) leave it unchanged; at a merge the widest path is followed.")
if steps:
    st.latex(fr.recurrence_latex(steps, rf))
    st.latex(fr.jump_latex(steps, rf))
    if rf.size[0] != rf.size[1]:
        st.caption(f"Rows shown; along columns the field is {rf.size[1]} px with jump {rf.jump[1]}.")
else:
    st.info(f"{layer} sits before any layer that looks at neighbours: its field is one pixel.")

# ----------------------------------------------------------------------------- 3. one unit on the image
st.header("One unit's field on the image", divider="gray")
x = m.preprocess(ctx.image)


@st.cache_data(max_entries=24, show_spinner="Running the network up to the layer…")
def _activation(model_key: str, image_key: str, name: str, _model, _x) -> np.ndarray:
    return rfm.layer_output(_model, name, _x)[0].float().cpu().numpy()


act = torch.from_numpy(_activation(m.key, ctx.image_key, layer, m, x))
C, h, w = act.shape
ctrl = st.container()
pick, show = st.columns([2, 3])
c1, c2, c3 = ctrl.columns(3)
channel = state.slider("Channel (−1: mean of all channels)", "rf_ch", -1, C - 1, -1, container=c1)
amap = act.mean(0) if channel < 0 else act[channel]
# the unit sliders are drawn after the map (they mirror a click on it); a unit off this layer's map is re-centred
for key, n in (("qp:rf_row", h), ("qp:rf_col", w)):
    if key in st.session_state and not 0 <= st.session_state[key] < n:
        st.session_state[key] = n // 2
cur = tuple(min(max(st.session_state.get(f"qp:{k}", state.get_param(k, n // 2, int)), 0), n - 1)
            for k, n in (("rf_row", h), ("rf_col", w)))
what = "mean of channels" if channel < 0 else f"channel {channel}"
pick.markdown(f"**Click a unit** of `{layer}` ({h}×{w}, {what})")
pic, scale = fr.activation_picture(amap, cur, side=320)


def _pick_unit(i: int) -> None:
    st.session_state["qp:rf_row"], st.session_state["qp:rf_col"] = divmod(i, w)


with pick:
    widgets.clickable_grid(np.asarray(pic), f"rf_click_{layer}_{h}x{w}", lambda y, x_: fr.unit_at(y, x_, scale, (h, w)),
                           _pick_unit, cursor="crosshair")
row = state.slider("Unit row", "rf_row", 0, h - 1, h // 2, container=c2)
col = state.slider("Unit column", "rf_col", 0, w - 1, w // 2, container=c3)
widgets.show_figure(fr.field_on_image(m.deprocess(x), rf, (row, col), title=f"Field of unit ({row}, {col}) of {layer}"),
                    "rf-field", container=show)
top, lft, bot, rgt = rf.box(row, col)
ct, cl, cb, cr = rf.clipped_box(row, col, H, W)
pick.metric("Unit value" + (" (mean over channels)" if channel < 0 else f" (channel {channel})"),
            f"{float(amap[row, col]):.4g}")
pick.markdown(
    f"- field rows {top:g}…{bot - 1:g}, columns {lft:g}…{rgt - 1:g} ({rf.size[0]}×{rf.size[1]} px)\n"
    f"- on the image: {int(cb - ct)}×{int(cr - cl)} px; **{rf.padding_share(row, col, H, W):.0%}** of the "
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
with widgets.secondary_controls(e3):
    log = state.toggle("Log colour scale", "rf_log", False)


@st.cache_data(max_entries=16, show_spinner=False)
def _erf(model_key: str, name: str, src: str, n: int, image_key: str, _model, _x):
    return rfm.effective_receptive_field(_model, name, _x if src == "image" else None, samples=n)


models = [("this model" + ("" if m.trained else " (untrained)"), m)]
if m.trained:
    models.append(("same architecture, untrained", shared_untrained_twin(m)))
else:
    st.info("The loaded model is untrained, so there is no trained twin to compare with: load trained weights to "
            "see how training changes the effective field.")
with st.spinner("Back-propagating from the centre unit…"):
    for (label, model), column in zip(models, st.columns(len(models))):
        try:
            erf = _erf(model.key, layer, source, samples, ctx.image_key if source == "image" else "", model, x)
        except CnnvizError as e:
            widgets.show_error(e, container=column)
            continue
        widgets.show_figure(fr.erf_figure(erf, f"{label}: unit {erf.unit}", log), f"rf-erf-{label.split()[0]}",
                            container=column, theme=None)
        column.markdown(fr.erf_size_table(erf))
        if (cover := fr.erf_coverage(erf)) is not None:
            column.caption(f"The ±2σ band covers {cover:.0%} of the theoretical square's area.")

# ----------------------------------------------------------------------------- 5. why it matters
st.header("Why it matters", divider="gray")
st.markdown(
    "- A unit can only respond to what falls inside its field. An object larger than the field of the last "
    "convolutional layer cannot be seen whole by any single unit: the network must recognise it from parts, "
    "and only the global pooling or fully connected layers put the parts together.\n"
    "- The **effective** field is smaller still, so in practice a unit mostly looks at the centre of its "
    "theoretical square. Networks for large objects or dense tasks (segmentation, detection) add pooling, "
    "strides or dilated convolutions to grow the field, and training widens the effective field.\n"
    "- Units near the border spend part of their field on zero padding: they see less of the image than units "
    "in the middle.")
widgets.what_to_notice(
    "- On the chart the field grows by a constant step within a stage and the step doubles after every stride 2: "
    "strides, not depth, make fields large.\n"
    "- In ResNets the field of the last stage (427 px for ResNet-50) is larger than the 224 px input; the "
    "effective field stays well inside the image.\n"
    "- Compare the trained and the untrained effective fields: training changes how the gradient spreads.")
