"""Activation maps: the current image through every layer, channel by channel."""
from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import streamlit as st

from cnnviz.core.images import load_image
from cnnviz.errors import CnnvizError
from cnnviz.figures import activations as fa
from cnnviz.figures.common import bar_predictions
from cnnviz.methods import activations as ac
from cnnviz.ui import state, widgets
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
widgets.untrained_badge(m)

shapes: dict[str, tuple[int, ...]] = {}
for li in m.layers():
    shapes.setdefault(li.name, li.output_shape)
spatial = ac.spatial_layers(m)
convs = [n for n in m.conv_layer_names() if n in set(spatial)]  # maps of at least 2 pixels (not SE gates)
if not convs:
    st.info(f"{m.name} has no convolutional layer with 2-D feature maps: nothing to show on this page.")
    st.stop()
seen = m.deprocess(m.preprocess(ctx.image))

# ====================================================================== 1. predictions
st.header("1. What the network predicts", divider="gray")
left, right = st.columns([1, 2])
widgets.show_image(seen, caption=f"Input as the network sees it ({ctx.image_label})", container=left, width=240,
                   download="activations-input")
k = state.slider("Top-k classes", "ac_k", 1, min(10, len(m.classes)), min(5, len(m.classes)), container=right)
widgets.show_figure(bar_predictions(m.predict(ctx.image, k=k)), "activations-predictions", container=right)

# ====================================================================== 2. channel grid
st.header("2. Every channel of one layer", divider="gray")
c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
all_layers = state.toggle("All layers", "ac_all", False, container=c1,
                          help="Also list batch-norm, activation and pooling layers, not only convolutions.")
options = list(dict.fromkeys(spatial if all_layers else convs))
layer = state.select("Layer", "ac_layer", options, convs[0], container=c1,
                     format_func=lambda n: f"{n}  ({shapes[n][0]} ch, {shapes[n][1]}×{shapes[n][2]})")
is_conv = layer in convs
post_name = ac.activation_after(m, layer) if is_conv else None
stage = state.select("Stage", "ac_stage", ["post", "pre"], "post", container=c2, radio=True, horizontal=True,
                     format_func=lambda s: {"post": "After activation", "pre": "Before"}[s],
                     help="Before: the convolution's own output (negative values included). After: the output of the "
                          "activation (ReLU) that follows it, which zeroes the negatives; in a ResNet block the second "
                          "ReLU comes after the shortcut is added.")
with widgets.secondary_controls(c3):
    sort = state.select("Sort channels by", "ac_sort", list(ac.SORT_ORDERS), "index",
                        format_func=lambda s: {"index": "channel index", "mean": "mean activation",
                                               "max": "max activation"}[s])
scale = state.select("Colour scale", "ac_scale", list(ac.SCALES), "per", container=c4, radio=True, horizontal=True,
                     format_func=lambda s: {"per": "Per channel", "shared": "Shared"}[s],
                     help="Per channel stretches every map to its own range: you see each map's shape but not its "
                          "strength. Shared uses one range for all: weak channels go dark.")
if not is_conv:
    st.caption(f"{layer} is not a convolution: its own output is shown; the Before/After switch applies to "
               "conv layers.")
elif stage == "post" and post_name is None:
    st.caption(f"No activation follows {layer} directly (pooling or another layer comes first), so its own "
               "output is shown.")
shown = post_name if (is_conv and stage == "post" and post_name) else layer
map_stage = stage if is_conv else "pre"

try:
    maps = ac.layer_maps(m, ctx.image, layer, map_stage)
except CnnvizError as e:
    widgets.show_error(e)
    st.stop()
C, H, W = maps.shape
stats = ac.channel_stats(maps)
cols_grid, tile_px = fa.grid_geometry(C)
grid = fa.render_channel_grid(maps, order=sort, scale=scale, tile_px=tile_px, cols=cols_grid)
ranges = (f"; one scale for all tiles, {grid.lo:.3g} … {grid.hi:.3g}." if scale == "shared"
          else "; each tile on its own range.")
st.caption(f"**{shown}**: {C} channels of {H}×{W}, tiles in order of **{sort if sort != 'index' else 'channel index'}"
           "** (left to right, top to bottom). Colour: viridis, dark = low, yellow = high" + ranges
           + " **Click a tile** to inspect that channel (red frame: the one shown in section 3).")
picked = str(st.session_state.get("qp:ac_ch", st.query_params.get("ac_ch", grid.order[0])))  # before its widget
picked = int(picked) if picked.isdigit() and int(picked) < C else grid.order[0]


def _pick(i: int) -> None:
    st.session_state["qp:ac_ch"] = int(grid.order[i])


widgets.clickable_grid(grid.highlight(picked), "ac_gridclick", grid.layout.tile_at, _pick,
                       width="stretch" if grid.image.shape[1] > 700 else None)
widgets.png_download(grid.image, "activations-grid")
widgets.show_figure(fa.channel_range_chart(stats, grid.order), "activations-ranges")

# ====================================================================== 3. one channel
st.header("3. One channel up close", divider="gray")
d1, d2 = st.columns([1, 3])
ch = state.number("Channel", "ac_ch", 0, C - 1, int(grid.order[0]), container=d1,
                  help=f"0 … {C - 1}; or click a tile above.")
with widgets.secondary_controls(d1):
    alpha = state.slider("Overlay opacity", "ac_alpha", 0.0, 1.0, 0.5, step=0.05)
for name, value in stats.row(ch).items():
    d1.metric(name, f"{value:.0%}" if name == "fraction zero" else f"{value:.3g}")
keep = {k: v for k, v in st.query_params.to_dict().items() if k in state.GLOBAL_KEYS | {"src"}}
link = "/maximal?" + urlencode({**keep, "mx_layer": layer, "mx_ch": ch})
d1.markdown(f"[What excites channel {ch} most? (Maximally activating inputs)]({link})")
e1, e2, e3 = d2.columns(3)
widgets.show_image(fa.render_map(maps[ch], size=300), caption=f"{shown}, channel {ch}: {H}×{W} map (nearest pixels)",
                   container=e1, min_side=300, width="stretch", download="activations-map")
widgets.show_image(fa.overlay_map(seen, maps[ch], alpha=alpha), caption="Upsampled onto the input (jet: red = high)",
                   container=e2, min_side=300, width="stretch", download="activations-overlay")
kernel = ac.first_layer_kernel(m, layer, ch) if is_conv else None
if kernel is not None:
    kh, kw = kernel.shape[1:]
    colours = "RGB, grey = 0" if kernel.shape[0] == 3 else "red +, blue −"
    widgets.show_image(fa.first_layer_filter(kernel, size=150), caption=f"Its filter ({kh}×{kw} weights; {colours})",
                       container=e3, min_side=150, width=150, download="activations-filter")
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
def _strip(_m, model_key: str, _img, image_key: str, k: int, by: str) -> fa.DepthStrip:
    stages = ac.strongest_maps(_m, _img, k=k, by=by)
    return fa.depth_strip(stages, tile=int(np.clip(900 // max(1, len(stages.layers)), 40, 120)))


strip = _strip(m, m.key, ctx.image, ctx.image_key, strip_k, strip_by)
widgets.show_figure(fa.depth_strip_figure(strip, {n: s[1:] for n, s in shapes.items() if len(s) == 3}),
                    "activations-depth-strip")
st.caption("Columns left to right: every convolution (after its activation), shallow to deep. Rows: its "
           f"{strip_k} strongest channel(s) by {strip_by} activation, each stretched to its own range and drawn "
           "with square pixels, so deep maps show how coarse they are.")

# ====================================================================== 5. compare
st.header("5. Two images, same layer", divider="gray")
others = [n for n in sample_names(m) if f"sample {n}" != ctx.image_label]
labels = {"hflip": "this image, mirrored", "rotate90": "this image, turned 90°", "invert": "this image, negative",
          "shift": "this image, shifted"}
t1, t2 = st.columns([2, 3])
other = state.select("Compare with", "ac_cmp", list(ac.TRANSFORMS) + [f"sample:{n}" for n in others], "hflip",
                     container=t1, format_func=lambda o: labels.get(o, o.replace("sample:", "sample ")))
img_b = ac.transformed(ctx.image, other) if other in ac.TRANSFORMS else load_image(sample_path(other.split(":", 1)[1]))
t2.caption(f"Layer **{shown}** for both, one colour range and one channel order (image A's strongest first), "
           "so tile *i* is the same channel in both grids.")
cmp = ac.compare_maps(m, ctx.image, img_b, layer, map_stage, order="mean")
ga, gb = fa.compare_grids(cmp, tile_px=max(16, tile_px // 2))
a_col, b_col = st.columns(2)
widgets.show_image(seen, caption="A: current image", container=a_col, min_side=140, width=140,
                   download="activations-compare-input-a")
widgets.show_image(ga.image, container=a_col, min_side=0, width="stretch", download="activations-compare-a")
widgets.show_image(m.deprocess(m.preprocess(img_b)), caption=f"B: {other}", container=b_col, min_side=140, width=140,
                   download="activations-compare-input-b")
widgets.show_image(gb.image, container=b_col, min_side=0, width="stretch", download="activations-compare-b")
top = cmp.diff.argsort(descending=True)[:5].tolist()
st.markdown("Channels that change most (mean |A − B|): "
            + ", ".join(f"**{c}** ({float(cmp.diff[c]):.3g})" for c in top))

st.header("What to notice", divider="gray")
widgets.what_to_notice(
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
