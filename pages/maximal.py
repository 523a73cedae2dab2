"""Maximally activating inputs: the dataset patches that excite a channel most, and images synthesized to excite it."""
from __future__ import annotations

import math

import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.figures import maximal as fx
from cnnviz.methods import maximal as mx
from cnnviz.methods import synthesis as sy
from cnnviz.methods.embeddings import ResultCache
from cnnviz.ui import state, widgets
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model

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
widgets.untrained_badge(m)

# ---------------------------------------------------------------- layer and channel (shared by both parts)
convs, shapes = mx.spatial_layers(m)
if not convs:
    st.info(f"{m.name} has no convolutional layers with a spatial output, so there is nothing to show here.")
    st.stop()
# the Activation maps page may link here with a non-conv layer (a ReLU, a pooling layer): index it too
layer_options = mx.spatial_layers(m, st.query_params.get("mx_layer"))[0]
c1, c2, c3 = st.columns([2, 1, 2])
layer = state.select("Layer", "mx_layer", layer_options, convs[len(convs) // 2], container=c1,
                     format_func=lambda n: f"{n}  ({shapes[n][0]} ch, {shapes[n][1]}×{shapes[n][2]})")
n_ch = shapes[layer][0]
ch = state.number("Channel", "mx_ch", 0, n_ch - 1, 0, container=c2,
                  help=f"0 … {n_ch - 1}. Click a channel in the grid below to pick it.")
view = state.select("Show", "mx_view", ["data", "synth"], "data", container=c3, radio=True, horizontal=True,
                    format_func=lambda v: {"data": "Dataset examples", "synth": "Synthesized images"}[v])


# ====================================================================== dataset examples
@st.cache_resource(max_entries=6, show_spinner="Preparing the images…")
def _image_set(which: str, folder: str, limit: int, model_key: str, _model) -> mx.ImageSet:
    return mx.open_image_set(which, _model, folder, limit)


def image_set() -> mx.ImageSet | None:
    options = mx.image_set_choices(m)
    d1, d2 = st.columns([2, 3])
    which = state.select("Data set", "mx_data", options, options[0], format_func=mx.IMAGE_SET_TITLES.get, container=d1)
    folder, limit = "", 2000
    if which in ("mnist", "fashion-mnist") and m.dataset and which != m.dataset:
        d2.info(f"{m.name} was trained on {m.dataset}: these are images it never learned about.")
    elif which == "samples":
        d2.warning("A **tiny** set: 6 bundled photos and random crops and flips of them. Too few images to say "
                   "what a channel of an ImageNet model is for; it shows how the method works. Give an image "
                   "folder (ImageFolder layout) for real answers.", icon=":material/warning:")
    elif which == "folder":
        folder = state.text("Image folder (path on the machine running the app)", "mx_dir", "", container=d2)
        limit = state.number("At most this many images", "mx_lim", 10, 50_000, 2000, container=d2)
        if not folder:
            d2.info("Type the path of a folder of images (sub-folders per class are fine).")
            return None
    return _image_set(which, folder, int(limit), m.key, m)


def build(images: mx.ImageSet) -> mx.MaximalIndex | None:
    cached = mx.is_cached(m, images, layer_options)
    if not cached and mx.needs_confirmation(m, len(images)):
        st.info(f"Indexing {len(images):,} images with {m.name} costs about {mx.index_macs(m, len(images)) / 1e9:,.0f} "
                f"GMAC on {m.device_description}: press the button to start (it can be stopped).")
        if not st.button("Build the index", key="mx_build", type="primary"):
            return None
    stop = st.empty()
    if not cached:  # a click reruns the page, which ends the pass; nothing is cached
        stop.button("Stop indexing", key="mx_stop_index", help="Stops the pass; nothing is cached.")
    idx = widgets.with_progress(f"Indexing {images.name}", lambda p: mx.build_index(
        m, images, layer_options, batch_size=256 if m.input_size[1] <= 64 else 16,
        progress=lambda done, n: p(done / n, f"{done:,} / {n:,} images")))
    stop.empty()
    return idx


def one_channel(images: mx.ImageSet, patches: list[mx.Patch], largest: bool) -> None:
    st.subheader(f"Channel {ch} of {layer}: the {len(patches)} {'strongest' if largest else 'most negative'} responses")
    cols, side = fx.strip_geometry(len(patches))
    strip, layout = fx.patch_strip(patches, side=side, labels=[f"{p.hit.value:.2f}" for p in patches], cols=cols)
    widgets.clickable_grid(strip, "mx_stripclick", layout.tile_at, width=min(strip.shape[1], fx.COLUMN_PX),
                           on_pick=lambda i: st.session_state.update({"qp:mx_hit": i + 1}))
    st.caption("Each patch is the receptive field of the unit where the channel peaked in that image (grey: outside "
               "the image, where the network saw zero padding); the number is the activation. Click a patch to "
               "see the whole image. Images: " + ", ".join(p.caption for p in patches))
    hit_i = state.number("Show in full: patch number", "mx_hit", 1, len(patches), 1, container=st.columns([1, 3])[0])
    p = patches[hit_i - 1]
    full = images.image(p.hit.image)
    f1, f2 = st.columns(2)
    boxed = fx.unit_on_image(full, p.box)
    widgets.show_image(boxed, container=f1, min_side=1, width=min(boxed.shape[1], 450), download="maximal-unit",
                       caption=f"{p.caption}: unit ({p.hit.y}, {p.hit.x}) of channel {ch}, value {p.hit.value:.3f}; "
                               f"red box: its receptive field {p.box[2] - p.box[0]}×{p.box[3] - p.box[1]} px")
    widgets.show_figure(fx.channel_map(mx.channel_map(m, full, layer, ch), p.hit.y, p.hit.x, ch), "maximal-map",
                        container=f2)
    f2.caption(f"Red +, blue −; the square marks unit ({p.hit.y}, {p.hit.x}), whose receptive field is the red box.")


def all_channels(idx: mx.MaximalIndex, images: mx.ImageSet, largest: bool, per: int, rf_px: int) -> None:
    st.subheader(f"All channels of {layer}")
    first, pages = 0, max(1, math.ceil(n_ch / 64))
    if pages > 1:
        first = (state.slider(f"Page of channels (64 per page, {n_ch} in all)", "mx_page", 1, pages, 1) - 1) * 64
    chans = list(range(first, min(n_ch, first + 64)))
    with st.spinner("Cropping patches…"):
        lists = mx.channel_grid_patches(m, idx, images, layer, chans, per_channel=per, largest=largest)
        grid, layout = fx.channel_grid(lists, tile=fx.grid_tile(rf_px, len(chans), per), width=fx.COLUMN_PX)
    widgets.clickable_grid(grid, "mx_gridclick", layout.tile_at, width=min(grid.shape[1], fx.COLUMN_PX),
                           on_pick=lambda i: st.session_state.update({"qp:mx_ch": chans[i], "qp:mx_hit": 1}))
    st.caption(f"Channels {chans[0]}–{chans[-1]}, left to right and top to bottom, each with its {per} "
               f"{'best' if largest else 'most negative'} patch{'es' * (per > 1)}. Click one to select it above.")


def dataset_examples() -> None:
    images = image_set()
    idx = None if images is None else build(images)
    if idx is None:
        return
    st.caption(mx.index_summary(m, idx, images, layer))
    o1, o2, o3 = st.columns([2, 1, 1])
    largest = state.select("Examples", "mx_sign", ["top", "bottom"], "top", container=o1, radio=True, horizontal=True,
                           format_func={"top": "Most excited (top)", "bottom": "Most inhibited (bottom)"}.get) == "top"
    k = state.slider("Patches per channel", "mx_k", 1, idx.k, 8, container=o2)
    per = state.select("Patches per channel in the grid", "mx_per", [1, 4, 9], 4, container=o3)
    patches = mx.top_patches(m, idx, images, layer, ch, k, largest)
    one_channel(images, patches, largest)
    all_channels(idx, images, largest, per, patches[0].pixels.shape[0])


# ====================================================================== synthesized images
@st.cache_resource
def _renderings() -> ResultCache:
    """Finished renderings, shared by every session (a link with the same settings shows them at once)."""
    return ResultCache(maxsize=16)


def synthesis_controls() -> tuple[list[sy.Objective], list[str], dict]:
    """The objectives (one per image), their captions, and the settings of :func:`cnnviz.synthesize`."""
    s1, s2, s3 = st.columns([2, 1, 1])
    kind = state.select("Objective", "mx_obj", list(sy.KINDS), "channel", format_func=sy.KIND_TITLES.get, container=s1)
    negative = state.toggle("Negative (minimise instead)", "mx_neg", False, container=s2)
    naive = state.toggle("Naive: plain pixels, no transforms", "mx_naive", False, container=s3,
                         help="Gradient ascent on raw pixels with no Fourier parameterisation, colour decorrelation "
                              "or random transforms: see why the regularisers matter.")
    t1, t2, t3 = st.columns(3)
    indices, y, x = [], None, None
    if kind in ("channel", "neuron"):
        n = state.slider("How many channels (from the channel above)", "mx_n", 1, 64, 8, container=t1)
        indices = list(range(ch, min(n_ch, ch + n)))
        if kind == "neuron":
            h, w = shapes[layer][1:]
            y = state.number("Neuron row y", "mx_y", 0, h - 1, h // 2, container=t2)
            x = state.number("Neuron column x", "mx_x", 0, w - 1, w // 2, container=t2)
    elif kind == "layer":
        t1.caption(f"DeepDream: maximise the mean square of every activation of {layer}.")
    else:
        default = list(range(min(len(m.classes), 10 if len(m.classes) <= 10 else 4)))
        indices = state.multiselect("Classes", "mx_cls", list(range(len(m.classes))), default, container=t1,
                                    format_func=lambda i: f"{i}: {m.classes[i]}")
    variants = state.slider("Images per objective (diversity)", "mx_var", 1, 8, 1, container=t3,
                            help="Several images of the same objective, pushed apart by a diversity term: a channel "
                                 "often responds to more than one thing.")
    weight = state.slider("Diversity weight", "mx_dw", 0.0, 10.0, 2.0, step=0.5, container=t3) if variants > 1 else 0.0
    steps = state.slider("Steps (Adam, lr 0.05)", "mx_steps", 16, 1024, 256, step=16, container=t2)
    size = None
    if not m.grayscale and m.input_size[1] >= 96:
        px = state.select("Image size (px)", "mx_px", [64, 96, 128, 160, 224], 128 if m.device.type == "cpu" else 224,
                          container=t2, help="The zoo models pool globally, so they accept smaller images: 128 px "
                                             "is 3x cheaper than 224 px and shows the same features (Lucid: 128).")
        size = None if px == m.input_size[1] else (px, px)
    slots = sy.make_objectives(kind, layer, indices, y, x, negative, variants)
    if len(slots) > 64:
        st.warning(f"{len(slots)} images at once is more than 64: only the first 64 are rendered.")
        slots = slots[:64]
    captions = [o.short(m.classes) + (f" #{i % variants + 1}" if variants > 1 else "") for i, o in enumerate(slots)]
    return slots, captions, dict(steps=steps, naive=naive, diversity=weight, size=size)


def synthesized() -> None:
    slots, captions, settings = synthesis_controls()
    key = (m.key, tuple(slots), *settings.values())
    n_img = f"{len(slots)} image{'s' * (len(slots) > 1)}"
    st.markdown(f"**{n_img}:** " + ", ".join(dict.fromkeys(o.label(m.classes) for o in slots)))
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Render", key="mx_go", type="primary", icon=":material/play_arrow:"):
        b2.button("Stop", key="mx_stop", icon=":material/stop:", help="Stops; keeps the images so far.")
        bar, live = st.progress(0.0, text="Optimising…"), st.empty()

        def progress(p: sy.SynthesisProgress) -> None:  # a Stop click interrupts the run here, at the next st call
            st.session_state["_mx_partial"] = (key, p.images, p.values, p.step)
            bar.progress(p.step / p.steps, text=f"Step {p.step} / {p.steps}: mean objective {p.values.mean():.3f}")
            widgets.show_image(fx.synthesis_grid(p.images, captions, p.values), min_side=1, container=live)

        every = 8 if m.input_size[1] <= 64 or m.device.type != "cpu" else 2
        _renderings().get_or_compute(key, lambda: sy.synthesize(m, slots, progress=progress, every=every,
                                                                **settings))
        bar.empty()
        live.empty()
    res, partial = _renderings().get(key), st.session_state.get("_mx_partial")
    if res is not None:
        widgets.show_image(fx.synthesis_grid(res.images, captions, res.values), min_side=1, download="maximal-synth")
        st.caption(res.summary(m.device_description))
    elif partial is not None and partial[0] == key:
        widgets.show_image(fx.synthesis_grid(partial[1], captions, partial[2]), min_side=1, download="maximal-synth")
        st.caption(f"Stopped at step {partial[3]} of {settings['steps']}: the images so far (values measured under "
                   "random transforms).")
    else:
        st.info(f"Press **Render** to optimise {n_img} ({settings['steps']} steps) on "
                f"{m.device_description}. The images update while they optimise.")


try:
    if view == "data":
        dataset_examples()
    else:
        synthesized()
except CnnvizError as e:
    widgets.show_error(e)

widgets.what_to_notice(
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
