"""Views of /embeddings: PCA / t-SNE / UMAP of a layer's features, the image grid, your image placed in, layers
compared.

``embeddings.scatter`` owns the data, layer and method controls; the other views read them (``state.peek``) and
share its work through :func:`_run`: images, features and embeddings live in a server-wide ``ResultCache``, so a
full rerun computes each of them once, whichever view asks first.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from cnnviz.core.runtime import ResultCache
from cnnviz.errors import CnnvizError
from cnnviz.figures import embeddings as fe
from cnnviz.methods import embeddings as em
from cnnviz.text import embeddings as te
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_figure
from cnnviz.ui.view import Frame, register

# the keys embeddings.scatter owns; the other views read them
DATA_KEYS = ("em_data", "em_folder", "em_n", "em_layer", "em_pool", "em_method", "em_dim", "em_color", "em_perp",
             "em_nn", "em_seed")


class NoFolder(CnnvizError):
    """The data set is an image folder, and no folder is given."""


@st.cache_resource
def _shared(kind: str) -> ResultCache:
    """Shared by all sessions: "features" (up to 20,000 x 4096 floats each, so few) or points, embeddings, scores."""
    return ResultCache(maxsize=10 if kind == "features" else 48)


@st.cache_resource(show_spinner=False)
def _warm_up() -> threading.Thread:
    """Once per server, in the background: import openTSNE and UMAP and compile UMAP's numba code
    (``em.warm_up``), so the first t-SNE or UMAP someone asks for does not pay for it."""
    t = threading.Thread(target=em.warm_up, name="cnnviz-embeddings-warm-up", daemon=True)
    t.start()
    return t


def cached(key: tuple, label: str, compute):
    """The shared result for ``key``; on a miss ``compute(progress)`` runs with a progress bar."""
    return widgets.with_progress(label, lambda p: _shared("results").get_or_compute(key, lambda: compute(p)))


# ------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Settings:
    """The data, layer and method the views show (the controls of ``embeddings.scatter``)."""

    source: str
    folder: str
    n_points: int
    layer: str
    pooling: str
    method: str
    dim: int
    color_by: str
    perplexity: int
    n_neighbors: int
    seed: int


def _small_input(m) -> bool:
    return m.input_size[1] * m.input_size[2] <= 64 * 64


def _cap(m, source: str) -> int:
    return min(em.source_size(source), 20_000 if m.device.type == "cuda" else 10_000)


def _default_n(m, source: str) -> int:
    cap = _cap(m, source)
    return min(cap, 1000 if _small_input(m) else 300)


def _layer_titles(m) -> dict[str, str]:
    """A menu label per feature layer: its name and output shape."""
    return {name: te.layer_title(name, shape, pixels=name == em.PIXELS) for name, shape in em.layer_shapes(m).items()}


def _controls(f: Frame) -> Settings:
    """Draw the data, layer and method controls (in ``embeddings.scatter``)."""
    m = f.model
    sources = em.source_choices(m)
    c1, c2, c3 = f.controls([3, 3, 2])
    source = state.select("Data set", "em_data", sources, sources[0], container=c1,
                          format_func=lambda s: te.source_title(s, bool(m.dataset)), help=te.SOURCE_HELP)
    folder = ""
    if source == em.FOLDER:
        folder = state.text("Folder (ImageFolder layout: one sub-folder per class)", "em_folder", "", container=c1,
                            placeholder="/data/imagenette/val")
        c1.caption(te.FOLDER_CAPTION)
    elif not m.dataset and not f.slide:
        c1.warning(te.not_own_data(m.name, m.input_size[2], m.input_size[1]), icon=":material/info:")
    cap = _cap(m, source)
    n_points = state.slider("Number of points", "em_n", min(100, cap), cap, _default_n(m, source),
                            step=100 if cap >= 1000 else 10, container=c1,
                            help="t-SNE of many thousands of points takes a while on a CPU (about 15-30 s for "
                                 "10,000); results are cached.")
    titles = _layer_titles(m)
    layers = list(titles)
    layer = state.select("Layer", "em_layer", layers, em.penultimate_layer(m), format_func=titles.get, container=c2,
                         help="Default: the layer the classifier reads (the 'CNN code').")
    pooling = state.select("Spatial maps become vectors by", "em_pool", list(em.POOLINGS), "auto", container=c2,
                           format_func=te.POOLING_TITLES.get, help="Only for layers with spatial maps [C×H×W]. "
                           "Flatten keeps where things are; average pooling keeps only what is present.")
    method = state.select("Method", "em_method", list(em.METHODS), "pca", format_func=te.METHOD_TITLES.get,
                          container=c3, radio=True, horizontal=True)
    dim = state.select("Dimensions", "em_dim", [2, 3], 2, format_func=lambda d: f"{d}D", container=c3, radio=True,
                       horizontal=True)
    color_by = state.select("Colour by", "em_color", ["label", "prediction"], "label", container=c3, radio=True,
                            horizontal=True,
                            format_func=lambda s: {"label": "True label", "prediction": "Prediction"}[s])
    box = c2 if f.slide else st.expander("Method parameters")  # no expander inside the slide's popover
    a1, a2, a3 = (box, box, box) if f.slide else box.columns(3)
    perplexity = state.slider("t-SNE perplexity", "em_perp", 5, 100, 30, container=a1,
                              help="Roughly the number of neighbours each point cares about.")
    n_neighbors = state.slider("UMAP neighbours", "em_nn", 2, 100, 15, container=a2,
                               help="Small: local detail; large: global structure.")
    seed = state.number("Random seed", "em_seed", 0, 9999, 0, container=a3,
                        help="The same seed gives the same points and the same picture.")
    if not f.slide:
        box.caption(te.METHOD_PARAMETERS)
    return Settings(source, folder, n_points, layer, pooling, method, dim, color_by, perplexity, n_neighbors, seed)


def _peek(m) -> Settings:
    """The settings ``embeddings.scatter``'s controls hold, read without drawing them (the other views)."""
    sources = em.source_choices(m)
    source = state.peek("em_data", sources[0], valid=lambda s: s in sources)
    folder = state.peek("em_folder", "") if source == em.FOLDER else ""
    cap = _cap(m, source)
    layers = em.feature_layers(m)

    def in_range(lo, hi):
        return lambda v: isinstance(v, int) and lo <= v <= hi

    return Settings(
        source, folder,
        state.peek("em_n", _default_n(m, source), int, in_range(min(100, cap), cap)),
        state.peek("em_layer", em.penultimate_layer(m), valid=lambda n: n in layers),
        state.peek("em_pool", "auto", valid=lambda p: p in em.POOLINGS),
        state.peek("em_method", "pca", valid=lambda s: s in em.METHODS),
        state.peek("em_dim", 2, int, lambda d: d in (2, 3)),
        state.peek("em_color", "label", valid=lambda s: s in ("label", "prediction")),
        state.peek("em_perp", 30, int, in_range(5, 100)),
        state.peek("em_nn", 15, int, in_range(2, 100)),
        state.peek("em_seed", 0, int, in_range(0, 9999)),
    )


# ------------------------------------------------------------------------------------------ shared work
@dataclass
class Run:
    """Everything the views share for one setting: the images, the layer's features, its embedding, the model's
    predictions, and your image placed in (``own`` None when the model cannot take it)."""

    m: object
    s: Settings
    pts: em.PointSet
    pts_key: tuple
    feats: em.Features
    emb: em.Embedding
    preds: np.ndarray
    known: np.ndarray
    wrong: np.ndarray
    x_img: object = None
    own: em.Features | None = None
    own_pos: np.ndarray | None = None
    own_problem: str = ""
    _batch: int = field(default=32, repr=False)

    @property
    def emb_key(self) -> tuple:
        s = self.s
        return (self.m.key, self.pts_key, s.layer, s.pooling, s.method, s.dim, s.perplexity, s.n_neighbors)

    def features_for(self, name: str) -> em.Features:
        return _features(self.m, self.s, self.pts_key, self.pts, name, self._batch)

    def embedding_for(self, name: str, method: str, dim: int) -> em.Embedding:
        return _embedding(self.m, self.s, self.pts_key, self.pts, name, method, dim, self._batch)


def _features(m, s: Settings, pts_key: tuple, pts: em.PointSet, name: str, batch: int) -> em.Features:
    """One forward pass for ``name`` and every default layer still missing (cached server-wide)."""
    return widgets.with_progress("Running the model", lambda p: em.cached_features(
        _shared("features"), m, pts_key, pts.inputs, name, s.pooling, also=[s.layer, *em.comparison_layers(m)],
        batch_size=batch, progress=p))


def _embedding(m, s: Settings, pts_key: tuple, pts: em.PointSet, name: str, method: str, dim: int,
               batch: int) -> em.Embedding:
    params = {"pca": {}, "tsne": {"perplexity": s.perplexity}, "umap": {"n_neighbors": s.n_neighbors}}[method]
    key = (m.key, pts_key, name, s.pooling, method, dim, tuple(params.items()))
    feats = _features(m, s, pts_key, pts, name, batch)
    return cached(key, f"{te.METHOD_TITLES[method]} of {name}", lambda p: em.embed(
        feats.values, method, dim, seed=s.seed, progress=p, **params))


def _run(f: Frame, s: Settings | None = None) -> Run:
    """The shared work for the settings ``s`` (default: those of ``embeddings.scatter``'s controls)."""
    m, ctx = f.model, f.ctx
    s = s or _peek(m)
    if s.source == em.FOLDER and not s.folder.strip():
        raise NoFolder(te.NO_FOLDER)
    pts_key = ("points", s.source, s.folder.strip(), s.n_points, s.seed)
    pts = cached(pts_key, "Loading images", lambda p: em.load_source(s.source, s.n_points, s.seed, s.folder))
    batch = 128 if _small_input(m) else 32
    try:
        feats = _features(m, s, pts_key, pts, s.layer, batch)
        emb = _embedding(m, s, pts_key, pts, s.layer, s.method, s.dim, batch)
    except (RuntimeError, MemoryError) as e:  # from the feature pass
        raise em.EmbeddingError(f"Cannot embed {s.layer}: {e}") from e
    preds = feats.predictions.cpu().numpy()
    known, wrong = em.misclassified(pts, preds, m.classes,
                                    s.source == em.FOLDER or s.source.startswith(f"{m.dataset}:"))
    run = Run(m, s, pts, pts_key, feats, emb, preds, known, wrong, _batch=batch)
    try:  # the current image, placed into the picture
        run.x_img = ctx.input()
        run.own = cached((m.key, s.layer, s.pooling, "own features", ctx.image_key), "Your image's features",
                         lambda p: em.extract_features(m, run.x_img, s.layer, s.pooling))  # once, not once per view
        run.own_pos = cached((*run.emb_key, "project", ctx.image_key), "Placing your image",
                             lambda p: emb.project(run.own.values))[0]
    except (CnnvizError, RuntimeError) as e:  # an image the model cannot take must not hide the rest
        run.own, run.own_pos, run.own_problem = None, None, str(e)
    return run


# ------------------------------------------------------------------------------------------ views
@shared_figure(max_entries=32)
def _scatter_figure(key: tuple, color_by: str, image_key: str | None, image_label: str, _r: Run):
    """The embedding's scatter, built once per embedding, colouring and placed image for the server (0.2 s of
    Plotly validation for a thousand points in a dozen traces)."""
    r, m, s = _r, _r.m, _r.s
    pts, preds, wrong = r.pts, r.preds, r.wrong
    groups, names = (pts.labels, pts.classes) if color_by == "label" else (em.colour_groups(preds), m.classes)
    return fe.scatter(r.emb.points, groups, names, te.hover_texts(pts, preds, m.classes, wrong), wrong,
                      own=r.own_pos if image_key is not None else None,
                      title=f"{te.METHOD_TITLES[s.method]} of {s.layer}", own_label=image_label,
                      ticks=s.method == "pca", other="other" if color_by == "prediction" else "unlabelled")


@register("embeddings.scatter", "The embedding: data, layer and method", keys=DATA_KEYS,
          anchors=("data-layer-and-method", "1-the-embedding"))
def scatter(f: Frame) -> None:
    m, ctx = f.model, f.ctx
    s = _controls(f)
    try:
        r = _run(f, s)
    except NoFolder as e:
        st.info(str(e), icon=":material/folder_open:")
        return
    if r.own_problem:
        st.warning(f"Your image could not be placed in the embedding: {r.own_problem}")
    if not f.slide:
        st.caption(te.scatter_caption(len(r.pts), r.pts.source, s.layer, r.feats.dims, r.feats.pooling, r.emb.note,
                                      r.emb.seconds))
    pts, preds, wrong, P = r.pts, r.preds, r.wrong, r.emb.points
    fig = _scatter_figure(r.emb_key, s.color_by, ctx.image_key if r.own_pos is not None else None,
                          ctx.image_label, r)
    left, right = st.columns([4, 1] if f.slide else [3, 1])
    select = dict(on_select="rerun", selection_mode=("points", "box", "lasso")) if s.dim == 2 else {}  # 2D only
    event = widgets.show_figure(fig, "embeddings-scatter" if s.dim == 2 else "embeddings-scatter3d", left, **select)
    picked = fe.picked_points(event) if s.dim == 2 else []
    _warm_up()  # once the first figure is out: t-SNE and UMAP get ready in the background
    with right:
        if len(picked) == 1:
            i = picked[0]
            widgets.show_image(pts.images[i], caption=f"#{i}", min_side=168, width=200, download="embeddings-point")
            st.markdown(f"**label:** {pts.label_name(i)}  \n**predicted:** {m.classes[preds[i]]}"
                        + ("  \n:red[**misclassified**]" if wrong[i] else ""))
            idx, dist = em.nearest_neighbours(r.feats.values, r.feats.values[i], k=6)
            st.caption("Its nearest neighbours in feature space (distance):")
            near = [f"#{a}\n{d:.2f}" for a, d in zip(idx[1:], dist[1:], strict=True)]
            strip = fe.neighbour_strip(pts.images[idx[1:]], near, cols=3, side=72)
            widgets.show_image(strip, min_side=1, download="embeddings-point-neighbours")
        elif picked:
            widgets.show_image(fe.selection_grid(pts.images[picked]), min_side=1, width=280,
                               caption=f"{len(picked)} selected" + (" (first 64 shown)" if len(picked) > 64 else ""),
                               download="embeddings-selection")
            st.markdown("  \n".join(f"{k}: {v}" for k, v in fe.count_by_trace(fig, picked)))
        elif not f.slide:
            st.info("Click a point to see its image and neighbours; drag a box or lasso (toolbar) to see a group."
                    if s.dim == 2 else "Rotate with the mouse. Selecting points works in the 2D view.")
        knn = cached((*r.emb_key, "knn"), "Scoring the neighbours", lambda p: em.knn_accuracy(P, pts.labels))
        st.metric("kNN accuracy (k=10)", fe.percent(knn),
                  help="Leave-one-out: how often the 10 nearest points in the picture mostly share a point's label.")
        if r.known.any():
            st.metric("Misclassified by the model", f"{int(wrong.sum())} of {int(r.known.sum())}")
        if f.slide:
            st.caption(f"{len(pts)} images · {r.feats.dims} values each · click a point for its image")
    f.note(te.SCATTER_NOTE)


def _need_data(f: Frame) -> Run | None:
    """The shared run for a reading view; None (with a hint) while the data set is a folder not given yet."""
    try:
        return _run(f)
    except NoFolder:
        st.info(te.FOLDER_FIRST, icon=":material/folder_open:")
        return None


@register("embeddings.grid", "The image grid", keys=("em_grid",), reads=DATA_KEYS, anchors=("2-the-image-grid",))
def grid(f: Frame) -> None:
    r = _need_data(f)
    if r is None:
        return
    s, pts, P = r.s, r.pts, r.emb.points
    side_max = max(4, min(32, math.isqrt(len(pts)) + 1))  # the assignment is O(cells³): 32×32 takes about a second
    g1, g2 = f.controls([1, 2])
    side = state.slider("Grid side (cells per row)", "em_grid", 4, side_max, min(side_max, 24), container=g1,
                        help=te.GRID_HELP)
    pick, rows = em.grid_subset(len(pts), side, s.seed)
    cells = cached((*r.emb_key, "grid", side), "Snapping to the grid",
                   lambda p: em.snap_to_grid(P[pick, :2], rows, side))
    image = cached((*r.emb_key, "grid-image", side), "Drawing the grid",  # 60 ms a run, drawn again on every step
                   lambda p: fe.image_grid(pts.images[pick], cells, rows, side, pad=1))
    what = f"{te.METHOD_TITLES[s.method]} of {s.layer}"
    if f.slide:  # the grid beside the scatter it comes from, both as high as the screen allows
        left, right = st.columns([1, 1])
        widgets.show_image(image, min_side=2 * min(image.shape[:2]), width="stretch", container=left,
                           download="embeddings-grid")
        fig = fe.scatter(P[:, :2], pts.labels, pts.classes, None, r.wrong, ticks=s.method == "pca", title=what)
        widgets.show_figure(fig, "embeddings-grid-scatter", container=right)
    else:
        g2.markdown(te.grid_caption(s.method, len(pick), len(pts), rows, side, s.dim))
        widgets.show_image(image, min_side=2 * min(image.shape[:2]), width="stretch", download="embeddings-grid",
                           caption=f"{what}, snapped to a grid")
    f.note(te.GRID_NOTE)


@register("embeddings.own", "Your image among them", keys=("em_k",), reads=DATA_KEYS,
          anchors=("3-your-image-among-them",))
def own(f: Frame) -> None:
    r = _need_data(f)
    if r is None:
        return
    m, ctx, s, pts = f.model, f.ctx, r.s, r.pts
    if r.own is None:
        raise em.EmbeddingError(f"Your image cannot be placed: {r.own_problem}")
    y1, y2 = st.columns([1, 3])
    k_nn = state.slider("Neighbours", "em_k", 3, 24, 8, container=f.controls()[0] if f.slide else y2)
    widgets.show_image(m.deprocess(r.x_img), caption=ctx.image_label, min_side=140, container=y1,
                       width="stretch" if f.slide else 160, download="embeddings-own-input")
    y1.markdown(f"**predicted:** {(pred_own := m.classes[int(r.own.predictions[0])])}")
    if r.own_pos is not None and not f.slide:
        y1.caption("The black star in the scatter above. " + te.PLACEMENT_NOTES[s.method])
    idx, dist = em.nearest_neighbours(r.feats.values, r.own.values[0], k=k_nn)
    same = sum(1 for a in idx if pts.label_name(a) == pred_own)
    y2.markdown(te.neighbours_caption(k_nn, s.layer, same))
    near = [f"{pts.label_name(a)}\nd={d:.2f}" for a, d in zip(idx, dist, strict=True)]
    if f.slide:  # rows of tiles as large as the screen allows
        rows = 1 if k_nn <= 4 else 2 if k_nn <= 12 else 3
        cols = math.ceil(k_nn / rows)
        side = int(min(470 / rows - 50, 860 / cols - 4))
        strip = fe.neighbour_strip(pts.images[idx], near, cols=cols, side=side)
        widgets.show_image(strip, min_side=1, container=y2, width="stretch", download="embeddings-own")
    else:
        widgets.show_image(fe.neighbour_strip(pts.images[idx], near), min_side=1, container=y2,
                           download="embeddings-own")
    f.note(te.OWN_NOTE)


@register("embeddings.compare", "Do the features get more abstract? Layers compared", keys=("em_clayers", "em_cmethod"),
          reads=DATA_KEYS, anchors=("4-do-the-features-get-more-abstract-layers-compared",))
def compare(f: Frame) -> None:
    r = _need_data(f)
    if r is None:
        return
    m, s = f.model, r.s
    titles = _layer_titles(m)
    layers = list(titles)
    h1, h2 = f.controls([3, 1])
    chosen = state.multiselect("Layers", "em_clayers", layers, em.comparison_layers(m), container=h1,
                               format_func=titles.get)
    cmp_method = state.select("Method", "em_cmethod", list(em.METHODS), "pca", container=h2,
                              format_func=te.METHOD_TITLES.get,
                              help=te.COMPARE_METHOD_HELP)
    if not chosen:
        st.info("Pick at least one layer to compare.")
        return
    if not f.slide:
        st.caption(te.COMPARE_CAPTION + (" The first 6 layers are shown." if len(chosen) > 6 else ""))
    labels = r.pts.labels
    n = len(chosen[:6])
    # on a slide, each picture as wide as its column of the 16:9 screen and 470 px high; on a page, square
    size = (int((1200 - 16 * (n - 1)) / n), 470) if f.slide else (300, 300)
    try:
        for col, name in zip(st.columns(n), chosen[:6], strict=True):
            feats = r.features_for(name)
            e2 = r.embedding_for(name, cmp_method, 2)  # the scatter's own embedding when it is the same
            key = (m.key, r.pts_key, name, s.pooling, cmp_method, s.perplexity, s.n_neighbors)
            v = cached((*key, "scores"), f"Scoring {name}",
                       lambda p, feats=feats, e2=e2: em.layer_view(feats, labels, embedding=e2))
            picture = cached((*key, "picture", size), f"Drawing {name}",
                             lambda p, e2=e2: fe.layer_scatter_image(e2.points, labels, *size))
            widgets.show_image(picture, min_side=1,
                               caption=f"{name} · {feats.dims} values", container=col, width="stretch",
                               download=f"embeddings-layer-{name}")
            if f.slide:
                col.markdown(f"kNN **{fe.percent(v.knn_accuracy_embedding)}** · features "
                             f"{fe.percent(v.knn_accuracy_features)}", help="Leave-one-out 10-nearest-neighbour "
                             "accuracy in the picture, and in the full feature space.")
                continue
            col.metric("kNN accuracy, embedding", fe.percent(v.knn_accuracy_embedding))
            col.metric("kNN accuracy, features", fe.percent(v.knn_accuracy_features))
            col.metric("Trustworthiness", f"{v.trustworthiness:.3f}", help=te.TRUSTWORTHINESS_HELP)
    except (RuntimeError, MemoryError) as e:  # from the feature pass
        raise em.EmbeddingError(f"Cannot compare layers: {e}") from e
    f.note(te.COMPARE_NOTE)
