"""Embeddings: PCA / t-SNE / UMAP of a layer's features, the image grid, your image placed in, layers compared."""
from __future__ import annotations

import math

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import streamlit as st

from cnnviz.methods import embeddings as em
from cnnviz.ui import state
from cnnviz.figures.common import FONT
from cnnviz.ui.widgets import show_image, untrained_badge
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
untrained_badge(m)


@st.cache_resource
def _results() -> em.ResultCache:
    """Embeddings and scores shared by all sessions (fitted t-SNE/UMAP models cannot be pickled)."""
    return em.ResultCache(maxsize=48)


@st.cache_resource
def _feature_cache() -> em.ResultCache:
    """Features (up to 20,000 x 4096 floats each, so fewer of them) shared by all sessions."""
    return em.ResultCache(maxsize=10)


def cached(key: tuple, label: str, compute):
    """The cached result for ``key``, or compute it with a progress bar."""
    cache = _results()
    if key in cache:
        return cache.get_or_compute(key, lambda: compute(None))
    bar = st.progress(0.0, text=label)
    try:
        return cache.get_or_compute(key, lambda: compute(lambda f, t: bar.progress(f, text=f"{label}: {t}")))
    finally:
        bar.empty()


def stop_with(msg: str, kind=st.error) -> None:
    kind(msg)
    st.stop()


small_input = m.input_size[1] * m.input_size[2] <= 64 * 64
on_gpu = m.device.type == "cuda"

# ============================================================================ controls
st.header("Data, layer and method", divider="gray")
if m.dataset:
    sources = [f"{m.dataset}:test", f"{m.dataset}:train", f"{m.dataset}:train+test", "folder"]
else:
    sources = ["folder", "mnist:test", "fashion-mnist:test", "mnist:train+test", "fashion-mnist:train+test"]


def _source_label(s: str) -> str:
    if s == "folder":
        return "Image folder (path on the server)"
    ds, split = s.split(":")
    return f"Bundled {ds} — {split}" + ("" if m.dataset else " (28×28 grayscale, upscaled)")


c1, c2, c3 = st.columns([3, 3, 2])
source = state.select("Data set", "em_data", sources, sources[0], format_func=_source_label, container=c1,
                      help="The bundled splits: MNIST 8000 train + 2000 test, Fashion-MNIST 15000 + 3000. "
                           "Use train+test for more points.")
folder = ""
if source == "folder":
    folder = state.text("Folder (ImageFolder layout: one sub-folder per class)", "em_folder", "", container=c1,
                        placeholder="/data/imagenette/val")
    c1.caption("Images are read on the server. Folder names that match the model's class names enable "
               "'misclassified' marks.")
elif not m.dataset:
    c1.warning(f"{m.name} expects {m.input_size[2]}×{m.input_size[1]} RGB photos; the bundled data are 28×28 "
               "grayscale digits/clothes, upscaled here. Their features show how an ImageNet model sees them, "
               "not a trained classifier's classes. Give an image folder for natural images.",
               icon=":material/info:")
if source == "folder":
    total = 20_000
else:
    ds_name, split = source.split(":")
    total = {"mnist": {"test": 2000, "train": 8000, "train+test": 10000},
             "fashion-mnist": {"test": 3000, "train": 15000, "train+test": 18000}}[ds_name][split]
cap = min(total, 20_000 if on_gpu else 10_000)
default_n = min(cap, 1000 if small_input else 300)
n_points = state.slider("Number of points", "em_n", min(100, cap), cap, default_n, step=100 if cap >= 1000 else 10,
                        container=c1, help="t-SNE of many thousands of points takes a while on a CPU "
                                           "(about 15-30 s for 10,000); results are cached.")

layers = em.feature_layers(m)
shapes = {}
for li in m.layers():
    shapes.setdefault(li.name, li.output_shape)
shapes[em.PIXELS] = tuple(m.input_size)
default_layer = em.penultimate_layer(m)


def _layer_label(name: str) -> str:
    shp = shapes.get(name, ())
    dims = "×".join(str(s) for s in shp)
    return ("pixels (the raw input, the baseline)" if name == em.PIXELS else name) + (f"  [{dims}]" if dims else "")


layer = state.select("Layer", "em_layer", layers, default_layer, format_func=_layer_label, container=c2,
                     help="Default: the layer the classifier reads (the 'CNN code').")
pooling = state.select("Spatial maps become vectors by", "em_pool", list(em.POOLINGS), "auto",
                       format_func=lambda p: em.POOLING_TITLES[p], container=c2,
                       help="Only for layers with spatial maps [C×H×W]. Flatten keeps where things are; "
                            "average pooling keeps only what is present.")
method = state.select("Method", "em_method", list(em.METHODS), "pca", format_func=lambda s: em.METHOD_TITLES[s],
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
if source == "folder" and not folder.strip():
    stop_with("Type the path of an image folder on the server (one sub-folder per class, e.g. an ImageNet or "
              "Imagenette validation folder), or pick a bundled data set above (28×28 grayscale, upscaled).", st.info)
pts_key = ("points", source, folder.strip(), n_points, seed)


def _load_points(_progress):
    if source == "folder":
        return em.load_image_folder(folder.strip(), n=n_points, seed=seed)
    ds_name, split = source.split(":")
    return em.load_points(ds_name, split, n_points, seed=seed)


try:
    pts = cached(pts_key, "Loading images", _load_points)
except (FileNotFoundError, ValueError, OSError) as e:
    stop_with(f"Cannot read the images: {e}")
images_src = list(pts.paths) if pts.paths else pts.images


def features_for(name: str):
    key = (m.key, pts_key, name, pooling)
    cache = _feature_cache()
    if key not in cache:
        # one forward pass for this layer and every default one still missing (the layer comparison)
        want = [name] + [n for n in [layer] + em.comparison_layers(m) if (m.key, pts_key, n, pooling) not in cache]
        bar = st.progress(0.0, text="Features")
        try:
            got = em.extract_layers(m, images_src, list(dict.fromkeys(want)), pooling,
                                    batch_size=128 if small_input else 32,
                                    progress=lambda f, t: bar.progress(f, text=f"Running the model: {t}"))
        finally:
            bar.empty()
        for n, f in got.items():
            cache.get_or_compute((m.key, pts_key, n, pooling), lambda f=f: f)
    return cache.get_or_compute(key, lambda: em.extract_features(m, images_src, name, pooling))


def embedding_for(name: str, meth: str, d: int):
    params = {"perplexity": perplexity} if meth == "tsne" else {"n_neighbors": n_neighbors} if meth == "umap" else {}
    key = (m.key, pts_key, name, pooling, meth, d, tuple(sorted(params.items())))
    feats = features_for(name)
    return cached(key, f"{em.METHOD_TITLES[meth]} of {name}",
                  lambda p: em.embed(feats.values, meth, d, seed=seed, progress=p, **params))


try:
    feats = features_for(layer)
    emb = embedding_for(layer, method, dim)
except (ValueError, KeyError, RuntimeError, MemoryError) as e:
    stop_with(f"Cannot embed {layer}: {e}")

labels = pts.labels
preds = feats.predictions.cpu().numpy()
# which model class each true label is (bundled: the same list; folders: by name)
model_index = {c.lower(): i for i, c in enumerate(m.classes)}
label_to_model = np.array([model_index.get(c.lower(), -1) for c in pts.classes])
if source != "folder" and not source.startswith(f"{m.dataset}:"):
    label_to_model[:] = -1  # bundled 28x28 data on an ImageNet model: not its task, so nothing is "misclassified"
known = (labels >= 0) & (label_to_model[np.clip(labels, 0, None)] >= 0)
wrong = known & (label_to_model[np.clip(labels, 0, None)] != preds)
can_mark = bool(known.any())

# the current image, placed into the picture
try:
    x_img = m.preprocess(ctx.image)
    own = em.extract_features(m, x_img, layer, pooling)
    own_pos = cached((m.key, pts_key, layer, pooling, method, dim, perplexity, n_neighbors, "project", ctx.image_key),
                     "Placing your image", lambda p: emb.project(own.values))[0]
except Exception as e:  # an image the model cannot take must not hide the rest of the page
    own, own_pos = None, None
    st.warning(f"Your image could not be placed in the embedding: {e}")

st.caption(f"{len(pts)} images ({pts.source}) · layer **{layer}** → {feats.dims} values per image "
           f"({feats.pooling}) · {emb.note} · {emb.seconds:.1f} s when computed")

# ============================================================================ 1. scatter
st.header("1. The embedding", divider="gray")
if color_by == "label":
    groups, names = labels, pts.classes
else:
    groups, names = preds, m.classes
uniq = [int(g) for g in np.unique(groups) if g >= 0]
if len(uniq) > 20:  # ImageNet predictions: colour the 19 most frequent, the rest grey
    counts = {g: int((groups == g).sum()) for g in uniq}
    uniq = sorted(uniq, key=lambda g: -counts[g])[:19]
    groups = np.where(np.isin(groups, uniq), groups, -1)
if (groups < 0).any():
    uniq = uniq + [-1]  # unlabelled images (a flat folder) or the rarer predicted classes, in grey
palette = pc.qualitative.Plotly + pc.qualitative.Dark24


def _name(g: int) -> str:
    return ("other" if color_by == "prediction" else "unlabelled") if g < 0 else names[g] if g < len(names) else str(g)


def _pct(v: float) -> str:
    return "—" if v != v else f"{v:.1%}"  # NaN: no labels to score against


def _hover(i: int) -> str:
    true = pts.classes[labels[i]] if labels[i] >= 0 else "?"
    pred = m.classes[preds[i]] if preds[i] < len(m.classes) else str(preds[i])
    return f"#{i}<br>label: {true}<br>predicted: {pred}" + ("<br><b>misclassified</b>" if wrong[i] else "")


P = emb.points
big = len(P) > 4000
fig = go.Figure()
for gi, g in enumerate(uniq):
    sel = np.flatnonzero(groups == g)
    col = "#AAAAAA" if g < 0 else palette[(g if len(names) <= len(palette) else gi) % len(palette)]
    symbols = np.where(wrong[sel], "x", "circle")
    base = 4 if big else 7
    marker = dict(color=col, size=np.where(wrong[sel], base + 4, base), symbol=symbols, line=dict(width=0))
    hover = [_hover(i) for i in sel]
    if dim == 2:
        Trace = go.Scattergl if big else go.Scatter
        fig.add_trace(Trace(x=P[sel, 0], y=P[sel, 1], mode="markers", name=_name(g), marker=marker,
                            customdata=sel, hovertext=hover, hovertemplate="%{hovertext}<extra></extra>"))
    else:
        fig.add_trace(go.Scatter3d(x=P[sel, 0], y=P[sel, 1], z=P[sel, 2], mode="markers", name=_name(g),
                                   marker=dict(color=col, size=np.where(wrong[sel], 5, 3), symbol=symbols),
                                   customdata=sel, hovertext=hover,
                                   hovertemplate="%{hovertext}<extra></extra>"))
if own_pos is not None:
    star = dict(size=22, symbol="star" if dim == 2 else "diamond", color="black", line=dict(color="white", width=2))
    if dim == 2:
        fig.add_trace(go.Scatter(x=[own_pos[0]], y=[own_pos[1]], mode="markers", name="your image", marker=star,
                                 hovertemplate=f"your image ({ctx.image_label})<extra></extra>"))
    else:
        fig.add_trace(go.Scatter3d(x=[own_pos[0]], y=[own_pos[1]], z=[own_pos[2]], mode="markers", name="your image",
                                   marker=dict(size=8, color="black", symbol="diamond"),
                                   hovertemplate="your image<extra></extra>"))
fig.update_layout(height=640, font=FONT, margin=dict(l=10, r=10, t=30, b=10), legend=dict(itemsizing="constant"),
                  title=f"{em.METHOD_TITLES[method]} of {layer}" + (" — × misclassified" if can_mark and wrong.any() else ""))
if dim == 2:
    fig.update_yaxes(scaleanchor="x", scaleratio=1, showticklabels=method == "pca")
    fig.update_xaxes(showticklabels=method == "pca")

left, right = st.columns([3, 1])
with left:
    if dim == 2:
        event = st.plotly_chart(fig, width="stretch", key="em_scatter", on_select="rerun",
                                selection_mode=("points", "box", "lasso"))
    else:
        st.plotly_chart(fig, width="stretch", key="em_scatter3d")
        event = None
picked = []
if event is not None:
    for p in (event.selection.points if hasattr(event, "selection") else event.get("selection", {}).get("points", [])):
        cd = p.get("customdata")
        if isinstance(cd, list):
            cd = cd[0] if cd else None
        if cd is not None:
            picked.append(int(cd))
with right:
    if len(picked) == 1:
        i = picked[0]
        show_image(pts.images[i], caption=f"#{i}", min_side=168, width=200)
        st.markdown(f"**label:** {pts.classes[labels[i]] if labels[i] >= 0 else '?'}  \n"
                    f"**predicted:** {m.classes[preds[i]]}" + ("  \n:red[**misclassified**]" if wrong[i] else ""))
        idx, dist = em.nearest_neighbours(feats.values, feats.values[i], k=6)
        st.caption("Its nearest neighbours in feature space (distance):")
        cols = st.columns(3)
        for j, (a, d) in enumerate(zip(idx[1:], dist[1:])):
            show_image(pts.images[a], caption=f"#{a} · {d:.2f}", min_side=56, container=cols[j % 3], width="stretch")
    elif picked:
        show = picked[:64]
        rows, cols_ = em.grid_shape(len(show))
        st.image(em.grid_image(pts.images[show], np.arange(len(show)), rows, cols_), width=min(280, 28 * cols_ * 2),
                 caption=f"{len(picked)} selected" + (" (first 64 shown)" if len(picked) > 64 else ""))
        counts = {}
        for i in picked:
            counts[_name(groups[i])] = counts.get(_name(groups[i]), 0) + 1
        st.markdown("  \n".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:10]))
    else:
        st.info("Click a point to see its image and neighbours; drag a box or lasso (toolbar) to see a group."
                if dim == 2 else "Rotate with the mouse. Selecting points works in the 2D view.")
    st.metric("kNN accuracy (k=10)", _pct(em.knn_accuracy(P, labels)),
              help="Leave-one-out: how often the 10 nearest points in the picture mostly share a point's true label.")
    if can_mark:
        st.metric("Misclassified by the model", f"{int(wrong.sum())} of {int(known.sum())}")

# ============================================================================ 2. grid
st.header("2. The image grid", divider="gray")
g1, g2 = st.columns([1, 2])
side_max = max(4, min(32, math.isqrt(len(pts)) + 1))  # the assignment is O(cells³): 32×32 takes about a second
side = state.slider("Grid side (cells per row)", "em_grid", 4, side_max, min(side_max, 24), container=g1,
                    help="The embedding is snapped to a side × side grid by a linear assignment (each cell gets "
                         "one image, the total move is as small as possible).")
n_cells = side * side
pick = np.arange(len(pts)) if len(pts) <= n_cells else np.sort(np.random.default_rng(seed).permutation(len(pts))[:n_cells])
rows = math.ceil(len(pick) / side)
cells = cached((m.key, pts_key, layer, pooling, method, dim, perplexity, n_neighbors, "grid", side), "Snapping to the grid",
               lambda p: em.snap_to_grid(P[pick, :2], rows, side))
grid = em.grid_image(pts.images[pick], cells, rows, side, pad=1)
g2.markdown(f"Each image moved to the grid cell nearest its place in the {em.METHOD_TITLES[method]} picture above "
            f"(scipy's `linear_sum_assignment`: every cell one image, least total movement). "
            f"{len(pick)} of {len(pts)} images in {rows}×{side} cells"
            + (" (a seeded random subset)" if len(pick) < len(pts) else "")
            + (". From the first two of the three dimensions." if dim == 3 else "."))
show_image(grid, min_side=2 * min(grid.shape[:2]), width="stretch",
           caption=f"{em.METHOD_TITLES[method]} of {layer}, snapped to a grid")

# ============================================================================ 3. your image
st.header("3. Your image among them", divider="gray")
if own is not None:
    y1, y2 = st.columns([1, 3])
    show_image(m.deprocess(x_img), caption=ctx.image_label, min_side=140, container=y1, width=160)
    pred_own = m.classes[int(own.predictions[0])]
    y1.markdown(f"**predicted:** {pred_own}")
    if own_pos is not None:
        y1.caption("The black star in the scatter above. " + {
            "pca": "PCA places it exactly (the same linear projection).",
            "tsne": "Placed by openTSNE's transform: it starts at the median of its nearest reference points and is "
                    "optimised against the fixed embedding (the reference points do not move).",
            "umap": "Placed by UMAP's transform against the fixed embedding."}[method])
    k_nn = state.slider("Neighbours", "em_k", 3, 24, 8, container=y2)
    idx, dist = em.nearest_neighbours(feats.values, own.values[0], k=k_nn)
    y2.markdown(f"Its **{k_nn} nearest neighbours in feature space** ({layer}, Euclidean distance): "
                f"{sum(1 for a in idx if labels[a] >= 0 and pts.classes[labels[a]] == pred_own)} of {k_nn} have the "
                "class the model predicts for your image.")
    ncol = 8
    for r0 in range(0, len(idx), ncol):
        cols = y2.columns(ncol)
        for j, (a, d) in enumerate(zip(idx[r0:r0 + ncol], dist[r0:r0 + ncol])):
            lab = pts.classes[labels[a]] if labels[a] >= 0 else "?"
            show_image(pts.images[a], caption=f"{lab} · d={d:.2f}", min_side=84, container=cols[j], width="stretch")

# ============================================================================ 4. layers compared
st.header("4. Do the features get more abstract? Layers compared", divider="gray")
h1, h2 = st.columns([3, 1])
cmp_layers = state.multiselect("Layers", "em_clayers", layers, em.comparison_layers(m), container=h1,
                               format_func=_layer_label)
cmp_method = state.select("Method", "em_cmethod", list(em.METHODS), "pca", container=h2,
                          format_func=lambda s: em.METHOD_TITLES[s],
                          help="PCA by default: fast. t-SNE shows the clusters better and takes longer per layer.")
if not cmp_layers:
    st.info("Pick at least one layer to compare.")
else:
    views = []
    try:
        for name in cmp_layers[:6]:
            fe = features_for(name)
            e2 = emb if (name == layer and cmp_method == method and dim == 2) else embedding_for(name, cmp_method, 2)
            scores = cached((m.key, pts_key, name, pooling, cmp_method, perplexity, n_neighbors, "scores"),
                            f"Scoring {name}",
                            lambda p, fe=fe, e2=e2: (em.knn_accuracy(e2.points, labels), em.knn_accuracy(fe.values, labels),
                                                     em.trustworthiness(fe.values, e2.points)))
            views.append((name, fe, e2, scores))
    except (ValueError, KeyError, RuntimeError, MemoryError) as e:
        st.error(f"Cannot compare layers: {e}")
    st.caption("Colours: true labels (legend of the scatter above when it is coloured by label). "
               "kNN accuracy: leave-one-out 10-nearest-neighbour vote, in the 2D picture and in the full feature "
               "space; trustworthiness: are the picture's neighbours true neighbours?"
               + (" The first 6 layers are shown." if len(cmp_layers) > 6 else ""))
    cols = st.columns(max(1, len(views)))
    for col, (name, fe, e2, (acc_e, acc_f, trust)) in zip(cols, views):
        f2 = go.Figure()
        for gi, g in enumerate(np.unique(labels)):
            sel = labels == g
            f2.add_trace(go.Scattergl(x=e2.points[sel, 0], y=e2.points[sel, 1], mode="markers",
                                      marker=dict(size=3, color="#AAAAAA" if g < 0 else palette[int(g) % len(palette)]),
                                      showlegend=False,
                                      hoverinfo="skip"))
        f2.update_layout(height=300, margin=dict(l=5, r=5, t=40, b=5), font=FONT,
                         title=dict(text=f"{name}<br><sup>{fe.dims} values</sup>", font=dict(size=15)))
        f2.update_xaxes(showticklabels=False)
        f2.update_yaxes(showticklabels=False)
        col.plotly_chart(f2, width="stretch", key=f"em_cmp_{name}")
        col.metric("kNN accuracy, embedding", _pct(acc_e))
        col.metric("kNN accuracy, features", _pct(acc_f))
        col.metric("Trustworthiness", f"{trust:.3f}", help="1.0: every neighbour in the picture is a true neighbour "
                   "in feature space (scikit-learn's trustworthiness, k=10, on up to 2000 points).")

st.header("What to notice", divider="gray")
st.markdown(
    "- **Pixels vs. deep layers.** In pixel space, digits that are drawn alike (4/9, 3/5/8) or clothes of the same "
    "shape (shirt, pullover, coat) overlap. At the last layers the clusters are compact and the kNN accuracy "
    "rises: the network has learned features in which the classes are (nearly) linearly separable.\n"
    "- **Untrained network.** Switch on *Untrained* in the sidebar: random features keep much of the pixel "
    "structure but do not separate the classes much better, so the separation above is learned.\n"
    "- **Misclassified points (×)** usually sit inside the cluster of the class the model predicted, or on a border.\n"
    "- **t-SNE distances between clusters mean little**: only neighbourhoods are kept, and cluster sizes are equalised. "
    "UMAP keeps a little more global structure; PCA keeps all of it but only linearly.\n"
    "- **Perplexity** changes the picture: small values shatter clusters into islands, large ones merge them."
)
