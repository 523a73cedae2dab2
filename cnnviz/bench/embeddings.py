"""t-SNE of 10,000 real 512-d CNN features: ours (PCA to 100 + openTSNE) vs scikit-learn's TSNE defaults.

Features: the bundled Fashion-MNIST model ("small-vgg-fashion", trained), last convolutional block
(features.16, 128 x 7 x 7) average-pooled to 128 x 2 x 2 = 512 values per image, for 10,000 images
of the bundled train+test splits. Both embeddings are scored by kNN preservation against the
512-d input (the fraction of each point's 10 nearest neighbours that stay among its 10 nearest in
the embedding), and by kNN class accuracy.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch.nn import functional as F

from cnnviz.bench import Options, Result, entry, median_time
from cnnviz.core.model import load_model
from cnnviz.methods import embeddings as em


def real_features(n: int, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """[n, 512] features of the bundled Fashion-MNIST model and their labels."""
    m = load_model("small-vgg-fashion", device=device)
    pts = em.load_points("fashion-mnist", "train+test", n, seed=0)
    f = em.extract_features(m, pts.images, "features.16", "flatten", batch_size=500)
    maps = f.values.view(len(f.values), *f.layer_shape)
    return F.adaptive_avg_pool2d(maps, 2).flatten(1), pts.labels


@entry("embeddings")
def tsne_vs_sklearn(opts: Options) -> list[Result]:
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = 300 if opts.quick else 10_000
    x, labels = real_features(n, opts.device)
    xn = x.cpu().numpy()
    threads = em.idle_threads()

    t0 = time.perf_counter()
    ours = em.embed(x, "tsne", 2, seed=0, n_jobs=threads)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    with threadpool_limits(threads):  # the same threads for both (scikit-learn's gradient uses OpenMP)
        theirs = TSNE(random_state=0).fit_transform(xn)
    t_sk = time.perf_counter() - t0

    keep_ours, keep_sk = em.knn_preservation(x, ours.points, 10), em.knn_preservation(x, theirs, 10)
    acc_ours, acc_sk = em.knn_accuracy(ours.points, labels), em.knn_accuracy(theirs, labels)
    what = f"{n} x {x.shape[1]} small-vgg features"
    return [
        Result(f"t-SNE time, {what}", t_ours, unit="s", baseline="scikit-learn TSNE() defaults",
               baseline_value=t_sk, ratio=t_ours / t_sk, target="<= 0.5",
               note=f"ours: {ours.note}; {threads} thread(s) for both; one run each"),
        Result("t-SNE kNN preservation (k=10)", keep_ours, unit="", baseline="scikit-learn TSNE() defaults",
               baseline_value=keep_sk, ratio=keep_ours / keep_sk, target=">= 1.0 (no worse)",
               note="fraction of each point's 10 input-space neighbours kept in the 2D embedding"),
        Result("t-SNE kNN class accuracy (k=10)", acc_ours, unit="", baseline="scikit-learn TSNE() defaults",
               baseline_value=acc_sk, ratio=acc_ours / acc_sk, target="info",
               note=f"kNN accuracy of the 512-d features themselves: {em.knn_accuracy(x, labels):.3f}"),
    ]


@entry("embeddings")
def grid_snapping(opts: Options) -> list[Result]:
    """Linear assignment of N points to an N-cell grid (scipy's linear_sum_assignment)."""
    side = 10 if opts.quick else 32
    pts = np.random.default_rng(0).normal(size=(side * side, 2))
    t = median_time(lambda: em.snap_to_grid(pts, side, side), torch.device("cpu"),
                    repeat=3 if opts.quick else 5, warmup=1)
    return [Result(f"grid snap {side * side} points to {side}x{side}", t, note="scipy.optimize.linear_sum_assignment")]
