"""Views of /training: train a network live, and the lecture's three experiments (vanishing gradients,
overfitting, transfer learning), one view each.

Runs go on in the background of the server (``cnnviz.methods.training_runs.RUNS``, at most a few at once),
so switching pages, reloading or another session's work never stops them. A view shows, in this order: this
session's run of the view's settings, else the latest run of the same settings on this server (so a slide
shows a finished run at once), else a figure of what will appear, computed in a second or two (the network's
random filters, the gradients of the fresh networks, the images a run learns from). While a run trains, a
small fragment inside the view redraws it every second (``cnnviz.ui.background.follow``).
"""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from cnnviz.errors import CnnvizError
from cnnviz.figures import training as fx
from cnnviz.figures.render import tile_grid, to_uint8
from cnnviz.methods import training_presets as presets
from cnnviz.methods.augmentation import TRANSFORMS, step
from cnnviz.methods.training import ARCHITECTURE_TITLES, OPTIMIZERS, TrainConfig, build_module, first_conv
from cnnviz.methods.training_runs import RUNS, Run
from cnnviz.ui import background, session_model, state, widgets
from cnnviz.ui.view import Frame, register

SIZES = [100, 250, 500, 1000, 2000, 4000, 8000, 15000]
LIVE_KEYS = ("tr_arch", "tr_data", "tr_opt", "tr_lr", "tr_depth", "tr_act", "tr_bn", "tr_res", "tr_ep", "tr_bs",
             "tr_n", "tr_seed", "tr_drop", "tr_wd", "tr_aug")
MODES = ("live", "vanishing", "overfit", "transfer")  # the old page's experiment switch (tr_mode), kept for links
TRANSFER_NS = (10, 50, 100, 500)
STATUS = {"running": "Training…", "stopped": "Stopped", "done": "Finished", "failed": "Failed"}


# ------------------------------------------------------------------------------------- runs of a view
@st.cache_resource
def _server_runs() -> dict[str, str]:
    """Settings -> the id of the latest run started with them on this server (any session)."""
    return {}


def _own() -> dict[str, str]:
    """This session's runs: ``"<experiment>"`` -> its latest run, ``"<experiment>:<settings>"`` -> by settings."""
    return st.session_state.setdefault("_training_runs", {})


def _run_of(exp: str, sig: str, latest: bool = False) -> tuple[Run | None, bool]:
    """(run to show, whether this session started it): this session's run (its latest one for ``latest``),
    else the latest run of the same settings on this server."""
    own = RUNS.get(_own().get(exp if latest else f"{exp}:{sig}"))
    if own is not None:
        return own, True
    return RUNS.get(_server_runs().get(sig)), False


def _start(exp: str, sig: str, make) -> None:
    """A Start/Resume button's on_click: start the run (before the view reruns, so it draws the new run)."""
    try:
        run = make()
    except CnnvizError as e:  # the server's run limit, or a setting that cannot work
        st.session_state[f"_tr_error_{exp}"] = e
        return
    _own().update({exp: run.id, f"{exp}:{sig}": run.id})
    _server_runs()[sig] = run.id


def _stop(run: Run) -> None:
    run.stop()
    run.wait(10)


def _buttons(exp: str, sig: str, run: Run | None, own: bool, make, cols) -> None:
    """Start, and Stop or Resume for this session's run."""
    busy = bool(run and run.running)
    cols[0].button("Start", key=f"tr_start_{exp}", icon=":material/play_arrow:", type="primary", disabled=busy,
                   on_click=_start, args=(exp, sig, make))
    if run is not None and own and run.running:
        cols[1].button("Stop", key=f"tr_stop_{exp}", icon=":material/stop:", on_click=_stop, args=(run,))
    elif run is not None and own and run.status == "stopped":
        cols[1].button("Resume", key=f"tr_resume_{exp}", icon=":material/replay:", on_click=_start,
                       args=(exp, sig, lambda: RUNS.resume(run)))
    elif run is not None and run.running:
        cols[1].caption("Started by another session on this server.")
    error = st.session_state.pop(f"_tr_error_{exp}", None)
    if error is not None:
        widgets.show_error(error)


def _follow(exp: str, run: Run, draw) -> None:
    """``draw(run)`` now, and every second while the run trains."""
    run_id = run.id

    def body() -> bool:
        r = RUNS.get(run_id)
        if r is None:
            return False
        draw(r)
        return r.running

    background.follow(f"tr_{exp}", run.running, body)


def _status(r: Run, f: Frame) -> None:
    line = f"**{STATUS[r.status]}** · {r.title} · {r.message}"
    st.caption(line if not f.slide else line[:160])
    if r.error:
        st.error(f"The run failed: {r.error}")


def _histories(r: Run) -> dict:
    return {k: t.history for k, t in list(r.trainers.items())}


def _empty_curves(epochs: int, text: str) -> go.Figure:
    """Empty learning curves (both panels' axes over ``epochs``), saying what will appear on them."""
    fig = fx.learning_curves({})
    for col in (1, 2):
        fig.add_scatter(x=[0, epochs], y=[0, 0], mode="markers", marker=dict(opacity=0), showlegend=False,
                        hoverinfo="skip", row=1, col=col)
    fig.update_xaxes(range=[0, epochs])
    fig.update_yaxes(range=[0, 2.5], row=1, col=1)
    return _waiting(fig, text)


def _waiting(fig: go.Figure, text: str) -> go.Figure:
    """An empty chart of the kind a run draws, saying what will appear on it."""
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=16, color="#888"), bgcolor="rgba(255,255,255,0.8)")
    return fig


def _press_start(f: Frame, what: str) -> None:
    if not f.slide:
        st.info(f"Press **Start** to train. {what}", icon=":material/play_circle:")


# ------------------------------------------------------------------------------------- cached previews
@st.cache_data(max_entries=32, show_spinner=False)
def _initial_filters(key: str, _config: TrainConfig) -> np.ndarray:
    """The first-layer filters the run of ``_config`` (named ``key``) starts from: its seeded random weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_config.seed)
        module = build_module(_config, 10)
    return first_conv(module).weight.detach().float().numpy()


@st.cache_data(max_entries=4, show_spinner="One batch through each fresh network…")
def _initial_gradients() -> dict:
    return presets.initial_gradients(presets.vanishing_configs())


@st.cache_data(max_entries=8, show_spinner=False)
def _augmented_digits(n: int, count: int = 5) -> np.ndarray:
    """The overfitting run's first training digits (top row) and three draws of its augmentation (below)."""
    from torchvision.transforms import v2

    from cnnviz.core.datasets import load_dataset
    from cnnviz.methods.augmentation import Target, build_transform

    cfg = presets.overfitting_configs(n)["augmentation + dropout 0.5"]
    ds = load_dataset(cfg.dataset, "train")
    x = torch.from_numpy(np.array(ds.images[:count], copy=True)).float().div_(255).unsqueeze(1)
    aug = v2.Compose([build_transform(s, Target(1, 28, 28, 10)) for s in cfg.augmentation])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        rows = [x] + [torch.stack([aug(img) for img in x]) for _ in range(3)]
    grid, _ = tile_grid(torch.cat(rows)[:, 0], cols=count, pad=2, pad_value=1.0)
    return to_uint8(grid)


@st.cache_data(max_entries=4, show_spinner=False)
def _few_labels(dataset: str, per_class: int = 10) -> np.ndarray:
    """The ``per_class`` labelled images of each class the smallest transfer case learns from (one row a class)."""
    from cnnviz.core.datasets import load_dataset
    from cnnviz.methods.training import select_subset

    ds = load_dataset(dataset, "train")
    idx = select_subset(ds.labels, None, per_class, seed=0)
    order = idx[np.argsort(ds.labels[idx], kind="stable")]
    x = torch.from_numpy(np.array(ds.images[order], copy=True)).float().div_(255)
    grid, _ = tile_grid(x, cols=per_class, pad=2, pad_value=1.0)
    return to_uint8(grid)


# ------------------------------------------------------------------------------------- live training
def _live_config(box) -> TrainConfig:
    c = box.columns(4)
    arch = state.select("Architecture", "tr_arch", list(ARCHITECTURE_TITLES), "lenet5",
                        format_func=ARCHITECTURE_TITLES.get, container=c[0])
    data = state.select("Data", "tr_data", ["mnist", "fashion-mnist"], "mnist", container=c[1],
                        format_func={"mnist": "MNIST digits", "fashion-mnist": "Fashion-MNIST"}.get)
    opt = state.select("Optimizer", "tr_opt", ["sgd", "momentum", "adam"], "adam", format_func=OPTIMIZERS.get,
                       container=c[2])
    lr = state.select("Learning rate", "tr_lr", [1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 3e-2, 0.1, 0.3], 2e-3,
                      container=c[3])
    deep = {}
    if arch == "deep-cnn":
        d = box.columns(4)
        deep = dict(depth=state.slider("Conv layers", "tr_depth", 2, 20, 8, container=d[0]),
                    activation=state.select("Activation", "tr_act", ["relu", "tanh", "sigmoid"], "relu",
                                            container=d[1]),
                    batchnorm=state.toggle("BatchNorm", "tr_bn", False, container=d[2]),
                    residual=state.toggle("Residual (skip connections)", "tr_res", False, container=d[3]))
    e = box.columns(4)
    epochs = state.slider("Epochs", "tr_ep", 1, 30, 3, container=e[0])
    batch = state.select("Batch size", "tr_bs", [16, 32, 64, 128, 256], 32, container=e[1])
    size = state.select("Training images", "tr_n", SIZES, 8000, container=e[2],
                        help="Down to 100 images to watch a network memorise its training set (overfitting).")
    seed = state.number("Seed", "tr_seed", 0, 9999, 0, container=e[3])
    g = box.columns([1, 1, 2])
    dropout = state.slider("Dropout", "tr_drop", 0.0, 0.7, 0.0, step=0.1, container=g[0])
    wd = state.select("Weight decay", "tr_wd", [0.0, 1e-5, 1e-4, 1e-3, 1e-2], 0.0, container=g[1])
    gray = [k for k, s in TRANSFORMS.items() if not s.needs_rgb]
    aug = state.multiselect("Augmentation (from the Augmentation page's table, default settings)", "tr_aug", gray,
                            format_func=lambda k: TRANSFORMS[k].name, container=g[2])
    return TrainConfig(arch, data, optimizer=opt, lr=lr, batch_size=batch, epochs=epochs, seed=seed, dropout=dropout,
                       weight_decay=wd, augmentation=tuple(step(k) for k in aug), log_every=10, test_every=50,
                       train_size=None if size >= 15000 else size, **deep)


@register("training.live", "Train a network", keys=LIVE_KEYS)
def live(f: Frame) -> None:
    state.get_param("tr_mode", "live", valid=lambda v: v in MODES)
    if "tr_mode" in st.query_params:  # an old link's experiment switch: every experiment is a view now
        del st.query_params["tr_mode"]
    box = f.controls()[0]
    config = _live_config(box)
    sig = f"live:{config!r}"
    run, own = _run_of("live", sig, latest=True)
    b = box.columns(3) if f.slide else f.controls([1, 1, 5])
    _buttons("live", sig, run, own, lambda: RUNS.start_training(config), b)
    if own and run is not None and run.trainers.get("run") is not None and run.trainers["run"].config != config:
        st.caption("The settings above changed since this run: **Start** trains them.")
    trained = run.trainers.get("run") if run is not None and run.kind == "train" else None
    if trained is not None and not run.running and trained.step > 0:
        _use_and_download(trained, box if f.slide else st)
    if run is None:
        _press_start(f, f"{config.title}: {config.summary()}.")
        _live_preview(f, config)
    else:
        _follow("live", run, lambda r: _show_live(r, f))
    f.note("- The first-layer filters start as noise and become stroke and edge detectors within the first epoch.\n"
           "- The loss falls fastest in the first few hundred batches; the test accuracy (dashed) follows the "
           "training accuracy until the network starts to memorise.")


def _use_and_download(trained, where) -> None:
    acc = trained.test_accuracy()
    u = where.columns([3, 2, 2, 3])
    if u[0].button("Use this model on every page", icon=":material/check_circle:", key="tr_use",
                   help=f"The sidebar's model becomes this network ({acc:.1%} test accuracy), for this session only."):
        session_model.use(trained.handle())
        st.rerun()  # the sidebar (outside this view) shows the new model
    data, card = trained.export()
    u[1].download_button("Download .safetensors", data, file_name=f"{card['name']}.safetensors",
                         icon=":material/download:", key="tr_dl_weights")
    u[2].download_button("Download card (.json)", json.dumps(card, indent=2), file_name=f"{card['name']}.json",
                         key="tr_dl_card",
                         help="Load the .safetensors back under Model → 'Your own weights': its card rides inside.")


def _live_preview(f: Frame, config: TrainConfig) -> None:
    left, right = st.columns([1.7, 1] if f.slide else [2, 1])
    curves = _empty_curves(config.epochs, f"Start: the loss and accuracy of {config.title} appear here")
    widgets.show_figure(curves, "training-curves-train", container=left, download=False)
    widgets.show_image(fx.filter_grid(_initial_filters(repr(config), config)),
                       caption="first-layer filters before training: random noise", container=right,
                       width="stretch", download="training-filters")


def _show_live(r: Run, f: Frame) -> None:
    _status(r, f)
    t = r.trainers.get("run")
    if t is None or not t.history.points:
        return
    h, p = t.history, t.history.points[-1]
    if not f.slide:
        m = st.columns(5)
        m[0].metric("Epoch", f"{p.epoch:.2f} / {t.config.epochs}")
        m[1].metric("Loss", f"{p.loss:.3f}")
        m[2].metric("Train accuracy", f"{p.train_accuracy:.1%}")
        acc = h.test_accuracy if r.running else t.test_accuracy()
        m[3].metric("Test accuracy", "–" if acc is None else f"{acc:.1%}")
        m[4].metric("Images / s", f"{t.images / max(t.train_seconds, 1e-9):,.0f}")
    hs = {"run": h}
    ep = len(h.epochs) - 1
    filt = h.latest_filters if r.running else h.epochs[ep].filters
    when = "now" if r.running else f"epoch {ep}"
    if f.slide:
        left, right = st.columns([1.7, 1])
        widgets.show_figure(fx.learning_curves(hs), "training-curves-train", container=left)
        widgets.show_image(fx.filter_grid(filt), caption=f"first-layer filters, {when}", container=right,
                           width="stretch", download="training-filters")
        return
    widgets.show_figure(fx.learning_curves(hs), "training-curves-train")
    left, mid, right = st.columns([2, 3, 3])
    # which snapshot to show is a property of this session's run, not of a link: a plain slider
    if ep > 0 and not r.running:
        ep = left.slider("Filters after epoch", 0, ep, ep, key="tr_scrub")
        filt, when = h.epochs[ep].filters, f"epoch {ep}"
    with left:
        widgets.show_image(fx.filter_grid(filt), caption=f"first-layer filters, {when}", download="training-filters")
    with mid:
        widgets.show_figure(fx.gradient_norms(hs), "training-gradients")
    conf = next((e.confusion for e in reversed(h.epochs) if e.confusion is not None), None)
    if conf is not None:
        with right:
            widgets.show_figure(fx.confusion_matrix(conf, h.classes, height=380), "training-confusion")


# ------------------------------------------------------------------------------------- vanishing gradients
@register("training.vanishing", "Vanishing gradients: skips and BatchNorm",
          anchors=("vanishing-gradients",))
def vanishing(f: Frame) -> None:
    sig = "vanishing"
    run, own = _run_of("vanishing", sig)
    _buttons("vanishing", sig, run, own, lambda: RUNS.start_comparison("vanishing gradients",
                                                                       presets.vanishing_configs()),
             f.controls([1, 1, 5]))
    if not f.slide:
        st.markdown("Four **20-layer** CNNs, one epoch on 1,000 digits each: plain with sigmoid, residual with "
                    "sigmoid, plain with BatchNorm and ReLU, residual with BatchNorm and ReLU.")
    if run is None:
        _press_start(f, "Before that, the gradients of the four fresh networks on one batch already show the effect:")
        hs = _initial_gradients()
        left, right = st.columns(2) if f.slide else (st.container(), st.container())
        fig = fx.gradient_norms(hs)
        fig.update_layout(title="Before training: one batch, four fresh networks")
        widgets.show_figure(fig, "training-gradients-compare", container=left)
        _ratios(hs, right if not f.slide else left)
        if f.slide:
            widgets.show_figure(_empty_curves(1, "Start: the four learning curves appear here"),
                                "training-curves-compare", container=right, download=False)
    else:
        _follow("vanishing", run, lambda r: _show_compare(r, f, gradients_first=True))
    f.note("- In the plain sigmoid net the first layer's gradient is about 10⁻¹⁸ of the last one's, so it does not "
           "learn at all; skips and BatchNorm keep it within a factor of ten.\n"
           "- The gap is there before the first step: it comes from the architecture, not from training.")


def _ratios(hs: dict, where) -> None:
    where.caption(" · ".join(f"{k}: first/last layer gradient {v:.1e}" for k, v in
                             ((k, h.points[-1].grad_norms[0] / max(h.points[-1].grad_norms[-1], 1e-30))
                              for k, h in hs.items() if h.points)))


def _show_compare(r: Run, f: Frame, gradients_first: bool) -> None:
    _status(r, f)
    hs = _histories(r)
    if not any(h.points for h in hs.values()):
        return
    curves = fx.learning_curves(hs)
    grads = fx.gradient_norms(hs)
    if f.slide:
        main, other = (grads, curves) if gradients_first else (curves, grads)
        other.update_layout(showlegend=False)  # the same colours as the main chart's legend
        left, right = st.columns([1.2, 1] if gradients_first else [1.6, 1])
        widgets.show_figure(main, f"training-{'gradients' if gradients_first else 'curves'}-compare", container=left)
        widgets.show_figure(other, f"training-{'curves' if gradients_first else 'gradients'}-compare", container=right)
        return
    for fig, name in ((grads, "gradients"), (curves, "curves"))[::1 if gradients_first else -1]:
        widgets.show_figure(fig, f"training-{name}-compare")
        if name == "gradients":
            ratios = {k: presets.gradient_ratio(t) for k, t in list(r.trainers.items()) if t.history.points}
            st.caption(" · ".join(f"{k}: first/last layer gradient {v:.1e}" for k, v in ratios.items()))


# ------------------------------------------------------------------------------------- overfitting
@register("training.overfitting", "Overfitting: augmentation and dropout", keys=("tr_ofn",),
          anchors=("overfitting",))
def overfitting(f: Frame) -> None:
    c = f.controls([2, 1, 1, 3], vertical_alignment="bottom")
    n = state.select("Training images", "tr_ofn", [100, 250, 500, 1000], 500, container=c[0])
    sig = f"overfit:{n}"
    run, own = _run_of("overfit", sig)
    _buttons("overfit", sig, run, own,
             lambda: RUNS.start_comparison("overfitting", presets.overfitting_configs(n)), c[1:3])
    if not f.slide:
        st.markdown(f"LeNet-5 on {n} digits for 30 epochs: once plain, once with augmentation (random affine maps "
                    "and erasing) and dropout 0.5.")
    if run is None:
        _press_start(f, "The second network never sees the same digit twice:")
        left, right = st.columns([1.6, 1])
        widgets.show_figure(_empty_curves(30, "Start: train and test accuracy of both runs appear here"),
                            "training-curves-compare", container=left, download=False)
        widgets.show_image(_augmented_digits(n), caption="top: training digits; below: three draws of the "
                           "augmentation the second run trains on", container=right, width="stretch",
                           download="training-augmented")
    else:
        _follow("overfit", run, lambda r: _show_compare(r, f, gradients_first=False))
    f.note("- On 500 images the plain net reaches 100% on its training set and stops improving on the test set; "
           "augmentation and dropout lower training accuracy and narrow the gap.")


# ------------------------------------------------------------------------------------- transfer
@register("training.transfer", "Transfer learning: features reused with few labels", keys=("tr_src",),
          anchors=("transfer",))
def transfer(f: Frame) -> None:
    c = f.controls([3, 1, 1, 2], vertical_alignment="bottom")
    src = state.select("Reuse the features of", "tr_src", list(presets.TRANSFER_TARGET), "lenet5-mnist",
                       container=c[0], format_func=lambda s: f"{s} → train on {presets.TRANSFER_TARGET[s]}")
    target = presets.TRANSFER_TARGET[src]
    sig = f"transfer:{src}"
    run, own = _run_of("transfer", sig)
    cached = presets.cached_transfer_curve(src, TRANSFER_NS) if run is None else None
    if cached is None:
        _buttons("transfer", sig, run, own, lambda: RUNS.start_transfer(src, TRANSFER_NS), c[1:3])
    if not f.slide:
        st.markdown(f"n ∈ {{10, 50, 100, 500}} labelled {target} images per class, three ways, each averaged over 3 "
                    "seeds. A finished curve is cached, so the next visit shows it at once.")
    if cached is not None:
        if not f.slide:
            st.caption("Computed earlier on this server (cached).")
        widgets.show_figure(fx.transfer_chart(cached), "training-transfer")
    elif run is None:
        _press_start(f, f"With 10 per class, the smallest case learns from these {10 * 10} images:")
        left, right = st.columns([1.6, 1])
        empty = fx.transfer_chart(presets.TransferCurve(src, target, TRANSFER_NS, 200, (0, 1, 2)))
        empty.update_xaxes(range=[np.log10(7), np.log10(700)])
        empty.update_yaxes(range=[0, 1])
        widgets.show_figure(_waiting(empty, "Start: accuracy against labelled images per class, "
                                     "three ways"), "training-transfer", container=left, download=False)
        widgets.show_image(_few_labels(target), caption=f"10 labelled {target} images per class", container=right,
                           width="stretch", download="training-few-labels")
    else:
        def draw(r: Run) -> None:
            _status(r, f)
            if r.curve is not None:
                widgets.show_figure(fx.transfer_chart(r.curve), "training-transfer")

        _follow("transfer", run, draw)
    f.note("- With 10 images per class, features learned on the other data set beat training from scratch; with "
           "500 the advantage shrinks.")
