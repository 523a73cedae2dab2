"""Adversarial examples: an invisible change that flips the answer; accuracy against epsilon; transfer; robust training."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from cnnviz.core import zoo
from cnnviz.errors import CnnvizError
from cnnviz.figures import adversarial as fa
from cnnviz.methods import adversarial as A
from cnnviz.methods import attribution as at
from cnnviz.methods.embeddings import ResultCache
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_model
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model
small = max(m.input_size[1:]) <= 64

st.title("Adversarial examples")
st.markdown(
    "An **adversarial example** is an input changed so little that a person sees no difference, yet the network "
    "changes its answer. **FGSM** takes one step of size ε in the sign of the loss gradient; **PGD** takes many "
    "smaller steps and projects back into the ε-ball after each. ε is measured in pixels on the 0..1 scale "
    "(L∞: the largest change of any pixel; L2: the length of the whole change), whatever normalisation the model "
    "uses. Random noise of the same size barely matters: the *direction* the gradient picks is what hurts."
)
widgets.untrained_badge(m)


@st.cache_resource
def _results() -> ResultCache:
    """Attack results shared by every session (a link with the same settings shows them at once)."""
    return ResultCache(maxsize=48)


def _run(fn: str, model_key: str, key: tuple, model, args: tuple, kwargs: dict):
    """``A.<fn>(model, *args, **kwargs)``, cached by ``(fn, model_key, key)``."""
    return _results().get_or_compute((fn, model_key, key), lambda: getattr(A, fn)(model, *args, **kwargs))


def _call(fn: str, key: tuple, *args, label: str = "", **kwargs):
    """A cached library call; a CnnvizError (no gradient, wrong task, ...) becomes a message on the page."""
    try:
        if label:
            return widgets.with_progress(label, lambda p: _run(fn, m.key, key, m, args, dict(kwargs, progress=p)))
        return _run(fn, m.key, key, m, args, kwargs)
    except CnnvizError as e:
        widgets.show_error(e)
        return None


# ------------------------------------------------------------------------------------ one image
st.header("One image", divider="gray")
c = st.columns(4)
method = state.select("Attack", "ad_m", list(A.METHODS), "fgsm", container=c[0], format_func=A.METHODS.get)
norm = state.select("Norm", "ad_n", list(A.NORMS), "linf", container=c[1], format_func=A.NORMS.get, radio=True,
                    horizontal=True)
top = 0.5 if norm == "linf" else 10.0
# digits need a large ε (0.15 = 38 grey levels); photos flip at a few grey levels (0.01 = 2.5 of 255)
eps = state.slider("ε (pixels, 0..1 scale)", "ad_e" if norm == "linf" else "ad_e2", 0.0, top,
                   (0.15 if small else 0.01) if norm == "linf" else (2.0 if small else 0.5),
                   step=(0.005 if small else 0.001) if norm == "linf" else 0.05, container=c[2],
                   help="L∞: 0.1 is about 25 of 255 grey levels per pixel. L2: the length of the change vector.")
steps = state.slider("PGD steps", "ad_s", 1, 50, 10, container=c[3], disabled=method == "fgsm",
                     help="Step size 2.5 ε / steps, from a random start in the ε-ball (Madry et al. 2018).")
target_opt = state.select("Towards", "ad_t", ["none", *range(len(m.classes))], "none",
                          format_func=lambda o: "untargeted: away from the clean class" if o == "none"
                          else f"class {o}: {m.classes[o]}", help="A targeted attack pushes towards one class.")
spec = A.AttackSpec(method, float(eps), norm, int(steps), target=None if target_opt == "none" else int(target_opt))

ex = _call("attack_image", (ctx.image_key, spec), ctx.image, spec)
if ex is None:
    st.stop()
clean_name, adv_name = ex.classes[ex.clean_class], ex.classes[ex.adversarial_class]
cols = st.columns([1, 1, 1, 1.4])
widgets.show_image(fa.pixels_image(ex.clean), caption=f"clean: {clean_name} ({ex.clean_probs.max():.0%})",
                   container=cols[0], width="stretch", download="adversarial-clean")
widgets.show_image(fa.perturbation_image(ex), caption=f"perturbation ×{fa.amplification(ex):.0f} (red brighter, blue "
                   f"darker): L∞ {ex.linf:.3f}, L2 {ex.l2:.2f}", container=cols[1], width="stretch",
                   download="adversarial-perturbation")
widgets.show_image(fa.pixels_image(ex.adversarial), caption=f"adversarial: {adv_name} ({ex.adversarial_probs.max():.0%})",
                   container=cols[2], width="stretch", download="adversarial-image")
verdict, failed = (("reaches the target", "does not reach the target") if spec.targeted
                   else ("flips the prediction", "does not flip the prediction"))
st.markdown(f"**{spec.label} at ε = {spec.epsilon:g} {verdict if ex.success else failed}**: {clean_name} → {adv_name}.")
widgets.show_figure(fa.predictions_figure(ex, k=3), "adversarial-predictions", container=cols[3])

st.subheader("How far is this image from the decision boundary?")
if small or st.button("Find the smallest flipping ε", key="ad_find", help="48 attacked copies; slow on CPU for "
                      "ImageNet models"):
    fp = _call("minimal_epsilon", (ctx.image_key, replace(spec, epsilon=0.0)), ctx.image, spec, top)
    if fp is not None and fp.epsilon is None:
        st.markdown(f"Even ε = {top:g} {failed}.")
    elif fp is not None:
        st.markdown(f"The smallest ε at which {spec.label} {verdict} is **{fp.epsilon:.4f}** (ε = {fp.below:.4f} "
                    f"does not), found by bisection with {fp.evaluations} attacked copies"
                    + (f": about {fp.epsilon * 255:.1f} of 255 grey levels per pixel." if norm == "linf" else "."))

st.subheader("Where the network looks, before and after")
how = state.select("Map", "ad_map", ["gradcam", "saliency"], "gradcam", radio=True, horizontal=True,
                   format_func={"gradcam": "Grad-CAM (last conv layer)", "saliency": "gradient saliency"}.get)
explain = at.grad_cam if how == "gradcam" else at.saliency
try:
    maps = [explain(m, A.to_model_input(m, p[None])) for p in (ex.clean, ex.adversarial)]
    mc = st.columns([1, 1, 1, 1.4])
    for col, p, a, name, tag in zip(mc, (ex.clean, ex.adversarial), maps, ("clean", "adversarial"), ("c", "a")):
        widgets.show_image(fa.attribution_overlay(p, a.heat()), caption=f"{name}: evidence for {m.classes[a.target]}",
                           container=col, width="stretch", download=f"adversarial-map-{tag}")
except CnnvizError as e:
    widgets.show_error(e)

# ------------------------------------------------------------------------------------ a batch
st.header("A batch of images: accuracy against ε", divider="gray")
dataset = A.dataset_for(m)
bc = st.columns(3)
if dataset:
    n = state.select("Test images", "ad_bn", [100, 500, 2000], 500, container=bc[0])
    batch = _call("test_batch", (n,), n)
else:
    n = state.select("Images", "ad_bn2", [6, 12, 24, 48], 6, container=bc[0])
    folder = state.text("Image folder (on the server; empty: the sample photos)", "ad_dir", "", container=bc[1])
    batch = _call("folder_batch", (folder, n), folder or None, n)
grid = {(True, "linf"): [0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3], (True, "l2"): [0.0, 0.5, 1, 1.5, 2, 3, 4, 5],
        (False, "linf"): [0.0, 0.001, 0.002, 0.004, 0.008, 0.016, 0.03], (False, "l2"): [0.0, 0.1, 0.25, 0.5, 1, 2, 4]}[
    (small, norm)]
robust_name = "lenet5-mnist-robust" if dataset == "mnist" and m.name != "lenet5-mnist-robust" else None
compare = robust_name and state.toggle("Beside the adversarially trained LeNet", "ad_rob", True, container=bc[2])
if batch is not None:
    st.caption(f"{batch.source}" + ("" if batch.labelled else ": labelled by the model's clean answers, so the chart "
                                                               "counts answers that survive"))
    if st.session_state.get("ad_stopped"):  # a Stop click reruns the page, which ends the run; keep it ended
        st.button("Measure", key="ad_go", icon=":material/play_arrow:", on_click=st.session_state.pop,
                  args=("ad_stopped",))
        st.stop()
    stop = st.empty()
    stop.button("Stop", key="ad_stop", icon=":material/stop:", on_click=st.session_state.__setitem__,
                args=("ad_stopped", True), help="Ends the measurement; press Measure to run it again.")
    curves = [_call("robustness_curve", (batch.source, spec, tuple(grid)), batch, spec, grid,
                    label=f"{spec.label} on {len(batch)} images")]
    if compare and curves[0] is not None:
        r = shared_model(robust_name)
        curves.append(widgets.with_progress("the robust LeNet", lambda p: _run(
            "robustness_curve", r.key, (batch.source, spec, tuple(grid)), r, (batch, spec, grid), {"progress": p})))
    stop.empty()
    if curves[0] is not None:
        widgets.show_figure(fa.curve_figure(curves, [m.name, robust_name]), "adversarial-curve")

    if dataset:
        st.subheader("Transfer: adversarial images made on one model, shown to another")
        others = [k for k, s in zoo.BUNDLED.items() if s["dataset"] == dataset and k != m.name]
        chosen = state.multiselect("Test on", "ad_tr", others, others[:2])
        if chosen:
            t = _call("transfer", (batch.source, spec, tuple(chosen)), [shared_model(k) for k in chosen], batch, spec,
                      label=f"{spec.label} ε={spec.epsilon:g} on {m.name}")
            if t is not None:
                widgets.show_figure(fa.transfer_figure(t), "adversarial-transfer")

# ------------------------------------------------------------------------------------ robust training
if dataset == "mnist":
    st.header("Robustness by training", divider="gray")
    plain, robust = shared_model("lenet5-mnist"), shared_model("lenet5-mnist-robust")
    st.markdown(f"`{robust.card.get('command', '')}` trains LeNet-5 on batches that are half clean, half FGSM "
                f"examples against the network as it is at that step (ε drawn from 0..0.3). Clean test accuracy "
                f"{robust.card.get('test_accuracy', 0):.1%} against {plain.card.get('test_accuracy', 0):.1%}.")
    fc = st.columns([1, 1, 1.4])
    for col, mm, tag in zip(fc, (plain, robust), ("plain", "robust")):
        w = A.first_layer_filters(mm)
        widgets.show_image(fa.filters_image(w), caption=f"{mm.name}: first-layer filters, roughness "
                           f"{A.filter_roughness(w):.2f}", container=col, width="stretch",
                           download=f"adversarial-filters-{tag}")

widgets.what_to_notice(
    "- The perturbation looks like noise, yet random noise of the same size (dotted) leaves accuracy almost where "
    "it was: the gradient's direction is what fools the network, not the amount of change.\n"
    "- PGD needs a smaller ε than FGSM to flip the same image; the smallest flipping ε is how far the image sits "
    "from the decision boundary, and for most digits it is far smaller than the change a person would notice.\n"
    "- Adversarial images made on one network fool another trained on the same data, less often: the networks "
    "share some of the non-robust features they rely on.\n"
    "- Training on adversarial examples buys robustness at a small cost in clean accuracy, and smoother, "
    "more stroke-like first-layer filters.")
