"""Views of /capsules: the squashing function, routing by agreement on a toy, the bundled CapsNet's capsule lengths
and its 16 pose dimensions, CapsNet beside LeNet-5 on distorted digits, and Hinton's critique of pooling.

The views on a trained CapsNet use the bundled ``capsnet-mnist`` (one shared instance for the server), whatever
model the sidebar has."""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnnviz.core.model import ModelHandle
from cnnviz.core.runtime import ResultCache
from cnnviz.figures import capsules as fc
from cnnviz.methods import capsules as C
from cnnviz.text import capsules as tx
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_model
from cnnviz.ui.view import Frame, register

CAPSNET, CNN = "capsnet-mnist", "lenet5-mnist"
TOY_ITERATIONS = 5  # the iteration slider's range (CapsNet itself routes 3 times)
DIM_KEYS = tuple(f"cp_d{d}" for d in range(16))
ROBUSTNESS_DIGITS = (100, 200)  # 200 takes about twice as long (about 10-30 s on 2 cores)


def _capsnet() -> ModelHandle:
    return shared_model(CAPSNET)


@st.cache_data(max_entries=64, show_spinner="Reading the capsules…")
def _readout(image_key: str, _image) -> C.CapsuleReadout:
    return C.read_capsules(_capsnet(), _image)


@st.cache_data(max_entries=256, show_spinner=False)
def _decode(image_key: str, label: int, deltas: tuple[float, ...], _capsules) -> np.ndarray:
    return C.perturb_decode(_capsnet(), _capsules, label, deltas)


@st.cache_resource(show_spinner=False)
def _results() -> ResultCache:
    """Measurements shared by every session (a ResultCache: st.cache_data cannot replay a progress bar)."""
    return ResultCache(maxsize=4)


def _robustness(n: int, progress) -> list[C.Robustness]:
    """Every distortion on the first ``n`` test digits, measured once for the server."""
    return _results().get_or_compute(("robustness", n), lambda: C.robustness_all(
        _capsnet(), shared_model(CNN), n, progress=progress))


@st.cache_data(max_entries=32, show_spinner="Scrambling the digit…")
def _pooling(image_key: str, seed: int, grids: tuple[int, ...], _image) -> C.PoolingCritique:
    return C.pooling_critique(_capsnet(), shared_model(CNN), _image, grids, seed)


# ====================================================================== 1. squashing
@register("capsules.squash", "The squashing function", keys=("cp_s",))
def squash(f: Frame) -> None:
    (c,) = f.controls()
    s = state.slider("Length of the capsule's input |s|", "cp_s", 0.0, 5.0, 1.0, step=0.05, container=c)
    widgets.show_figure(fc.squash_curve(s, height=f.figure_height or 460), "cp-squash")
    f.note(tx.SQUASH_NOTE)


# ====================================================================== 2. routing by agreement
@register("capsules.routing", "Routing by agreement, step by step",
          keys=("cp_scn", "cp_parts", "cp_wholes", "cp_spread", "cp_iter", "cp_seed"))
def routing(f: Frame) -> None:
    c1, c2, c3 = f.controls([2, 1, 1])
    scenario = state.select("Part predictions", "cp_scn", list(C.SCENARIOS), "agree", container=c1,
                            format_func=tx.SCENARIO_TITLES.get)
    iteration = state.slider("Iteration", "cp_iter", 1, TOY_ITERATIONS, 1, container=c1, help=tx.ITERATION_HELP)
    parts = state.slider("Parts", "cp_parts", 3, 6, 5, container=c2)
    wholes = state.slider("Wholes", "cp_wholes", 2, 3, 3, container=c2)
    spread = state.slider("Scatter of agreeing parts (°)", "cp_spread", 0, 90, 10, step=5, container=c3,
                          help=tx.SPREAD_HELP)
    seed = state.slider("Random seed", "cp_seed", 0, 20, 0, container=c3)
    toy = C.toy_routing(scenario, parts, wholes, float(spread), TOY_ITERATIONS, seed=seed)
    widgets.show_figure(fc.routing_figure(toy, iteration, height=f.figure_height or 480), "cp-routing")
    f.note(tx.routing_note(toy.lengths(1), toy.lengths(iteration), iteration))


# ====================================================================== 3. capsule lengths
@register("capsules.lengths", "Capsule lengths for your image")
def lengths(f: Frame) -> None:
    r = _readout(f.ctx.image_key, f.ctx.image)
    left, right = st.columns([1, 4])
    widgets.show_image((r.pixels * 255).astype(np.uint8), "what CapsNet sees (28×28)", min_side=140,
                       container=left, width="stretch", download="capsnet-input")
    widgets.show_image((r.reconstruction * 255).astype(np.uint8), f"decoded from capsule {r.classes[r.predicted]}",
                       min_side=140, container=left, width="stretch", download="capsnet-reconstruction")
    widgets.show_figure(fc.lengths_figure(r, height=f.figure_height or 440), "cp-lengths", container=right)
    if not f.slide:
        st.caption(tx.CAPSNET_NOTE)
    f.note(tx.LENGTHS_NOTE)


# ====================================================================== 4. the 16 dimensions
@register("capsules.dimensions", "The 16 dimensions of a digit capsule", keys=DIM_KEYS)
def dimensions(f: Frame) -> None:
    r = _readout(f.ctx.image_key, f.ctx.image)
    cols = f.controls(4)
    deltas = tuple(
        float(state.slider(tx.DIMENSION_LABEL.format(d=d), key, -C.PERTURBATION, C.PERTURBATION, 0.0, step=0.05,
                           container=cols[d % 4]))
        for d, key in enumerate(DIM_KEYS))
    moved = _decode(f.ctx.image_key, r.predicted, deltas, r.capsules)
    label = r.classes[r.predicted]
    changed = ", ".join(f"dim {d} {v:+.2f}" for d, v in enumerate(deltas) if v) or "no dimension moved"
    fig = fc.image_row([r.pixels, r.reconstruction, moved],
                       ["your image", f"decoded from capsule {label}", f"moved: {changed}"],
                       f"Capsule {label}'s pose, redrawn by the decoder", height=f.figure_height or 420)
    widgets.show_figure(fig, "cp-dimensions")
    if not f.slide:
        st.caption(tx.CAPSNET_NOTE)
    f.note(tx.DIMENSIONS_NOTE)


# ====================================================================== 5. robustness
@register("capsules.robustness", "CapsNet beside LeNet-5 on distorted digits", keys=("cp_n",))
def robustness(f: Frame) -> None:
    (c,) = f.controls()
    n = state.select("Test digits measured", "cp_n", list(ROBUSTNESS_DIGITS), 100, container=c,
                     radio=True, horizontal=True)
    results = widgets.with_progress("Measuring both networks", lambda p: _robustness(n, p))
    widgets.show_figure(fc.robustness_figure(results, height=f.figure_height or 520), "cp-robustness")
    f.note(tx.robustness_note(results))


# ====================================================================== 6. the critique of pooling
@register("capsules.pooling", "Hinton's critique of pooling", keys=("cp_pseed", "cp_grid"))
def pooling(f: Frame) -> None:
    c1, c2 = f.controls(2)
    most = state.slider("Largest grid (tiles per side)", "cp_grid", 2, 7, 4, container=c1)
    seed = state.slider("Shuffle", "cp_pseed", 0, 20, 0, container=c2)
    p = _pooling(f.ctx.image_key, seed, tuple(range(1, most + 1)), f.ctx.image)
    classes = _capsnet().classes
    widgets.show_figure(fc.pooling_figure(p, classes, height=f.figure_height or 520), "cp-pooling")
    f.note(tx.pooling_note(p.grids, p.pooled_similarity, p.cnn_probability, p.capsule_length, classes[p.label]))
