"""The network at a glance: the executed graph with live activations, and one unit computed with the real weights."""
from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.figures import network as fn
from cnnviz.methods import network as nw
from cnnviz.methods import unit as un
from cnnviz.ui import state, widgets
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model
st.title("The network at a glance")
st.markdown(
    "The whole network as torch.fx traced it, left to right: every layer your image went through, with the "
    "thumbnails of its strongest channels. Skip connections arc over the layers they skip; Inception branches "
    "run in parallel rows. **Click a node** to open its maps, **click a map** to pick one unit, and see how "
    "that single number was made from the layer before: every input channel's patch times its slice of the "
    "kernel, summed, plus the bias, through the batch norm and ReLU that follow, computed here with the "
    "network's own weights, next to the value the network produced.")
widgets.untrained_badge(m)

try:
    g = nw.network_graph(m)
except nw.GraphError as e:
    widgets.show_error(e)
    st.dataframe(pd.DataFrame([{"layer": li.name, "type": li.type, "output": "×".join(map(str, li.output_shape)),
                                "parameters": li.params} for li in m.layers()]), hide_index=True, width="stretch")
    st.stop()

# ------------------------------------------------------------------------------------- the overview
detail0, fold0, open0 = nw.default_view(g)
c1, c2, c3, c4 = st.columns([2, 2, 4, 2])
detail = state.select("Detail", "nw_detail", list(nw.DETAILS), detail0, format_func=nw.DETAIL_TITLES.get,
                      container=c1)
fold = state.toggle("Fold BN and activations into their layer", "nw_fold", fold0, container=c2)
groups = list(g.stages) + list(g.blocks) if detail != "layers" else []
opened = state.multiselect("Open blocks", "nw_open", groups, open0 if detail == detail0 else (), container=c3,
                           disabled=not groups,
                           help="Collapsed blocks (ResNet stages, Inception modules) to draw layer by layer.")
k = state.slider("Thumbnails per node", "nw_k", 1, 4, 2, container=c4)
view = nw.graph_view(m, detail, opened, fold)
x = m.preprocess(ctx.image)


@st.cache_resource(max_entries=4, show_spinner="One forward pass through the network…")
def _values(model_key: str, image_key: str, view_key: tuple, _m, _x, _view):
    return {i: t.cpu() for i, t in nw.node_values(_m, _x, _view).items()}


values = _values(m.key, ctx.image_key, (detail, tuple(opened), fold), m, x, view)
ids = [n.id for n in view.nodes]
default_node = next((i for i in ids if values.get(i) is not None and values[i].ndim == 3 and i != "x"), ids[-1])
node_id = state.select("Node", "nw_node", ids, default_node, container=st.columns([2, 5])[0],
                       format_func=lambda i: f"{i} ({view.node(i).op})")


def _on_graph_click() -> None:
    points = (st.session_state.get("fig:network-graph") or {}).get("selection", {}).get("points", [])
    picked = [p.get("customdata") for p in points if p.get("customdata") in ids]
    if picked:
        st.session_state["qp:nw_node"] = picked[0]


widgets.show_figure(fn.graph_figure(view, fn.node_thumbnails(values, k), selected=node_id), "network-graph",
                    on_select=_on_graph_click, selection_mode="points")
st.caption("Colours: blue convolution, purple linear, green activation, orange pooling, red addition or "
           "concatenation, teal a collapsed block. Thumbnails: the node's strongest channels (largest mean) for "
           f"{ctx.image_label}, each on its own range (viridis). Drag to pan, scroll to zoom, click a square.")

# ------------------------------------------------------------------------------------- one node's maps
node = view.node(node_id)
value = values.get(node_id)
layer = un.unit_layer(g, node.members or (node_id,))
st.header(f"{node_id}: {node.op}", divider="gray")
if value is None:
    st.info(f"{node_id} ({node.op}) feeds only other functions, so no layer records its output; pick another node.")
    st.stop()
if value.ndim == 3:
    C, H, W = value.shape
    ch = state.number("Channel", "nw_ch", 0, C - 1, nw.strongest_channels(value, 1)[0], container=st.columns(4)[0])
    default_y, default_x = divmod(int(value[ch].argmax()), W)
    gcol, mcol = st.columns([3, 2])
    grid, layout = fn.channel_grid(value, tile_px=max(24, min(96, 900 // max(1, int(np.ceil(np.sqrt(C * 1.8)))))),
                                   selected=ch)
    with gcol:
        st.markdown(f"**{C} channels of {H}×{W}.** Click one.")
        widgets.clickable_grid(grid, "nw_gridclick", layout.tile_at, lambda i: st.session_state.update({"qp:nw_ch": i}),
                               width="stretch" if grid.shape[1] > 560 else None)
    ycol, xcol = mcol.columns(2)
    uy = state.number("Unit row y", "nw_y", 0, H - 1, default_y, container=ycol)
    ux = state.number("Unit column x", "nw_x", 0, W - 1, default_x, container=xcol)
    pic, f = fn.unit_map(value[ch], (uy, ux), size=360)
    with mcol:
        st.markdown(f"**Channel {ch}**, unit ({uy}, {ux}) framed. Click a unit.")
        widgets.clickable_grid(pic, "nw_mapclick", lambda yy, xx: int(yy // f) * W + int(xx // f),
                               lambda i: st.session_state.update({"qp:nw_y": i // W, "qp:nw_x": i % W}))
    unit = (ch, uy, ux)
else:
    feats = value.reshape(-1)
    ch = state.number("Output feature", "nw_ch", 0, feats.numel() - 1, int(feats.argmax()), container=st.columns(4)[0])
    unit = (ch,)
if layer is None:
    st.info(f"{node_id} is a {node.op}: its units are not a weighted sum of the layer before. Pick a convolution or "
            "a linear layer (or an activation right after one) for the one-unit view.")
    st.stop()

# ------------------------------------------------------------------------------------- one unit
st.header(f"One unit of {layer}, computed with its weights", divider="gray")


@st.cache_data(max_entries=32, show_spinner="Rebuilding the unit from its inputs…")
def _unit(model_key: str, image_key: str, name: str, where: tuple, _m, _x) -> un.UnitComputation:
    return un.unit_computation(_m, _x, name, where)


try:
    u = _unit(m.key, ctx.image_key, layer, unit, m, x)
except CnnvizError as e:
    widgets.show_error(e)
    st.stop()
if u.group_note:
    st.info(u.group_note, icon=":material/call_split:")
s1, s2 = st.columns([2, 3])
sort = state.select("Order the input channels by", "nw_sort", list(un.SORTS), "contribution", container=s1,
                    format_func=un.SORT_TITLES.get)
order = u.order(sort)
step = state.slider("Step through the input channels", "nw_step", 1, len(order), 1, container=s2) \
    if len(order) > 1 else 1
term = order[step - 1]
t = u.terms[term]
running = float(u.running_sum(sort)[step - 1])
unit_text = f"({', '.join(map(str, u.unit))})"
st.markdown(f"Unit **{unit_text}** of `{layer}` · input channel **{t.channel}** ({step} of {len(order)}): "
            f"contribution **{t.contribution:.5g}**, running sum after {step} channel(s) **{running:.5g}**")
widgets.show_figure(fn.patch_figure(u, term), "network-unit-patch")
widgets.show_figure(fn.contributions_figure(u, sort, term), "network-unit-sum")
steps = [("sum of contributions", u.total), ("bias", u.bias), ("pre-activation (sum + bias)", u.pre_activation)]
steps += [(f"after {f.op} ({f.key})", f.value) for f in u.following]
cols = st.columns(len(steps) + 1)
for col, (label, v) in zip(cols, steps):
    col.metric(label, f"{v:.6g}")
cols[-1].metric("the network produced", f"{u.produced:.6g}", help=f"{layer}{unit_text} as recorded in the forward pass")
st.caption(f"Reconstructed in float64 from the recorded input of {layer} and its weights; the network computed "
           f"{u.produced:.7g} in float32 (difference {abs(u.pre_activation - u.produced):.1e}).")

if u.kind == "conv" and state.toggle("Animate this channel's window over the map", "nw_anim", False):
    try:
        region = un.window_region(u, un.input_channel(m, x, layer, t.channel))
        widgets.show_figure(fn.window_figure(region, t.kernel), "network-unit-window")
        st.caption(f"Input channel {t.channel} with the kernel slice w[{u.unit[0]}, {term}]"
                   + (" (a crop of the zero-padded map around the unit)" if region.padded else "")
                   + ": each step is this channel's contribution to one output unit; the start is the unit above.")
    except CnnvizError as e:
        widgets.show_error(e)

keep = {k: v for k, v in st.query_params.to_dict().items() if k in state.GLOBAL_KEYS}
if u.kind == "conv":
    rf = "/receptive-field?" + urlencode({**keep, "rf_layer": layer, "rf_ch": u.unit[0], "rf_row": u.unit[1],
                                          "rf_col": u.unit[2]})
    mx = "/maximal?" + urlencode({**keep, "mx_layer": layer, "mx_ch": u.unit[0]})
    st.markdown(f"[Its receptive field on the image (Receptive fields)]({rf}) · "
                f"[What excites channel {u.unit[0]} of {layer} most? (Maximally activating inputs)]({mx})")

widgets.what_to_notice(
    "- A unit is a **weighted sum**: one number per input channel (its patch times its kernel slice), added up, "
    "plus one bias. Sorting by contribution shows that a few channels usually carry most of it.\n"
    "- **Padding** taps (sand) read zeros: units at the border are made from fewer real inputs.\n"
    "- **Stride and dilation** only change *which* input pixels the taps read; the arithmetic is the same.\n"
    "- In a **grouped or depthwise** convolution a filter sees only its group's channels (MobileNet).\n"
    "- A **linear** layer is the same sum over the whole flattened input: a kernel as large as the map.\n"
    "- The rebuilt value matches the network's to float32 rounding: nothing else happens inside a layer.")
