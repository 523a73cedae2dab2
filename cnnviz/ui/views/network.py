"""Views of /network: the executed graph with live activations, one node's maps, and one unit computed with the
network's own weights.

The graph view owns the drawing settings and the picked node (``nw_node``); the node view owns the channel and
the unit (``nw_ch``, ``nw_y``, ``nw_x``); the unit view reads both. A click on the graph or on a map sets the
key and reruns the views that read it.
"""
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
from cnnviz.ui.view import Frame, register

# what the node and unit views read of the graph view's keys: not its thumbnails (a step of that slider reruns the
# graph view alone)
PICK_KEYS = ("nw_detail", "nw_fold", "nw_open", "nw_node")
GRAPH_KEYS = (*PICK_KEYS, "nw_k")
NODE_KEYS = ("nw_ch", "nw_y", "nw_x")


class NotAUnit(CnnvizError):
    """The picked node's units are not a weighted sum of the layer before."""


class NoOutput(CnnvizError):
    """No layer records the picked node's output."""


# ------------------------------------------------------------------------------------- shared, cached
@st.cache_resource(max_entries=4, show_spinner="One forward pass through the network…")
def _values(model_key: str, image_key: str, view_key: tuple, _m, _x, _view):
    return {i: t.cpu() for i, t in nw.node_values(_m, _x, _view).items()}


@st.cache_data(max_entries=32, show_spinner="Rebuilding the unit from its inputs…")
def _unit(model_key: str, image_key: str, name: str, where: tuple, _m, _x) -> un.UnitComputation:
    return un.unit_computation(_m, _x, name, where)


def _graph(m) -> nw.NetworkGraph:
    return nw.network_graph(m)  # cached by the method per model; GraphError for untraceable models


def _drawing(g: nw.NetworkGraph) -> tuple[str, bool, list[str]]:
    """(detail, fold, opened blocks) the graph view set (or the link says; else the graph's default)."""
    detail0, fold0, open0 = nw.default_view(g)
    detail = state.peek("nw_detail", detail0, valid=lambda d: d in nw.DETAILS)
    fold = state.peek("nw_fold", fold0, state.parse_bool, valid=lambda v: isinstance(v, bool))
    groups = list(g.stages) + list(g.blocks) if detail != "layers" else []
    opened = state.peek("nw_open", list(open0) if detail == detail0 else [],
                        lambda s: [p for p in s.split(",") if p],
                        valid=lambda v: isinstance(v, list) and all(x in groups for x in v))
    return detail, fold, opened


def _values_for(ctx, m, detail: str, opened: list[str], fold: bool):
    view = nw.graph_view(m, detail, opened, fold)
    values = _values(m.key, ctx.image_key, (detail, tuple(opened), fold), m, ctx.input(), view)
    ids = [n.id for n in view.nodes]
    default = next((i for i in ids if values.get(i) is not None and values[i].ndim == 3 and i != "x"), ids[-1])
    return view, values, ids, default


def _picked(ctx, m):
    """(graph view, node values, picked node id) as the graph view set them."""
    g = _graph(m)
    detail, fold, opened = _drawing(g)
    view, values, ids, default = _values_for(ctx, m, detail, opened, fold)
    node_id = state.peek("nw_node", default, valid=lambda i: i in ids)
    return g, view, values, node_id


def _unit_of(value) -> tuple[int, ...]:
    """The unit the node view picked: (channel, row, column) of a map, or (feature,) of a vector."""
    if value.ndim == 3:
        C, H, W = value.shape
        ch = state.peek("nw_ch", nw.strongest_channels(value, 1)[0], int,
                        valid=lambda c: isinstance(c, int) and 0 <= c < C)
        dy, dx = divmod(int(value[ch].argmax()), W)
        y = state.peek("nw_y", dy, int, valid=lambda v: isinstance(v, int) and 0 <= v < H)
        x = state.peek("nw_x", dx, int, valid=lambda v: isinstance(v, int) and 0 <= v < W)
        return ch, y, x
    feats = value.reshape(-1)
    n = feats.numel()
    return (state.peek("nw_ch", int(feats.argmax()), int, valid=lambda c: isinstance(c, int) and 0 <= c < n),)


# ------------------------------------------------------------------------------------- the overview
@register("network.graph", "The executed graph, with live activations", keys=GRAPH_KEYS,
          anchors=("the-network-at-a-glance",))
def graph(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    try:
        g = _graph(m)
    except nw.GraphError as e:
        widgets.show_error(e)
        st.dataframe(pd.DataFrame([{"layer": li.name, "type": li.type, "output": "×".join(map(str, li.output_shape)),
                                    "parameters": li.params} for li in m.layers()]), hide_index=True, width="stretch")
        return
    detail0, fold0, open0 = nw.default_view(g)
    c1, c2, c3, c4, c5 = f.controls([2, 2, 4, 2, 3])
    detail = state.select("Detail", "nw_detail", list(nw.DETAILS), detail0, format_func=nw.DETAIL_TITLES.get,
                          container=c1)
    fold = state.toggle("Fold BN and activations into their layer", "nw_fold", fold0, container=c2)
    groups = list(g.stages) + list(g.blocks) if detail != "layers" else []
    opened = state.multiselect("Open blocks", "nw_open", groups, open0 if detail == detail0 else (), container=c3,
                               disabled=not groups,
                               help="Collapsed blocks (ResNet stages, Inception modules) to draw layer by layer.")
    k = state.slider("Thumbnails per node", "nw_k", 1, 4, 2, container=c4)
    view, values, ids, default = _values_for(ctx, m, detail, opened, fold)
    node_id = state.select("Node", "nw_node", ids, default, container=c5,
                           format_func=lambda i: f"{i} ({view.node(i).op})")

    def _on_graph_click() -> None:
        points = (st.session_state.get("fig:network-graph") or {}).get("selection", {}).get("points", [])
        picked = [p.get("customdata") for p in points if p.get("customdata") in ids]
        if picked:
            st.session_state["qp:nw_node"] = picked[0]
            state.mark_changed("nw_node")

    widgets.show_figure(fn.graph_figure(view, fn.node_thumbnails(values, k), selected=node_id), "network-graph",
                        on_select=_on_graph_click, selection_mode="points")
    if not f.slide:
        st.caption("Colours: blue convolution, purple linear, green activation, orange pooling, red addition or "
                   "concatenation, teal a collapsed block. Thumbnails: the node's strongest channels (largest mean) "
                   f"for {ctx.image_label}, each on its own range (viridis). Drag to pan, scroll to zoom, "
                   "click a square.")
    f.note("- Every layer your image went through, left to right, with the maps it produced: skip connections "
           "arc over the layers they skip; Inception branches run in parallel rows.\n"
           "- **Click a node** to open its maps below.")


# ------------------------------------------------------------------------------------- one node's maps
@register("network.node", "One node's maps", keys=NODE_KEYS, reads=PICK_KEYS)
def node(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    _, view, values, node_id = _picked(ctx, m)
    n = view.node(node_id)
    value = values.get(node_id)
    if value is None:
        raise NoOutput(f"{node_id} ({n.op}) feeds only other functions, so no layer records its output; pick another "
                       "node in the graph.")
    head = f"**{node_id}**: {n.op}"
    if value.ndim != 3:
        feats = value.reshape(-1)
        st.markdown(head + f", {feats.numel()} features.")
        state.number("Output feature", "nw_ch", 0, feats.numel() - 1, int(feats.argmax()), container=f.controls(4)[0])
        top = np.argsort(-feats.numpy())[:min(20, feats.numel())]
        widgets.show_figure(_feature_bars(feats, top), "network-features")
        return
    C, H, W = value.shape
    c = f.controls(4)
    ch = state.number("Channel", "nw_ch", 0, C - 1, nw.strongest_channels(value, 1)[0], container=c[0],
                      help="Or click a map in the grid.")
    default_y, default_x = divmod(int(value[ch].argmax()), W)
    uy = state.number("Unit row y", "nw_y", 0, H - 1, default_y, container=c[1])
    ux = state.number("Unit column x", "nw_x", 0, W - 1, default_x, container=c[2])
    gcol, mcol = st.columns([3, 2])
    cols = _best_cols(C, 700, 480) if f.slide else int(np.ceil(np.sqrt(C * 1.8)))
    grid, layout = fn.channel_grid(value, tile_px=max(24, min(96, 900 // max(1, cols))), cols=cols, selected=ch)

    def _pick_channel(i: int) -> None:
        st.session_state["qp:nw_ch"] = i
        state.mark_changed("nw_ch")

    def _pick_unit(i: int) -> None:
        st.session_state.update({"qp:nw_y": i // W, "qp:nw_x": i % W})
        state.mark_changed("nw_y")
        state.mark_changed("nw_x")

    side = f.figure_height - 80 if f.slide else 360
    with gcol:
        st.markdown(f"{head}: **{C} channels of {H}×{W}.** Click one.")
        gh, gw = grid.shape[:2]
        width = int(min(700, gw * (side / gh))) if f.slide else ("stretch" if gw > 560 else None)
        widgets.clickable_grid(grid, "nw_gridclick", layout.tile_at, _pick_channel, width=width)
    pic, scale = fn.unit_map(value[ch], (uy, ux), size=360)
    with mcol:
        st.markdown(f"**Channel {ch}**, unit ({uy}, {ux}) framed. Click a unit.")
        widgets.clickable_grid(pic, "nw_mapclick", lambda yy, xx: int(yy // scale) * W + int(xx // scale), _pick_unit,
                               width=int(min(460, side)) if f.slide else None)
    f.note("- Each tile is one channel of the node's output for your image; the unit picked on the right is the one "
           "rebuilt below from the layer's weights.")


def _best_cols(n: int, width: float, height: float) -> int:
    """The number of grid columns that makes ``n`` square tiles largest in a ``width`` x ``height`` box."""
    return max(range(1, n + 1), key=lambda c: min(width / c, height / -(-n // c)))


def _feature_bars(feats, top):
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=[str(int(i)) for i in top], y=feats[top].numpy(), marker_color="#4C78A8"))
    fig.update_layout(height=360, xaxis=dict(title="output feature (strongest first)", type="category"),
                      yaxis_title="value", margin=dict(l=10, r=10, t=30, b=10))
    return fig


# ------------------------------------------------------------------------------------- one unit
@register("network.unit", "One unit, computed with its weights", keys=("nw_sort", "nw_step", "nw_anim"),
          reads=(*PICK_KEYS, *NODE_KEYS))
def unit(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    g, view, values, node_id = _picked(ctx, m)
    n = view.node(node_id)
    value = values.get(node_id)
    if value is None:
        raise NoOutput(f"{node_id} ({n.op}) feeds only other functions, so no layer records its output; pick another "
                       "node in the graph.")
    layer = un.unit_layer(g, n.members or (node_id,))
    if layer is None:
        raise NotAUnit(f"{node_id} is a {n.op}: its units are not a weighted sum of the layer before. Pick a "
                       "convolution or a linear layer (or an activation right after one) for the one-unit view.")
    where = _unit_of(value)
    x = ctx.input()
    u = _unit(m.key, ctx.image_key, layer, where, m, x)
    if u.group_note and not f.slide:
        st.info(u.group_note, icon=":material/call_split:")
    s1, s2, s3 = f.controls([2, 3, 2])
    sort = state.select("Order the input channels by", "nw_sort", list(un.SORTS), "contribution", container=s1,
                        format_func=un.SORT_TITLES.get)
    order = u.order(sort)
    step = state.slider("Step through the input channels", "nw_step", 1, len(order), 1, container=s2) \
        if len(order) > 1 else 1
    anim = u.kind == "conv" and state.toggle("Animate this channel's window over the map", "nw_anim", False,
                                             container=s3)
    term = order[step - 1]
    t = u.terms[term]
    running = float(u.running_sum(sort)[step - 1])
    unit_text = f"({', '.join(map(str, u.unit))})"
    st.markdown(f"Unit **{unit_text}** of `{layer}` · input channel **{t.channel}** ({step} of {len(order)}): "
                f"contribution **{t.contribution:.5g}**, running sum after {step} channel(s) **{running:.5g}**")
    steps = [("sum of contributions", u.total), ("bias", u.bias), ("pre-activation (sum + bias)", u.pre_activation)]
    steps += [(f"after {fo.op} ({fo.key})", fo.value) for fo in u.following]
    if f.slide:  # the patch × kernel = products strip above the sum, both as high as the screen allows
        widgets.show_figure(fn.patch_figure(u, term), "network-unit-patch", slide_height=250)
        if anim:
            _window(m, x, layer, u, t, term, slide=True)
        else:
            widgets.show_figure(fn.contributions_figure(u, sort, term), "network-unit-sum", slide_height=230)
        st.caption(" · ".join(f"{label} {v:.6g}" for label, v in steps)
                   + f" · **the network produced {u.produced:.6g}**")
    else:
        widgets.show_figure(fn.patch_figure(u, term), "network-unit-patch")
        widgets.show_figure(fn.contributions_figure(u, sort, term), "network-unit-sum")
        cols = st.columns(len(steps) + 1)
        for col, (label, v) in zip(cols[:-1], steps, strict=True):  # the last column: what the network produced
            col.metric(label, f"{v:.6g}")
        cols[-1].metric("the network produced", f"{u.produced:.6g}",
                        help=f"{layer}{unit_text} as recorded in the forward pass")
        st.caption(f"Reconstructed in float64 from the recorded input of {layer} and its weights; the network "
                   f"computed {u.produced:.7g} in float32 (difference {abs(u.pre_activation - u.produced):.1e}).")
        if anim:
            _window(m, x, layer, u, t, term)
        keep = {k: v for k, v in st.query_params.to_dict().items() if k in state.GLOBAL_KEYS}
        if u.kind == "conv":
            rf = "/receptive-field?" + urlencode({**keep, "rf_layer": layer, "rf_ch": u.unit[0], "rf_row": u.unit[1],
                                                  "rf_col": u.unit[2]})
            mx = "/maximal?" + urlencode({**keep, "mx_layer": layer, "mx_ch": u.unit[0]})
            st.markdown(f"[Its receptive field on the image (Receptive fields)]({rf}) · "
                        f"[What excites channel {u.unit[0]} of {layer} most? (Maximally activating inputs)]({mx})")
    f.note("- A unit is a **weighted sum**: one number per input channel (its patch times its kernel slice), added "
           "up, plus one bias. Sorting by contribution shows that a few channels usually carry most of it.\n"
           "- **Padding** taps (sand) read zeros: units at the border are made from fewer real inputs.\n"
           "- **Stride and dilation** only change *which* input pixels the taps read; the arithmetic is the same.\n"
           "- In a **grouped or depthwise** convolution a filter sees only its group's channels (MobileNet).\n"
           "- A **linear** layer is the same sum over the whole flattened input: a kernel as large as the map.\n"
           "- The rebuilt value matches the network's to float32 rounding: nothing else happens inside a layer.")


def _window(m, x, layer: str, u, t, term: int, slide: bool = False) -> None:
    region = un.window_region(u, un.input_channel(m, x, layer, t.channel))
    widgets.show_figure(fn.window_figure(region, t.kernel), "network-unit-window", slide_height=260 if slide else None)
    if not slide:
        st.caption(f"Input channel {t.channel} with the kernel slice w[{u.unit[0]}, {term}]"
                   + (" (a crop of the zero-padded map around the unit)" if region.padded else "")
                   + ": each step is this channel's contribution to one output unit; the start is the unit above.")
