"""The same points embedded at several layers, each scored: do the features get more abstract with depth?

Examples::

    >>> views = compare_layers(m, load_points("mnist", "test", 500))
    >>> [v.layer for v in views]
    ['pixels', 'features.2', 'features.5', 'classifier.4']
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnviz.core.model import ModelHandle
from cnnviz.core.runtime import Progress, report
from cnnviz.methods.embeddings.features import Features, comparison_layers, extract_layers
from cnnviz.methods.embeddings.neighbours import knn_accuracy, trustworthiness
from cnnviz.methods.embeddings.reductions import Embedding, embed
from cnnviz.methods.embeddings.sources import PointSet


@dataclass
class LayerView:
    """One layer of the comparison: its embedding and how well classes separate there."""

    layer: str
    embedding: Embedding
    knn_accuracy_embedding: float
    knn_accuracy_features: float
    trustworthiness: float


def layer_view(feats: Features, labels: np.ndarray, method: str = "pca", dim: int = 2, k: int = 10, seed: int = 0,
               progress: Progress | None = None, embedding: Embedding | None = None, **kw) -> LayerView:
    """Embed one layer's features and score it (kNN accuracy in the embedding and in feature space,
    trustworthiness). ``embedding``: score this existing embedding of ``feats`` instead of making one;
    ``kw``: passed to :func:`~cnnviz.methods.embeddings.reductions.embed`."""
    emb = embedding or embed(feats.values, method, dim, seed=seed, progress=progress, **kw)
    return LayerView(feats.layer, emb, knn_accuracy(emb.points, labels, k), knn_accuracy(feats.values, labels, k),
                     trustworthiness(feats.values, emb.points, k))


def share_of(progress: Progress | None, i: int, n: int, what: str) -> Progress | None:
    """The progress of part ``i`` of ``n``: its fraction mapped into [i/n, (i+1)/n], its text after ``what``."""
    if progress is None:
        return None
    return lambda fraction, text: report(progress, (i + fraction) / n, f"{what}: {text}")


def compare_layers(m: ModelHandle, points: PointSet, layers: Sequence[str] | None = None, method: str = "pca",
                   dim: int = 2, pooling: str = "auto", seed: int = 0,
                   progress: Progress | None = None) -> list[LayerView]:
    """The same points embedded at several layers (default :func:`comparison_layers`), each scored.

    Examples::

        >>> views = compare_layers(m, load_points("mnist", "test", 500))
        >>> [round(v.knn_accuracy_embedding, 2) for v in views]   # pixels ... last layer: rising
    """
    layers = list(dict.fromkeys(layers or comparison_layers(m)))
    feats = extract_layers(m, points.inputs, layers, pooling)  # one forward pass per batch for all layers
    return [layer_view(feats[name], points.labels, method, dim, seed=seed,
                       progress=share_of(progress, i, len(layers), name))
            for i, name in enumerate(layers)]


__all__ = ["LayerView", "layer_view", "share_of", "compare_layers"]
