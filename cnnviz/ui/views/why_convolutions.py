"""Views of /why-convolutions: inductive bias in parameters, permuted pixels, handcrafted vs learned features,
simple and complex cells, the sigmoid and vanishing gradients, degradation, random labels, auxiliary classifiers.

The experiments that train networks (permuted pixels, handcrafted vs learned, degradation, random labels) run
in this page's server-wide job table (``background.job_table("why-convolutions")``): they start by themselves
when the view is drawn, show their progress and a Stop button above a chart that grows as they measure (one run,
training-set size, depth or epoch at a time), and the next session with the same settings gets the finished
result at once. Each of these views also has a ``warm(params)``: the deck player calls it for the slides still
to come, so their experiments run while the lecture is on earlier slides. The quick ones (cells, gradients at
initialisation) are ``st.cache_data``.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from cnnviz.figures import why_conv as fw
from cnnviz.methods import why_conv as wc
from cnnviz.text import why_conv as tx
from cnnviz.ui import background, state, widgets
from cnnviz.ui.resources import shared_figure
from cnnviz.ui.view import Frame, register

PAGE = "why-convolutions"
GAINS = [0.25, 0.5, 1.0, 1.41, 2.0, 4.0, 8.0]
SIZE_SETS = {"1000": wc.SMALL_SIZES, "8000": wc.SIZES}
SIZE_SET_TITLES = {"1000": "50 … 1,000 digits (about 20 s)", "8000": "50 … 8,000 digits (about a minute)"}


# ------------------------------------------------------------------------------------------- background jobs
def _jobs() -> background.JobTable:
    return background.job_table(PAGE)


def _pending(title: str, height: int | None) -> go.Figure:
    """The empty axes of a chart being measured (a slide keeps its layout while the work runs)."""
    fig = go.Figure()
    fig.add_annotation(text=f"{title}…", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=18, color="#888"))
    fig.update_layout(height=height or 460, margin=dict(l=10, r=10, t=50, b=10))
    return fig


PROGRESS_PX = 90  # the height of a running job's progress bar and Stop button


def _with_partials(work: Callable) -> Callable:
    """``work(progress, stop, on_partial)`` as a job's ``work(progress, stop)``: each partial result goes to the
    job (``Job.partial``) with the latest progress."""
    def run(progress: Callable[..., None], stop) -> object:
        last: list = [0.0, ""]

        def report(fraction: float, text: str = "") -> None:
            last[:] = [fraction, text]
            progress(fraction, text)

        return work(report, stop, lambda result: progress(last[0], last[1], partial=result))

    return run


# The settings of the four experiments, (options, default): read by the views' controls and by their warm-ups.
PERMUTED_N, PERMUTED_EPOCHS, PERMUTED_SEED = ([500, 1000, 2000], 1000), ([5, 10, 20], 10), ([0, 1, 2], 0)
FEATURES = (list(wc.FEATURES), "hog")
SIZES = (list(SIZE_SETS), "1000")
DEGRADATION_EPOCHS = ([3, 5, 8], 5)
LABELS_NET, LABELS_N, LABELS_EPOCHS = (list(wc.NETWORKS), "mlp"), ([100, 300, 1000], 300), ([15, 30, 60], 30)


def _permuted_job(n: int, epochs: int, seed: int) -> tuple[Hashable, Callable]:
    return ("permuted", n, epochs, seed), lambda progress, stop, on_partial: wc.permuted_experiment(
        n, 2000, epochs, seed, progress=progress, stop=stop, on_partial=on_partial)


def _handcrafted_job(kind: str, sizes_key: str) -> tuple[Hashable, Callable]:
    sizes = SIZE_SETS[sizes_key]
    return ("handcrafted", kind, sizes), lambda progress, stop, on_partial: wc.handcrafted_curve(
        kind, sizes, progress=progress, stop=stop, on_partial=on_partial)


def _degradation_job(epochs: int) -> tuple[Hashable, Callable]:
    return ("degradation", epochs), lambda progress, stop, on_partial: wc.degradation_sweep(
        epochs=epochs, progress=progress, stop=stop, on_partial=on_partial)


def _labels_job(network: str, n: int, epochs: int) -> tuple[Hashable, Callable]:
    return ("random-labels", network, n, epochs), lambda progress, stop, on_partial: wc.label_curves(
        network, n, 500, epochs, progress=progress, stop=stop, on_partial=on_partial)


def _warm(job: Callable[..., tuple[Hashable, Callable]], *settings: tuple[str, tuple]) -> Callable:
    """A view's ``warm(params)``: start ``job(*values)`` for the values a link's query gives its ``settings``
    ((URL key, (options, default)) each; the default where the link says nothing or names no option)."""
    def warm(params: Mapping[str, str]) -> background.Job:
        key, work = job(*(state.choice(params, k, *spec) for k, spec in settings))
        return _jobs().start(key, _with_partials(work))

    return warm


def _run_job(name: str, key: Hashable, work: Callable, label: str, figure: Callable[[object], go.Figure],
             summary: Callable[[object], str], f: Frame) -> None:
    """Start (or find) the job ``key`` running ``work(progress, stop, on_partial)`` and draw it: progress and
    Stop while it runs, above the chart of its partial result (``figure(partial)``; the empty axes until the first
    one); ``figure(result)`` and, off slides, ``summary(result)`` once it is done (also the partial result of a
    stopped job, with a Run again button)."""
    jobs, run = _jobs(), _with_partials(work)
    job = jobs.start(key, run)

    def body() -> bool:
        j = jobs.get(key) or job
        if j.status == "failed":
            if j.error is not None:
                widgets.show_error(j.error)
            else:
                st.error(f"The experiment failed ({j.bug}); the details are in the server log.",
                         icon=":material/error:")
            return False
        if j.running:
            bar, stop = st.columns([6, 1], vertical_alignment="bottom")
            text = "waiting for another experiment on this server to finish" if j.status == "queued" else (
                j.text or "starting…")
            bar.progress(j.fraction, text=f"{label}: {text}")
            if stop.button("Stop", key=f"wc_stop_{name}", icon=":material/stop:",
                           help="Ends the experiment; what it measured so far is shown."):
                j.stop()
                j.wait(10)
                st.rerun()
            partial = j.partial
            f.figure_cut = PROGRESS_PX  # the progress row sits above the chart: on a slide it takes what is left
            try:
                fig = _pending(label, f.figure_height) if partial is None else figure(partial)
                widgets.show_figure(fig, f"wc-{name}-so-far", download=False, slide_height=f.figure_height)
            finally:
                f.figure_cut = 0
            return True
        if j.status == "stopped":
            st.caption("Stopped: the chart shows what was measured before the stop.")
            if st.button("Run again", key=f"wc_again_{name}", icon=":material/play_arrow:"):
                jobs.start(key, run, again=True)
                st.rerun()
        if j.result is not None:
            widgets.show_figure(figure(j.result), f"wc-{name}")
            if not f.slide:
                st.caption(summary(j.result))
        return False

    background.follow(f"wc_{name}", job.running, body)


# ------------------------------------------------------------------------------------------- 1. parameters
def _input_size(f: Frame, c) -> tuple[int, int, int]:
    preset = state.select("Input", "wc_in", list(tx.INPUT_PRESETS), "32x32x3", format_func=tx.INPUT_PRESETS.get,
                          container=c[0])
    if preset == "model":
        ch, h, w = f.model.input_size
        return int(h), int(w), int(ch)
    if preset == "custom":
        h = state.number("Height", "wc_h", 4, 4096, 32, step=1, container=c[1])
        w = state.number("Width", "wc_w", 4, 4096, 32, step=1, container=c[2])
        ch = state.number("Channels", "wc_c", 1, 512, 3, step=1, container=c[3])
        return h, w, ch
    h, w, ch = (int(v) for v in preset.split("x"))
    return h, w, ch


@register(f"{PAGE}.params", "Inductive bias: parameters of a dense layer vs a convolution",
          keys=("wc_in", "wc_h", "wc_w", "wc_c", "wc_units", "wc_kernel"))
def params(f: Frame) -> None:
    c = f.controls([2, 1, 1, 1, 1.4, 1])
    h, w, ch = _input_size(f, c)
    units = state.select("Units / filters", "wc_units", [1, 16, 32, 64, 128, 256, 512], 64, container=c[4])
    kernel = state.select("Kernel", "wc_kernel", [1, 3, 5, 7, 11], 3, format_func=lambda k: f"{k}x{k}",
                          container=c[5])
    p = wc.layer_params(h, w, ch, units, kernel)
    widgets.show_figure(fw.params_figure(p, wc.params_by_side(ch, units, kernel), f.figure_height), "wc-params")
    if not f.slide:
        st.caption(tx.params_summary(p))
    f.note(tx.PARAMS_NOTE)


# ------------------------------------------------------------------------------------------- 2. permuted pixels
@st.cache_data(max_entries=8, show_spinner=False)
def _digit_rows(n: int, seed: int, count: int = 8) -> tuple[np.ndarray, np.ndarray]:
    d = wc.load_digits("train", n, seed)
    few = wc.Digits(d.x[:count], d.y[:count])
    return few.pixels(), wc.permute(few, wc.pixel_permutation(seed)).pixels()


@register(f"{PAGE}.permuted", "Permuted pixels: the MLP does not care, the CNN loses its prior",
          keys=("wc_pn", "wc_pe", "wc_ps"),
          warm=_warm(_permuted_job, ("wc_pn", PERMUTED_N), ("wc_pe", PERMUTED_EPOCHS), ("wc_ps", PERMUTED_SEED)))
def permuted(f: Frame) -> None:
    c = f.controls(3)
    n = state.select("Training digits", "wc_pn", *PERMUTED_N, container=c[0], help=tx.PERMUTED_HELP)
    epochs = state.select("Epochs", "wc_pe", *PERMUTED_EPOCHS, container=c[1])
    seed = state.select("Seed", "wc_ps", *PERMUTED_SEED, container=c[2],
                        help="Draws the digits, the permutation, the initialisations and the batch order.")
    plain, shuffled = _digit_rows(n, seed)

    _run_job("permuted", *_permuted_job(n, epochs, seed), "Training the MLP and LeNet-5, plain and permuted",
             lambda r: fw.permuted_figure(r, plain, shuffled, f.figure_height), tx.permuted_summary, f)
    f.note(tx.PERMUTED_NOTE)


# ------------------------------------------------------------------------------------------- 3. handcrafted
@register(f"{PAGE}.handcrafted", "Handcrafted features + SVM vs a CNN, by training-set size",
          keys=("wc_feat", "wc_sizes"), warm=_warm(_handcrafted_job, ("wc_feat", FEATURES), ("wc_sizes", SIZES)))
def handcrafted(f: Frame) -> None:
    c = f.controls(2)
    kind = state.select("Handcrafted features", "wc_feat", *FEATURES, container=c[0],
                        format_func=fw.FEATURE_TITLES.get, help=tx.HANDCRAFTED_HELP)
    sizes_key = state.select("Training-set sizes", "wc_sizes", *SIZES, container=c[1],
                             format_func=SIZE_SET_TITLES.get)
    sizes = SIZE_SETS[sizes_key]

    _run_job("handcrafted", *_handcrafted_job(kind, sizes_key), "Features + SVM and LeNet-5 at each size",
             lambda curve: fw.handcrafted_figure(curve, f.figure_height, sizes), tx.handcrafted_summary, f)
    f.note(tx.HANDCRAFTED_NOTE)


# ------------------------------------------------------------------------------------------- 4. cells
@shared_figure()
def _cells_figure(preferred: float, angle: float, offset: float, pool: int, height: int | None):
    return fw.cells_figure(wc.cell_tuning(preferred, angle, offset, pool), height)


@register(f"{PAGE}.cells", "Simple and complex cells: a Gabor unit and a max-pool over its neighbours",
          keys=("wc_pref", "wc_ang", "wc_pos", "wc_pool"))
def cells(f: Frame) -> None:
    c = f.controls(4)
    preferred = state.slider("Cells' preferred angle (°)", "wc_pref", 0, 175, 90, step=5, container=c[0])
    angle = state.slider("Bar angle (°)", "wc_ang", 0, 175, 90, step=5, container=c[1])
    offset = state.slider("Bar position (px)", "wc_pos", -24, 24, 0, step=1, container=c[2])
    pool = state.select("Pooling reach (px)", "wc_pool", [4, 6, 10, 14], 10, container=c[3], help=tx.POOL_HELP)
    widgets.show_figure(_cells_figure(float(preferred), float(angle), float(offset), pool, f.figure_height), "wc-cells")
    f.note(tx.CELLS_NOTE)


# ------------------------------------------------------------------------------------------- 5. sigmoid
@shared_figure()
def _sigmoid_figure(activation: str, gain: float, depth: int, height: int | None):
    x = torch.linspace(-8, 8, 321)
    s, ds = wc.sigmoid_curves(x)
    depths = np.arange(1, 31)
    return fw.sigmoid_figure(x.numpy(), s.numpy(), ds.numpy(), depths, wc.depth_bound(depths),
                             wc.init_gradients(activation, gain, depth), height)


@register(f"{PAGE}.sigmoid", "The sigmoid's slope and gradients through depth",
          keys=("wc_act", "wc_gain", "wc_depth"))
def sigmoid(f: Frame) -> None:
    c = f.controls(3)
    activation = state.select("Activation", "wc_act", list(wc.ACTIVATIONS), "sigmoid", container=c[0])
    gain = state.select("Initialisation scale (gain)", "wc_gain", GAINS, 1.0, container=c[1], help=tx.GAIN_HELP)
    depth = state.slider("Depth (hidden layers)", "wc_depth", 5, 50, 20, step=1, container=c[2])
    widgets.show_figure(_sigmoid_figure(activation, float(gain), int(depth), f.figure_height), "wc-sigmoid")
    f.note(tx.SIGMOID_NOTE)


# ------------------------------------------------------------------------------------------- 6. degradation
@register(f"{PAGE}.degradation", "Degradation: deeper plain nets train worse, residual ones do not",
          keys=("wc_dep",), warm=_warm(_degradation_job, ("wc_dep", DEGRADATION_EPOCHS)))
def degradation(f: Frame) -> None:
    epochs = state.select("Epochs (the same for every depth)", "wc_dep", *DEGRADATION_EPOCHS,
                          container=f.controls()[0])
    depths = sorted(wc.DEPTHS)
    _run_job("degradation", *_degradation_job(epochs),
             f"Plain and residual nets of {depths[0]} … {depths[-1]} blocks (the shallowest and the deepest first)",
             lambda d: fw.degradation_figure(d, f.figure_height, wc.DEPTHS), tx.degradation_summary, f)
    f.note(tx.DEGRADATION_NOTE)


# ------------------------------------------------------------------------------------------- 7. random labels
@register(f"{PAGE}.random-labels", "Random labels: memorised, not generalised",
          keys=("wc_rnet", "wc_rn", "wc_rep"),
          warm=_warm(_labels_job, ("wc_rnet", LABELS_NET), ("wc_rn", LABELS_N), ("wc_rep", LABELS_EPOCHS)))
def random_labels(f: Frame) -> None:
    c = f.controls(3)
    network = state.select("Network", "wc_rnet", *LABELS_NET, format_func=wc.NETWORK_TITLES.get, container=c[0])
    n = state.select("Training digits", "wc_rn", *LABELS_N, container=c[1])
    epochs = state.select("Epochs", "wc_rep", *LABELS_EPOCHS, container=c[2])

    _run_job("random-labels", *_labels_job(network, n, epochs), "Training on true and on random labels",
             lambda curves: fw.labels_figure(curves, f.figure_height, epochs), tx.labels_summary, f)
    f.note(tx.LABELS_NOTE)


# ------------------------------------------------------------------------------------------- 8. auxiliary
@st.cache_data(max_entries=64, show_spinner=False)
def _auxiliary(depth: int, aux_at: int, weight: float, activation: str) -> wc.AuxiliaryResult:
    return wc.auxiliary_gradients(depth, aux_at=aux_at, aux_weight=weight, activation=activation)


@register(f"{PAGE}.auxiliary", "GoogLeNet's auxiliary classifiers: gradient for the early layers",
          keys=("wc_adepth", "wc_aat", "wc_aw", "wc_aact"))
def auxiliary(f: Frame) -> None:
    c = f.controls(4)
    depth = state.slider("Depth (hidden layers)", "wc_adepth", 6, 30, 16, step=1, container=c[0])
    at = state.slider("Auxiliary head after layer", "wc_aat", 1, 29, 8, step=1, container=c[1])
    weight = state.select("Auxiliary loss weight", "wc_aw", [0.1, 0.3, 1.0], wc.AUX_WEIGHT, container=c[2])
    activation = state.select("Activation", "wc_aact", list(wc.ACTIVATIONS), "sigmoid", container=c[3])
    at = min(at, depth - 1)
    r = _auxiliary(int(depth), int(at), float(weight), activation)
    widgets.show_figure(fw.auxiliary_figure(r, f.figure_height), "wc-auxiliary")
    if not f.slide:
        st.caption(tx.auxiliary_summary(r))
    f.note(tx.AUXILIARY_NOTE)
