"""Activation maps: the current image through every layer, channel by channel."""
from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from streamlit_image_coordinates import streamlit_image_coordinates

from cnnviz.methods import activations as ac
from cnnviz.core.images import load_image
from cnnviz.ui import state
from cnnviz.figures.common import FONT, bar_predictions
from cnnviz.ui.widgets import show_image, untrained_badge
from cnnviz.ui.sidebar import current, sample_names, sample_path

ctx = current()
m = ctx.model

st.title("Activation maps")
st.markdown(
    "Every convolutional layer turns its input into a stack of **feature maps**, one per filter (channel). "
    "A map is bright where the filter found its pattern. Early layers respond to edges and colours at "
    "precise positions; deeper layers to larger parts, on coarser maps with many more channels. Below, your "
    "image goes through the network once: its predictions, every channel of a layer you pick, one channel "
    "up close, the strongest maps of every stage side by side, and two images compared."
)
untrained_badge(m)

layers_info = m.layers()
shapes: dict[str, tuple[int, ...]] = {}
for li in layers_info:
    shapes.setdefault(li.name, li.output_shape)
spatial = set(ac.spatial_layers(m))
convs = [n for n in m.conv_layer_names() if n in spatial]  # maps of at least 2 pixels (not SE gates)
if not convs:
    st.info(f"{m.name} has no convolutional layer with 2-D feature maps: nothing to show on this page.")
    st.stop()

# ====================================================================== 1. predictions
st.header("1. What the network predicts", divider="gray")
left, right = st.columns([1, 2])
seen = m.deprocess(m.preprocess(ctx.image))
show_image(seen, caption=f"Input as the network sees it ({ctx.image_label})", min_side=224, container=left, width=240)
k = state.slider("Top-k classes", "ac_k", 1, min(10, len(m.classes)), min(5, len(m.classes)), container=right)
right.plotly_chart(bar_predictions(m.predict(ctx.image, k=k)), width="stretch", key="ac_preds")

# ====================================================================== 2. channel grid
st.header("2. Every channel of one layer", divider="gray")
c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
all_layers = state.toggle("All layers", "ac_all", False, container=c1,
                          help="Also list batch-norm, activation and pooling layers, not only convolutions.")
options = ac.spatial_layers(m) if all_layers else convs
options = list(dict.fromkeys(options))
layer = state.select("Layer", "ac_layer", options, convs[0], container=c1,
                     format_func=lambda n: f"{n}  ({shapes[n][0]} ch, {shapes[n][1]}×{shapes[n][2]})")
is_conv = layer in convs
post_name = ac.activation_after(m, layer) if is_conv else None
stage = state.select("Stage", "ac_stage", ["post", "pre"], "post", container=c2, radio=True, horizontal=True,
                     format_func=lambda s: {"post": "After activation", "pre": "Before"}[s],
                     help="Before: the convolution's own output (negative values included). After: the output of the "
                          "activation (ReLU) that follows it, which zeroes the negatives; in a ResNet block the second "
                          "ReLU comes after the shortcut is added.")
sort = state.select("Sort channels by", "ac_sort", list(ac.SORT_ORDERS), "index", container=c3,
                    format_func=lambda s: {"index": "channel index", "mean": "mean activation", "max": "max activation"}[s])
scale = state.select("Colour scale", "ac_scale", list(ac.SCALES), "per", container=c4, radio=True, horizontal=True,
                     format_func=lambda s: {"per": "Per channel", "shared": "Shared"}[s],
                     help="Per channel stretches every map to its own range: you see each map's shape but not its "
                          "strength. Shared uses one range for all: weak channels go dark.")
if not is_conv:
    st.caption(f"{layer} is not a convolution: its own output is shown; the Before/After switch applies to conv layers.")
elif stage == "post" and post_name is None:
    st.caption(f"No activation follows {layer} directly (pooling or another layer comes first), so its own output is shown.")
shown = post_name if (is_conv and stage == "post" and post_name) else layer

try:
    maps = ac.layer_maps(m, ctx.image, layer, stage if is_conv else "pre")
except Exception as e:  # an unusual user model: say what failed instead of a stack trace
    st.error(f"Could not record {layer} of {m.name}: {e}")
    st.stop()
C, H, W = maps.shape
stats = ac.channel_stats(maps)
cols_grid, tile_px = ac.grid_geometry(C)
grid = ac.render_channel_grid(maps, order=sort, scale=scale, tile_px=tile_px, cols=cols_grid)


def _on_grid_click() -> None:
    click = st.session_state.get("ac_gridclick")
    info = st.session_state.get("_ac_grid")
    if not click or not info:
        return
    g, nat_h, nat_w = info
    i = g.layout.tile_at(click["y"] * nat_h / max(1, click["height"]), click["x"] * nat_w / max(1, click["width"]))
    if i is not None:
        st.session_state["qp:ac_ch"] = int(g.order[i])


st.session_state["_ac_grid"] = (grid, grid.image.shape[0], grid.image.shape[1])
st.caption(f"**{shown}**: {C} channels of {H}×{W}, tiles in order of **{sort if sort != 'index' else 'channel index'}** "
           f"(left to right, top to bottom). Colour: viridis, dark = low, yellow = high"
           + (f"; one scale for all tiles, {grid.lo:.3g} … {grid.hi:.3g}." if scale == "shared" else "; each tile on its own range.")
           + " **Click a tile** to inspect that channel (red frame: the one shown in section 3).")
picked = st.session_state.get("qp:ac_ch", st.query_params.get("ac_ch"))
try:
    picked = int(picked) if picked is not None else int(grid.order[0])
except ValueError:
    picked = int(grid.order[0])
streamlit_image_coordinates(grid.highlight(picked), key="ac_gridclick", on_click=_on_grid_click, cursor="pointer",
                            width="stretch" if grid.image.shape[1] > 700 else None)

order = grid.order
rng = go.Figure(go.Bar(
    x=[str(i) for i in range(C)], y=(stats.max - stats.min)[order].cpu().numpy(), base=stats.min[order].cpu().numpy(),
    customdata=np.stack([np.asarray(order), stats.mean[order].cpu().numpy(), stats.frac_zero[order].cpu().numpy()], 1),
    marker_color="#4C78A8",
    hovertemplate="tile %{x} = channel %{customdata[0]}<br>min %{base:.3g} … max %{y:.3g} (range)<br>"
                  "mean %{customdata[1]:.3g}, zero %{customdata[2]:.0%}<extra></extra>"))
rng.update_layout(title="Value range of each channel (in grid order; hover for the channel)", height=220, font=FONT,
                  margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(title="tile", showticklabels=C <= 64), yaxis=dict(title="value"))
st.plotly_chart(rng, width="stretch", key="ac_ranges")

# ====================================================================== 3. one channel
st.header("3. One channel up close", divider="gray")
d1, d2 = st.columns([1, 3])
ch = state.number("Channel", "ac_ch", 0, C - 1, int(order[0]), container=d1, help=f"0 … {C - 1}; or click a tile above.")
alpha = state.slider("Overlay opacity", "ac_alpha", 0.0, 1.0, 0.5, step=0.05, container=d1)
row = stats.row(ch)
d1.metric("min", f"{row['min']:.3g}")
d1.metric("max", f"{row['max']:.3g}")
d1.metric("mean", f"{row['mean']:.3g}")
d1.metric("fraction zero", f"{row['fraction zero']:.0%}")
keep = {k: v for k, v in st.query_params.to_dict().items() if k in state.GLOBAL_KEYS | {"src"}}
link = "/maximal?" + urlencode({**keep, "mx_layer": layer, "mx_ch": ch})
d1.markdown(f"[What excites channel {ch} most? (Maximally activating inputs)]({link})")
with d2:
    e1, e2, e3 = st.columns(3)
    e1.image(ac.render_map(maps[ch], size=300), caption=f"{shown}, channel {ch}: {H}×{W} map (nearest pixels)", width="stretch")
    show_image(ac.overlay_map(m, ctx.image, maps[ch], alpha=alpha), caption="Upsampled onto the input (jet: red = high)",
               container=e2, min_side=300, width="stretch")
    filt = ac.first_layer_filter(m, layer, ch, size=150) if is_conv else None
    if filt is not None:
        e3.image(filt, caption=f"Its filter ({m.module.get_submodule(layer).kernel_size[0]}×"
                               f"{m.module.get_submodule(layer).kernel_size[1]} weights; "
                               + ("RGB, grey = 0)" if filt.ndim == 3 and m.input_size[0] == 3 else "red +, blue −)"),
                 width=150)
        e3.caption("The map above is this filter slid over the image: bright where the image looks like the filter.")
    else:
        e3.caption("Filters of deeper layers mix many input maps, so they have no picture in pixel space: "
                   "the **Maximally activating inputs** page shows what they respond to instead.")

# ====================================================================== 4. depth strip
st.header("4. From edges to parts: the strongest maps of every stage", divider="gray")
s1, s2 = st.columns([1, 1])
strip_k = state.slider("Maps per layer", "ac_sk", 1, 8, 4, container=s1)
strip_by = state.select("Strongest by", "ac_sby", ["mean", "max"], "mean", container=s2, radio=True, horizontal=True)


@st.cache_data(max_entries=16, show_spinner="Running every stage…")
def _strip(_m, model_key: str, _img, image_key: str, k: int, by: str) -> ac.DepthStrip:
    n_stages = len(ac.conv_stages(_m))
    return ac.depth_strip(_m, _img, k=k, by=by, tile=int(np.clip(900 // max(1, min(n_stages, 24)), 40, 120)))


strip = _strip(m, m.key, ctx.image, ctx.image_key, strip_k, strip_by)
step = strip.tile + strip.pad
fig = go.Figure(go.Image(z=strip.image, hoverinfo="skip"))
fig.update_xaxes(tickvals=[strip.pad + j * step + strip.tile / 2 for j in range(len(strip.layers))],
                 ticktext=[f"{n}<br>{shapes[n.split('#')[0]][1]}×{shapes[n.split('#')[0]][2]}" for n in strip.layers],
                 tickangle=-45 if len(strip.layers) > 8 else 0, side="top", showgrid=False)
fig.update_yaxes(tickvals=[strip.pad + r * step + strip.tile / 2 for r in range(strip_k)],
                 ticktext=[f"#{r + 1}" for r in range(strip_k)], showgrid=False)
fig.update_layout(height=strip.image.shape[0] + (190 if len(strip.layers) > 8 else 110), font=FONT,
                  margin=dict(l=10, r=10, t=100 if len(strip.layers) > 8 else 60, b=10))
st.plotly_chart(fig, width="stretch", key="ac_strip")
st.caption("Columns left to right: every convolution (after its activation), shallow to deep. Rows: its "
           f"{strip_k} strongest channel(s) by {strip_by} activation, each stretched to its own range and drawn "
           "with square pixels, so deep maps show how coarse they are.")

# ====================================================================== 5. compare
st.header("5. Two images, same layer", divider="gray")
others = [n for n in sample_names(m) if f"sample {n}" != ctx.image_label]
cmp_opts = list(ac.TRANSFORMS) + [f"sample:{n}" for n in others]
t1, t2 = st.columns([2, 3])
other = state.select("Compare with", "ac_cmp", cmp_opts, "hflip", container=t1,
                     format_func=lambda o: {"hflip": "this image, mirrored", "rotate90": "this image, turned 90°",
                                            "invert": "this image, negative", "shift": "this image, shifted"}.get(o, o.replace("sample:", "sample ")))
img_b = ac.transformed(ctx.image, other) if other in ac.TRANSFORMS else load_image(sample_path(other.split(":", 1)[1]))
t2.caption(f"Layer **{shown}** for both, one colour range and one channel order (image A's strongest first), "
           "so tile *i* is the same channel in both grids.")
ga, gb, diff = ac.compare_maps(m, ctx.image, img_b, layer,
                               stage if is_conv else "pre", order="mean", tile_px=max(16, tile_px // 2))
l, r = st.columns(2)
l.image(m.deprocess(m.preprocess(ctx.image)), caption="A: current image", width=140)
l.image(ga.image, width="stretch")
r.image(m.deprocess(m.preprocess(img_b)), caption=f"B: {other}", width=140)
r.image(gb.image, width="stretch")
top = diff.argsort(descending=True)[:5].tolist()
st.markdown("Channels that change most (mean |A − B|): " + ", ".join(f"**{c}** ({float(diff[c]):.3g})" for c in top))

st.header("What to notice", divider="gray")
st.markdown(
    "- **First layer**: maps look like the image itself, filtered: edges of one orientation, one colour. "
    "Compare a map with its filter in section 3.\n"
    "- **Deeper**: maps shrink (pooling, stride) and multiply; each pixel of a deep map sees a large patch "
    "of the input, and many channels are all zero for a given image (look at *fraction zero*): the code is sparse.\n"
    "- **Before vs after activation**: ReLU deletes everything negative. With a shared scale, a few channels "
    "carry most of the signal.\n"
    "- **Mirror the image** (section 5): early maps mirror too; the strongest deep channels often stay the same "
    "— the start of invariance.\n"
    "- On an **untrained** model (sidebar switch) the first-layer filters are noise and deep maps carry no parts."
)
