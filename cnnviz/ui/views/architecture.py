"""Views of /architecture: the layer table of a model, its case study, and its shapes and costs through the depth.

``architecture.table`` owns the choice of model (``at_arch``) and the compact/full switch (``at_all``); the other
views read ``at_arch`` (:func:`picked_model`). The layer table is computed once per model (:func:`layer_rows`).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnviz.core import zoo
from cnnviz.core.model import ModelHandle
from cnnviz.errors import CnnvizError
from cnnviz.figures.architecture import cost_figure, depth_figure, outline_figure
from cnnviz.methods import architecture as arch
from cnnviz.methods.arithmetic import human
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_figure, shared_model
from cnnviz.ui.view import Frame, register

SLIDE_COLUMNS = ("layer", "type", "kernel", "stride", "output", "params", "MACs")


def _choices() -> list[str]:
    return ["loaded"] + zoo.model_names()


def _label(name: str, loaded: ModelHandle) -> str:
    if name == "loaded":
        return f"The loaded model ({loaded.title})"
    return zoo.BUNDLED[name]["title"] if name in zoo.BUNDLED else f"{zoo.ZOO[name]['title']} (architecture only)"


def _load(pick: str, loaded: ModelHandle, say: bool) -> ModelHandle:
    if pick == "loaded":
        return loaded
    try:
        return shared_model(pick, pick in zoo.ZOO)
    except (CnnvizError, OSError) as e:  # a missing or broken asset must not take the page down
        if say:
            st.error(f"Could not load {pick}: {e}. Showing the loaded model instead.", icon=":material/error:")
        return loaded


def picked_model(f: Frame) -> ModelHandle:
    """The model the table view's picker names (read, not drawn: for the other views)."""
    choices = _choices()
    return _load(state.peek("at_arch", "loaded", valid=lambda v: v in choices), f.model, say=False)


@st.cache_data(max_entries=16, show_spinner="One forward pass to record every layer, tracing the receptive fields…")
def _rows(key: str, _m: ModelHandle):
    fields, note = arch.receptive_fields_or_none(_m)
    return fields, note, arch.layer_table(_m, fields)


def layer_rows(m: ModelHandle):
    """(receptive fields or None, why they are missing or None, every layer call) of ``m``, once per model."""
    return _rows(m.key, m)


@register("architecture.table", "The layer table", keys=("at_arch", "at_all"))
def table(f: Frame) -> None:
    c1, c2 = f.controls([3, 2])
    pick = state.select("Architecture to inspect", "at_arch", _choices(), "loaded",
                        format_func=lambda n: _label(n, f.model), container=c1,
                        help="Any architecture of the zoo can be inspected; shapes and counts do not depend on the "
                             "weights, so zoo models load untrained here.")
    show_all = state.toggle("Show every layer (ReLU, BatchNorm, dropout, …)", "at_all", False, container=c2)
    m = _load(pick, f.model, say=True)
    fields, rf_note, rows_all = layer_rows(m)
    rows = rows_all if show_all else arch.compact(rows_all)
    tot = arch.totals(rows_all, m)
    c, h, w = m.input_size
    out = "×".join(str(s) for s in rows_all[-1].output_shape) if rows_all else "—"
    if f.slide:
        st.markdown(f"**{m.title}**: **{tot.params:,}** parameters · **{human(tot.macs)}** MACs · "
                    f"{c}×{h}×{w} → {out}")
    else:
        st.subheader(f"{m.title}: {len(rows_all)} layer calls")
        k1, k2, k3, k4 = st.columns(4)
        k1.metric("Parameters", f"{tot.params:,}", help="Each module counted once (a module called twice, like "
                  "ResNet's shared ReLU, has no parameters of its own twice).")
        k2.metric("MACs per image", human(tot.macs),
                  help="Multiply-accumulates of convolutions and fully connected layers for one input image.")
        k3.metric("Input", f"{c}×{h}×{w}")
        k4.metric("Output", out)
        if tot.unused_params:
            st.caption(f"{tot.unused_params:,} further parameters belong to modules the forward pass does not run "
                       f"(the model has {tot.model_params:,} in all).")
        if rf_note:
            st.info(rf_note, icon=":material/info:")
    records = pd.DataFrame(arch.table_records(rows, receptive_field=fields is not None))
    top_p, top_m = max([r.params for r in rows] + [1]), max([r.macs for r in rows] + [1])
    config = {"params": st.column_config.ProgressColumn("params", format="localized", min_value=0, max_value=top_p,
                                                        color="blue", help="Bar: share of the largest layer's"),
              "MACs": st.column_config.ProgressColumn("MACs", format="localized", min_value=0, max_value=top_m,
                                                      color="red", help="Bar: share of the largest layer's"),
              "#": st.column_config.NumberColumn("#", width="small")}
    if f.slide:  # the table alone, as high as the screen allows, its rows tight enough for a whole network
        shown = records[[col for col in SLIDE_COLUMNS if col in records]]
        room = f.figure_height - 70  # under the line of totals
        row_px = int(min(56, max(24, room / (len(shown) + 2))))  # the header row is a little higher
        st.dataframe(shown, hide_index=True, width="stretch", row_height=row_px, column_config=config,
                     height=int(min(room, row_px * (len(shown) + 2))))
    else:
        st.dataframe(records, hide_index=True, width="stretch", height=min(640, 38 + 35 * len(records)),
                     column_config=config)
        st.caption(("Compact view: layers that change the shape or hold weights. " if not show_all else "")
                   + "Output shapes are C×H×W for one image. A module run twice appears again as name#2. The bars "
                   "compare each layer's parameters and MACs with the largest layer's."
                   + (" Receptive field: the side of the input square one unit sees (empty: the unit sees the whole "
                      "image)." if fields else ""))
    f.note("- Spatial size falls in steps (strided convolutions, pooling) while the channel depth rises: the network "
           "trades *where* for *what*.\n"
           "- Fully connected layers hold most of the parameters of older networks (LeNet, AlexNet, VGG); convolutions "
           "do almost all the work (MACs).\n"
           "- Pick other architectures above to compare them; the arithmetic of each row is on the **Convolution "
           "arithmetic** page.")


@shared_figure(max_entries=16)
def _outline_figure(key: str, _m: ModelHandle):
    """The network's outline as volumes, and how many (0.2 s to build even for LeNet: once per model)."""
    fields, _, rows_all = layer_rows(_m)
    volumes = arch.outline(arch.depth_steps(_m, rows_all, fields), rows_all)
    return (outline_figure(volumes) if len(volumes) > 1 else None), len(volumes)


@register("architecture.case-study", "Case study", reads=("at_arch",))
def case_study(f: Frame) -> None:
    m = picked_model(f)
    cs = arch.case_study(m.architecture)
    if cs is None:
        st.info(f"There are no case-study notes for {m.title} ({m.architecture}); pick LeNet-5, AlexNet, VGG-16, "
                "GoogLeNet, ResNet or MobileNet in **The layer table**.", icon=":material/info:")
        return
    outline, boxes = _outline_figure(m.key, m)
    if f.slide:
        st.markdown(f"**{cs.title}**: *{cs.paper}*")
    else:
        with st.container(border=True):
            st.subheader(f"Case study: {cs.title}")
            st.caption(cs.paper)
            st.markdown("\n".join(f"- {line}" for line in cs.introduced))
            st.markdown(f"**Look for:** {cs.look_for}")
    if boxes > 1:
        widgets.show_figure(outline, "architecture-outline", slide_height=f.figure_height - 100
                            if f.slide else None)
        if f.slide:
            st.markdown(f"**Look for:** {cs.look_for}")
        else:
            st.caption("The network as its volumes along the main path: one box per change of shape (width and "
                       "height to scale, channels on a log scale), fully connected layers as rods.")
    f.note(f"- {cs.look_for}")


@register("architecture.depth", "Through the depth", reads=("at_arch",), anchors=("through-the-depth",))
def depth(f: Frame) -> None:
    m = picked_model(f)
    fields, _, rows_all = layer_rows(m)
    steps = arch.depth_steps(m, rows_all, fields)
    if steps:
        widgets.show_figure(depth_figure(steps, m.input_size[1]), "architecture-depth")
        if not f.slide:
            st.caption("Along the main path: blocks (an Inception block, a ResNet block) count as one step, so their "
                       "parallel branches do not zig-zag the curves; a block's depth is that of its merged output.")
    else:
        st.info("This model has no layers with a spatial output.")
    if not f.slide:
        st.subheader("Where the parameters and the work are")
        widgets.show_figure(cost_figure(rows_all), "architecture-costs")
        st.dataframe(pd.DataFrame(arch.by_type(rows_all)), hide_index=True, width="stretch",
                     column_config={"params": st.column_config.NumberColumn(format="localized"),
                                    "MACs": st.column_config.NumberColumn(format="localized")})
    f.note("- Spatial size falls in steps while the channel depth rises.\n"
           "- The receptive field grows with every layer and jumps after each downsampling; deep units see most of "
           "the image.\n"
           "- Global average pooling (GoogLeNet, ResNet, MobileNet) removes the big fully connected layers.")
