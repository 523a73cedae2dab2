"""Views of /attribution: which pixels drive the prediction, by many methods, a sanity check and faithfulness.

The class to explain (``at_target``) belongs to the first view; the method and its settings (``at_method``,
``at_layer``, ...) to the map view, so an old link ``/attribution?at_method=saliency`` opens the map. The
other views read them (``state.peek``). Every attribution is cached server-wide (``st.cache_data``), so a
full rerun computes nothing twice. Comparing all methods and scoring them (the faithfulness leaderboard)
start by themselves on small models (the bundled ones take a few seconds), and wait for their switch on
large ones.
"""
from __future__ import annotations

import time

import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.figures import attribution as fat
from cnnviz.figures import faithfulness as ff
from cnnviz.figures import maximal as fxm
from cnnviz.figures.common import bar_predictions
from cnnviz.methods import attribution as at
from cnnviz.methods import faithfulness as fa
from cnnviz.text import attribution as txt
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_figure, shared_untrained_twin
from cnnviz.ui.view import Frame, register

TARGET_KEYS = ("at_target",)
METHOD_KEYS = ("at_method", "at_layer", "at_n", "at_noise", "at_steps", "at_patch", "at_stride", "at_alpha")
SLIDE_W, SLIDE_H = 1180, 560  # px a slide's figure is fitted into
CHEAP_MACS = 2.5e8  # forward MACs per image under which every method (and scoring them) starts by itself on a CPU


class NoConvLayer(CnnvizError):
    """A method that weights a conv layer's maps, on a model without one."""


def _cheap(m) -> bool:
    """Whether running every method (a few hundred passes) takes seconds, not minutes: a GPU, or a small model
    (the bundled LeNet-5 and small VGG are well under the limit; ResNet-18 is 7x over it)."""
    return m.device.type != "cpu" or sum(i.macs for i in m.layers()) <= CHEAP_MACS


# ------------------------------------------------------------------------------------------- subject, target
@st.cache_data(max_entries=32, show_spinner=False)
def _predictions(_m, model_key: str, _x, image_key: str) -> list[tuple[str, float]]:
    return _m.predict(_x, k=5)


def _subject(f: Frame):
    """(model input, the input as the network sees it, top-5 predictions) for the sidebar's image."""
    ctx, m = f.ctx, f.model
    x = ctx.input()
    return x, ctx.seen(), _predictions(m, m.key, x, ctx.image_key)


def _parse_target(s: str):
    return s if s == "pred" else int(s)


def _target(f: Frame, preds, container=None) -> int:
    """The class index to explain: drawn into ``container`` (the first view) or read."""
    m = f.model
    options = ["pred", *range(len(m.classes))]
    if container is None:
        opt = state.peek("at_target", "pred", _parse_target, valid=lambda o: o in options)
    else:
        opt = state.select("Explain the class", "at_target", options, "pred", container=container,
                           format_func=lambda o: f"the predicted class ({preds[0][0]})" if o == "pred"
                           else f"{o}: {m.classes[o]}",
                           help="Type to search. Explaining a class the network did not predict shows the evidence "
                                "*for* it.")
    return m.classes.index(preds[0][0]) if opt == "pred" else int(opt)


# ------------------------------------------------------------------------------------------- method, settings
def _settings(f: Frame, cols: list | None = None) -> tuple[str, dict, float]:
    """(method, its parameters, overlay opacity): drawn into ``cols`` (the map view: method, two parameter
    columns, opacity) or read with the same defaults and ranges."""
    m = f.model
    convs = m.conv_layer_names()
    side = min(m.input_size[1:])
    draw = cols is not None

    def number(label, key, lo, hi, default, step=None, col=None, **kw):
        if draw:
            return state.slider(label, key, lo, hi, default, step=step, container=cols[col], **kw)
        kind = int if all(isinstance(v, int) for v in (lo, hi, default)) else float
        return state.peek(key, default, kind, valid=lambda v: isinstance(v, (int, float)) and lo <= v <= hi)

    if draw:
        method = state.select("Method", "at_method", list(at.METHODS), "gradcam", container=cols[0],
                              format_func=lambda k: at.METHODS[k].label)
    else:
        method = state.peek("at_method", "gradcam", valid=lambda k: k in at.METHODS)
    params: dict = {}
    if at.METHODS[method].uses_layer:
        if not convs:
            raise NoConvLayer(f"{m.name} has no Conv2d layer, so {at.METHODS[method].label} has nothing to weight. "
                              "Pick saliency or occlusion.")
        if draw:
            params["layer"] = state.select(
                "Layer", "at_layer", convs, convs[-1], container=cols[1],
                help="The last convolution is the usual choice: the most class-specific maps that still have a "
                     "spatial layout. Earlier layers give finer but less specific maps.")
        else:
            params["layer"] = state.peek("at_layer", convs[-1], valid=lambda n: n in convs)
    if method == "smoothgrad":
        params["samples"] = number("Noisy copies", "at_n", 4, 64, 16, col=1)
        params["noise"] = number("Noise (fraction of the value range)", "at_noise", 0.0, 0.5, 0.15, step=0.05, col=2)
    if method == "ig":
        params["steps"] = number("Steps along the path", "at_steps", 4, 128, 16, col=1,
                                 help="More steps: closer to the exact integral (see the completeness error), "
                                      "slower.")
    if method == "occlusion":
        params["patch"] = number("Patch size (px)", "at_patch", 1, side // 2, max(2, side // 7), col=1)
        params["stride"] = number("Stride (px)", "at_stride", 1, side // 2, max(1, side // 14), col=2)
        if draw:
            n_pos = at.occlusion_positions((side, side), params["patch"], params["stride"])
            cols[2].caption(f"{n_pos} occluded copies, one forward pass each (batched).")
            if params["stride"] > params["patch"]:
                cols[2].warning("Stride larger than the patch: some pixels are never hidden and get no score (0).")
    if draw:
        with widgets.secondary_controls(cols[3]):
            alpha = state.slider("Overlay opacity", "at_alpha", 0.0, 1.0, 0.5, step=0.05)
    else:
        alpha = number("", "at_alpha", 0.0, 1.0, 0.5)
    return method, params, alpha


def _params_for(m, meth: str, method: str, params: dict) -> dict:
    """The chosen method's own parameters, modest defaults for the others."""
    return params if meth == method else at.default_params(m, meth)


# ------------------------------------------------------------------------------------------- computing
# cache_resource, not cache_data: a rerun reads ~34 of these (every method, on the model and its random twin), and
# unpickling each result on every hit cost about 0.1 s a run. The result is shared read-only: nothing mutates it.
@st.cache_resource(max_entries=96, show_spinner=False)
def _attribution(_model, model_key: str, _x, image_key: str, meth: str, prm: tuple, tgt: int,
                 _progress: bool = False) -> at.Attribution:
    """One attribution, shared by every session and never mutated (tensors stay on the device until drawn)."""
    kw = dict(prm)
    bar = st.progress(0.0, text="Occluding patches…") if meth == "occlusion" and _progress else None
    if bar is not None:
        kw["progress"] = lambda frac, _text: bar.progress(frac, text=f"Occluding patches… {frac:.0%}")
    t0 = time.perf_counter()
    a = at.attribute(_model, _x, meth, tgt, **kw)
    a.info["seconds"] = time.perf_counter() - t0
    if bar is not None:
        bar.empty()
    return a


def _compute(f: Frame, model, x, meth: str, prm: dict, tgt: int, progress: bool = False) -> at.Attribution:
    # by keyword: Streamlit looks up the signature of a cached function again for every positional argument
    return _attribution(_model=model, model_key=model.key, _x=x, image_key=f.ctx.image_key, meth=meth,
                        prm=tuple(sorted(prm.items())), tgt=tgt, _progress=progress)


def _every_method(f: Frame, model, x, tgt: int, method: str, params: dict, each: str, done: str) -> dict:
    """Every method's map on ``model`` (cached), with a progress bar while they run (``each``: its text per
    method, ``{}`` the method's name) that becomes the caption ``done``.

    Not ``st.status``: it sleeps 50 ms each time it is drawn, on every rerun, cached or not."""
    m = f.model
    line = st.empty()
    out = {}
    for i, meth in enumerate(at.METHODS):
        line.progress(i / len(at.METHODS), text=each.format(at.METHODS[meth].label))
        out[meth] = _compute(f, model, x, meth, _params_for(m, meth, method, params), tgt)
    line.caption(f":material/check_circle: {done}")
    return out


# ------------------------------------------------------------------------------------------- the views
@register("attribution.target", "The class to explain", keys=TARGET_KEYS, anchors=("1-class-and-method",))
def target(f: Frame) -> None:
    ctx = f.ctx
    x, seen, preds = _subject(f)
    if f.slide:
        c = f.controls()
        left, right = st.columns([2, 3])
    else:
        left, mid, right = st.columns([1, 2, 2])
        c = [right]
    tgt = _target(f, preds, c[0])
    widgets.show_image(seen, caption=f"Input ({ctx.image_label})", container=left, width="stretch" if f.slide else 200,
                       download="attribution-input")
    widgets.show_figure(bar_predictions(preds), "attribution-predictions", container=right if f.slide else mid)
    if not f.slide:
        right.caption(f"Every map below explains the class **{f.model.classes[tgt]}**: how much each part of the "
                      "image contributes to its score.")
    f.note(txt.TARGET_NOTE)


@register("attribution.map", "The chosen method's map for the class", keys=METHOD_KEYS, reads=TARGET_KEYS)
def map_view(f: Frame) -> None:
    m = f.model
    x, seen, preds = _subject(f)
    tgt = _target(f, preds)
    cols = f.controls([2, 2, 2, 1])
    method, params, alpha = _settings(f, cols)
    if not f.slide:
        cols[0].caption(txt.METHOD_NOTES[method])
    a = _compute(f, m, x, method, params, tgt, progress=True)
    c = st.columns([1, 1]) if f.slide else st.columns([1, 1, 1])
    widgets.show_figure(ff.map_grid({method: a}, cols=1, title=" "), "attribution-map", container=c[0])
    widgets.show_image(fat.attribution_overlay(seen, a, alpha), container=c[1], min_side=240, width="stretch",
                       caption=f"{at.METHODS[method].label} for class \"{m.classes[tgt]}\" over the image "
                               "(positive part)", download="attribution-overlay")
    facts = [f"{a.info['seconds'] * 1e3:.0f} ms on {m.device_description}" if "seconds" in a.info else ""]
    if "layer" in a.info:
        facts.append(f"layer {a.info['layer']} ({a.info['layer_size'][0]}×{a.info['layer_size'][1]} map, upsampled)")
    if "delta" in a.info:
        facts.append(f"completeness error |Σ attributions − (score(x) − score(black))| = {a.info['delta']:.3g}")
    if "base_score" in a.info:
        facts.append(f"class score {a.info['base_score']:.3g}; {a.info['positions']} patches")
    if f.slide:
        st.caption(" · ".join(x for x in facts if x))
    else:
        c[2].markdown(f"**{at.METHODS[method].label}** for class **\"{m.classes[tgt]}\"**")
        c[2].markdown("\n".join(f"- {x}" for x in facts if x))
    f.note(txt.MAP_NOTE)


def _all_on(m) -> bool:
    """Whether "compare all methods" is on (read by the sanity check; its default: on for small models)."""
    return state.peek("at_all", _cheap(m), state.parse_bool, valid=lambda v: isinstance(v, bool))


@shared_figure(max_entries=32)
def _map_grid(key: tuple, shared: bool, _results: dict):
    """Every method's raw map in one figure (0.5 s of Plotly for 16 heatmaps): once per model, image, target and
    settings (``key``) for the server."""
    return ff.map_grid(_results, shared=shared)


@register("attribution.all", "All methods side by side", keys=("at_all", "at_scale"),
          reads=(*TARGET_KEYS, *METHOD_KEYS), anchors=("3-all-methods-side-by-side",))
def all_methods(f: Frame) -> None:
    m = f.model
    x, seen, preds = _subject(f)
    tgt = _target(f, preds)
    method, params, alpha = _settings(f)
    c = f.controls([2, 2])
    show_all = state.toggle(f"Compare all {len(at.METHODS)} methods on this image", "at_all", _cheap(m), container=c[0],
                            help="Runs every method once (occlusion and Integrated Gradients take a few seconds on a "
                                 "CPU for ImageNet-size models; on small models this is on by itself). Results are "
                                 "kept for every session.")
    shared = state.select("Colour scale", "at_scale", ["per map", "shared"], "per map", radio=True, horizontal=True,
                          container=c[1],
                          help="Per map: each map stretched over its own range. Shared: one scale for all (in each "
                               "method's own units), so a weak map looks weak.") == "shared"
    if not show_all:
        st.info(f"Switch on **Compare all {len(at.METHODS)} methods** to run every method on this image "
                f"({m.name} is large: this takes a while on {m.device_description}).")
        return
    if f.slide:  # the overlays alone, in one labelled grid as large as the screen allows
        with st.spinner("Computing every method…"):
            results = {k: _compute(f, m, x, k, _params_for(m, k, method, params), tgt) for k in at.METHODS}
        panels = fat.method_grid(seen, results, alpha, timings=False)
        cols, side = fxm.fit_labelled_grid(len(panels), SLIDE_W, SLIDE_H)
        grid, _ = fxm.labelled_grid([p.image for p in panels], [p.caption for p in panels], side=side, cols=cols)
        widgets.show_image(grid, min_side=1, width=grid.shape[1], download="attribution-all")
        return
    results = _every_method(f, m, x, tgt, method, params, "Computing {}…", "All methods done")
    grid = st.columns(4)
    for i, (meth, panel) in enumerate(zip(results, fat.method_grid(seen, results, alpha), strict=True)):
        widgets.show_image(panel.image, caption=panel.caption, container=grid[i % 4], min_side=260, width="stretch",
                           download=f"attribution-all-{meth}")
    key = (m.key, f.ctx.image_key, tgt, method, tuple(sorted((k, str(v)) for k, v in params.items())))
    widgets.show_figure(_map_grid(key, shared, results), "attribution-all-maps")
    f.note(txt.ALL_NOTE)


@register("attribution.sanity", "Sanity check: the same map on a random network", keys=("at_sanity",),
          reads=(*TARGET_KEYS, *METHOD_KEYS, "at_all"),
          anchors=("4-sanity-check-the-same-map-on-a-network-with-random-weights",))
def sanity(f: Frame) -> None:
    m = f.model
    x, seen, preds = _subject(f)
    tgt = _target(f, preds)
    method, params, alpha = _settings(f)
    if not f.slide:
        st.markdown(txt.SANITY_INTRO)
    if not m.trained:
        st.info("The loaded model is itself untrained, so there is nothing to compare with. Switch off "
                "**Untrained** in the sidebar (or load a trained model) to run the sanity check.")
        return
    if not state.toggle("Run the sanity check", "at_sanity", True, container=f.controls()[0]):
        return
    a = _compute(f, m, x, method, params, tgt)
    twin = shared_untrained_twin(m)
    b = _compute(f, twin, x, method, params, tgt)
    rho = at.rank_correlation(a.map, b.map)
    label = at.METHODS[method].label
    s = st.columns([6, 6, 1.7]) if f.slide else st.columns([1, 1, 1])
    widgets.show_image(fat.attribution_overlay(seen, a, alpha), caption=f"{label}: trained network", container=s[0],
                       width="stretch", download="attribution-sanity-trained")
    widgets.show_image(fat.attribution_overlay(seen, b, alpha), caption=f"{label}: same architecture, random weights",
                       container=s[1], width="stretch", download="attribution-sanity-random")
    s[2].metric("rank corr." if f.slide else "rank correlation", f"{rho:.2f}")  # a slide's column is narrow
    if f.slide:
        s[2].caption("barely depends on the weights" if rho > fat.SANITY_LIMIT else "depends on what was learned")
    else:
        s[2].caption("High correlation means the map barely depends on the learned weights."
                     + ("" if _all_on(m) else " Switch on **Compare all methods** above to see this for every method."))
    if _all_on(m) and not f.slide:
        results = _every_method(f, m, x, tgt, method, params, "Computing {}…", "All methods done")
        twin_maps = _every_method(f, twin, x, tgt, method, params, "{} on the random network…",
                                  "Sanity check done for every method")
        rhos = {k: at.rank_correlation(results[k].map, tb.map) for k, tb in twin_maps.items()}
        widgets.show_figure(fat.sanity_chart(rhos), "attribution-sanity-all")
        cols = st.columns(8)
        panels = fat.method_grid(seen, twin_maps, alpha, prefix="random: ", timings=False)
        for i, (meth, panel) in enumerate(zip(twin_maps, panels, strict=True)):
            widgets.show_image(panel.image, caption=panel.caption, container=cols[i % 8], min_side=160,
                               width="stretch", download=f"attribution-random-{meth}")
    f.note(txt.SANITY_NOTE)


@st.cache_data(max_entries=16, show_spinner="Scoring every map…")
def _leaderboard(_f, _model, model_key: str, _x, image_key: str, tgt: int, bl: str, settings: tuple) -> fa.Leaderboard:
    """Every method's map for ``tgt`` scored by deletion and insertion; ``settings``: each method's parameters."""
    maps = {k: _compute(_f, _model, _x, k, dict(prm), tgt).map for k, prm in settings}
    return fa.leaderboard(_model, _x, target=tgt, baseline=bl, maps=maps)


@shared_figure(max_entries=32)
def _faithfulness_figure(key: tuple, draw: str, extra: tuple, _lb: fa.Leaderboard):
    """``ff.<draw>(leaderboard, *extra)`` once per leaderboard (``key``) for the server (0.1-0.25 s each)."""
    return getattr(ff, draw)(_lb, *extra)


@register("attribution.faithfulness", "Which map to believe?", keys=("at_base", "at_faith", "at_nimg"),
          reads=(*TARGET_KEYS, *METHOD_KEYS), anchors=("5-which-map-to-believe",))
def faithfulness(f: Frame) -> None:
    m = f.model
    x, seen, preds = _subject(f)
    tgt = _target(f, preds)
    method, params, _ = _settings(f)
    if not f.slide:
        st.markdown(txt.FAITHFULNESS_INTRO)
    fc = f.controls([1, 1.4, 1.6])
    base = state.select("Removed pixels become", "at_base", list(fa.BASELINES), "blur", container=fc[0],
                        format_func=lambda b: {"blur": "a blurred copy", "mean": "the mean colour"}[b])
    on = state.toggle("Score every method on this image", "at_faith", _cheap(m), container=fc[1],
                      help="Runs every method (as in All methods side by side), then 2 × 17 batched forward passes "
                           "per map. On small models this is on by itself.")
    n_img = state.slider("Test images", "at_nimg", 10, 200, 50, step=10, container=fc[2])
    over = fc[2].button("Score the methods over the bundled test images", disabled=fa.dataset_name(m) is None,
                        help="Each image explains its predicted class. Results are kept for this model and settings.")
    if on:
        settings = tuple((k, tuple(sorted(_params_for(m, k, method, params).items()))) for k in at.METHODS)
        lb = _leaderboard(f, m, m.key, x, f.ctx.image_key, tgt, base, settings)
        picks = list(dict.fromkeys([lb.rows[0].method, method, lb.rows[-2].method]))
        key = (m.key, f.ctx.image_key, tgt, base, settings)
        widgets.show_figure(_faithfulness_figure(key, "leaderboard_table", (), lb), "attribution-leaderboard")
        if not f.slide:  # a slide shows the ranking as large as the screen allows (the curves need a page's width)
            widgets.show_figure(_faithfulness_figure(key, "curves_figure", (picks,), lb), "attribution-curves")
    elif not over:
        st.info(f"Switch on **Score every method on this image** to rank the methods ({m.name} is large: running "
                f"every method takes a while on {m.device_description}).")
    if over:
        bar = st.progress(0.0, text="Scoring…")
        lb_all = fa.dataset_leaderboard(m, n_img, baseline=base,
                                        progress=lambda frac, text: bar.progress(frac, text=f"{frac:.0%} ({text})"))
        bar.empty()
        widgets.show_figure(ff.leaderboard_table(lb_all), "attribution-leaderboard-dataset")
    f.note(txt.FAITHFULNESS_NOTE)
