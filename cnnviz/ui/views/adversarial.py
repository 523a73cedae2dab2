"""Views of /adversarial: an invisible change that flips the answer, where the network looks, accuracy against
epsilon, transfer to other models, robustness by training.

The attack's settings (method, norm, ε, PGD steps, target) belong to ``adversarial.attack``; the other views
read them. Measurements over a batch of images run in the background (``cnnviz.ui.background``), shared by
the server, with a Stop button that acts at once; a finished one is shown to every session at once.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import plotly.graph_objects as go
import streamlit as st

from cnnviz.core import zoo
from cnnviz.core.runtime import ResultCache
from cnnviz.errors import CnnvizError
from cnnviz.figures import adversarial as fa
from cnnviz.figures.common import FONT
from cnnviz.methods import adversarial as A
from cnnviz.methods import attribution as at
from cnnviz.ui import background, state, widgets
from cnnviz.ui.resources import shared_model
from cnnviz.ui.view import Frame, register

ATTACK_KEYS = ("ad_m", "ad_n", "ad_e", "ad_e2", "ad_s", "ad_t")
BATCH_KEYS = ("ad_bn", "ad_bn2", "ad_dir")
PLAIN, ROBUST = "lenet5-mnist", "lenet5-mnist-robust"
EPSILON_GRID = {(True, "linf"): [0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3],
                (True, "l2"): [0.0, 0.5, 1, 1.5, 2, 3, 4, 5],
                (False, "linf"): [0.0, 0.001, 0.002, 0.004, 0.008, 0.016, 0.03],
                (False, "l2"): [0.0, 0.1, 0.25, 0.5, 1, 2, 4]}
MAPS = {"gradcam": "Grad-CAM (last conv layer)", "saliency": "gradient saliency"}


class NoLabelledData(CnnvizError):
    """The view needs a bundled labelled test set the model was trained on."""


def _small(m) -> bool:
    return max(m.input_size[1:]) <= 64


# ------------------------------------------------------------------------------------ the attack's settings
def _eps_slider(m, norm: str) -> tuple[str, float, float, float]:
    """(URL key, default, largest value, step) of the ε slider for ``norm``: digits need a large ε (0.15 = 38
    grey levels); photos flip at a few grey levels (0.01 = 2.5 of 255)."""
    small = _small(m)
    if norm == "linf":
        return "ad_e", (0.15 if small else 0.01), 0.5, (0.005 if small else 0.001)
    return "ad_e2", (2.0 if small else 0.5), 10.0, 0.05


def _target_parse(s: str):
    return "none" if s == "none" else int(s)


def _spec(m) -> A.AttackSpec:
    """The attack the ``adversarial.attack`` view set (read by the other views, or from the link on a slide)."""
    method = state.peek("ad_m", "fgsm", valid=lambda v: v in A.METHODS)
    norm = state.peek("ad_n", "linf", valid=lambda v: v in A.NORMS)
    key, default, top, _ = _eps_slider(m, norm)
    eps = state.peek(key, default, float, valid=lambda v: isinstance(v, (int, float)) and 0 <= v <= top)
    steps = state.peek("ad_s", 10, int, valid=lambda v: isinstance(v, int) and 1 <= v <= 50)
    target = state.peek("ad_t", "none", _target_parse,
                        valid=lambda v: v == "none" or (isinstance(v, int) and 0 <= v < len(m.classes)))
    return A.AttackSpec(method, float(eps), norm, int(steps), target=None if target == "none" else int(target))


# ------------------------------------------------------------------------------------ cached results
@st.cache_resource
def _results() -> ResultCache:
    """Attack results shared by every session (a link with the same settings shows them at once)."""
    return ResultCache(maxsize=48)


def _cached(fn: str, m, key: tuple, *args, **kwargs):
    """``A.<fn>(m, *args, **kwargs)``, computed once per server for ``(fn, model, key)``."""
    return _results().get_or_compute((fn, m.key, key), lambda: getattr(A, fn)(m, *args, **kwargs))


def _batch(m, n: int | None = None, folder: str = "") -> A.ImageBatch:
    """The images the batch views measure on: the bundled test split that fits ``m``, else photos (a folder)."""
    if A.dataset_for(m):
        return _cached("test_batch", m, (n,), n)
    return _cached("folder_batch", m, (folder, n), folder or None, n)


def _batch_settings(m) -> tuple[int, str]:
    """(images, folder) the ``adversarial.curve`` view set."""
    if A.dataset_for(m):
        return state.peek("ad_bn", 500, int, valid=lambda v: v in (100, 500, 2000)), ""
    n = state.peek("ad_bn2", 6, int, valid=lambda v: v in (6, 12, 24, 48))
    return n, state.peek("ad_dir", "", valid=lambda v: isinstance(v, str) and len(v) <= 500)


def _pending_figure(title: str, xs: list[float] | None = None, xtitle: str = "ε") -> go.Figure:
    """The empty axes of a chart being measured (the slide keeps its layout while the work runs)."""
    fig = go.Figure()
    fig.add_annotation(text=f"{title}…", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=18, color="#888"))
    if xs:
        fig.update_xaxes(range=[min(xs), max(xs)], title_text=xtitle)
    fig.update_yaxes(range=[0, 1.03], tickformat=".0%", title_text="accuracy")
    fig.update_layout(height=420, font=FONT, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def _follow_jobs(name: str, jobs: list[background.Job], label: str, draw,
                 pending: Callable[[], go.Figure] | None = None) -> None:
    """Draw ``draw(results)`` once every job is done; meanwhile their progress, a Stop button (polled every
    second) and ``pending()`` (the chart's empty axes, built only while a job runs: 40 ms a run otherwise); a
    stopped or failed job says so and offers to measure again."""
    def body() -> bool:
        failed = [j for j in jobs if j.status == "failed"]
        for j in failed:
            if j.error is not None:
                widgets.show_error(j.error)
            else:
                st.error(f"The measurement failed ({j.bug}); the details are in the server log.",
                         icon=":material/error:")
        if any(j.running for j in jobs):
            done = sum(j.fraction for j in jobs) / len(jobs)
            text = next((j.text for j in jobs if j.running and j.text), "starting…")
            queued = all(j.status == "queued" for j in jobs if j.running)
            bar, stop = st.columns([6, 1], vertical_alignment="bottom")
            bar.progress(min(1.0, done), text=(f"{label}: waiting for another measurement on this server to finish"
                                               if queued else f"{label}: {text}"))
            if stop.button("Stop", key=f"ad_stop_{name}", icon=":material/stop:",
                           help="Ends the measurement; Measure again runs it anew."):
                for j in jobs:
                    j.stop()
                    j.wait(10)
                st.rerun()
            if pending is not None:
                widgets.show_figure(pending(), f"adversarial-{name}-pending", download=False, slide_height=470)
            return True
        if failed:
            return False
        if any(j.status == "stopped" for j in jobs):
            # a job stopped while it waited for a free slot measured nothing: there is no chart to draw
            nothing = any(j.result is None for j in jobs)
            st.caption("Stopped before anything was measured." if nothing else
                       "Stopped: the chart shows what was measured before the stop.")
            if st.button("Measure again", key=f"ad_again_{name}", icon=":material/play_arrow:"):
                for j in jobs:
                    background.job_table("adversarial").start(j.key, j.work, again=True)
                st.rerun()
            if nothing:
                return False
        draw([j.result for j in jobs])
        return False

    background.follow(f"ad_{name}", any(j.running for j in jobs), body)


def _job(key: tuple, work) -> background.Job:
    return background.job_table("adversarial").start(key, work)


# ------------------------------------------------------------------------------------ one image
@register("adversarial.attack", "One image: an invisible change flips the answer", keys=ATTACK_KEYS,
          anchors=("one-image", "how-far-is-this-image-from-the-decision-boundary"))
def attack(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    small = _small(m)
    c = f.controls([2, 2, 3, 2, 3])
    method = state.select("Attack", "ad_m", list(A.METHODS), "fgsm", container=c[0], format_func=A.METHODS.get)
    norm = state.select("Norm", "ad_n", list(A.NORMS), "linf", container=c[1], format_func=A.NORMS.get, radio=True,
                        horizontal=True)
    key, default, top, step = _eps_slider(m, norm)
    eps = state.slider("ε (pixels, 0..1 scale)", key, 0.0, top, default, step=step, container=c[2],
                       help="L∞: 0.1 is about 25 of 255 grey levels per pixel. L2: the length of the change vector.")
    steps = state.slider("PGD steps", "ad_s", 1, 50, 10, container=c[3], disabled=method == "fgsm",
                         help="Step size 2.5 ε / steps, from a random start in the ε-ball (Madry et al. 2018).")
    target_opt = state.select("Towards", "ad_t", ["none", *range(len(m.classes))], "none", container=c[4],
                              format_func=lambda o: "untargeted: away from the clean class" if o == "none"
                              else f"class {o}: {m.classes[o]}", help="A targeted attack pushes towards one class.")
    spec = A.AttackSpec(method, float(eps), norm, int(steps), target=None if target_opt == "none" else int(target_opt))
    ex = _cached("attack_image", m, (ctx.image_key, spec), ctx.image, spec)
    clean_name, adv_name = ex.classes[ex.clean_class], ex.classes[ex.adversarial_class]
    captions = (f"clean: {clean_name} ({ex.clean_probs.max():.0%})",
                f"perturbation ×{fa.amplification(ex):.0f} (red brighter, blue darker): "
                f"L∞ {ex.linf:.3f}, L2 {ex.l2:.2f}",
                f"adversarial: {adv_name} ({ex.adversarial_probs.max():.0%})")
    images = (fa.pixels_image(ex.clean), fa.perturbation_image(ex), fa.pixels_image(ex.adversarial))
    names = ("adversarial-clean", "adversarial-perturbation", "adversarial-image")
    verdict, failed = (("reaches the target", "does not reach the target") if spec.targeted
                       else ("flips the prediction", "does not flip the prediction"))
    line = f"**{spec.label} at ε = {spec.epsilon:g} {verdict if ex.success else failed}**: {clean_name} → {adv_name}."
    if f.slide:  # the three images as large as the width allows, the predictions in a band under them
        captions = (captions[0], f"perturbation ×{fa.amplification(ex):.0f}: L∞ {ex.linf:.3f}", captions[2])
        cols = st.columns(3)
        for col, img, cap, name in zip(cols, images, captions, names, strict=True):
            widgets.show_image(img, caption=cap, container=col, width=230, download=name)
        fig = fa.predictions_figure(ex, k=2)
        fig.update_layout(title=None, margin=dict(l=10, r=10, t=4, b=4),
                          legend=dict(orientation="v", x=1.0, xanchor="left", y=0.5))
        widgets.show_figure(fig, "adversarial-predictions", slide_height=175)
    else:
        cols = st.columns([1, 1, 1, 1.4])
        for col, img, cap, name in zip(cols[:3], images, captions, names, strict=True):  # cols[3]: the figure
            widgets.show_image(img, caption=cap, container=col, width="stretch", download=name)
        widgets.show_figure(fa.predictions_figure(ex, k=3), "adversarial-predictions", container=cols[3])
        st.markdown(line)
        _boundary(m, ctx, spec, top, norm, verdict, failed, small)
    f.note("- The perturbation looks like noise, yet it flips the answer; random noise of the same size barely "
           "matters (see the batch below): the gradient's *direction* is what fools the network.\n"
           "- PGD needs a smaller ε than FGSM to flip the same image; the smallest flipping ε is how far the image "
           "sits from the decision boundary, for most digits far less than a change a person would notice.")


def _boundary(m, ctx, spec: A.AttackSpec, top: float, norm: str, verdict: str, failed: str, small: bool) -> None:
    st.subheader("How far is this image from the decision boundary?")
    if not small and not st.button("Find the smallest flipping ε", key="ad_find",
                                   help="48 attacked copies; slow on CPU for ImageNet models"):
        return
    fp = _cached("minimal_epsilon", m, (ctx.image_key, replace(spec, epsilon=0.0)), ctx.image, spec, top)
    if fp.epsilon is None:
        st.markdown(f"Even ε = {top:g} {failed}.")
    else:
        st.markdown(f"The smallest ε at which {spec.label} {verdict} is **{fp.epsilon:.4f}** (ε = {fp.below:.4f} "
                    f"does not), found by bisection with {fp.evaluations} attacked copies"
                    + (f": about {fp.epsilon * 255:.1f} of 255 grey levels per pixel." if norm == "linf" else "."))


@register("adversarial.attention", "Where the network looks, before and after", keys=("ad_map",), reads=ATTACK_KEYS,
          anchors=("where-the-network-looks-before-and-after",))
def attention(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    spec = _spec(m)
    how = state.select("Map", "ad_map", list(MAPS), "gradcam", radio=True, horizontal=True, container=f.controls()[0],
                       format_func=MAPS.get)
    ex = _cached("attack_image", m, (ctx.image_key, spec), ctx.image, spec)
    explain = at.grad_cam if how == "gradcam" else at.saliency
    maps = [explain(m, m.normalize(p[None])) for p in (ex.clean, ex.adversarial)]
    cols = st.columns(2) if f.slide else st.columns([1, 1, 1, 1.4])
    # off a slide the two maps take the first two of four columns (the same grid as the attack view's)
    for col, p, a, name, tag in zip(cols[:2], (ex.clean, ex.adversarial), maps, ("clean", "adversarial"), ("c", "a"),
                                    strict=True):
        widgets.show_image(fa.attribution_overlay(p, a.heat()), caption=f"{name}: evidence for {m.classes[a.target]}",
                           container=col, width="stretch", download=f"adversarial-map-{tag}")
    if not f.slide:
        cols[2].caption(f"{spec.label} at ε = {spec.epsilon:g} (the attack above). Red: where the evidence for the "
                        "predicted class lies.")
    f.note("- After the attack the map often still covers the digit, now as evidence for the wrong class: the "
           "change works on the network's features, not on where it looks.")


# ------------------------------------------------------------------------------------ a batch
@register("adversarial.curve", "A batch of images: accuracy against ε", keys=(*BATCH_KEYS, "ad_rob"), reads=ATTACK_KEYS,
          anchors=("a-batch-of-images-accuracy-against-ε", "a-batch-of-images-accuracy-against"))
def curve(f: Frame) -> None:
    m = f.model
    spec = _spec(m)
    dataset = A.dataset_for(m)
    bc = f.controls(3)
    if dataset:
        n = state.select("Test images", "ad_bn", [100, 500, 2000], 500, container=bc[0])
        folder = ""
    else:
        n = state.select("Images", "ad_bn2", [6, 12, 24, 48], 6, container=bc[0])
        folder = state.text("Image folder (on the server; empty: the sample photos)", "ad_dir", "", container=bc[1])
    robust_name = ROBUST if dataset == "mnist" and m.name != ROBUST else None
    compare = bool(robust_name) and state.toggle("Beside the adversarially trained LeNet", "ad_rob", False,
                                                 container=bc[2], help="Its own view is Robustness by training, below.")
    batch = _batch(m, n, folder)
    if not f.slide:
        st.caption(f"{batch.source}" + ("" if batch.labelled else ": labelled by the model's clean answers, so the "
                                                                  "chart counts answers that survive"))
    grid = EPSILON_GRID[(_small(m), spec.norm)]
    models = [m] + ([shared_model(robust_name)] if compare else [])
    jobs = [_job(key, work) for key, work in (_curve_work(mm, batch, spec, grid) for mm in models)]

    def draw(curves) -> None:
        fig = fa.curve_figure(curves, [mm.name for mm in models])
        fig.add_vline(x=spec.epsilon, line=dict(color="#888", dash="dash", width=1),
                      annotation_text=f"ε = {spec.epsilon:g} above", annotation_position="top")
        widgets.show_figure(fig, "adversarial-curve")

    _follow_jobs("curve", jobs, f"{spec.label} on {len(batch)} images", draw,
                 lambda: _pending_figure("Measuring accuracy against ε", grid))
    f.note("- Random noise of the same size (dotted) leaves accuracy almost where it was: the gradient's direction "
           "is what fools the network, not the amount of change.")


def _curve_work(m, batch: A.ImageBatch, spec: A.AttackSpec, grid: list[float]) -> tuple[tuple, object]:
    key = ("robustness_curve", m.key, batch.source, replace(spec, epsilon=0.0), tuple(grid))
    return key, lambda progress, stop: A.robustness_curve(m, batch, spec, grid, progress=progress, stop=stop)


@register("adversarial.transfer", "Transfer: adversarial images made on one model, shown to another", keys=("ad_tr",),
          reads=(*ATTACK_KEYS, *BATCH_KEYS),
          anchors=("transfer-adversarial-images-made-on-one-model-shown-to-another",))
def transfer(f: Frame) -> None:
    m = f.model
    spec = _spec(m)
    dataset = A.dataset_for(m)
    if not dataset:
        raise NoLabelledData(f"Transfer needs other models trained on {m.name}'s data set: it is shown for the "
                             "bundled digit and clothes models (pick one in the sidebar).")
    others = [k for k, s in zoo.BUNDLED.items() if s["dataset"] == dataset and k != m.name]
    chosen = state.multiselect("Test on", "ad_tr", others, others[:2], container=f.controls()[0])
    if not chosen:
        st.info("Pick the models to show the adversarial images to.", icon=":material/touch_app:")
        return
    batch = _batch(m, _batch_settings(m)[0])
    key = ("transfer", m.key, batch.source, spec, tuple(chosen))
    models = [shared_model(k) for k in chosen]  # loaded here, in the script thread, once per server

    def work(progress, stop):
        return A.transfer(m, models, batch, spec, progress=progress, stop=stop)

    def draw(results) -> None:
        if results[0] is not None:
            widgets.show_figure(fa.transfer_figure(results[0]), "adversarial-transfer")

    _follow_jobs("transfer", [_job(key, work)], f"{spec.label} ε={spec.epsilon:g} on {m.name}", draw,
                 lambda: _pending_figure(f"Showing {m.name}'s adversarial images to {', '.join(chosen)}"))
    f.note("- Adversarial images made on one network fool another trained on the same data, less often: the "
           "networks share some of the non-robust features they rely on.")


# ------------------------------------------------------------------------------------ robust training
@register("adversarial.robust", "Robustness by training", reads=(*ATTACK_KEYS, "ad_bn"),
          anchors=("robustness-by-training",))
def robust(f: Frame) -> None:
    m = f.model
    if A.dataset_for(m) != "mnist":
        st.info(f"Robustness by training compares the bundled LeNet-5 with its adversarially trained twin on the "
                f"digits; {m.name} is not a digit model.", icon=":material/info:")
        st.page_link("pages/adversarial.py", label="Open it with LeNet-5", icon=":material/arrow_forward:",
                     query_params={"model": PLAIN, "img": "digit-6", "view": "adversarial.robust"})
        return
    spec = _spec(m)
    plain, rob = shared_model(PLAIN), shared_model(ROBUST)
    if not f.slide:
        st.markdown(f"`{rob.card.get('command', '')}` trains LeNet-5 on batches that are half clean, half FGSM "
                    f"examples against the network as it is at that step (ε drawn from 0..0.3). Clean test accuracy "
                    f"{rob.card.get('test_accuracy', 0):.1%} against {plain.card.get('test_accuracy', 0):.1%}.")
    n = state.peek("ad_bn", 500, int, valid=lambda v: v in (100, 500, 2000))
    batch = _batch(plain, n)
    grid = EPSILON_GRID[(True, spec.norm)]
    if spec.norm == "linf" and spec.epsilon > grid[-1]:
        spec = replace(spec, epsilon=grid[-1])
    left, right = st.columns([1.6, 1]) if f.slide else st.columns([1.4, 1])
    jobs = [_job(key, work) for key, work in (_curve_work(mm, batch, spec, grid) for mm in (plain, rob))]

    def draw(curves) -> None:
        fig = fa.curve_figure(curves, [PLAIN, ROBUST], noise=False)
        fig.add_vline(x=spec.epsilon, line=dict(color="#888", dash="dash", width=1))
        for c in curves:
            if c.epsilons:
                a, _ = c.at(spec.epsilon)
                fig.add_annotation(x=spec.epsilon, y=a, text=f"{a:.0%}", showarrow=True, ax=28, ay=-18)
        widgets.show_figure(fig, "adversarial-robust-curve")

    with left:
        _follow_jobs("robust", jobs, f"{spec.label}, plain and robust LeNet, {len(batch)} images", draw,
                     lambda: _pending_figure("Measuring both LeNets against ε", grid))
    with right:
        for mm, tag in ((plain, "plain"), (rob, "robust")):
            w = A.first_layer_filters(mm)
            widgets.show_image(fa.filters_image(w, cols=3), caption=f"{mm.name}: first-layer filters, roughness "
                               f"{A.filter_roughness(w):.2f}", width=190 if f.slide else "stretch",
                               download=f"adversarial-filters-{tag}")
    f.note("- Training on adversarial examples buys robustness at a small cost in clean accuracy (ε = 0), and "
           "smoother, more stroke-like first-layer filters.")
