"""Features reduced to 2 or 3 dimensions: PCA on the device, t-SNE (openTSNE) and UMAP (umap-learn).

:func:`embed` reduces [N, D] features: PCA directly; t-SNE and UMAP after a PCA pre-reduction to 100
dimensions (standard practice is 50; 100 kept neighbourhoods as well as scikit-learn's TSNE on raw 512-d
features, 50 lost 1-2%). :meth:`Embedding.project` places new points (your image) into an existing embedding:
exactly for PCA, by openTSNE's ``TSNEEmbedding.transform`` and UMAP's ``transform`` (optimisation against the
fixed reference points) otherwise. :func:`warm_up` pays the libraries' first-use costs ahead of time.

Examples::

    >>> emb = embed(torch.randn(300, 20), "pca", 2)
    >>> emb.points.shape, emb.method
    ((300, 2), 'pca')
"""
from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cnnviz.core.runtime import Progress, report
from cnnviz.errors import foreign
from cnnviz.methods.embeddings.errors import EmbeddingError, WarmUpFailed

log = logging.getLogger(__name__)

METHODS = ("pca", "tsne", "umap")
TSNE_EARLY_ITERATIONS, TSNE_ITERATIONS, TSNE_REPORT_EVERY = 250, 500, 25
FFT_FROM_POINTS = 10_000  # openTSNE's FFT gradients from this many points (2D only), Barnes-Hut below


# ------------------------------------------------------------------------------------ PCA
@dataclass
class PCA:
    """A fitted principal component analysis (tensors on the features' device).

    Attributes:
        mean: [D] the centre.
        components: [k, D] orthonormal directions, largest variance first.
        explained_variance_ratio: [k] share of the total variance along each component.
    """

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance_ratio: torch.Tensor

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Coordinates [N, k] of points [N, D] (exact for new points too)."""
        return (x.to(self.mean.device).float() - self.mean) @ self.components.T


def fit_pca(x: torch.Tensor, k: int, seed: int = 0) -> PCA:
    """PCA of [N, D] points on their device.

    Exact (an eigen-decomposition of the smaller of the D x D covariance and the N x N Gram matrix,
    in float64) when that side is at most 512, else torch's randomized ``pca_lowrank`` (Halko et al.,
    k + 20 columns, 6 power iterations: a full eigen-decomposition of a 1176 x 1176 covariance
    measured 25 s on a busy 2-core machine, the randomized one well under a second). Each
    component's sign is fixed (largest loading positive) so results are reproducible.

    Examples::

        >>> p = fit_pca(torch.tensor([[0., 0], [2, 0], [4, 0]]), 1)
        >>> p.components.abs().tolist(), p.explained_variance_ratio.tolist()
        ([[1.0, 0.0]], [1.0])
    """
    x = x.float()
    n, d = x.shape
    k = max(1, min(int(k), n, d))
    mean = x.mean(0)
    xc = x - mean
    total = xc.pow(2).sum().clamp_min(1e-30)
    if min(n, d) <= 512:
        if d <= n:
            evals, evecs = torch.linalg.eigh((xc.T @ xc).double())
            comps = evecs.flip(1)[:, :k].T.float()
            var = evals.flip(0)[:k].clamp_min(0).float()
        else:
            evals, evecs = torch.linalg.eigh((xc @ xc.T).double())
            evals, evecs = evals.flip(0)[:k].clamp_min(0), evecs.flip(1)[:, :k]
            comps = (xc.double().T @ evecs / evals.sqrt().clamp_min(1e-12)).T.float()
            var = evals.float()
    else:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            _u, s, v = torch.pca_lowrank(xc, q=min(k + 20, n, d), center=False, niter=6)
        comps, var = v[:, :k].T, s[:k].pow(2)
    sign = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * torch.where(sign == 0, torch.ones_like(sign), sign)
    return PCA(mean, comps, (var / total.float()).clamp(0, 1))


# ------------------------------------------------------------------------------------ the embedding
@dataclass
class Embedding:
    """Points in 2 or 3 dimensions, and what is needed to add new points.

    Attributes:
        method: ``"pca"``, ``"tsne"`` or ``"umap"``.
        points: float32 [N, dim] (NumPy, for plotting).
        pca: the PCA that is the embedding (method "pca") or the pre-reduction (None if none).
        seconds: wall time of the fit.
        note: how it was made (library, parameters), plain text for captions and benchmark notes.
    """

    method: str
    points: np.ndarray
    pca: PCA | None
    seconds: float
    note: str
    _model: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])

    def project(self, features: torch.Tensor) -> np.ndarray:
        """Place new points (features [k, D] of the same layer and pooling) into this embedding.

        PCA: exact. t-SNE: openTSNE's ``transform`` (each new point starts at the median of its
        nearest reference points and is optimised against the fixed embedding). UMAP: umap-learn's
        ``transform``.
        """
        f = features.reshape(len(features), -1).float()
        if self.method == "pca":
            return self.pca.transform(f).cpu().numpy()
        z = (self.pca.transform(f) if self.pca is not None else f).cpu().numpy().astype(np.float64)
        with self._lock:  # the fitted models are shared between sessions and not thread-safe
            if self.method == "tsne":
                proj = np.asarray(self._model.transform(z), dtype=np.float64)
                # guard against the reference frame moving (see fit_tsne): undo any translation
                proj -= np.asarray(self._model).mean(0) - self.points.mean(0, dtype=np.float64)
                return proj.astype(np.float32)
            return np.asarray(self._model.transform(z.astype(np.float32)), dtype=np.float32)


# ------------------------------------------------------------------------------------ the libraries
_UMAP_LOCK = threading.Lock()
_UMAP_READY = False
_UMAP_MODULES = ("umap.umap_", "umap.utils", "umap.layouts", "umap.distances", "umap.sparse", "umap.spectral")


def umap_module():
    """umap-learn (a slow import, done on first use), with its numba functions cached on disk.

    umap-learn compiles its functions with numba on first use, in every process, without numba's disk cache:
    the first UMAP of a server took 14-48 s on 2 busy cores (``smooth_knn_dist`` alone 10 s), the next ones
    2-5 s. With the cache switched on (``Dispatcher.enable_caching``, numba's own mechanism, keyed by the
    source file, so an upgrade of umap-learn recompiles), a machine compiles once; a later process loads the
    compiled code in about a second.
    """
    global _UMAP_READY
    import umap

    with _UMAP_LOCK:
        if not _UMAP_READY:
            from numba.core.dispatcher import Dispatcher

            for name in _UMAP_MODULES:
                try:
                    mod = importlib.import_module(name)
                except ImportError:
                    continue
                for obj in list(vars(mod).values()):
                    if isinstance(obj, Dispatcher) and type(obj._cache).__name__ == "NullCache":
                        try:
                            obj.enable_caching()
                        # numba raises RuntimeError (no cache locator) or OSError (no writable directory); the
                        # cache is only a speed-up, so log it and compile as before
                        except (RuntimeError, OSError) as e:
                            log.info("numba disk cache unavailable for %s.%s: %s", name, obj.__name__, e)
            _UMAP_READY = True
    return umap


def warm_up() -> None:
    """Import openTSNE (and the neighbour search it uses from 1,000 points) and umap-learn, and fit one small
    UMAP: the numba code is compiled (first time on a machine) or loaded from the disk cache, so the first
    t-SNE or UMAP a user asks for does not wait for it. Meant for a background thread; never raises: a failure is
    logged with its traceback (nobody would see it raised there), and the real call reports its own errors."""
    try:
        with foreign(WarmUpFailed, "embeddings warm-up failed ({why}); the first t-SNE or UMAP will pay for it"):
            import openTSNE  # noqa: F401

            try:
                import pynndescent  # noqa: F401
            except ImportError:
                pass
            z = np.random.default_rng(0).normal(size=(300, 20)).astype(np.float32)
            umap_module().UMAP(n_components=2, n_neighbors=15, random_state=0, n_jobs=1,
                               init="spectral").fit_transform(z)
    except WarmUpFailed as e:
        log.warning("%s", e)


def idle_threads() -> int:
    """Threads for openTSNE: the cores not already busy (by the 1-minute load average).

    openTSNE's worker threads spin; on oversubscribed cores 2 threads measured 4x slower than 1.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = int(os.getloadavg()[0])
    except (OSError, AttributeError):
        busy = 0
    return max(1, min(cores, cores - busy))


# ------------------------------------------------------------------------------------ one per method
def fit_pca_embedding(x: torch.Tensor, dim: int, seed: int) -> tuple[PCA, np.ndarray, str]:
    """PCA as the embedding: the fitted PCA, the points [N, dim] (zero-padded when D < dim), the note."""
    p = fit_pca(x, dim, seed)
    pts = p.transform(x).cpu().numpy()
    if pts.shape[1] < dim:  # fewer features than dimensions: pad with zeros
        pts = np.pad(pts, ((0, 0), (0, dim - pts.shape[1])))
    evr = p.explained_variance_ratio.sum().item()
    return p, pts.astype(np.float32), f"PCA: the {dim} directions of largest variance ({evr:.0%} of it)"


def fit_tsne(z: np.ndarray, dim: int, perplexity: float, seed: int, n_jobs: int | None,
             progress: Progress | None) -> tuple[Any, np.ndarray, str]:
    """openTSNE on [N, D] float64 points: the fitted ``TSNEEmbedding`` (centred), its points, the note."""
    from openTSNE import TSNE

    n = len(z)
    perp = float(max(2.0, min(perplexity, (n - 1) / 3)))
    total = TSNE_EARLY_ITERATIONS + TSNE_ITERATIONS
    # Barnes-Hut below 10,000 points (openTSNE's own rule: the FFT grid grows with the
    # embedding's extent, and measured 15x slower than BH on 240 well-separated points)
    grad = "fft" if dim == 2 and n >= FFT_FROM_POINTS else "bh"
    calls = [0]

    def on_iterations(iteration, error, embedding):  # called every TSNE_REPORT_EVERY iterations of each phase
        calls[0] += 1
        done = min(total, calls[0] * TSNE_REPORT_EVERY)
        report(progress, 0.1 + 0.9 * done / total, f"t-SNE iteration {done}/{total} (KL divergence {error:.2f})")
        return False

    report(progress, 0.05, f"t-SNE: nearest neighbours and affinities (perplexity {perp:.0f})")
    tsne = TSNE(n_components=dim, perplexity=perp, early_exaggeration_iter=TSNE_EARLY_ITERATIONS,
                n_iter=TSNE_ITERATIONS, negative_gradient_method=grad, n_jobs=n_jobs or idle_threads(),
                random_state=seed,
                # FFT grid: 1.5 units per interval instead of 1. Trained features spread to an extent of
                # ~150, where the default grid made the second phase 3x slower for a 1% gain in kNN
                # preservation (measured on 10,000 small-vgg features: 28.6 s vs 12.3 s, 0.398 vs 0.395)
                ints_in_interval=1.5, callbacks=on_iterations if progress is not None else None,
                callbacks_every_iters=TSNE_REPORT_EVERY, verbose=False)
    model = tsne.fit(z)
    # the fit's progress report ends here: placing a point later (Embedding.project: openTSNE's transform runs
    # the same optimiser) must not call it again (in the app it redrew a finished progress bar)
    model.gradient_descent_params["callbacks"] = None
    # openTSNE's transform re-centres the reference embedding on its bounding box, in place;
    # centre it that way now so that points and projections share one frame
    model -= (np.asarray(model).min(0) + np.asarray(model).max(0)) / 2
    gradients = "FFT" if grad == "fft" else "Barnes-Hut"
    return model, np.asarray(model, dtype=np.float32), f"t-SNE (openTSNE, perplexity {perp:.0f}, {gradients} gradients)"


def fit_umap(z: np.ndarray, dim: int, n_neighbors: int, min_dist: float, seed: int,
             progress: Progress | None) -> tuple[Any, np.ndarray, str]:
    """umap-learn on [N, D] float32 points: the fitted ``UMAP``, its points, the note."""
    n = len(z)
    k = int(max(2, min(n_neighbors, n - 1)))
    report(progress, 0.1, f"UMAP: neighbour graph (k={k}) and layout")
    model = umap_module().UMAP(n_components=dim, n_neighbors=k, min_dist=min_dist, random_state=seed, n_jobs=1,
                               init="spectral" if n > dim + 1 else "random")
    pts = np.asarray(model.fit_transform(z), dtype=np.float32)
    return model, pts, f"UMAP (umap-learn, {k} neighbours, min_dist {min_dist})"


def embed(features: torch.Tensor | np.ndarray, method: str = "tsne", dim: int = 2, *, pca_dims: int = 100,
          perplexity: float = 30.0, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0,
          n_jobs: int | None = None, progress: Progress | None = None) -> Embedding:
    """Embed [N, D] features in ``dim`` (2 or 3) dimensions.

    Args:
        features: the points (a tensor stays on its device for the PCA step).
        method: ``"pca"``; ``"tsne"`` (openTSNE: Barnes-Hut gradients, FFT-accelerated interpolation for
            2D with 10,000 points or more; chosen over scikit-learn's TSNE by measurement, see
            ``cnnviz.bench.embeddings``); ``"umap"`` (umap-learn).
        dim: 2 or 3.
        pca_dims: t-SNE and UMAP first reduce to this many principal components (the standard
            preprocessing: faster neighbour search, less noise; 100 rather than the usual 50, see the
            module docstring); 0 turns it off.
        perplexity: t-SNE's effective number of neighbours (lowered to (N-1)/3 for small N).
        n_neighbors, min_dist: UMAP's neighbourhood size and packing.
        seed: random seed (same seed, same picture).
        n_jobs: t-SNE threads (default :func:`idle_threads`).
        progress: called with (fraction done, message).

    Examples::

        >>> emb = embed(torch.randn(300, 20), "pca", 2)
        >>> emb.points.shape
        (300, 2)
    """
    if method not in METHODS:
        raise EmbeddingError(f"method must be one of {METHODS}, not {method!r}")
    if dim not in (2, 3):
        raise EmbeddingError(f"dim must be 2 or 3, not {dim}")
    x = torch.as_tensor(features).float()
    x = x.reshape(len(x), -1)
    if len(x) < 5:
        raise EmbeddingError(f"need at least 5 points to embed, got {len(x)}; choose more points")
    t0 = time.perf_counter()
    if method == "pca":
        p, pts, note = fit_pca_embedding(x, dim, seed)
        report(progress, 1.0, "PCA done")
        return Embedding("pca", pts, p, time.perf_counter() - t0, note)
    pre, z = None, x
    if pca_dims and x.shape[1] > pca_dims:
        report(progress, 0.02, f"PCA to {pca_dims} dimensions")
        pre = fit_pca(x, pca_dims, seed)
        z = pre.transform(x)
    z = z.cpu().numpy().astype(np.float64 if method == "tsne" else np.float32)
    if method == "tsne":
        model, pts, note = fit_tsne(z, dim, perplexity, seed, n_jobs, progress)
    else:
        model, pts, note = fit_umap(z, dim, n_neighbors, min_dist, seed, progress)
    report(progress, 1.0, "done")
    pre_note = f"PCA to {pca_dims} dims, then " if pre is not None else ""
    return Embedding(method, pts, pre, time.perf_counter() - t0, pre_note + note, model)


__all__ = ["METHODS", "PCA", "fit_pca", "Embedding", "umap_module", "warm_up", "idle_threads", "fit_pca_embedding",
           "fit_tsne", "fit_umap", "embed"]
