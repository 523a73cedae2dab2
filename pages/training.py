"""Training: watch a CNN learn live, and the lecture's experiments on what helps it."""
from __future__ import annotations

import json

import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.figures import training as fx
from cnnviz.methods import training_presets as presets
from cnnviz.methods.augmentation import TRANSFORMS, step
from cnnviz.methods.training import ARCHITECTURE_TITLES, OPTIMIZERS, TrainConfig
from cnnviz.methods.training_runs import RUNS, max_runs
from cnnviz.ui import session_model, state, widgets

st.title("Training")
st.markdown(
    "A network's filters are not designed, they are **learned**: gradient descent nudges every weight against "
    "the gradient of the loss, batch after batch. Train one here on the bundled digits or clothes and watch the "
    "loss fall, the accuracy rise and the first layer's filters turn from noise into stroke and edge detectors. "
    "The experiments show what makes training work: **skip connections and BatchNorm** against vanishing "
    "gradients in deep nets, **augmentation and dropout** against overfitting a small data set, and **transfer "
    "learning**: features learned on one data set reused on another with few labels. Runs go on in the "
    f"background while you visit other pages; this server trains at most {max_runs()} at once."
)
MODES = {"live": "Train a network", "vanishing": "Vanishing gradients", "overfit": "Overfitting",
         "transfer": "Transfer"}
mode = state.select("Experiment", "tr_mode", list(MODES), "live", format_func=MODES.get, radio=True, horizontal=True)
run_key = f"_training_run_{mode}"
run = RUNS.get(st.session_state.get(run_key))
SIZES = [100, 250, 500, 1000, 2000, 4000, 8000, 15000]


def live_controls() -> TrainConfig:
    c = st.columns(4)
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
        d = st.columns(4)
        deep = dict(depth=state.slider("Conv layers", "tr_depth", 2, 20, 8, container=d[0]),
                    activation=state.select("Activation", "tr_act", ["relu", "tanh", "sigmoid"], "relu",
                                            container=d[1]),
                    batchnorm=state.toggle("BatchNorm", "tr_bn", False, container=d[2]),
                    residual=state.toggle("Residual (skip connections)", "tr_res", False, container=d[3]))
    e = st.columns(4)
    epochs = state.slider("Epochs", "tr_ep", 1, 30, 3, container=e[0])
    batch = state.select("Batch size", "tr_bs", [16, 32, 64, 128, 256], 32, container=e[1])
    size = state.select("Training images", "tr_n", SIZES, 8000, container=e[2],
                        help="Down to 100 images to watch a network memorise its training set (overfitting).")
    seed = state.number("Seed", "tr_seed", 0, 9999, 0, container=e[3])
    f = st.columns([1, 1, 2])
    dropout = state.slider("Dropout", "tr_drop", 0.0, 0.7, 0.0, step=0.1, container=f[0])
    wd = state.select("Weight decay", "tr_wd", [0.0, 1e-5, 1e-4, 1e-3, 1e-2], 0.0, container=f[1])
    gray = [k for k, s in TRANSFORMS.items() if not s.needs_rgb]
    aug = state.multiselect("Augmentation (from the Augmentation page's table, default settings)", "tr_aug", gray,
                            format_func=lambda k: TRANSFORMS[k].name, container=f[2])
    return TrainConfig(arch, data, optimizer=opt, lr=lr, batch_size=batch, epochs=epochs, seed=seed, dropout=dropout,
                       weight_decay=wd, augmentation=tuple(step(k) for k in aug), log_every=10, test_every=50,
                       train_size=None if size >= 15000 else size, **deep)


def start(make) -> None:
    try:
        st.session_state[run_key] = make().id
    except CnnvizError as e:  # the server's run limit, or a setting that cannot work
        widgets.show_error(e)
        return
    st.rerun()  # redraw the buttons (Stop) and start the polling fragment


if mode == "live":
    config = live_controls()
    go = lambda: RUNS.start_training(config)  # noqa: E731
elif mode == "vanishing":
    st.markdown("Four **20-layer** CNNs, one epoch on 1,000 digits each: plain with sigmoid, residual with sigmoid, "
                "plain with BatchNorm and ReLU, residual with BatchNorm and ReLU.")
    go = lambda: RUNS.start_comparison("vanishing gradients", presets.vanishing_configs())  # noqa: E731
elif mode == "overfit":
    n = state.select("Training images", "tr_ofn", [100, 250, 500, 1000], 500)
    st.markdown(f"LeNet-5 on {n} digits for 30 epochs: once plain, once with augmentation (random affine maps and "
                "erasing) and dropout 0.5.")
    go = lambda: RUNS.start_comparison("overfitting", presets.overfitting_configs(n))  # noqa: E731
else:
    src = state.select("Reuse the features of", "tr_src", list(presets.TRANSFER_TARGET), "lenet5-mnist",
                       format_func=lambda s: f"{s} → train on {presets.TRANSFER_TARGET[s]}")
    st.markdown("n ∈ {10, 50, 100, 500} labelled images per class, three ways, each averaged over 3 seeds. "
                "A finished curve is cached, so the next visit shows it at once.")
    go = lambda: RUNS.start_transfer(src, (10, 50, 100, 500))  # noqa: E731

b = st.columns([1, 1, 5])
if b[0].button("Start", icon=":material/play_arrow:", type="primary", disabled=bool(run and run.running)):
    start(go)
if run is not None and run.running and b[1].button("Stop", icon=":material/stop:"):
    run.stop()
    run.wait(10)
    st.rerun()  # redraw the buttons: Resume, Use, Download
if run is not None and not run.running and run.status == "stopped" and b[1].button("Resume", icon=":material/replay:"):
    start(lambda: RUNS.resume(run))
run = RUNS.get(st.session_state.get(run_key))

trained = run.trainers.get("run") if run is not None and run.kind == "train" else None
if trained is not None and not run.running and trained.step > 0:
    acc = trained.test_accuracy()
    u = st.columns([3, 2, 2, 3])
    u[0].button("Use this model on every page", icon=":material/check_circle:",
                on_click=lambda: session_model.use(trained.handle()),
                help=f"The sidebar's model becomes this network ({acc:.1%} test accuracy), for this session only.")
    data, card = trained.export()
    u[1].download_button("Download .safetensors", data, file_name=f"{card['name']}.safetensors",
                         icon=":material/download:")
    u[2].download_button("Download card (.json)", json.dumps(card, indent=2), file_name=f"{card['name']}.json",
                         help="Load the .safetensors back under Model → 'Your own weights': its card rides inside.")


def show_run(r) -> None:
    hs = {k: t.history for k, t in r.trainers.items()}
    state_line = {"running": "Training…", "stopped": "Stopped", "done": "Finished", "failed": "Failed"}[r.status]
    st.caption(f"**{state_line}** · {r.title} · {r.message}")
    if r.error:
        st.error(f"The run failed: {r.error}")
    if r.kind == "transfer":
        if r.curve is not None:
            widgets.show_figure(fx.transfer_chart(r.curve), "training-transfer")
        return
    if not hs or not any(h.points for h in hs.values()):
        return
    if r.kind == "train":
        t = r.trainers["run"]
        h, p = t.history, t.history.points[-1]
        m = st.columns(5)
        m[0].metric("Epoch", f"{p.epoch:.2f} / {t.config.epochs}")
        m[1].metric("Loss", f"{p.loss:.3f}")
        m[2].metric("Train accuracy", f"{p.train_accuracy:.1%}")
        acc = h.test_accuracy if r.running else t.test_accuracy()
        m[3].metric("Test accuracy", "–" if acc is None else f"{acc:.1%}")
        m[4].metric("Images / s", f"{t.images / max(t.train_seconds, 1e-9):,.0f}")
    widgets.show_figure(fx.learning_curves(hs), f"training-curves-{r.kind}")
    if r.kind == "train":
        left, mid, right = st.columns([2, 3, 3])
        # which snapshot to show is a property of this session's run, not of a link: a plain slider
        ep = len(h.epochs) - 1
        if ep > 0 and not r.running:
            ep = left.slider("Filters after epoch", 0, ep, ep, key="tr_scrub")
        filt = h.epochs[ep].filters if not r.running else h.latest_filters
        with left:
            when = "now" if r.running else f"epoch {ep}"
            widgets.show_image(fx.filter_grid(filt), caption=f"first-layer filters, {when}",
                               download="training-filters")
        with mid:
            widgets.show_figure(fx.gradient_norms(hs), "training-gradients")
        conf = next((e.confusion for e in reversed(h.epochs) if e.confusion is not None), None)
        if conf is not None:
            with right:
                widgets.show_figure(fx.confusion_matrix(conf, h.classes, height=380), "training-confusion")
    else:
        widgets.show_figure(fx.gradient_norms(hs), "training-gradients-compare")
        ratios = {k: presets.gradient_ratio(t) for k, t in r.trainers.items() if t.history.points}
        st.caption(" · ".join(f"{k}: first/last layer gradient {v:.1e}" for k, v in ratios.items()))


@st.fragment(run_every=1.0 if run is not None and run.running else None)
def live_view() -> None:
    r = RUNS.get(st.session_state.get(run_key))
    if r is None:
        st.info("Press **Start** to train.")
        return
    show_run(r)
    if not r.running and st.session_state.get("_tr_was_running") == r.id:
        st.session_state["_tr_was_running"] = None
        st.rerun()  # the run ended: a full rerun swaps Stop for Resume/Use and stops the polling
    if r.running:
        st.session_state["_tr_was_running"] = r.id


live_view()

widgets.what_to_notice(
    "- The first-layer filters start as noise and become stroke and edge detectors within the first epoch.\n"
    "- **Vanishing gradients:** in the plain sigmoid net the first layer's gradient is about 10⁻¹⁸ of the last "
    "one's, so it does not learn at all; skips and BatchNorm keep it within a factor of ten.\n"
    "- **Overfitting:** on 500 images the plain net reaches 100% on its training set and stops improving on the "
    "test set; augmentation and dropout lower training accuracy and narrow the gap.\n"
    "- **Transfer:** with 10 images per class, features learned on the other data set beat training from scratch; "
    "with 500 the advantage shrinks."
)
