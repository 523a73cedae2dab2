"""Maximally activating inputs: the dataset patches that excite a channel most, and images synthesized to excite it."""
from __future__ import annotations

import math

import numpy as np
import streamlit as st
import torch
from streamlit_image_coordinates import streamlit_image_coordinates

from cnnviz.methods import maximal as mx
from cnnviz.methods import synthesis as sy
from cnnviz.ui import state
from cnnviz.figures.common import enlarge, heatmap
from cnnviz.ui.widgets import untrained_badge
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model
COLUMN_PX = 640  # clickable images are drawn at most this wide (the component does not shrink them to the column)

st.title("Maximally activating inputs")
st.markdown(
    "What makes a channel fire? There are two ways to ask. **Dataset examples**: run many real images "
    "through the network and keep, for every channel, the images where it responded most, cropped to the "
    "part of the image the unit can actually see (its *receptive field*). **Synthesized images**: start from "
    "noise and change the image by gradient ascent, *x ← x + α·∂a/∂x*, until the channel responds as strongly "
    "as it can. Done naively this gives high-frequency noise that excites the unit without looking like "
    "anything; with the regularisers of Olah et al. (Distill, 2017), a Fourier-space image, decorrelated "
    "colours and small random jitter, scaling and rotation at every step, the picture shows the feature. "
    "OpenAI Microscope shows both for a fixed set of models; here they are computed live for the loaded one."
)
untrained_badge(m)

# ---------------------------------------------------------------- layer and channel (shared by both parts)
shapes: dict[str, tuple[int, ...]] = {}
for info in m.layers():
    shapes.setdefault(info.name, info.output_shape)
convs = [n for n in m.conv_layer_names() if len(shapes.get(n, ())) == 3]
if not convs:
    st.info(f"{m.name} has no convolutional layers with a spatial output, so there is nothing to show here.")
    st.stop()
layer_options = list(convs)
asked = st.query_params.get("mx_layer")
if asked and asked not in layer_options and len(shapes.get(asked, ())) == 3:
    # the Activation maps page may link here with a non-conv layer (a ReLU, a pooling layer): index it too
    order = {n: i for i, n in enumerate(shapes)}
    layer_options = sorted(layer_options + [asked], key=lambda n: order.get(n, 0))
index_layers = list(layer_options)

c1, c2, c3 = st.columns([2, 1, 2])
layer = state.select("Layer", "mx_layer", layer_options, convs[len(convs) // 2], container=c1,
                     format_func=lambda n: f"{n}  ({shapes[n][0]} ch, {shapes[n][1]}×{shapes[n][2]})")
n_ch = shapes[layer][0]
ch = state.number("Channel", "mx_ch", 0, n_ch - 1, 0, container=c2, help=f"0 … {n_ch - 1}. Click a channel in the grid below to pick it.")
view = state.select("Show", "mx_view", ["data", "synth"], "data", container=c3, radio=True, horizontal=True,
                    format_func=lambda v: {"data": "Dataset examples", "synth": "Synthesized images"}[v])


def _rf_note() -> str:
    try:
        from cnnviz.methods.receptive_field import receptive_fields

        rf = receptive_fields(m)[layer]
        return (f"A unit of **{layer}** sees **{rf.size[0]}×{rf.size[1]} px** of the {m.input_size[1]}×{m.input_size[2]} "
                f"input; neighbouring units are **{rf.jump[0]} px** apart.")
    except Exception as e:  # an untraceable uploaded model: say so instead of failing
        return f"(The receptive field of {layer} could not be computed: {e})"


# ====================================================================== dataset examples
@st.cache_resource(max_entries=4, show_spinner="Preparing the sample photos…")
def _photo_set(model_key: str, _model) -> mx.ArrayImageSet:
    return mx.sample_photo_images(_model)


@st.cache_resource(max_entries=4, show_spinner="Scanning the folder…")
def _folder_set(folder: str, limit: int, model_key: str, _model) -> mx.FolderImageSet:
    return mx.FolderImageSet(folder, _model, limit=limit)


def _image_set() -> mx.ImageSet | None:
    if m.grayscale:
        options = ["mnist", "fashion-mnist"]
        if m.dataset == "fashion-mnist":
            options.reverse()
        options.append("folder")
    else:
        options = ["samples", "folder"]
    labels = {"mnist": "MNIST digits (2,000 bundled test images)", "fashion-mnist": "Fashion-MNIST (3,000 bundled test images)",
              "samples": "Sample photos + random crops (tiny set, 96 images)", "folder": "An image folder on the server"}
    d1, d2 = st.columns([2, 3])
    which = state.select("Data set", "mx_data", options, options[0], format_func=lambda o: labels[o], container=d1)
    if which in ("mnist", "fashion-mnist"):
        if m.dataset and which != m.dataset:
            d2.info(f"{m.name} was trained on {m.dataset}: these are images it never learned about.")
        return mx.bundled_images(which)
    if which == "samples":
        d2.warning("A **tiny** set: 6 bundled photos and random crops and flips of them. Too few images to say "
                   "what a channel of an ImageNet model is for; it shows how the method works. Give an image "
                   "folder (ImageFolder layout) for real answers.", icon=":material/warning:")
        return _photo_set(m.key, m)
    folder = state.text("Image folder (path on the machine running the app)", "mx_dir", "", container=d2)
    limit = state.number("At most this many images", "mx_lim", 10, 50_000, 2000, container=d2)
    if not folder:
        d2.info("Type the path of a folder of images (sub-folders per class are fine).")
        return None
    try:
        return _folder_set(folder, int(limit), m.key, m)
    except FileNotFoundError as e:
        d2.error(str(e))
        return None


def _build(images: mx.ImageSet) -> mx.MaximalIndex | None:
    macs = sum(i.macs for i in m.layers()) * len(images)
    cached = mx.is_cached(m, images, index_layers)
    small = macs <= 2e11 or m.device.type != "cpu"
    if not cached and not small:
        st.info(f"Indexing {len(images):,} images with {m.name} costs about {macs / 1e9:,.0f} GMAC on "
                f"{m.device_description}: press the button to start (it can be stopped).")
        if not st.button("Build the index", key="mx_build", type="primary"):
            return None
    bar = st.progress(0.0, text=f"Indexing {images.name}…") if not cached else None
    stop_col = st.empty()
    if bar is not None:
        stop_col.button("Stop indexing", key="mx_stop_index", help="Stops the pass; nothing is cached.")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.progress(done / total, text=f"Indexing {images.name}: {done:,} / {total:,} images")

    try:
        idx = mx.build_index(m, images, index_layers, batch_size=256 if m.input_size[1] <= 64 else 16, progress=progress)
    except (ValueError, KeyError) as e:
        st.error(f"The index could not be built: {e}")
        return None
    if bar is not None:
        bar.empty()
    stop_col.empty()
    return idx


def _on_grid_click() -> None:
    click = st.session_state.get("mx_gridclick")
    info = st.session_state.get("_mx_grid")
    if not click or not info:
        return
    layout, nat_w, nat_h, chans = info
    x = click["x"] * nat_w / max(1, click["width"])
    y = click["y"] * nat_h / max(1, click["height"])
    i = layout.tile_at(y, x)
    if i is not None:
        st.session_state["qp:mx_ch"] = int(chans[i])
        st.session_state["qp:mx_hit"] = 1


def _on_strip_click() -> None:
    click = st.session_state.get("mx_stripclick")
    info = st.session_state.get("_mx_strip")
    if not click or not info:
        return
    layout, nat_w, nat_h = info
    i = layout.tile_at(click["y"] * nat_h / max(1, click["height"]), click["x"] * nat_w / max(1, click["width"]))
    if i is not None:
        st.session_state["qp:mx_hit"] = i + 1


def dataset_examples() -> None:
    images = _image_set()
    if images is None:
        return
    idx = _build(images)
    if idx is None:
        return
    st.caption(f"{images.note}. Index of {len(idx.layers)} layers × top/bottom {idx.k} per channel: "
               + ("loaded from the cache." if idx.from_cache else f"built in {idx.seconds:.1f} s on {m.device_description}.")
               + " " + _rf_note())
    o1, o2, o3 = st.columns([2, 1, 1])
    largest = state.select("Examples", "mx_sign", ["top", "bottom"], "top", container=o1, radio=True, horizontal=True,
                           format_func=lambda v: {"top": "Most excited (top)", "bottom": "Most inhibited (bottom)"}[v]) == "top"
    k = state.slider("Patches per channel", "mx_k", 1, idx.k, 8, container=o2)
    per = state.select("Patches per channel in the grid", "mx_per", [1, 4, 9], 4, container=o3)
    try:
        patches = mx.top_patches(m, idx, images, layer, ch, k, largest)
    except Exception as e:  # receptive field not computable for an uploaded model
        st.error(f"Patches cannot be cropped for {layer}: {e}")
        return

    # ---- one channel: its top patches
    st.subheader(f"Channel {ch} of {layer}: the {len(patches)} {'strongest' if largest else 'most negative'} responses")
    labels = [f"{p.hit.value:.2f}" for p in patches]
    cols = min(len(patches), 8)
    side = max(48, min(128, 640 // cols - 8))  # the whole strip fits a ~650 px column
    strip, layout = mx.patch_strip(patches, side=side, labels=labels, cols=cols)
    st.session_state["_mx_strip"] = (layout, strip.shape[1], strip.shape[0])
    streamlit_image_coordinates(strip, key="mx_stripclick", on_click=_on_strip_click, cursor="pointer",
                                width=min(strip.shape[1], COLUMN_PX))
    st.caption("Each patch is the receptive field of the unit where the channel peaked in that image (grey: outside "
               "the image, where the network saw zero padding); the number is the activation. Click a patch to "
               "see the whole image. Images: " + ", ".join(p.caption for p in patches))

    hc, _ = st.columns([1, 3])
    hit_i = state.number("Show in full: patch number", "mx_hit", 1, len(patches), 1, container=hc)
    p = patches[hit_i - 1]
    full = images.image(p.hit.image)
    scale = max(1, math.ceil(280 / full.shape[0]))
    f1, f2 = st.columns(2)
    f1.image(mx.draw_box(full, p.box, scale=scale, width=max(2, scale // 2)),
             caption=f"{p.caption}: unit ({p.hit.y}, {p.hit.x}) of channel {ch}, value {p.hit.value:.3f}; red box: its "
                     f"receptive field {p.box[2] - p.box[0]}×{p.box[3] - p.box[1]} px", width=min(full.shape[1] * scale, 450))
    with torch.inference_mode():
        amap = m.activations(mx.images_to_batch(m, full[None]), [layer])[layer][0, ch]
    z = amap.float().cpu().numpy()
    fig = heatmap(z, title=f"Channel {ch} on this image ({z.shape[0]}×{z.shape[1]} map)", colorscale="RdBu_r", zmid=0,
                  height=340, hover="unit (%{y}, %{x}): %{z:.3f}<extra></extra>")
    fig.add_scatter(x=[p.hit.x], y=[p.hit.y], mode="markers", marker=dict(symbol="square-open", size=22, color="black",
                    line=dict(width=3)), hoverinfo="skip", showlegend=False)
    f2.plotly_chart(fig, width="stretch")
    f2.caption(f"Red +, blue −; the square marks unit ({p.hit.y}, {p.hit.x}), whose receptive field is the red box.")

    # ---- many channels at once
    st.subheader(f"All channels of {layer}")
    per_page = 64
    pages = max(1, math.ceil(n_ch / per_page))
    first = 0
    if pages > 1:
        page = state.slider(f"Page of channels (64 per page, {n_ch} in all)", "mx_page", 1, pages, 1)
        first = (page - 1) * per_page
    chans = list(range(first, min(n_ch, first + per_page)))
    side_n = math.ceil(math.sqrt(per))
    target = (COLUMN_PX / min(len(chans), 8) - 4 - (side_n + 1)) / side_n  # tile side that fills the column
    rf_px = patches[0].pixels.shape[0]
    tile = int(rf_px * max(1, target // rf_px)) if rf_px <= target else max(16, int(target))  # whole multiples stay crisp
    with st.spinner("Cropping patches…"):
        grid, glayout = mx.channel_grid(m, idx, images, layer, chans, per_channel=per, largest=largest, tile=tile)
    st.session_state["_mx_grid"] = (glayout, grid.shape[1], grid.shape[0], chans)  # clicks map back by the displayed size
    f = max(1, COLUMN_PX // grid.shape[1])  # whole-pixel upscaling keeps 28x28 patches crisp
    grid = np.repeat(np.repeat(grid, f, axis=0), f, axis=1) if f > 1 else grid
    streamlit_image_coordinates(grid, key="mx_gridclick", on_click=_on_grid_click, cursor="pointer",
                                width=min(grid.shape[1], COLUMN_PX))
    st.caption(f"Channels {chans[0]}–{chans[-1]}, left to right and top to bottom, each with its {per} "
               f"{'best' if largest else 'most negative'} patch{'es' if per > 1 else ''}. Click one to select it above.")


# ====================================================================== synthesized images
@st.cache_resource(max_entries=1)
def _results() -> dict:
    """Finished renderings, shared by every session (a link with the same settings shows them at once)."""
    return {}


def synthesized() -> None:
    s1, s2, s3 = st.columns([2, 1, 1])
    kind = state.select("Objective", "mx_obj", list(sy.KINDS), "channel", format_func=lambda k: sy.KIND_TITLES[k], container=s1)
    negative = state.toggle("Negative (minimise instead)", "mx_neg", False, container=s2)
    naive = state.toggle("Naive: plain pixels, no transforms", "mx_naive", False, container=s3,
                         help="Gradient ascent on raw pixels with no Fourier parameterisation, colour decorrelation or "
                              "random transforms: see why the regularisers matter.")
    t1, t2, t3 = st.columns(3)
    objs: list[sy.Objective]
    if kind in ("channel", "neuron"):
        n = state.slider("How many channels (from the channel above)", "mx_n", 1, 64, 8, container=t1)
        chans = list(range(ch, min(n_ch, ch + n)))
        if kind == "neuron":
            h, w = shapes[layer][1:]
            ny = state.number("Neuron row y", "mx_y", 0, h - 1, h // 2, container=t2)
            nx = state.number("Neuron column x", "mx_x", 0, w - 1, w // 2, container=t2)
            objs = [sy.neuron(layer, c, ny, nx) for c in chans]
        else:
            objs = [sy.channel(layer, c) for c in chans]
    elif kind == "layer":
        objs = [sy.deepdream(layer)]
        t1.caption(f"DeepDream: maximise the mean square of every activation of {layer}.")
    else:
        default = list(range(min(len(m.classes), 10 if len(m.classes) <= 10 else 4)))
        cls = state.multiselect("Classes", "mx_cls", list(range(len(m.classes))), default, container=t1,
                                format_func=lambda i: f"{i}: {m.classes[i]}")
        if not cls:
            st.info("Pick at least one class.")
            return
        objs = [sy.class_logit(c) if kind == "logit" else sy.class_probability(c) for c in cls]
    if negative:
        objs = [-o for o in objs]
    variants = state.slider("Images per objective (diversity)", "mx_var", 1, 8, 1, container=t3,
                            help="Several images of the same objective, pushed apart by a diversity term: a channel "
                                 "often responds to more than one thing.")
    weight = 0.0
    if variants > 1:
        weight = state.slider("Diversity weight", "mx_dw", 0.0, 10.0, 2.0, step=0.5, container=t3)
    steps = state.slider("Steps (Adam, lr 0.05)", "mx_steps", 16, 1024, 256, step=16, container=t2)
    size = None
    if not m.grayscale and m.input_size[1] >= 96:
        sizes = [64, 96, 128, 160, 224]
        px = state.select("Image size (px)", "mx_px", sizes, 128 if m.device.type == "cpu" else 224, container=t2,
                          help="The zoo models pool globally, so they accept smaller images: 128 px is 3x cheaper than "
                               "224 px and shows the same features (Lucid renders at 128).")
        size = None if px == m.input_size[1] else (px, px)
    slots = [o for o in objs for _ in range(variants)]
    if len(slots) > 64:
        st.warning(f"{len(slots)} images at once is more than 64: only the first 64 are rendered.")
        slots = slots[:64]
    key = (m.key, tuple(slots), steps, naive, weight, size)
    classes = m.classes
    def short(o: sy.Objective) -> str:
        sign = "−" if o.sign < 0 else ""
        if o.kind == "channel":
            return f"{sign}ch {o.index}"
        if o.kind == "neuron":
            return f"{sign}ch {o.index} @({o.y},{o.x})"
        if o.kind == "layer":
            return f"{sign}DeepDream"
        return f"{sign}{'logit' if o.kind == 'logit' else 'P'} {classes[o.index]}"

    captions = [short(o) + (f" #{i % variants + 1}" if variants > 1 else "") for i, o in enumerate(slots)]
    st.markdown(f"**{len(slots)} image{'s' if len(slots) > 1 else ''}:** " + ", ".join(dict.fromkeys(o.label(classes) for o in slots)))
    side = m.input_size[1]
    width = side * math.ceil(150 / side) if side <= 64 else 200  # whole-pixel upscaling keeps 28x28 crisp

    def show(where, images01: torch.Tensor, values: torch.Tensor | None) -> None:
        arrs = [enlarge((images01[i].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).squeeze(2).numpy(), width)
                for i in range(len(images01))]
        caps = [c + (f" = {float(values[i]):.2f}" if values is not None else "") for i, c in enumerate(captions)]
        where.image(arrs, caption=caps, width=width)

    b1, b2, _ = st.columns([1, 1, 4])
    go = b1.button("Render", key="mx_go", type="primary", icon=":material/play_arrow:")
    store = _results()
    if go:
        b2.button("Stop", key="mx_stop", icon=":material/stop:", help="Stops the optimisation and keeps the images so far.")
        bar = st.progress(0.0, text="Optimising…")
        live = st.empty()

        def progress(p: sy.SynthesisProgress) -> None:
            st.session_state["_mx_partial"] = (key, p.images, p.values, p.step)
            bar.progress(p.step / p.steps, text=f"Step {p.step} / {p.steps}: mean objective {float(p.values.mean()):.3f}")
            show(live, p.images, p.values)

        every = 8 if m.input_size[1] <= 64 or m.device.type != "cpu" else 2
        try:
            res = sy.synthesize(m, slots, steps=steps, naive=naive, diversity=weight, size=size, progress=progress, every=every)
        except (ValueError, IndexError, KeyError, RuntimeError) as e:  # RuntimeError: a size the model cannot take
            st.error(f"Cannot optimise this objective: {e}")
            return
        store[key] = res
        while len(store) > 16:
            store.pop(next(iter(store)))
        bar.empty()
        live.empty()
    res = store.get(key)
    if res is not None:
        show(st, res.images, res.values)
        gain = (res.values - res.start_values)
        st.caption(f"{res.steps_done} steps in {res.seconds:.1f} s on {m.device_description}, {len(slots)} image{'s' if len(slots) > 1 else ''} in one batch. "
                   f"Objective (on the final image, without transforms): mean {float(res.values.mean()):.2f}, "
                   f"{'up' if float(gain.mean()) >= 0 else 'DOWN'} from {float(res.start_values.mean()):.2f} at the random start "
                   f"({float(gain.mean()):+.2f})." + ("" if float(gain.mean()) > 0 else " Try more steps."))
    else:
        partial = st.session_state.get("_mx_partial")
        if partial is not None and partial[0] == key:
            show(st, partial[1], partial[2])
            st.caption(f"Stopped at step {partial[3]} of {steps}: the images so far (values measured under random transforms).")
        else:
            st.info(f"Press **Render** to optimise {len(slots)} image{'s' if len(slots) > 1 else ''} "
                    f"({steps} steps) on {m.device_description}. The images update while they optimise.")


if view == "data":
    dataset_examples()
else:
    synthesized()

with st.expander("What to notice", expanded=False):
    st.markdown(
        "- **Early layers** respond to strokes, edges and blobs: their patches are small (the receptive field) and "
        "look alike across images. **Deeper layers** see more of the image and respond to parts (loops, corners, "
        "sleeves, soles).\n"
        "- **Most inhibited** examples show what a channel is *against*: often the opposite edge or the empty background.\n"
        "- A channel's top patches can mix several different things: the unit is *polysemantic*. Ask for several "
        "synthesized images with the diversity term to see the different things it answers.\n"
        "- Switch on **Naive**: plain gradient ascent finds high-frequency patterns that excite the unit even more "
        "than the regularised image, but look like noise. The network's units can be driven by things no real "
        "image contains, which is also why adversarial examples exist.\n"
        "- Class objectives on a digit network draw the class's stroke layout; on an **untrained** network every "
        "objective gives texture-like noise: the structure comes from training, not from the method.\n"
        "- The synthesized images are optimised in one batch, one image per channel, each with its own random "
        "transforms: 32 channels cost little more than one on a GPU.")
