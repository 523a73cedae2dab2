"""Views of /maximal: the dataset patches that excite a channel most, and images synthesized to excite it.

The layer and the channel (``mx_layer``, ``mx_ch``) are shared by every view of the page. They are drawn
once, by the first of this page's views on screen (dataset examples on the page; the view itself on a
slide), and read by the others (``state.peek``); so no view lists them in ``keys``: they sit in every
view's ``reads`` (a change reruns the page). That way an old link's first owned key decides its view:
``/maximal?mx_layer=…&mx_ch=…`` opens the dataset examples (the first view), ``…&mx_view=synth`` the
synthesis (which owns ``mx_view``, the old page's "Show" switch).

Long work (the dataset index, the synthesis) runs in a background thread shared by every session of the
server (:class:`cnnviz.ui.background.JobTable`): the view shows its progress (a fragment polls it), has a Stop
button that works at once, and draws the result when it is done; finished results are cached server-wide. Work
estimated under :data:`AUTO_SECONDS` starts by itself (the bundled models' defaults do), larger work waits for a click.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.figures import maximal as fx
from cnnviz.methods import maximal as mx
from cnnviz.methods import synthesis as sy
from cnnviz.ui import state, view, widgets
from cnnviz.ui.background import Job, JobTable
from cnnviz.ui.view import Frame, register

log = logging.getLogger("cnnviz.ui")

# page order: the first on screen draws the picker
VIEWS = ("maximal.examples", "maximal.channels", "maximal.synthesis")
SHARED_KEYS = ("mx_layer", "mx_ch")
AUTO_SECONDS = 10.0  # work estimated under this starts by itself (a slide never waits for a click)
POLL_S = 1.0  # how often a view redraws the progress of a running job
SLIDE_BOX = (1180, 540)  # (width, height) px a slide's main figure is fitted into


class NoMaps(CnnvizError):
    """The model has no convolutional layer with a spatial output."""


# ------------------------------------------------------------------------------------------- jobs
@st.cache_resource
def _synthesis_jobs() -> JobTable:
    """Renderings, shared by every session (a link with the same settings shows them at once)."""
    return JobTable(maxsize=16)


@st.cache_resource
def _index_jobs() -> JobTable:
    return JobTable(maxsize=8)


def _session() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def _raise_failed(job: Job) -> None:
    """A failed job's domain error, raised for the view to show; a bug (logged by the table) as a message."""
    raise job.error or CnnvizError(f"The work failed ({job.bug}); the details are in the server log.")


def _stopped_here() -> set:
    """Keys of jobs this session stopped: they are not started again by themselves."""
    return st.session_state.setdefault("_mx_stopped", set())


def _stop(job: Job) -> None:
    job.stop()
    _stopped_here().add(job.key)


def _start(jobs: JobTable, key: Hashable, slot: str, work: Callable[..., Any]) -> Job:
    """Start a job for this session; its previous job in ``slot`` (other settings) is stopped if it
    started it and it still runs (nobody waits for a result of settings left behind)."""
    _stopped_here().discard(key)
    prev_key = st.session_state.get(f"_mx_job_{slot}")
    if prev_key is not None and prev_key != key:
        prev = jobs.get(prev_key)
        if prev is not None and prev.running and prev.owner == _session():
            prev.stop()
    st.session_state[f"_mx_job_{slot}"] = key
    return jobs.start(key, work, again=True, owner=_session())


def _follow(job: Job, draw: Callable[[Job], None], stop_label: str, key: str) -> None:
    """While ``job`` runs: its progress, redrawn every :data:`POLL_S` s by a fragment (so a Stop click is
    handled at once), and a Stop button; when it ends, the page runs again and shows the result."""

    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        if not job.running:
            st.rerun()
        draw(job)
        st.button(stop_label, key=key, icon=":material/stop:", on_click=_stop, args=(job,))

    poll()


# ------------------------------------------------------------------------------------------- layer, channel
def _layers(m) -> tuple[list[str], dict[str, tuple[int, ...]]]:
    convs, shapes = mx.index_layers(m)
    if not convs:
        raise NoMaps(f"{m.name} has no convolutional layers with a spatial output, so there is nothing to show here.")
    return convs, shapes


def _layer_options(m) -> tuple[list[str], dict[str, tuple[int, ...]]]:
    """Every conv layer, and the one a link names when it is not a convolution (the Activation maps page may
    link here with a ReLU or a pooling layer): it is indexed too."""
    _layers(m)
    extra = st.query_params.get("mx_layer") or st.session_state.get("qp:mx_layer")
    return mx.index_layers(m, extra if isinstance(extra, str) else None)


def _on_screen() -> list[str]:
    """This page's views on screen in this run (all of them on the page, one on a slide)."""
    return [v for v in st.session_state.get(view.PAGE_VIEWS, ()) if v in VIEWS]


def _draws_picker(f: Frame) -> bool:
    """Whether this view draws the layer and channel controls: the first view of the page on screen."""
    return (_on_screen() or [f.view.id])[0] == f.view.id


def _pick(f: Frame, c_layer=None, c_ch=None) -> tuple[str, int, int]:
    """(layer, channel, channels in that layer): drawn into the columns given, or read (another view draws them)."""
    m = f.model
    convs, _ = _layers(m)
    options, shapes = _layer_options(m)
    default = convs[len(convs) // 2]
    if _draws_picker(f) and c_layer is not None:
        layer = state.select("Layer", "mx_layer", options, default, container=c_layer,
                             format_func=lambda n: f"{n}  ({shapes[n][0]} ch, {shapes[n][1]}×{shapes[n][2]})")
        n_ch = shapes[layer][0]
        ch = state.number("Channel", "mx_ch", 0, n_ch - 1, 0, container=c_ch,
                          help=f"0 … {n_ch - 1}. Click a channel in the grid of all channels to pick it.")
        return layer, ch, n_ch
    layer = state.peek("mx_layer", default, valid=lambda n: n in options)
    n_ch = shapes[layer][0]
    ch = state.peek("mx_ch", 0, int, valid=lambda c: isinstance(c, int) and 0 <= c < n_ch)
    return layer, ch, n_ch


# ------------------------------------------------------------------------------------------- the image set, the index
@st.cache_resource(max_entries=6, show_spinner="Preparing the images…")
def _image_set(which: str, folder: str, limit: int, model_key: str, _model) -> mx.ImageSet:
    return mx.open_image_set(which, _model, folder, limit)


def _image_choice(f: Frame, container=None) -> tuple[str, str, int]:
    """(data set, folder, limit): drawn into ``container`` (the examples view) or read."""
    m = f.model
    options = mx.image_set_choices(m)
    if container is None:
        which = state.peek("mx_data", options[0], valid=lambda o: o in options)
        folder = state.peek("mx_dir", "", valid=lambda s: isinstance(s, str))
        limit = state.peek("mx_lim", 2000, int, valid=lambda n: isinstance(n, int) and 10 <= n <= 50_000)
        return which, (folder if which == "folder" else ""), (int(limit) if which == "folder" else 2000)
    which = state.select("Data set", "mx_data", options, options[0], format_func=mx.IMAGE_SET_TITLES.get,
                         container=container)
    folder, limit = "", 2000
    if which in ("mnist", "fashion-mnist") and m.dataset and which != m.dataset and not f.slide:
        container.info(f"{m.name} was trained on {m.dataset}: these are images it never learned about.")
    elif which == "samples" and not f.slide:
        container.warning("A **tiny** set: 6 bundled photos and random crops and flips of them. Too few images to say "
                          "what a channel of an ImageNet model is for; it shows how the method works. Give an image "
                          "folder (ImageFolder layout) for real answers.", icon=":material/warning:")
    elif which == "folder":
        folder = state.text("Image folder (path on the machine running the app)", "mx_dir", "", container=container)
        limit = state.number("At most this many images", "mx_lim", 10, 50_000, 2000, container=container)
    return which, folder, int(limit)


def _images(f: Frame, container=None) -> mx.ImageSet | None:
    m = f.model
    which, folder, limit = _image_choice(f, container)
    if which == "folder" and not folder:
        st.info("Type the path of a folder of images (sub-folders per class are fine) under **Data set** "
                + ("above." if container is not None else "in the dataset examples view."))
        return None
    return _image_set(which, folder, limit, m.key, m)


def _index(f: Frame, images: mx.ImageSet, layers: list[str], owner: bool) -> mx.MaximalIndex | None:
    """The index of ``images`` for ``layers``: at once when cached; else built in the background (with
    progress and a Stop button in the view that ``owner``s it, a line in the others); None until it is done."""
    m = f.model
    if mx.is_cached(m, images, layers):
        return mx.build_index(m, images, layers)
    key = (m.key, images.key, tuple(layers))
    jobs = _index_jobs()
    done = jobs.done(key)
    if done is not None:
        return done
    job = jobs.get(key)
    stopped = job is not None and job.status == "stopped" and key in _stopped_here()
    if job is not None and job.status == "failed":
        _raise_failed(job)

    def work(progress, stop) -> mx.MaximalIndex:
        return mx.build_index(m, images, layers, batch_size=256 if m.input_size[1] <= 64 else 16,
                              progress=progress, stop=stop)

    if job is None or not (job.running or stopped):  # not started yet (or stopped by another session)
        job = None if mx.needs_confirmation(m, len(images)) else _start(jobs, key, "index", work)
    if job is None or stopped:
        if not owner:
            st.info("The index of the images is built in the dataset examples view first.")
            return None
        what = (f"Indexing {len(images):,} images with {m.name} costs about "
                f"{mx.index_macs(m, len(images)) / 1e9:,.0f} GMAC on {m.device_description}")
        st.info(("Indexing was stopped; nothing is cached. " if stopped else "") + what
                + ": press the button to start (it can be stopped).")
        if not st.button("Build the index", key="mx_build", type="primary"):
            return None
        job = _start(jobs, key, "index", work)
    if job.running:
        label = f"Indexing {images.name}"
        if owner:
            _follow(job, lambda j: st.progress(j.fraction, text=f"{label}: {j.text or 'starting…'}"),
                    "Stop indexing", "mx_stop_index")
        else:
            _follow(job, lambda j: st.caption(f"Waiting for the index ({j.text or 'starting…'})"), "Stop indexing",
                    "mx_stop_index_grid")
        return None
    return jobs.done(key)


def _labelled_fit(n: int) -> tuple[int, int]:
    """(columns, tile side) of a labelled grid of ``n`` that fills a slide's figure area."""
    return fx.fit_labelled_grid(n, *SLIDE_BOX)


# ------------------------------------------------------------------------------------------- the views
@register("maximal.examples", "Dataset examples: what excites one channel",
          keys=("mx_data", "mx_dir", "mx_lim", "mx_sign", "mx_k", "mx_hit"), reads=SHARED_KEYS)
def examples(f: Frame) -> None:
    m = f.model
    c = f.controls([2, 1, 2, 2, 1.4])
    layer, ch, _ = _pick(f, c[0], c[1])
    images = _images(f, c[2])
    largest = state.select("Examples", "mx_sign", ["top", "bottom"], "top", container=c[3], radio=True,
                           horizontal=True,
                           format_func={"top": "Most excited (top)", "bottom": "Most inhibited (bottom)"}.get) == "top"
    if images is None:
        return
    idx = _index(f, images, _layer_options(m)[0], owner=True)
    if idx is None:
        return
    k = state.slider("Patches per channel", "mx_k", 1, idx.k, 8, container=c[4])
    patches = mx.top_patches(m, idx, images, layer, ch, k, largest)
    hit_i = state.number("Show in full: patch number", "mx_hit", 1, len(patches), 1, container=c[4])
    title = f"Channel {ch} of {layer}: the {len(patches)} {'strongest' if largest else 'most negative'} responses"
    labels = [f"{p.hit.value:.2f}" for p in patches]
    pick = lambda i: (st.session_state.update({"qp:mx_hit": i + 1}), state.mark_changed("mx_hit"))  # noqa: E731
    if f.slide:  # the strip alone, as large as the screen allows
        cols, side = _labelled_fit(len(patches))
        strip, layout = fx.patch_strip(patches, side=side, labels=labels, cols=cols)
        st.markdown(f"**{title}**")
        widgets.clickable_grid(strip, "mx_stripclick", layout.tile_at, width=strip.shape[1], on_pick=pick)
        f.note("- The patches are the receptive field of the unit where the channel peaked in each image.\n"
               "- **Early layers** respond to strokes and edges; **deeper layers** see more and respond to parts.")
        return
    st.caption(mx.index_summary(m, idx, images, layer))
    st.subheader(title)
    cols, side = fx.strip_geometry(len(patches))
    strip, layout = fx.patch_strip(patches, side=side, labels=labels, cols=cols)
    widgets.clickable_grid(strip, "mx_stripclick", layout.tile_at, width=min(strip.shape[1], fx.COLUMN_PX),
                           on_pick=pick)
    st.caption("Each patch is the receptive field of the unit where the channel peaked in that image (grey: outside "
               "the image, where the network saw zero padding); the number is the activation. Click a patch to "
               "see the whole image. Images: " + ", ".join(p.caption for p in patches))
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
    f.note("- **Early layers** respond to strokes, edges and blobs: their patches are small (the receptive field) and "
           "look alike across images. **Deeper layers** see more of the image and respond to parts (loops, corners, "
           "sleeves, soles).\n"
           "- **Most inhibited** examples show what a channel is *against*: often the opposite edge or the empty "
           "background.\n"
           "- A channel's top patches can mix several different things: the unit is *polysemantic*.")


@register("maximal.channels", "Every channel of the layer at once", keys=("mx_per", "mx_page"),
          reads=(*SHARED_KEYS, "mx_data", "mx_dir", "mx_lim", "mx_sign"))
def channels(f: Frame) -> None:
    m = f.model
    picker = _draws_picker(f)  # alone on a slide: the layer and channel too
    c = f.controls([2, 1, 2, 2] if picker else [2, 2, 3])
    layer, ch, n_ch = _pick(f, *(c[:2] if picker else (None, None)))
    per = state.select("Patches per channel in the grid", "mx_per", [1, 4, 9], 4, container=c[-2])
    pages = max(1, math.ceil(n_ch / 64))
    first = 0
    if pages > 1:
        first = (state.slider(f"Page of channels (64 per page, {n_ch} in all)", "mx_page", 1, pages, 1,
                              container=c[-1]) - 1) * 64
    images = _images(f)
    if images is None:
        return
    idx = _index(f, images, _layer_options(m)[0], owner="maximal.examples" not in _on_screen())
    if idx is None:
        return
    largest = state.peek("mx_sign", "top", valid=lambda s: s in ("top", "bottom")) == "top"
    chans = list(range(first, min(n_ch, first + 64)))
    rf_px = mx.top_patches(m, idx, images, layer, chans[0], 1, largest)[0].pixels.shape[0]
    column_px = fx.COLUMN_PX
    if f.slide:  # square mosaics, 8 to a row: as wide as the screen's height allows
        cols = max(1, min(len(chans), 8))
        column_px = int(min(SLIDE_BOX[0], SLIDE_BOX[1] * cols / math.ceil(len(chans) / cols)))
    with st.spinner("Cropping patches…"):
        lists = mx.channel_grid_patches(m, idx, images, layer, chans, per_channel=per, largest=largest)
        grid, layout = fx.channel_grid(lists, tile=fx.grid_tile(rf_px, len(chans), per, column_px), width=column_px)
    width = min(grid.shape[1], column_px)
    if f.slide and grid.shape[0] * width / grid.shape[1] > SLIDE_BOX[1]:  # shown smaller (a click scales back)
        width = int(grid.shape[1] * SLIDE_BOX[1] / grid.shape[0])

    def _pick_tile(i: int) -> None:
        st.session_state.update({"qp:mx_ch": chans[i], "qp:mx_hit": 1})
        state.mark_changed("mx_ch")

    widgets.clickable_grid(grid, "mx_gridclick", layout.tile_at, width=width, on_pick=_pick_tile)
    st.caption(f"**All channels of {layer}**: channels {chans[0]}–{chans[-1]}, left to right and top to bottom, each "
               f"with its {per} {'best' if largest else 'most negative'} patch{'es' * (per > 1)}. Click one to "
               f"select it{'' if f.slide else ' above'}.")
    f.note("- Channels of one layer side by side: early layers repeat strokes and edges at every orientation, deeper "
           "ones respond to different parts.\n"
           "- Click a mosaic: the channel's dataset examples and synthesized images follow.")


# ------------------------------------------------------------------------------------------- synthesis
def _synthesis_seconds(m, n_images: int, steps: int, size: tuple[int, int] | None) -> float:
    """A rough (pessimistic) estimate of a synthesis: per step a fixed cost and, per image, a forward and a
    backward pass (3x the forward MACs). Measured on 2 CPU cores: small VGG, 8 images x 256 steps, 2.3 s."""
    macs = mx.index_macs(m, 1)
    if size is not None:
        macs *= (size[0] * size[1]) / (m.input_size[1] * m.input_size[2])
    if m.device.type == "cpu":
        return steps * (0.003 + n_images * (0.0003 + 3 * macs / 30e9))
    return steps * (0.004 + n_images * 3 * macs / 2e12)


def _synthesis_controls(f: Frame, m, layer: str, ch: int, n_ch: int, shapes, cols) -> tuple[list, list[str], dict]:
    """The objectives (one per image), their captions, and the settings of :func:`cnnviz.synthesize`."""
    s1, s2, s3 = cols
    kind = state.select("Objective", "mx_obj", list(sy.KINDS), "channel", format_func=sy.KIND_TITLES.get, container=s1)
    indices, y, x = [], None, None
    if kind in ("channel", "neuron"):
        n = state.slider("How many channels (from the channel picked)", "mx_n", 1, 64, 8, container=s1)
        indices = list(range(ch, min(n_ch, ch + n)))
        if kind == "neuron":
            h, w = shapes[layer][1:]
            y = state.number("Neuron row y", "mx_y", 0, h - 1, h // 2, container=s1)
            x = state.number("Neuron column x", "mx_x", 0, w - 1, w // 2, container=s1)
    elif kind == "layer":
        s1.caption(f"DeepDream: maximise the mean square of every activation of {layer}.")
    else:
        default = list(range(min(len(m.classes), 10 if len(m.classes) <= 10 else 4)))
        indices = state.multiselect("Classes", "mx_cls", list(range(len(m.classes))), default, container=s1,
                                    format_func=lambda i: f"{i}: {m.classes[i]}")
    negative = state.toggle("Negative (minimise instead)", "mx_neg", False, container=s2)
    naive = state.toggle("Naive: plain pixels, no transforms", "mx_naive", False, container=s2,
                         help="Gradient ascent on raw pixels with no Fourier parameterisation, colour decorrelation "
                              "or random transforms: see why the regularisers matter.")
    steps = state.slider("Steps (Adam, lr 0.05)", "mx_steps", 16, 1024, 256, step=16, container=s2)
    variants = state.slider("Images per objective (diversity)", "mx_var", 1, 8, 1, container=s3,
                            help="Several images of the same objective, pushed apart by a diversity term: a channel "
                                 "often responds to more than one thing.")
    weight = state.slider("Diversity weight", "mx_dw", 0.0, 10.0, 2.0, step=0.5, container=s3) if variants > 1 else 0.0
    size = None
    if not m.grayscale and m.input_size[1] >= 96:
        px = state.select("Image size (px)", "mx_px", [64, 96, 128, 160, 224], 128 if m.device.type == "cpu" else 224,
                          container=s3, help="The zoo models pool globally, so they accept smaller images: 128 px "
                                             "is 3x cheaper than 224 px and shows the same features (Lucid: 128).")
        size = None if px == m.input_size[1] else (px, px)
    if not indices and kind != "layer":
        raise sy.SynthesisError("Pick at least one class to synthesize.")
    slots = sy.make_objectives(kind, layer, indices, y, x, negative, variants)
    if len(slots) > 64:
        st.warning(f"{len(slots)} images at once is more than 64: only the first 64 are rendered.")
        slots = slots[:64]
    captions = [o.short(m.classes) + (f" #{i % variants + 1}" if variants > 1 else "") for i, o in enumerate(slots)]
    return slots, captions, dict(steps=steps, naive=naive, diversity=weight, size=size)


def _show_grid(f: Frame, images01, captions: list[str], values, live: bool = False,
               download: str | None = "maximal-synth") -> None:
    """The synthesized images in one labelled grid: a column's width on a page, the whole screen on a slide.
    ``live`` (redrawn every poll while they optimise): drawn at their own size and stretched by the browser, so
    a poll costs little next to the optimisation it watches."""
    if not f.slide:
        grid = fx.synthesis_grid(images01, captions, values)
        widgets.show_image(grid, min_side=1, download=download, width="content")
        return
    cols, side = _labelled_fit(len(images01))
    drawn = min(side, fx.synthesis_side(images01.shape[-1])) if live else side
    grid = fx.synthesis_grid(images01, captions, values, column_px=6 + cols * (drawn + 6), side=drawn)
    widgets.show_image(grid, min_side=1, download=download, width=6 + cols * (side + 6))


@register("maximal.synthesis", "Synthesized images: gradient ascent",
          keys=("mx_view", "mx_obj", "mx_neg", "mx_naive", "mx_n", "mx_y", "mx_x", "mx_cls", "mx_var", "mx_dw",
                "mx_steps", "mx_px"),
          reads=SHARED_KEYS)
def synthesis(f: Frame) -> None:
    m = f.model
    state.get_param("mx_view", "data", valid=lambda v: v in ("data", "synth"))  # the old "Show" switch: kept in links
    picker = _draws_picker(f)
    c = f.controls([2, 1, 2, 2, 2] if picker else [2, 2, 2])
    layer, ch, n_ch = _pick(f, *(c[:2] if picker else (None, None)))
    _, shapes = _layer_options(m)
    slots, captions, settings = _synthesis_controls(f, m, layer, ch, n_ch, shapes, c[-3:])
    key = (m.key, tuple(slots), *settings.values())
    n_img = f"{len(slots)} image{'s' * (len(slots) > 1)}"
    seconds = _synthesis_seconds(m, len(slots), settings["steps"], settings["size"])
    if not f.slide:
        st.markdown(f"**{n_img}:** " + ", ".join(dict.fromkeys(o.label(m.classes) for o in slots)))
    every = 8 if m.input_size[1] <= 64 or m.device.type != "cpu" else 2

    def work(report, stop) -> sy.SynthesisResult:
        def progress(p: sy.SynthesisProgress) -> None:
            report(p.step / p.steps, f"Step {p.step} / {p.steps}: mean objective {p.values.mean():.3f}",
                   (p.images, p.values))

        return sy.synthesize(m, slots, progress=progress, every=every, stop=stop, **settings)

    jobs = _synthesis_jobs()
    res, job = jobs.done(key), jobs.get(key)
    if res is None and job is not None and job.status == "failed" and not job.running:
        _raise_failed(job)
    stopped = res is None and job is not None and not job.running and job.status == "stopped" \
        and key in _stopped_here()
    if res is None and not stopped and (job is None or not job.running):
        if seconds <= AUTO_SECONDS:  # short work starts by itself: a slide never waits for a click
            job = _start(jobs, key, "synthesis", work)
        else:
            st.info(f"Optimising {n_img} ({settings['steps']} steps) takes about {seconds:.0f} s on "
                    f"{m.device_description}: press **Render** to start. The images update while they optimise, "
                    "and Stop keeps them.")
            if st.button("Render", key="mx_go", type="primary", icon=":material/play_arrow:"):
                job = _start(jobs, key, "synthesis", work)
    elif stopped:
        if st.button("Render again", key="mx_again", icon=":material/replay:"):
            job = _start(jobs, key, "synthesis", work)
        elif job.result is None:  # stopped while it waited for a free slot
            st.caption("Stopped before the first step: nothing was optimised.")
        else:
            r = job.result
            _show_grid(f, r.images, captions, r.values)
            st.caption(f"Stopped at step {r.steps_done} of {settings['steps']}: the images so far. "
                       + r.summary(m.device_description))
    if res is None and job is not None and job.running:
        def draw(j: Job) -> None:
            st.progress(j.fraction, text=j.text or "Optimising…")
            if j.partial is not None:
                _show_grid(f, j.partial[0], captions, j.partial[1], live=True, download="maximal-synth-so-far")

        _follow(job, draw, "Stop", "mx_stop")
    elif res is not None:
        _show_grid(f, res.images, captions, res.values)
        st.caption(res.summary(m.device_description))
    f.note("- Switch on **Naive**: plain gradient ascent finds high-frequency patterns that excite the unit even more "
           "than the regularised image, but look like noise. The network's units can be driven by things no real "
           "image contains, which is also why adversarial examples exist.\n"
           "- Ask for several images per objective (diversity): a channel often answers more than one thing "
           "(*polysemantic*).\n"
           "- Class objectives on a digit network draw the class's stroke layout; on an **untrained** network every "
           "objective gives texture-like noise: the structure comes from training, not from the method.\n"
           "- The images are optimised in one batch, one per channel, each with its own random transforms: 32 "
           "channels cost little more than one on a GPU.")
