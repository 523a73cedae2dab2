"""Embeddings of a layer's features: PCA, t-SNE and UMAP, image grids, nearest neighbours.

The pipeline, as in Karpathy's "t-SNE of CNN codes" and TensorBoard's Embedding Projector, one module per step:

* :mod:`.sources`: the images (:func:`load_points` from a bundled data set, :func:`load_image_folder`,
  :func:`load_source`) as a :class:`PointSet`.
* :mod:`.features`: :func:`extract_features` / :func:`extract_layers` run them through the model in batches on
  its device and keep a layer's output per image (``"pixels"``: the normalised input, the baseline), maps
  flattened or average-pooled (:func:`pool_features`); :func:`cached_features` shares them.
* :mod:`.reductions`: :func:`embed` reduces them to 2 or 3 dimensions (PCA; t-SNE by openTSNE and UMAP after
  a PCA to 100 dimensions); :meth:`Embedding.project` places your image into an existing embedding.
* :mod:`.neighbours`: :func:`nearest_neighbours`, and the scores :func:`knn_accuracy`,
  :func:`knn_preservation`, :func:`trustworthiness`.
* :mod:`.grid`: :func:`snap_to_grid` (the image grid).
* :mod:`.comparison`: :func:`compare_layers`, the same points at several layers, scored.

No Streamlit and no page text here (that is :mod:`cnnviz.text.embeddings`): every step is one call in a notebook.

Examples::

    >>> m = load_model("lenet5-mnist")
    >>> pts = load_points("mnist", "test", 500)
    >>> feats = extract_features(m, pts.images, "classifier.4")
    >>> emb = embed(feats.values, "tsne")
    >>> knn_accuracy(emb.points, pts.labels) > 0.9
    True
"""
from __future__ import annotations

from cnnviz.methods.embeddings.comparison import LayerView, compare_layers, layer_view
from cnnviz.methods.embeddings.errors import EmbeddingError, FeaturesTooLarge
from cnnviz.methods.embeddings.features import (
    MAX_AUTO_DIMS,
    MAX_FEATURE_BYTES,
    PIXELS,
    POOLINGS,
    Features,
    cached_features,
    comparison_layers,
    extract_features,
    extract_layers,
    feature_layers,
    layer_shapes,
    penultimate_layer,
    pool_features,
)
from cnnviz.methods.embeddings.grid import grid_shape, grid_subset, snap_to_grid
from cnnviz.methods.embeddings.neighbours import (
    knn_accuracy,
    knn_preservation,
    nearest_neighbours,
    trustworthiness,
)
from cnnviz.methods.embeddings.reductions import METHODS, PCA, Embedding, embed, fit_pca, idle_threads, warm_up
from cnnviz.methods.embeddings.sources import (
    FOLDER,
    IMAGE_SUFFIXES,
    MAX_FOLDER_POINTS,
    SPLIT_SIZES,
    SPLITS,
    PointSet,
    colour_groups,
    load_image_folder,
    load_points,
    load_source,
    misclassified,
    source_choices,
    source_size,
)

__all__ = [
    # sources
    "SPLITS", "SPLIT_SIZES", "IMAGE_SUFFIXES", "FOLDER", "MAX_FOLDER_POINTS", "PointSet", "load_points",
    "load_image_folder", "source_choices", "source_size", "load_source", "misclassified", "colour_groups",
    # features
    "PIXELS", "POOLINGS", "MAX_AUTO_DIMS", "MAX_FEATURE_BYTES", "Features", "feature_layers", "layer_shapes",
    "comparison_layers", "penultimate_layer", "pool_features", "extract_features", "extract_layers",
    "cached_features",
    # reductions
    "METHODS", "PCA", "fit_pca", "Embedding", "embed", "idle_threads", "warm_up",
    # neighbours
    "nearest_neighbours", "knn_accuracy", "knn_preservation", "trustworthiness",
    # grid
    "grid_shape", "snap_to_grid", "grid_subset",
    # comparison
    "LayerView", "layer_view", "compare_layers",
    # errors
    "EmbeddingError", "FeaturesTooLarge",
]
