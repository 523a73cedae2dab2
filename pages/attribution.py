"""Saliency and Grad-CAM: which pixels drive the prediction, by many methods, a sanity check and faithfulness."""
from __future__ import annotations

import time

import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.figures import attribution as fat
from cnnviz.figures import faithfulness as ff
from cnnviz.figures.common import bar_predictions
from cnnviz.methods import attribution as at
from cnnviz.methods import faithfulness as fa
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_untrained_twin
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model

st.title("Saliency and Grad-CAM")
st.markdown(
    "An **attribution map** answers: which parts of *this* image made the network give *this* class its "
    "score? **Gradient** methods ask how fast the score would change if a pixel changed (saliency, "
    "SmoothGrad, Integrated Gradients). **Grad-CAM** weights a convolutional layer's feature maps by how much "
    "the class score depends on each, giving a coarse map of *where* the evidence is. **Occlusion** simply "
    "hides one patch at a time and watches the score drop. They often disagree; the **sanity check** shows which "
    "of them really depend on what the network learned, and **which map to believe** scores how faithful each is."
)
widgets.untrained_badge(m)

x = m.preprocess(ctx.image)
seen = m.deprocess(x)
preds = m.predict(x, k=5)
convs = m.conv_layer_names()

# ====================================================================== 1. target and method
st.header("1. Class and method", divider="gray")
left, mid, right = st.columns([1, 2, 2])
widgets.show_image(seen, caption=f"Input ({ctx.image_label})", container=left, width=200, download="attribution-input")
widgets.show_figure(bar_predictions(preds), "attribution-predictions", container=mid)
target_opt = state.select("Explain the class", "at_target", ["pred", *range(len(m.classes))], "pred", container=right,
                          format_func=lambda o: f"the predicted class ({preds[0][0]})" if o == "pred"
                          else f"{o}: {m.classes[o]}",
                          help="Type to search. Explaining a class the network did not predict shows the evidence "
                               "*for* it.")
target = m.classes.index(preds[0][0]) if target_opt == "pred" else int(target_opt)
method = state.select("Method", "at_method", list(at.METHODS), "gradcam", container=right,
                      format_func=lambda k: at.METHODS[k].label)
right.caption(at.METHODS[method].note)

side = min(m.input_size[1:])
params: dict = {}
pc = st.columns(4)
if at.METHODS[method].uses_layer:
    if not convs:
        st.error(f"{m.name} has no Conv2d layer, so {at.METHODS[method].label} has nothing to weight. "
                 "Pick saliency or occlusion.")
        st.stop()
    params["layer"] = state.select("Layer", "at_layer", convs, convs[-1], container=pc[0],
                                   help="The last convolution is the usual choice: the most class-specific maps "
                                        "that still have a spatial layout. Earlier layers give finer but less "
                                        "specific maps.")
if method == "smoothgrad":
    params["samples"] = state.slider("Noisy copies", "at_n", 4, 64, 16, container=pc[0])
    params["noise"] = state.slider("Noise (fraction of the value range)", "at_noise", 0.0, 0.5, 0.15, step=0.05,
                                   container=pc[1])
if method == "ig":
    params["steps"] = state.slider("Steps along the path", "at_steps", 4, 128, 16, container=pc[0],
                                   help="More steps: closer to the exact integral (see the completeness error), "
                                        "slower.")
if method == "occlusion":
    params["patch"] = state.slider("Patch size (px)", "at_patch", 1, side // 2, max(2, side // 7), container=pc[0])
    params["stride"] = state.slider("Stride (px)", "at_stride", 1, side // 2, max(1, side // 14), container=pc[1])
    n_pos = at.occlusion_positions((side, side), params["patch"], params["stride"])
    pc[2].caption(f"{n_pos} occluded copies, one forward pass each (batched).")
    if params["stride"] > params["patch"]:
        pc[2].warning("Stride larger than the patch: some pixels are never hidden and get no score (0).")
with widgets.secondary_controls(pc[3]):
    alpha = state.slider("Overlay opacity", "at_alpha", 0.0, 1.0, 0.5, step=0.05)


@st.cache_data(max_entries=48, show_spinner=False)
def _attribution(_model, model_key: str, _x, image_key: str, meth: str, prm: tuple, tgt: int,
                 _progress: bool = False) -> at.Attribution:
    """One attribution, shared by every session (tensors stay on the device until drawn)."""
    kw = dict(prm)
    bar = st.progress(0.0, text="Occluding patches…") if meth == "occlusion" and _progress else None
    if bar is not None:
        kw["progress"] = lambda f: bar.progress(f, text=f"Occluding patches… {f:.0%}")
    t0 = time.perf_counter()
    a = at.attribute(_model, _x, meth, tgt, **kw)
    a.info["seconds"] = time.perf_counter() - t0
    if bar is not None:
        bar.empty()
    return a


def compute(model, meth: str, prm: dict, progress: bool = False) -> at.Attribution:
    return _attribution(model, model.key, x, ctx.image_key, meth, tuple(sorted(prm.items())), target, progress)


def method_params(meth: str) -> dict:
    """The page's parameters for the chosen method, modest defaults for the others."""
    return params if meth == method else at.default_params(m, meth)


# ====================================================================== 2. the map
st.header(f"2. {at.METHODS[method].label} for class \"{m.classes[target]}\"", divider="gray")
try:
    a = compute(m, method, params, progress=True)
except CnnvizError as e:
    widgets.show_error(e)
    st.stop()
c = st.columns([1, 1, 1])
widgets.show_figure(ff.map_grid({method: a}, cols=1, title=" "), "attribution-map", container=c[0])
widgets.show_image(fat.attribution_overlay(seen, a, alpha), caption="over the image (positive part)", container=c[1],
                   min_side=240, width="stretch", download="attribution-overlay")
facts = [f"{a.info['seconds'] * 1e3:.0f} ms on {m.device_description}" if "seconds" in a.info else ""]
if "layer" in a.info:
    facts.append(f"layer {a.info['layer']} ({a.info['layer_size'][0]}×{a.info['layer_size'][1]} map, upsampled)")
if "delta" in a.info:
    facts.append(f"completeness error |Σ attributions − (score(x) − score(black))| = {a.info['delta']:.3g}")
if "base_score" in a.info:
    facts.append(f"class score {a.info['base_score']:.3g}; {a.info['positions']} patches")
c[2].markdown("\n".join(f"- {f}" for f in facts if f))

# ====================================================================== 3. all methods
st.header("3. All methods side by side", divider="gray")
show_all = state.toggle(f"Compare all {len(at.METHODS)} methods on this image", "at_all", False,
                        help="Runs every method once (occlusion and Integrated Gradients take a few seconds on a CPU "
                             "for ImageNet-size models). Results are kept while you stay on this image.")
results: dict[str, at.Attribution] = {}
if show_all:
    with st.status("Computing every method…", expanded=False) as status:
        for meth in at.METHODS:
            status.update(label=f"Computing {at.METHODS[meth].label}…")
            results[meth] = compute(m, meth, method_params(meth))
        status.update(label="All methods done", state="complete")
    grid = st.columns(4)
    for i, (meth, panel) in enumerate(zip(results, fat.method_grid(seen, results, alpha))):
        widgets.show_image(panel.image, caption=panel.caption, container=grid[i % 4], min_side=260, width="stretch",
                           download=f"attribution-all-{meth}")
    shared = state.select("Colour scale", "at_scale", ["per map", "shared"], "per map", radio=True, horizontal=True,
                          help="Per map: each map stretched over its own range. Shared: one scale for all (in each "
                               "method's own units), so a weak map looks weak.") == "shared"
    widgets.show_figure(ff.map_grid(results, shared=shared), "attribution-all-maps")

# ====================================================================== 4. sanity check
st.header("4. Sanity check: the same map on a network with random weights", divider="gray")
st.markdown(
    "Adebayo et al. (2018) asked: if we scramble the network's weights, does the explanation change? If it "
    "does not, the method shows the *image* (its edges), not what the network *learned*. Here the same method "
    "runs on the same architecture with random weights, for the same class index. The number is the rank "
    "correlation of the two maps (1: same ranking of pixels; near 0: unrelated)."
)
if not m.trained:
    st.info("The loaded model is itself untrained, so there is nothing to compare with. Switch off "
            "**Untrained** in the sidebar (or load a trained model) to run the sanity check.")
elif state.toggle("Run the sanity check", "at_sanity", True):
    twin = shared_untrained_twin(m)
    try:
        b = compute(twin, method, params)
    except CnnvizError as e:
        widgets.show_error(e)
    else:
        s = st.columns([1, 1, 1])
        widgets.show_image(fat.attribution_overlay(seen, a, alpha), caption="trained network", container=s[0],
                           width="stretch", download="attribution-sanity-trained")
        widgets.show_image(fat.attribution_overlay(seen, b, alpha), caption="same architecture, random weights",
                           container=s[1], width="stretch", download="attribution-sanity-random")
        s[2].metric("rank correlation", f"{at.rank_correlation(a.map, b.map):.2f}")
        s[2].caption("High correlation means the map barely depends on the learned weights. "
                     "Turn on section 3 to see this for every method.")
        if show_all:
            twin_maps: dict[str, at.Attribution] = {}
            with st.status("Every method on the random network…", expanded=False) as status:
                for meth in at.METHODS:
                    status.update(label=f"{at.METHODS[meth].label} on the random network…")
                    twin_maps[meth] = compute(twin, meth, method_params(meth))
                status.update(label="Sanity check done for every method", state="complete")
            rhos = {k: at.rank_correlation(results[k].map, tb.map) for k, tb in twin_maps.items()}
            widgets.show_figure(fat.sanity_chart(rhos), "attribution-sanity-all")
            cols = st.columns(8)
            for i, (meth, panel) in enumerate(zip(twin_maps, fat.method_grid(
                    seen, twin_maps, alpha, prefix="random: ", timings=False))):
                widgets.show_image(panel.image, caption=panel.caption, container=cols[i % 8], min_side=160,
                                   width="stretch", download=f"attribution-random-{meth}")

# ====================================================================== 5. faithfulness
st.header("5. Which map to believe?", divider="gray")
st.markdown("**Deletion** removes the pixels a map ranks highest first: for a faithful map the class probability falls "
            "fast (low AUC). **Insertion** adds them to the baseline first: it rises fast. Random maps are the bar.")
fc = st.columns([1, 1.4, 1.6])
base = state.select("Removed pixels become", "at_base", list(fa.BASELINES), "blur", container=fc[0],
                    format_func=lambda b: {"blur": "a blurred copy", "mean": "the mean colour"}[b])


@st.cache_data(max_entries=16, show_spinner="Scoring every map…")
def _leaderboard(_model, model_key: str, image_key: str, tgt: int, bl: str) -> fa.Leaderboard:
    maps = {k: compute(_model, k, method_params(k)).map for k in at.METHODS}
    return fa.leaderboard(_model, x, target=tgt, baseline=bl, maps=maps)


if state.toggle("Score every method on this image", "at_faith", False, container=fc[1],
                help="Runs every method (as in section 3), then 2 × 17 batched forward passes per map."):
    try:
        lb = _leaderboard(m, m.key, ctx.image_key, target, base)
    except CnnvizError as e:
        widgets.show_error(e)
    else:
        widgets.show_figure(ff.leaderboard_table(lb), "attribution-leaderboard")
        picks = dict.fromkeys([lb.rows[0].method, method, lb.rows[-2].method])
        widgets.show_figure(ff.curves_figure(lb, list(picks)), "attribution-curves")
n_img = state.slider("Test images", "at_nimg", 10, 200, 50, step=10, container=fc[2])
if fc[2].button("Score the methods over the bundled test images", disabled=fa.dataset_name(m) is None,
                help="Each image explains its predicted class. Results are kept for this model and settings."):
    bar = st.progress(0.0, text="Scoring…")
    lb_all = fa.dataset_leaderboard(m, n_img, baseline=base, progress=lambda f: bar.progress(f, text=f"{f:.0%}"))
    bar.empty()
    widgets.show_figure(ff.leaderboard_table(lb_all), "attribution-leaderboard-dataset")

st.header("What to notice", divider="gray")
widgets.what_to_notice(
    "- **Saliency** is speckled and often follows edges; **SmoothGrad** averages the speckle away.\n"
    "- **Grad-CAM** is coarse (the last conv layer of ResNet-18 is 7×7) but class-specific: pick another class "
    "above and the blob moves. On an earlier layer it becomes finer and less specific.\n"
    "- **Occlusion** needs no gradients at all, only many forward passes: a large patch finds objects, a small one "
    "finds strokes.\n"
    "- **Integrated Gradients** adds up exactly to the score difference from a black image (the completeness "
    "error shown above shrinks with more steps).\n"
    "- In the **sanity check**, gradient saliency and guided methods on a random network still look like the "
    "image's edges: part of what they show is the image, not the network.\n"
    "- In **which map to believe**, a pretty map is not always a faithful one: check its rank against the random map."
)
