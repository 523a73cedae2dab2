"""Architecture: every layer of a model with output shape, parameters, MACs and receptive field; case studies."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnviz.core import zoo as zoo
from cnnviz.core.model import ModelHandle
from cnnviz.errors import CnnvizError
from cnnviz.figures.architecture import depth_figure
from cnnviz.methods import architecture as arch
from cnnviz.methods.arithmetic import human
from cnnviz.ui import state, widgets
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
                    help="Any architecture of the zoo can be inspected; shapes and counts do not depend on the "
                         "weights, so zoo models load untrained here.")
show_all = state.toggle("Show every layer (ReLU, BatchNorm, dropout, …)", "at_all", False, container=c2)

if pick == "loaded":
    m: ModelHandle = ctx.model
else:
    try:
        m = shared_model(pick, pick in zoo.ZOO)
    except (CnnvizError, OSError) as e:  # a missing or broken asset must not take the page down
        st.error(f"Could not load {pick}: {e}. Showing the loaded model instead.", icon=":material/error:")
        m = ctx.model


@st.cache_data(max_entries=16, show_spinner="Tracing the receptive fields…")
def _fields(key: str, _m: ModelHandle):
    return arch.receptive_fields_or_none(_m)


with st.spinner(f"One forward pass through {m.name} to record every layer…"):
    fields, rf_note = _fields(m.key, m)
    rows_all = arch.layer_table(m, fields)
rows = rows_all if show_all else arch.compact(rows_all)
tot = arch.totals(rows_all, m)

cs = arch.case_study(m.architecture)
if cs is not None:
    with st.container(border=True):
        st.subheader(f"Case study: {cs.title}")
        st.caption(cs.paper)
        st.markdown("\n".join(f"- {line}" for line in cs.introduced))
        st.markdown(f"**Look for:** {cs.look_for}")

st.header(f"{m.title}: {len(rows_all)} layer calls", divider="gray")
k1, k2, k3, k4 = st.columns(4)
k1.metric("Parameters", f"{tot.params:,}", help="Each module counted once (a module called twice, like ResNet's "
          "shared ReLU, has no parameters of its own twice).")
k2.metric("MACs per image", human(tot.macs),
          help="Multiply-accumulates of convolutions and fully connected layers for one input image.")
c, h, w = m.input_size
k3.metric("Input", f"{c}×{h}×{w}")
k4.metric("Output", "×".join(str(s) for s in rows_all[-1].output_shape) if rows_all else "—")
if tot.unused_params:
    st.caption(f"{tot.unused_params:,} further parameters belong to modules the forward pass does not run "
               f"(the model has {tot.model_params:,} in all).")
if rf_note:
    st.info(rf_note, icon=":material/info:")

table = pd.DataFrame(arch.table_records(rows, receptive_field=fields is not None))
st.dataframe(
    table, hide_index=True, width="stretch", height=min(640, 38 + 35 * len(table)),
    column_config={
        "params": st.column_config.NumberColumn("params", format="localized"),
        "MACs": st.column_config.NumberColumn("MACs", format="localized"),
        "#": st.column_config.NumberColumn("#", width="small"),
    })
st.caption(("Compact view: layers that change the shape or hold weights. " if not show_all else "")
           + "Output shapes are C×H×W for one image. A module run twice appears again as name#2."
           + (" Receptive field: the side of the input square one unit sees (empty: the unit sees the whole image)."
              if fields else ""))

# ------------------------------------------------------------------------------------------ charts
st.header("Through the depth", divider="gray")
steps = arch.depth_steps(m, rows_all, fields)
if steps:
    widgets.show_figure(depth_figure(steps, h), "architecture-depth")
    st.caption("Along the main path: blocks (an Inception block, a ResNet block) count as one step, so their parallel "
               "branches do not zig-zag the curves; a block's depth is that of its merged output.")
else:
    st.info("This model has no layers with a spatial output.")

st.subheader("Where the parameters and the work are")
st.dataframe(pd.DataFrame(arch.by_type(rows_all)), hide_index=True, width="stretch",
             column_config={"params": st.column_config.NumberColumn(format="localized"),
                            "MACs": st.column_config.NumberColumn(format="localized")})

widgets.what_to_notice(
    "- Spatial size falls in steps (strided convolutions, pooling) while the channel depth rises: the network trades "
    "*where* for *what*.\n"
    "- Fully connected layers hold most of the parameters of older networks (LeNet, AlexNet, VGG); convolutions do "
    "almost all the work (MACs).\n"
    "- Global average pooling (GoogLeNet, ResNet, MobileNet) removes the big fully connected layers.\n"
    "- The receptive field grows with every layer and jumps after each downsampling; deep units see most of the "
    "image.\n"
    "- Pick other architectures above to compare them; the arithmetic of each row is on the **Convolution "
    "arithmetic** page."
)
