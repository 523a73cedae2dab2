"""Embeddings: PCA / t-SNE / UMAP of a layer's features, the image grid, your image placed in, layers compared."""
from __future__ import annotations

import math

import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.figures import embeddings as fe
from cnnviz.methods import embeddings as em
from cnnviz.ui import state, widgets
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model

st.title("Embeddings")
st.markdown(
    "Each image becomes a long vector at every layer: its **features**. Projected down to 2 or 3 "
    "dimensions, images the layer considers similar land close together. **PCA** keeps the directions of "
    "largest variance (a linear view); **t-SNE** and **UMAP** keep *neighbourhoods* (who is next to whom), "
    "at the cost of distorting distances between far-apart groups. Compare raw **pixels** with deeper layers: "
    "the classes that overlap in pixel space pull apart as the features become more abstract (the manifold "
    "hypothesis, made visible). The image grid below is Karpathy's *t-SNE of CNN codes*; the TensorBoard "
    "Embedding Projector is the other reference. Here everything is computed live, for any layer."
)
widgets.untrained_badge(m)


@st.cache_resource
def _shared(kind: str) -> em.ResultCache:
    """Shared by all sessions: "features" (up to 20,000 x 4096 floats each, so few) or points, embeddings, scores."""
    return em.ResultCache(maxsize=10 if kind == "features" else 48)


def cached(key: tuple, label: str, compute):
    """The shared result for ``key``; on a miss ``compute(progress)`` runs with a progress bar."""
    return widgets.with_progress(label, lambda p: _shared("results").get_or_compute(key, lambda: compute(p)))


# ============================================================================ controls
st.header("Data, layer and method", divider="gray")
sources = em.source_choices(m)
c1, c2, c3 = st.columns([3, 3, 2])
source = state.select("Data set", "em_data", sources, sources[0], container=c1,
                      format_func=lambda s: em.source_title(s, bool(m.dataset)),
                      help="The bundled splits: MNIST 8000 train + 2000 test, Fashion-MNIST 15000 + 3000. "
                           "Use train+test for more points.")
folder = ""
if source == em.FOLDER:
    folder = state.text("Folder (ImageFolder layout: one sub-folder per class)", "em_folder", "", container=c1,
                        placeholder="/data/imagenette/val")
    c1.caption("Images are read on the server. Folder names that match the model's class names enable "
               "'misclassified' marks.")
elif not m.dataset:
    c1.warning(f"{m.name} expects {m.input_size[2]}×{m.input_size[1]} RGB photos; the bundled data are 28×28 "
               "grayscale digits/clothes, upscaled here. Their features show how an ImageNet model sees them, "
               "not a trained classifier's classes. Give an image folder for natural images.",
               icon=":material/info:")
small_input = m.input_size[1] * m.input_size[2] <= 64 * 64
cap = min(em.source_size(source), 20_000 if m.device.type == "cuda" else 10_000)
n_points = state.slider("Number of points", "em_n", min(100, cap), cap, min(cap, 1000 if small_input else 300),
                        step=100 if cap >= 1000 else 10, container=c1,
                        help="t-SNE of many thousands of points takes a while on a CPU (about 15-30 s for 10,000); "
                             "results are cached.")
layers, titles = em.feature_layers(m), em.layer_titles(m)
layer = state.select("Layer", "em_layer", layers, em.penultimate_layer(m), format_func=titles.get, container=c2,
                     help="Default: the layer the classifier reads (the 'CNN code').")
pooling = state.select("Spatial maps become vectors by", "em_pool", list(em.POOLINGS), "auto", container=c2,
                       format_func=em.POOLING_TITLES.get, help="Only for layers with spatial maps [C×H×W]. Flatten "
                       "keeps where things are; average pooling keeps only what is present.")
method = state.select("Method", "em_method", list(em.METHODS), "pca", format_func=em.METHOD_TITLES.get,
                      container=c3, radio=True, horizontal=True)
dim = state.select("Dimensions", "em_dim", [2, 3], 2, format_func=lambda d: f"{d}D", container=c3, radio=True,
                   horizontal=True)
color_by = state.select("Colour by", "em_color", ["label", "prediction"], "label", container=c3, radio=True,
                        horizontal=True, format_func=lambda s: {"label": "True label", "prediction": "Prediction"}[s])
with st.expander("Method parameters"):
    a1, a2, a3 = st.columns(3)
    perplexity = state.slider("t-SNE perplexity", "em_perp", 5, 100, 30, container=a1,
                              help="Roughly the number of neighbours each point cares about.")
    n_neighbors = state.slider("UMAP neighbours", "em_nn", 2, 100, 15, container=a2,
                               help="Small: local detail; large: global structure.")
    seed = state.number("Random seed", "em_seed", 0, 9999, 0, container=a3,
                        help="The same seed gives the same points and the same picture.")
    st.caption("t-SNE and UMAP first reduce the features to 100 principal components (standard practice, with "
               "50 more common: faster neighbour search, less noise). t-SNE: openTSNE (Barnes-Hut, FFT from 10,000 "
               "points); UMAP: umap-learn.")

# ============================================================================ compute
if source == em.FOLDER and not folder.strip():
    st.info("Type the path of an image folder on the server (one sub-folder per class, e.g. an ImageNet or "
            "Imagenette validation folder), or pick a bundled data set above (28×28 grayscale, upscaled).")
    st.stop()
try:
    pts_key = ("points", source, folder.strip(), n_points, seed)
    pts = cached(pts_key, "Loading images", lambda p: em.load_source(source, n_points, seed, folder))
except CnnvizError as e:
    widgets.show_error(e)
    st.stop()
params = {"pca": {}, "tsne": {"perplexity": perplexity}, "umap": {"n_neighbors": n_neighbors}}


def features_for(name: str) -> em.Features:  # one forward pass for it and every default layer still missing
    return widgets.with_progress("Running the model", lambda p: em.cached_features(
        _shared("features"), m, pts_key, pts.inputs, name, pooling, also=[layer, *em.comparison_layers(m)],
        batch_size=128 if small_input else 32, progress=p))


def embedding_for(name: str, meth: str, d: int) -> em.Embedding:
    key = (m.key, pts_key, name, pooling, meth, d, tuple(params[meth].items()))
    return cached(key, f"{em.METHOD_TITLES[meth]} of {name}", lambda p, f=features_for(name): em.embed(
        f.values, meth, d, seed=seed, progress=p, **params[meth]))


try:
    feats, emb = features_for(layer), embedding_for(layer, method, dim)
except (CnnvizError, RuntimeError, MemoryError) as e:  # RuntimeError, MemoryError: from the feature pass
    widgets.show_error(CnnvizError(f"Cannot embed {layer}: {e}"))
    st.stop()
labels, preds, P = pts.labels, feats.predictions.cpu().numpy(), emb.points
known, wrong = em.misclassified(pts, preds, m.classes, source == em.FOLDER or source.startswith(f"{m.dataset}:"))
emb_key = (m.key, pts_key, layer, pooling, method, dim, perplexity, n_neighbors)
try:  # the current image, placed into the picture
    x_img = m.preprocess(ctx.image)
    own = em.extract_features(m, x_img, layer, pooling)
    own_pos = cached((*emb_key, "project", ctx.image_key), "Placing your image", lambda p: emb.project(own.values))[0]
except (CnnvizError, RuntimeError) as e:  # an image the model cannot take must not hide the rest of the page
    own, own_pos = None, None
    st.warning(f"Your image could not be placed in the embedding: {e}")
st.caption(f"{len(pts)} images ({pts.source}) · layer **{layer}** → {feats.dims} values per image "
           f"({feats.pooling}) · {emb.note} · {emb.seconds:.1f} s when computed")


def scatter_section() -> None:
    st.header("1. The embedding", divider="gray")
    groups, names = (labels, pts.classes) if color_by == "label" else (em.colour_groups(preds), m.classes)
    fig = fe.scatter(P, groups, names, em.hover_texts(pts, preds, m.classes, wrong), wrong, own=own_pos,
                     title=f"{em.METHOD_TITLES[method]} of {layer}", own_label=ctx.image_label, ticks=method == "pca",
                     other="other" if color_by == "prediction" else "unlabelled")
    left, right = st.columns([3, 1])
    select = dict(on_select="rerun", selection_mode=("points", "box", "lasso")) if dim == 2 else {}  # 2D only
    event = widgets.show_figure(fig, "embeddings-scatter" if dim == 2 else "embeddings-scatter3d", left, **select)
    picked = fe.picked_points(event) if dim == 2 else []
    with right:
        if len(picked) == 1:
            i = picked[0]
            widgets.show_image(pts.images[i], caption=f"#{i}", min_side=168, width=200, download="embeddings-point")
            st.markdown(f"**label:** {pts.label_name(i)}  \n**predicted:** {m.classes[preds[i]]}"
                        + ("  \n:red[**misclassified**]" if wrong[i] else ""))
            idx, dist = em.nearest_neighbours(feats.values, feats.values[i], k=6)
            st.caption("Its nearest neighbours in feature space (distance):")
            near = [f"#{a}\n{d:.2f}" for a, d in zip(idx[1:], dist[1:])]
            strip = fe.neighbour_strip(pts.images[idx[1:]], near, cols=3, side=72)
            widgets.show_image(strip, min_side=1, download="embeddings-point-neighbours")
        elif picked:
            widgets.show_image(fe.selection_grid(pts.images[picked]), min_side=1, width=280,
                               caption=f"{len(picked)} selected" + (" (first 64 shown)" if len(picked) > 64 else ""),
                               download="embeddings-selection")
            st.markdown("  \n".join(f"{k}: {v}" for k, v in fe.count_by_trace(fig, picked)))
        else:
            st.info("Click a point to see its image and neighbours; drag a box or lasso (toolbar) to see a group."
                    if dim == 2 else "Rotate with the mouse. Selecting points works in the 2D view.")
        st.metric("kNN accuracy (k=10)", fe.percent(em.knn_accuracy(P, labels)),
                  help="Leave-one-out: how often the 10 nearest points in the picture mostly share a point's label.")
        if known.any():
            st.metric("Misclassified by the model", f"{int(wrong.sum())} of {int(known.sum())}")


def grid_section() -> None:
    st.header("2. The image grid", divider="gray")
    g1, g2 = st.columns([1, 2])
    side_max = max(4, min(32, math.isqrt(len(pts)) + 1))  # the assignment is O(cells³): 32×32 takes about a second
    side = state.slider("Grid side (cells per row)", "em_grid", 4, side_max, min(side_max, 24), container=g1,
                        help="The embedding is snapped to a side × side grid by a linear assignment (each cell gets "
                             "one image, the total move is as small as possible).")
    pick, rows = em.grid_subset(len(pts), side, seed)
    cells = cached((*emb_key, "grid", side), "Snapping to the grid", lambda p: em.snap_to_grid(P[pick, :2], rows, side))
    grid = fe.image_grid(pts.images[pick], cells, rows, side, pad=1)
    g2.markdown(f"Each image moved to the grid cell nearest its place in the {em.METHOD_TITLES[method]} picture above "
                f"(scipy's `linear_sum_assignment`: every cell one image, least total movement). "
                f"{len(pick)} of {len(pts)} images in {rows}×{side} cells"
                + (" (a seeded random subset)" if len(pick) < len(pts) else "")
                + (". From the first two of the three dimensions." if dim == 3 else "."))
    widgets.show_image(grid, min_side=2 * min(grid.shape[:2]), width="stretch", download="embeddings-grid",
                       caption=f"{em.METHOD_TITLES[method]} of {layer}, snapped to a grid")


def own_section() -> None:
    st.header("3. Your image among them", divider="gray")
    y1, y2 = st.columns([1, 3])
    widgets.show_image(m.deprocess(x_img), caption=ctx.image_label, min_side=140, container=y1, width=160,
                       download="embeddings-own-input")
    y1.markdown(f"**predicted:** {(pred_own := m.classes[int(own.predictions[0])])}")
    if own_pos is not None:
        y1.caption("The black star in the scatter above. " + em.PLACEMENT_NOTES[method])
    k_nn = state.slider("Neighbours", "em_k", 3, 24, 8, container=y2)
    idx, dist = em.nearest_neighbours(feats.values, own.values[0], k=k_nn)
    same = sum(1 for a in idx if pts.label_name(a) == pred_own)
    y2.markdown(f"Its **{k_nn} nearest neighbours in feature space** ({layer}, Euclidean distance): {same} of {k_nn} "
                "have the class the model predicts for your image.")
    near = [f"{pts.label_name(a)}\nd={d:.2f}" for a, d in zip(idx, dist)]
    widgets.show_image(fe.neighbour_strip(pts.images[idx], near), min_side=1, container=y2, download="embeddings-own")


def compare_section() -> None:
    st.header("4. Do the features get more abstract? Layers compared", divider="gray")
    h1, h2 = st.columns([3, 1])
    chosen = state.multiselect("Layers", "em_clayers", layers, em.comparison_layers(m), container=h1,
                               format_func=titles.get)
    cmp_method = state.select("Method", "em_cmethod", list(em.METHODS), "pca", container=h2,
                              format_func=em.METHOD_TITLES.get,
                              help="PCA by default: fast. t-SNE shows the clusters better and takes longer per layer.")
    if not chosen:
        st.info("Pick at least one layer to compare.")
        return
    st.caption("Colours: true labels (legend of the scatter above when it is coloured by label). kNN accuracy: "
               "leave-one-out 10-nearest-neighbour vote, in the 2D picture and in the full feature space; "
               "trustworthiness: are the picture's neighbours true neighbours?"
               + (" The first 6 layers are shown." if len(chosen) > 6 else ""))
    for col, name in zip(st.columns(len(chosen[:6])), chosen[:6]):
        f = features_for(name)
        e2 = emb if (name == layer and cmp_method == method and dim == 2) else embedding_for(name, cmp_method, 2)
        v = cached((m.key, pts_key, name, pooling, cmp_method, perplexity, n_neighbors, "scores"), f"Scoring {name}",
                   lambda p, f=f, e2=e2: em.layer_view(f, labels, embedding=e2))
        widgets.show_figure(fe.layer_scatter(e2.points, labels, name, f.dims), f"embeddings-layer-{name}",
                            container=col)
        col.metric("kNN accuracy, embedding", fe.percent(v.knn_accuracy_embedding))
        col.metric("kNN accuracy, features", fe.percent(v.knn_accuracy_features))
        col.metric("Trustworthiness", f"{v.trustworthiness:.3f}", help="1.0: every neighbour in the picture is a true "
                   "neighbour in feature space (scikit-learn's trustworthiness, k=10, on up to 2000 points).")


scatter_section()
grid_section()
if own is not None:
    own_section()
try:
    compare_section()
except (CnnvizError, RuntimeError, MemoryError) as e:  # RuntimeError, MemoryError: from the feature pass
    widgets.show_error(CnnvizError(f"Cannot compare layers: {e}"))
widgets.what_to_notice(
    "- **Pixels vs. deep layers.** In pixel space, digits that are drawn alike (4/9, 3/5/8) or clothes of the same "
    "shape (shirt, pullover, coat) overlap. At the last layers the clusters are compact and the kNN accuracy "
    "rises: the network has learned features in which the classes are (nearly) linearly separable.\n"
    "- **Untrained network.** Switch on *Untrained* in the sidebar: random features keep much of the pixel "
    "structure but do not separate the classes much better, so the separation above is learned.\n"
    "- **Misclassified points (×)** usually sit inside the cluster of the class the model predicted, or on a border.\n"
    "- **t-SNE distances between clusters mean little**: only neighbourhoods are kept, and cluster sizes are "
    "equalised. UMAP keeps a little more global structure; PCA keeps all of it but only linearly.\n"
    "- **Perplexity** changes the picture: small values shatter clusters into islands, large ones merge them.")
