"""Views of /activations: the current image through every layer, channel by channel."""
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
from cnnviz.ui.sidebar import sample_names, sample_path
from cnnviz.ui.view import Frame, register

STAGES = {"post": "After activation", "pre": "Before"}


class NoMaps(CnnvizError):
    """The model has no convolution with 2-D feature maps."""


def _layers(m) -> tuple[dict[str, tuple[int, ...]], list[str], list[str]]:
    """(output shape per layer, layers with spatial maps, convolutions among them)."""
    spatial = m.spatial_layers()
    convs = m.spatial_layers(convs_only=True)  # maps of at least 2 pixels (not SE gates)
    if not convs:
        raise NoMaps(f"{m.name} has no convolutional layer with 2-D feature maps: there are no maps to show.")
    return m.output_shapes(), spatial, convs


def _options(m, all_layers: bool) -> list[str]:
    _, spatial, convs = _layers(m)
    return list(dict.fromkeys(spatial if all_layers else convs))


def _selection(m) -> tuple[str, str, str, str]:
    """The layer and stage the channel grid shows, read by the views below it: (layer picked, stage picked,
    layer whose output is shown, the stage passed to ``layer_maps``)."""
    _, spatial, convs = _layers(m)
    all_layers = state.peek("ac_all", False, state.parse_bool)
    layer = state.peek("ac_layer", convs[0], valid=lambda n: n in (spatial if all_layers else convs))
    stage = state.peek("ac_stage", "post", valid=lambda s: s in STAGES)
    return (layer, stage, *_shown(m, layer, stage))


def _shown(m, layer: str, stage: str) -> tuple[str, str]:
    _, _, convs = _layers(m)
    is_conv = layer in convs
    post_name = ac.activation_after(m, layer) if is_conv else None
    shown = post_name if (is_conv and stage == "post" and post_name) else layer
    return shown, (stage if is_conv else "pre")


@register("activations.predictions", "What the network predicts", keys=("ac_k",),
          anchors=("1-what-the-network-predicts",))
def predictions(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    seen = ctx.seen()
    left, right = st.columns([1, 2])
    k = state.slider("Top-k classes", "ac_k", 1, min(10, len(m.classes)), min(5, len(m.classes)),
                     container=f.controls()[0] if f.slide else right)
    widgets.show_image(seen, caption=f"Input as the network sees it ({ctx.image_label})", container=left,
                       width="stretch" if f.slide else 240, download="activations-input")
    widgets.show_figure(bar_predictions(m.predict(ctx.image, k=k)), "activations-predictions", container=right)


@register("activations.channels", "Every channel of one layer",
          keys=("ac_all", "ac_layer", "ac_stage", "ac_sort", "ac_scale"), reads=("ac_ch",),
          anchors=("2-every-channel-of-one-layer",))
def channels(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    shapes, _, convs = _layers(m)
    c1, c2, c3, c4 = f.controls([3, 2, 2, 2])
    all_layers = state.toggle("All layers", "ac_all", False, container=c1,
                              help="Also list batch-norm, activation and pooling layers, not only convolutions.")
    layer = state.select("Layer", "ac_layer", _options(m, all_layers), convs[0], container=c1,
                         format_func=lambda n: f"{n}  ({shapes[n][0]} ch, {shapes[n][1]}×{shapes[n][2]})")
    stage = state.select("Stage", "ac_stage", list(STAGES), "post", container=c2, radio=True, horizontal=True,
                         format_func=STAGES.get,
                         help="Before: the convolution's own output (negative values included). After: the output "
                              "of the activation (ReLU) that follows it, which zeroes the negatives; in a ResNet block "
                              "the second ReLU comes after the shortcut is added.")
    with widgets.secondary_controls(c3):
        sort = state.select("Sort channels by", "ac_sort", list(ac.SORT_ORDERS), "index",
                            format_func=lambda s: {"index": "channel index", "mean": "mean activation",
                                                   "max": "max activation"}[s])
    scale = state.select("Colour scale", "ac_scale", list(ac.SCALES), "per", container=c4, radio=True,
                         horizontal=True, format_func=lambda s: {"per": "Per channel", "shared": "Shared"}[s],
                         help="Per channel stretches every map to its own range: you see each map's shape but not "
                              "its strength. Shared uses one range for all: weak channels go dark.")
    shown, map_stage = _shown(m, layer, stage)
    if not f.slide:
        if layer not in convs:
            st.caption(f"{layer} is not a convolution: its own output is shown; the Before/After switch applies to "
                       "conv layers.")
        elif stage == "post" and shown == layer:
            st.caption(f"No activation follows {layer} directly (pooling or another layer comes first), so its own "
                       "output is shown.")
    maps = ac.layer_maps(m, ctx.image, layer, map_stage)
    C, H, W = maps.shape
    stats = ac.channel_stats(maps)
    cols_grid, tile_px = fa.grid_geometry(C, aspect=2.1 if f.slide else 1.6)
    grid = fa.render_channel_grid(maps, order=sort, scale=scale, tile_px=tile_px, cols=cols_grid)
    ranges = (f"; one scale for all tiles, {grid.lo:.3g} … {grid.hi:.3g}." if scale == "shared"
              else "; each tile on its own range.")
    caption = (f"**{shown}**: {C} channels of {H}×{W}, tiles in order of "
               f"**{sort if sort != 'index' else 'channel index'}** (left to right, top to bottom). Colour: viridis, "
               "dark = low, yellow = high" + ranges)
    picked = state.peek("ac_ch", int(grid.order[0]), int, valid=lambda c: isinstance(c, int) and 0 <= c < C)

    def _pick(i: int) -> None:
        st.session_state["qp:ac_ch"] = int(grid.order[i])
        state.mark_changed("ac_ch")

    if f.slide:  # as high as the screen allows
        h, w = grid.image.shape[:2]
        width = int(min(1180, w * f.figure_height / h))
    else:
        width = "stretch" if grid.image.shape[1] > 700 else None
    widgets.clickable_grid(grid.highlight(picked), "ac_gridclick", grid.layout.tile_at, _pick, width=width)
    st.caption(caption + " **Click a tile** to inspect that channel (red frame: the one shown below)."
               if not f.slide else caption)
    widgets.png_download(grid.image, "activations-grid")
    if not f.slide:
        widgets.show_figure(fa.channel_range_chart(stats, grid.order), "activations-ranges")
    f.note("- **First layer**: maps look like the image itself, filtered: edges of one orientation, one colour.\n"
           "- **Deeper**: maps shrink (pooling, stride) and multiply, and many channels are all zero for a given "
           "image: the code is sparse.\n"
           "- **Before vs after activation**: ReLU deletes everything negative. With a shared scale, a few channels "
           "carry most of the signal.")


@register("activations.channel", "One channel up close", keys=("ac_ch", "ac_alpha"),
          reads=("ac_all", "ac_layer", "ac_stage"), anchors=("3-one-channel-up-close",))
def channel(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    layer, _, shown, map_stage = _selection(m)
    maps = ac.layer_maps(m, ctx.image, layer, map_stage)
    C, H, W = maps.shape
    stats = ac.channel_stats(maps)
    seen = ctx.seen()
    d1, d2 = (f.controls()[0], st.container()) if f.slide else st.columns([1, 3])
    ch = state.number("Channel", "ac_ch", 0, C - 1, 0, container=d1, help=f"0 … {C - 1}; or click a tile above.")
    with widgets.secondary_controls(d1):
        alpha = state.slider("Overlay opacity", "ac_alpha", 0.0, 1.0, 0.5, step=0.05)
    if not f.slide:
        for name, value in stats.row(ch).items():
            d1.metric(name, f"{value:.0%}" if name == "fraction zero" else f"{value:.3g}")
        keep = {k: v for k, v in st.query_params.to_dict().items() if k in state.GLOBAL_KEYS | {"src"}}
        link = "/maximal?" + urlencode({**keep, "mx_layer": layer, "mx_ch": ch})
        d1.markdown(f"[What excites channel {ch} most? (Maximally activating inputs)]({link})")
    e1, e2, e3 = d2.columns(3)
    side = 360 if f.slide else 300
    widgets.show_image(fa.render_map(maps[ch], size=side), caption=f"{shown}, channel {ch}: {H}×{W} map",
                       container=e1, min_side=side, width="stretch", download="activations-map")
    widgets.show_image(fa.overlay_map(seen, maps[ch], alpha=alpha),
                       caption="Upsampled onto the input (jet: red = high)", container=e2, min_side=side,
                       width="stretch", download="activations-overlay")
    kernel = ac.first_layer_kernel(m, layer, ch) if layer in _layers(m)[2] else None
    if kernel is not None:
        kh, kw = kernel.shape[1:]
        colours = "RGB, grey = 0" if kernel.shape[0] == 3 else "red +, blue −"
        widgets.show_image(fa.first_layer_filter(kernel, size=side),
                           caption=f"Its filter ({kh}×{kw} weights; {colours})", container=e3, min_side=side,
                           width="stretch" if f.slide else 150, download="activations-filter")
        e3.caption("The map is this filter slid over the image: bright where the image looks like the filter.")
    else:
        e3.caption("Filters of deeper layers mix many input maps, so they have no picture in pixel space: "
                   "the **Maximally activating inputs** page shows what they respond to instead.")
    f.note("- A first-layer map is its filter slid over the image: compare the map with the filter.\n"
           "- *fraction zero* shows how sparse the code is: many channels are silent for a given image.")


@st.cache_data(max_entries=16, show_spinner="Running every stage…")
def _strip(_m, model_key: str, _img, image_key: str, k: int, by: str) -> fa.DepthStrip:
    stages = ac.strongest_maps(_m, _img, k=k, by=by)
    return fa.depth_strip(stages, tile=int(np.clip(900 // max(1, len(stages.layers)), 40, 120)))


@register("activations.depth", "From edges to parts: the strongest maps of every stage", keys=("ac_sk", "ac_sby"),
          anchors=("4-from-edges-to-parts-the-strongest-maps-of-every-stage",))
def depth(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    shapes, _, _ = _layers(m)
    s1, s2 = f.controls([1, 1])
    strip_k = state.slider("Maps per layer", "ac_sk", 1, 8, 4, container=s1)
    strip_by = state.select("Strongest by", "ac_sby", ["mean", "max"], "mean", container=s2, radio=True,
                            horizontal=True)
    strip = _strip(m, m.key, ctx.image, ctx.image_key, strip_k, strip_by)
    widgets.show_figure(fa.depth_strip_figure(strip, {n: s[1:] for n, s in shapes.items() if len(s) == 3}),
                        "activations-depth-strip")
    st.caption("Columns left to right: every convolution (after its activation), shallow to deep. Rows: its "
               f"{strip_k} strongest channel(s) by {strip_by} activation, each stretched to its own range and drawn "
               "with square pixels, so deep maps show how coarse they are.")
    f.note("- Left, the maps still look like the image; right, they are a few coarse pixels that say *which part* "
           "is present, not where exactly.\n"
           "- On an **untrained** model (sidebar switch) deep maps carry no parts.")


TRANSFORM_LABELS = {"hflip": "this image, mirrored", "rotate90": "this image, turned 90°",
                    "invert": "this image, negative", "shift": "this image, shifted"}


@register("activations.compare", "Two images, same layer", keys=("ac_cmp",), reads=("ac_all", "ac_layer", "ac_stage"),
          anchors=("5-two-images-same-layer",))
def compare(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    layer, _, shown, map_stage = _selection(m)
    others = [n for n in sample_names(m) if f"sample {n}" != ctx.image_label]
    t1, t2 = f.controls([2, 3])
    other = state.select("Compare with", "ac_cmp", list(ac.TRANSFORMS) + [f"sample:{n}" for n in others], "hflip",
                         container=t1,
                         format_func=lambda o: TRANSFORM_LABELS.get(o, o.replace("sample:", "sample ")))
    if other in ac.TRANSFORMS:
        img_b = ac.transformed(ctx.image, other)
    else:
        img_b = load_image(sample_path(other.split(":", 1)[1]))
    t2.caption(f"Layer **{shown}** for both, one colour range and one channel order (image A's strongest first), "
               "so tile *i* is the same channel in both grids.")
    cmp = ac.compare_maps(m, ctx.image, img_b, layer, map_stage, order="mean")
    _, tile_px = fa.grid_geometry(cmp.a.shape[0])
    ga, gb = fa.compare_grids(cmp, tile_px=max(16, tile_px // 2))
    a_col, b_col = st.columns(2)
    thumb = 96 if f.slide else 140
    for col, img, grid, cap, name in ((a_col, ctx.image, ga, "A: current image", "a"),
                                      (b_col, img_b, gb, f"B: {TRANSFORM_LABELS.get(other, other)}", "b")):
        left, right = col.columns([1, 4]) if f.slide else (col, col)
        widgets.show_image(m.deprocess(m.preprocess(img)), caption=cap, container=left, min_side=thumb, width=thumb,
                           download=f"activations-compare-input-{name}")
        widgets.show_image(grid.image, container=right, min_side=0, width="stretch",
                           download=f"activations-compare-{name}")
    top = cmp.diff.argsort(descending=True)[:5].tolist()
    st.markdown("Channels that change most (mean |A − B|): "
                + ", ".join(f"**{c}** ({float(cmp.diff[c]):.3g})" for c in top))
    f.note("- **Mirror the image**: early maps mirror too; the strongest deep channels often stay the same: "
           "the start of invariance.")
