"""cnnviz.methods.embeddings.reductions: PCA, t-SNE and UMAP, projection of new points, the warm-up."""
import numpy as np
import pytest
import torch

from cnnviz.methods.embeddings import EmbeddingError
from cnnviz.methods.embeddings.neighbours import knn_accuracy
from cnnviz.methods.embeddings.reductions import embed, fit_pca, warm_up

from .points import clusters, curves


@pytest.mark.parametrize("method,dim", [("pca", 2), ("pca", 3), ("tsne", 2), ("tsne", 3), ("umap", 2)])
def test_every_method_separates_well_separated_clusters(method, dim):
    x, y = clusters()
    emb = embed(torch.from_numpy(x), method, dim, seed=0, n_jobs=1)
    assert emb.points.shape == (len(x), dim)
    assert np.isfinite(emb.points).all()
    assert knn_accuracy(emb.points, y, k=10) >= 0.99


def test_progress_is_reported_in_order():
    x, _ = clusters(per=30)
    seen = []
    embed(torch.from_numpy(x), "tsne", 2, n_jobs=1, progress=lambda f, t: seen.append(f))
    assert len(seen) >= 10 and seen == sorted(seen) and seen[-1] == 1.0


def test_bad_arguments_say_what_to_do():
    x, _ = clusters(per=10)
    with pytest.raises(ValueError, match="method must be one of"):
        embed(torch.from_numpy(x), "isomap")
    with pytest.raises(ValueError, match="dim must be 2 or 3"):
        embed(torch.from_numpy(x), "pca", 4)
    with pytest.raises(ValueError, match="at least 5 points"):
        embed(torch.zeros(3, 4), "pca")
    with pytest.raises(EmbeddingError, match="choose more points"):
        embed(torch.zeros(3, 4), "pca")


def test_pca_embedding_of_one_feature_is_padded_with_zeros():
    emb = embed(torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]]), "pca", 2)
    np.testing.assert_allclose(emb.points, [[-2, 0], [-1, 0], [0, 0], [1, 0], [2, 0]], atol=1e-6)
    assert emb.note == "PCA: the 2 directions of largest variance (100% of it)"


# ---------------------------------------------------------------------------------- PCA
def test_pca_hand_worked_line():
    # three points on the x axis: one component (1, 0) carries all the variance
    p = fit_pca(torch.tensor([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]]), 1)
    assert torch.allclose(p.mean, torch.tensor([2.0, 0.0]))
    assert torch.allclose(p.components, torch.tensor([[1.0, 0.0]]))
    assert p.explained_variance_ratio.item() == pytest.approx(1.0)
    assert torch.allclose(p.transform(torch.tensor([[5.0, 7.0]])), torch.tensor([[3.0]]))


@pytest.mark.parametrize("n,d", [(200, 30), (30, 200), (700, 600)])  # covariance, Gram, randomized
def test_pca_matches_numpy_svd(n, d):
    rng = np.random.default_rng(0)
    scale = np.array([5, 4, 3, 2, 1] @ np.ones((5, d)) / 5)
    x = (rng.normal(size=(n, 5)) @ rng.normal(size=(5, d)) * scale).astype(np.float32)
    x += rng.normal(0, 0.01, x.shape).astype(np.float32)
    p = fit_pca(torch.from_numpy(x), 3)
    xc = x - x.mean(0)
    _u, s, vt = np.linalg.svd(xc.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(np.abs(p.components.numpy() @ vt[:3].T), np.eye(3), atol=1e-3)
    np.testing.assert_allclose(p.explained_variance_ratio.numpy(), (s[:3] ** 2) / (s ** 2).sum(), rtol=1e-3)


# --------------------------------------------------------------------------- projection
@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_projected_point_from_the_set_lands_on_itself(method):
    x, y = curves()
    feats = torch.from_numpy(x)
    emb = embed(feats, method, 2, seed=0, n_jobs=1)
    picks = [3, 77, 120]
    proj = emb.project(feats[picks])
    assert proj.shape == (3, 2)
    if method == "pca":
        np.testing.assert_allclose(proj, emb.points[picks], atol=1e-4)
    for row, i in zip(proj, picks, strict=True):
        d = np.linalg.norm(emb.points - row, axis=1)
        own = np.linalg.norm(emb.points[y == y[i]] - emb.points[i], axis=1)
        assert i in np.argsort(d)[:10], f"{method}: point {i} projected far from itself"
        assert d[i] < np.median(own), "closer to itself than to the typical member of its cluster"
        assert y[np.argsort(d)[:5]].tolist().count(y[i]) == 5  # inside its own cluster


def test_placing_a_point_after_a_tsne_reports_nothing_to_the_fits_progress():
    """openTSNE's transform runs the fit's optimiser with the fit's callbacks: in the app they redrew the
    finished progress bar of the embedding while your image was being placed."""
    x, _ = curves()
    reports = []
    emb = embed(torch.from_numpy(x), "tsne", 2, seed=0, n_jobs=1, progress=lambda f, t: reports.append(t))
    done = len(reports)
    emb.project(torch.from_numpy(x[:2]))
    assert len(reports) == done and reports[-1] == "done"


def test_warm_up_never_raises_and_leaves_umap_cached_on_disk():
    import umap.umap_
    from numba.core.dispatcher import Dispatcher

    warm_up()
    fn = umap.umap_.smooth_knn_dist
    assert isinstance(fn, Dispatcher) and type(fn._cache).__name__ != "NullCache"


def test_a_failed_warm_up_is_logged_not_raised(monkeypatch, caplog):
    from cnnviz.methods.embeddings import reductions

    def no_umap():
        raise OSError("no space left on device")

    monkeypatch.setattr(reductions, "umap_module", no_umap)
    warm_up()  # does not raise
    assert "embeddings warm-up failed (OSError: no space left on device)" in caplog.text
    assert "Traceback" in caplog.text  # the whole traceback is in the log
