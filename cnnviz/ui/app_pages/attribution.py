"""Saliency and Grad-CAM: which pixels drive the prediction, by six methods, with a sanity check."""
from __future__ import annotations

import time

import plotly.graph_objects as go
import streamlit as st

from cnnviz.methods import attribution as at
from cnnviz.figures.activations import render_map
from cnnviz.figures.render import overlay
from cnnviz.ui import state
from cnnviz.figures.common import FONT, bar_predictions
from cnnviz.ui.widgets import show_image, untrained_badge
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
    "hides one patch at a time and watches the score drop. They often disagree; the **sanity check** at the "
    "end shows which of them really depend on what the network learned."
)
untrained_badge(m)

x = m.preprocess(ctx.image)
seen = m.deprocess(x)
preds = m.predict(x, k=5)
convs = m.conv_layer_names()

# ====================================================================== 1. target and method
st.header("1. Class and method", divider="gray")
left, mid, right = st.columns([1, 2, 2])
show_image(seen, caption=f"Input ({ctx.image_label})", min_side=224, container=left, width=200)
mid.plotly_chart(bar_predictions(preds), width="stretch", key="at_preds")
target_opt = state.select("Explain the class", "at_target", ["pred", *range(len(m.classes))], "pred", container=right,
                          format_func=lambda o: f"the predicted class ({preds[0][0]})" if o == "pred" else f"{o}: {m.classes[o]}",
                          help="Type to search. Explaining a class the network did not predict shows the evidence *for* it.")
target = m.classes.index(preds[0][0]) if target_opt == "pred" else int(target_opt)
method = state.select("Method", "at_method", list(at.METHODS), "gradcam", container=right,
                      format_func=lambda k: at.METHODS[k].label)
right.caption(at.METHODS[method].note)

side = min(m.input_size[1:])
params: dict = {}
pc = st.columns(4)
if at.METHODS[method].uses_layer:
    if not convs:
        st.error(f"{m.name} has no Conv2d layer, so {at.METHODS[method].label} has nothing to weight. Pick saliency or occlusion.")
        st.stop()
    params["layer"] = state.select("Layer", "at_layer", convs, convs[-1], container=pc[0],
                                   help="The last convolution is the usual choice: the most class-specific maps that "
                                        "still have a spatial layout. Earlier layers give finer but less specific maps.")
if method == "smoothgrad":
    params["samples"] = state.slider("Noisy copies", "at_n", 4, 64, 16, container=pc[0])
    params["noise"] = state.slider("Noise (fraction of the value range)", "at_noise", 0.0, 0.5, 0.15, step=0.05, container=pc[1])
if method == "ig":
    params["steps"] = state.slider("Steps along the path", "at_steps", 4, 128, 16, container=pc[0],
                                   help="More steps: closer to the exact integral (see the completeness error), slower.")
if method == "occlusion":
    params["patch"] = state.slider("Patch size (px)", "at_patch", 1, side // 2, max(2, side // 7), container=pc[0])
    params["stride"] = state.slider("Stride (px)", "at_stride", 1, side // 2, max(1, side // 14), container=pc[1])
    n_pos = ((side - params["patch"]) // params["stride"] + 1) ** 2
    pc[2].caption(f"{n_pos} occluded copies, one forward pass each (batched).")
    if params["stride"] > params["patch"]:
        pc[2].warning("Stride larger than the patch: some pixels are never hidden and get no score (0).")
alpha = state.slider("Overlay opacity", "at_alpha", 0.0, 1.0, 0.5, step=0.05, container=pc[3])

_MEMO = "_at_memo"


def compute(model, model_key: str, meth: str, prm: dict, tgt: int, progress=None) -> at.Attribution:
    """One attribution, memoised per session (tensors stay on the device until drawn)."""
    key = (model_key, ctx.image_key, meth, tgt, tuple(sorted(prm.items())))
    memo = st.session_state.setdefault(_MEMO, {})
    if key not in memo:
        kw = dict(prm)
        if meth == "occlusion" and progress is not None:
            kw["progress"] = progress
        t0 = time.perf_counter()
        a = at.attribute(model, x, meth, tgt, **kw)
        a.info["seconds"] = time.perf_counter() - t0
        if len(memo) > 24:
            memo.pop(next(iter(memo)))
        memo[key] = a
    return memo[key]


def panels(a: at.Attribution, cols, label: str = "") -> None:
    """The map alone and over the image."""
    signed = a.method == "occlusion"
    if signed:
        lim = float(a.map.abs().max()) or 1.0
        alone = render_map(a.map, "rdbu", 240, value_range=(-lim, lim))
        cap = "red: hiding it lowers the score, blue: raises it"
    else:
        alone = render_map(a.map, "viridis", 240)
        cap = "yellow = most important"
    cols[0].image(alone, caption=f"{label}{at.METHODS[a.method].label} ({cap})", width="stretch")
    show_image(overlay(seen, a.heat(), alpha=alpha), caption=f"{label}over the image (positive part)", container=cols[1],
               min_side=240, width="stretch")


def method_params(meth: str) -> dict:
    """Parameters for a method in the comparison grid: the page's when it is the chosen one, else modest defaults."""
    if meth == method:
        return params
    return {"gradcam": {"layer": convs[-1]} if convs else {}, "guided_gradcam": {"layer": convs[-1]} if convs else {},
            "ig": {"steps": 16}, "smoothgrad": {"samples": 16, "noise": 0.15},
            "occlusion": {"patch": max(2, side // 7), "stride": max(1, side // 14)}}.get(meth, {})


# ====================================================================== 2. the map
st.header(f"2. {at.METHODS[method].label} for class \"{m.classes[target]}\"", divider="gray")
bar = st.empty()
try:
    a = compute(m, m.key, method, params, target,
                progress=lambda f: bar.progress(f, text=f"Occluding patches… {f:.0%}"))
except Exception as e:  # an unusual user model: explain instead of a stack trace
    st.error(f"{at.METHODS[method].label} failed on {m.name}: {e}")
    st.stop()
bar.empty()
c = st.columns([1, 1, 1])
panels(a, c)
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
show_all = state.toggle("Compare all six methods on this image", "at_all", False,
                        help="Runs every method once (occlusion and Integrated Gradients take a few seconds on a CPU for "
                             "ImageNet-size models). Results are kept while you stay on this image.")
if show_all:
    results = {}
    with st.status("Computing every method…", expanded=False) as status:
        for meth in at.METHODS:
            status.update(label=f"Computing {at.METHODS[meth].label}…")
            results[meth] = compute(m, m.key, meth, method_params(meth), target)
        status.update(label="All methods done", state="complete")
    grid = st.columns(3)
    for i, (meth, res) in enumerate(results.items()):
        with grid[i % 3]:
            show_image(overlay(seen, res.heat(), alpha=alpha), min_side=260, width="stretch",
                       caption=f"{at.METHODS[meth].label} — {res.info.get('seconds', 0) * 1e3:.0f} ms")

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
else:
    sanity = state.toggle("Run the sanity check", "at_sanity", True)
    if sanity:
        twin = shared_untrained_twin(m.name, m.key)
        try:
            b = compute(twin, twin.key, method, params, target)
        except Exception as e:
            st.error(f"Could not run {at.METHODS[method].label} on the untrained twin: {e}")
        else:
            rho = at.rank_correlation(a.map, b.map)
            s = st.columns([1, 1, 1])
            show_image(overlay(seen, a.heat(), alpha=alpha), caption="trained network", container=s[0], width="stretch")
            show_image(overlay(seen, b.heat(), alpha=alpha), caption="same architecture, random weights", container=s[1],
                       width="stretch")
            s[2].metric("rank correlation", f"{rho:.2f}")
            s[2].caption("High correlation means the map barely depends on the learned weights. "
                         "Turn on section 3 to see this for every method.")
            if show_all:
                rhos, twin_maps = {}, {}
                with st.status("Every method on the random network…", expanded=False) as status:
                    for meth in at.METHODS:
                        status.update(label=f"{at.METHODS[meth].label} on the random network…")
                        tb = compute(twin, twin.key, meth, method_params(meth), target)
                        rhos[meth] = at.rank_correlation(results[meth].map, tb.map)
                        twin_maps[meth] = tb
                    status.update(label="Sanity check done for every method", state="complete")
                fig = go.Figure(go.Bar(x=[at.METHODS[k].label for k in rhos], y=list(rhos.values()),
                                       text=[f"{v:.2f}" for v in rhos.values()], textposition="outside",
                                       marker_color=["#E45756" if v > 0.5 else "#4C78A8" for v in rhos.values()]))
                fig.update_layout(title="Rank correlation, trained vs random weights (red: above 0.5, the map "
                                        "barely depends on training)", yaxis=dict(range=[-0.2, 1.1]), height=340,
                                  font=FONT, margin=dict(l=10, r=10, t=50, b=10))
                st.plotly_chart(fig, width="stretch", key="at_sanity_all")
                tg = st.columns(6)
                for col, (meth, tb) in zip(tg, twin_maps.items()):
                    show_image(overlay(seen, tb.heat(), alpha=alpha), container=col, min_side=160, width="stretch",
                               caption=f"random: {at.METHODS[meth].label}")

st.header("What to notice", divider="gray")
st.markdown(
    "- **Saliency** is speckled and often follows edges; **SmoothGrad** averages the speckle away.\n"
    "- **Grad-CAM** is coarse (the last conv layer of ResNet-18 is 7×7) but class-specific: pick another class "
    "above and the blob moves. On an earlier layer it becomes finer and less specific.\n"
    "- **Occlusion** needs no gradients at all, only many forward passes: a large patch finds objects, a small one "
    "finds strokes.\n"
    "- **Integrated Gradients** adds up exactly to the score difference from a black image (the completeness "
    "error shown above shrinks with more steps).\n"
    "- In the **sanity check**, gradient saliency and guided methods on a random network still look like the "
    "image's edges: part of what they show is the image, not the network."
)
