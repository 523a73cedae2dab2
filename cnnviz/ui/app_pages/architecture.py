"""Architecture: every layer of a model with output shape, parameters, MACs and receptive field; case studies."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from cnnviz.core import zoo as zoo
from cnnviz.methods.architecture import DepthPoint, case_study, compact, depth_profile, layer_table, receptive_fields_or_none, totals
from cnnviz.methods.arithmetic import human
from cnnviz.core.model import ModelHandle
from cnnviz.ui import state
from cnnviz.figures.common import FONT
from cnnviz.ui.resources import shared_model
from cnnviz.ui.sidebar import current

ctx = current()
st.title("Architecture")
st.markdown(
    "A network is a stack of layers, and each layer's shape follows from the arithmetic of the one before: "
    "convolutions and pooling shrink the map and add channels, until a classifier turns the last map into "
    "class scores. The table lists every layer the model runs, in order, with its kernel, stride and padding, "
    "the shape of its output for one image, its **parameters** (weights it learns), its **multiply-accumulates** "
    "(MACs: the work for one image) and its **receptive field** (how many input pixels one of its units can see). "
    "Multi-branch models (GoogLeNet's inception blocks, ResNet's shortcuts) are listed in execution order."
)

choices = ["loaded"] + zoo.model_names()


def _label(name: str) -> str:
    if name == "loaded":
        return f"The loaded model ({ctx.model.title})"
    return zoo.BUNDLED[name]["title"] if name in zoo.BUNDLED else f"{zoo.ZOO[name]['title']} (architecture only)"


c1, c2 = st.columns([3, 2])
pick = state.select("Architecture to inspect", "at_arch", choices, "loaded", format_func=_label, container=c1,
                    help="Any architecture of the zoo can be inspected; shapes and counts do not depend on the weights, "
                         "so zoo models load untrained here.")
show_all = state.toggle("Show every layer (ReLU, BatchNorm, dropout, …)", "at_all", False, container=c2)

if pick == "loaded":
    m: ModelHandle = ctx.model
else:
    try:
        m = shared_model(pick, pick in zoo.ZOO)
    except Exception as e:  # a missing asset must not take the page down
        st.error(f"Could not load {pick}: {e}. Showing the loaded model instead.")
        m = ctx.model


@st.cache_data(max_entries=16, show_spinner="Tracing the receptive fields…")
def _fields(key: str, _m: ModelHandle):
    return receptive_fields_or_none(_m)


with st.spinner(f"One forward pass through {m.name} to record every layer…"):
    fields, rf_note = _fields(m.key, m)
    rows_all = layer_table(m, fields)
rows = rows_all if show_all else compact(rows_all)
tot = totals(rows_all, m)

cs = case_study(m.architecture)
if cs is not None:
    with st.container(border=True):
        st.subheader(f"Case study: {cs.title}")
        st.caption(cs.paper)
        st.markdown("\n".join(f"- {line}" for line in cs.introduced))
        st.markdown(f"**Look for:** {cs.look_for}")

st.header(f"{m.title}: {len(rows_all)} layer calls", divider="gray")
k1, k2, k3, k4 = st.columns(4)
k1.metric("Parameters", f"{tot.params:,}", help="Each module counted once (a module called twice, like ResNet's shared ReLU, has no parameters of its own twice).")
k2.metric("MACs per image", human(tot.macs), help="Multiply-accumulates of convolutions and fully connected layers for one input image.")
c, h, w = m.input_size
k3.metric("Input", f"{c}×{h}×{w}")
k4.metric("Output", "×".join(str(s) for s in rows_all[-1].output_shape) if rows_all else "—")
if tot.unused_params:
    st.caption(f"{tot.unused_params:,} further parameters belong to modules the forward pass does not run (the model has {tot.model_params:,} in all).")
if rf_note:
    st.info(rf_note, icon=":material/info:")

table = pd.DataFrame([r.as_dict() for r in rows])
if fields is None:
    table = table.drop(columns=["receptive field"])
st.dataframe(
    table, hide_index=True, width="stretch", height=min(640, 38 + 35 * len(table)),
    column_config={
        "params": st.column_config.NumberColumn("params", format="localized"),
        "MACs": st.column_config.NumberColumn("MACs", format="localized"),
        "#": st.column_config.NumberColumn("#", width="small"),
    })
st.caption(("Compact view: layers that change the shape or hold weights. " if not show_all else "")
           + "Output shapes are C×H×W for one image. A module run twice appears again as name#2."
           + (" Receptive field: the side of the input square one unit sees (empty: the unit sees the whole image)." if fields else ""))

# ------------------------------------------------------------------------------------------ charts
st.header("Through the depth", divider="gray")
profile = depth_profile(m, rows_all, fields)
if profile:
    profile = [DepthPoint("input", tuple(m.input_size), 1 if fields else None)] + profile
    xs = list(range(len(profile)))
    names = [p.name for p in profile]
    has_rf = any(p.rf for p in profile)
    n_rows = 3 if has_rf else 2
    fig = make_subplots(rows=n_rows, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=["Spatial size (height of the output map, pixels)", "Depth (channels)"]
                        + (["Receptive field (input pixels)"] if has_rf else []))
    fig.add_trace(go.Scatter(x=xs, y=[p.output_shape[1] for p in profile], mode="lines+markers", name="height", customdata=names,
                             hovertemplate="%{customdata}: %{y} px<extra></extra>", line=dict(color="#4C78A8", width=3)), 1, 1)
    fig.add_trace(go.Scatter(x=xs, y=[p.output_shape[0] for p in profile], mode="lines+markers", name="channels", customdata=names,
                             hovertemplate="%{customdata}: %{y} channels<extra></extra>", line=dict(color="#F58518", width=3)), 2, 1)
    if has_rf:
        fig.add_trace(go.Scatter(x=xs, y=[p.rf for p in profile], mode="lines+markers", name="receptive field",
                                 customdata=names, hovertemplate="%{customdata}: %{y} px<extra></extra>",
                                 line=dict(color="#54A24B", width=3), connectgaps=True), 3, 1)
        fig.add_hline(y=h, line_dash="dash", line_color="#888", annotation_text=f"input {h} px", row=3, col=1)
    fig.update_xaxes(tickmode="array", tickvals=xs, ticktext=names if len(names) <= 40 else None, tickangle=-45,
                     row=n_rows, col=1)
    fig.update_layout(height=780 if has_rf else 560, showlegend=False, font=FONT, margin=dict(l=10, r=10, t=40, b=10),
                      hovermode="x unified")
    st.plotly_chart(fig, width="stretch", key="at_depth")
    st.caption("Along the main path: blocks (an Inception block, a ResNet block) count as one step, so their parallel "
               "branches do not zig-zag the curves; a block's depth is that of its merged output.")
else:
    st.info("This model has no layers with a spatial output.")

by_type = pd.DataFrame([{"type": r.type, "params": r.params, "MACs": r.macs} for r in rows_all]).groupby("type").agg(
    layers=("params", "size"), params=("params", "sum"), MACs=("MACs", "sum")).sort_values("MACs", ascending=False)
by_type["share of params"] = (by_type["params"] / max(tot.params, 1)).map("{:.1%}".format)
by_type["share of MACs"] = (by_type["MACs"] / max(tot.macs, 1)).map("{:.1%}".format)
st.subheader("Where the parameters and the work are")
st.dataframe(by_type.reset_index(), hide_index=True, width="stretch",
             column_config={"params": st.column_config.NumberColumn(format="localized"),
                            "MACs": st.column_config.NumberColumn(format="localized")})

st.header("What to notice", divider="gray")
st.markdown(
    "- Spatial size falls in steps (strided convolutions, pooling) while the channel depth rises: the network trades *where* for *what*.\n"
    "- Fully connected layers hold most of the parameters of older networks (LeNet, AlexNet, VGG); convolutions do almost all the work (MACs).\n"
    "- Global average pooling (GoogLeNet, ResNet, MobileNet) removes the big fully connected layers.\n"
    "- The receptive field grows with every layer and jumps after each downsampling; deep units see most of the image.\n"
    "- Pick other architectures above to compare them; the arithmetic of each row is on the **Convolution arithmetic** page."
)
