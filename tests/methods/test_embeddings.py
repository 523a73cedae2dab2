"""cnnviz.methods.embeddings: feature extraction, PCA/t-SNE/UMAP, grid snapping, projection, scores."""
import numpy as np
import pytest
import torch
from PIL import Image

from cnnviz.core.runtime import ResultCache
from cnnviz.methods.embeddings import (
    PIXELS,
    PointSet,
    cached_features,
    colour_groups,
    compare_layers,
    comparison_layers,
    embed,
    extract_features,
    extract_layers,
    feature_layers,
    fit_pca,
    grid_shape,
    grid_subset,
    hover_texts,
    knn_accuracy,
    knn_preservation,
    load_image_folder,
    load_points,
    misclassified,
    nearest_neighbours,
    pool_features,
    snap_to_grid,
    source_choices,
    source_size,
    trustworthiness,
)


def clusters(k=4, per=60, d=20, sep=30.0, seed=0):
    """k Gaussian blobs (sd 1) whose centres are ``sep`` apart along separate axes."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, (per, d)) + sep * np.eye(d)[c] for c in range(k)]).astype(np.float32)
    return x, np.repeat(np.arange(k), per)


def curves(k=3, per=50, d=20, sep=30.0, seed=0):
    """k well-separated line segments (length 10) with a little noise: clusters whose points have
    meaningful neighbours along the segment, unlike the structureless blobs above."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 10, per)[:, None]
    x = np.concatenate([sep * np.eye(d)[c] + t * np.eye(d)[(c + k) % d] + rng.normal(0, 0.05, (per, d))
                        for c in range(k)]).astype(np.float32)
    return x, np.repeat(np.arange(k), per)


# ------------------------------------------------------------------------------ methods
@pytest.mark.parametrize("method,dim", [("pca", 2), ("pca", 3), ("tsne", 2), ("tsne", 3), ("umap", 2)])
def test_every_method_separates_well_separated_clusters(method, dim):
    x, y = clusters()
    emb = embed(torch.from_numpy(x), method, dim, seed=0, n_jobs=1)
    assert emb.points.shape == (len(x), dim)
    assert np.isfinite(emb.points).all()
    assert knn_accuracy(emb.points, y, k=10) >= 0.99


def test_pixels_do_not_separate_random_labels_but_clusters_do():
    # the score itself can fail: random labels on one blob give chance-level accuracy
    x, y = clusters()
    rng = np.random.default_rng(1)
    assert knn_accuracy(x, rng.integers(0, 4, len(x)), k=10) < 0.5
    assert knn_accuracy(x, y, k=10) == 1.0


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
    x = (rng.normal(size=(n, 5)) @ rng.normal(size=(5, d)) * np.array([5, 4, 3, 2, 1] @ np.ones((5, d)) / 5)).astype(np.float32)
    x += rng.normal(0, 0.01, x.shape).astype(np.float32)
    p = fit_pca(torch.from_numpy(x), 3)
    xc = x - x.mean(0)
    _u, s, vt = np.linalg.svd(xc.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(np.abs(p.components.numpy() @ vt[:3].T), np.eye(3), atol=1e-3)
    np.testing.assert_allclose(p.explained_variance_ratio.numpy(), (s[:3] ** 2) / (s ** 2).sum(), rtol=1e-3)


# ------------------------------------------------------------------------- grid snapping
def test_grid_snap_hand_worked_2x2():
    # (x, y) with y up: top-left, top-right, bottom-left, bottom-right -> cells 0, 1, 2, 3
    pts = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    assert snap_to_grid(pts, 2, 2).tolist() == [0, 1, 2, 3]


def test_grid_snap_is_identity_on_a_grid_in_any_order_and_scale():
    rows, cols = 5, 7
    r, c = np.divmod(np.arange(rows * cols), cols)
    pts = np.stack([c * 3.0 + 10, (rows - 1 - r) * 3.0 - 4], 1)  # grid scaled and shifted, y up
    order = np.random.default_rng(0).permutation(rows * cols)
    cells = snap_to_grid(pts[order], rows, cols)
    assert cells.tolist() == order.tolist()  # point order[i] belongs in cell order[i]


@pytest.mark.parametrize("n,rows,cols", [(100, 10, 10), (90, 10, 10), (37, 6, 7)])
def test_grid_snap_is_a_permutation(n, rows, cols):
    pts = np.random.default_rng(n).normal(size=(n, 2))
    cells = snap_to_grid(pts, rows, cols)
    assert len(set(cells.tolist())) == n
    assert cells.min() >= 0 and cells.max() < rows * cols


def test_grid_snap_too_many_points():
    with pytest.raises(ValueError, match="do not fit"):
        snap_to_grid(np.zeros((5, 2)), 2, 2)


def test_grid_shape_and_subset():
    assert grid_shape(10) == (3, 4) and grid_shape(16) == (4, 4) and grid_shape(1) == (1, 1)
    pick, rows = grid_subset(10, 4)
    assert pick.tolist() == list(range(10)) and rows == 3  # all fit: 10 points in ceil(10 / 4) rows
    pick, rows = grid_subset(100, 4, seed=3)
    assert len(pick) == 16 and rows == 4 and (np.diff(pick) > 0).all()
    assert pick.tolist() == np.sort(np.random.default_rng(3).permutation(100)[:16]).tolist()


def test_sources_misclassified_and_colour_groups(lenet):
    assert source_choices(lenet) == ["mnist:test", "mnist:train", "mnist:train+test", "folder"]
    assert source_size("fashion-mnist:train+test") == 18000 and source_size("folder") == 20_000
    pts = PointSet(np.zeros((4, 1, 1), np.uint8), np.array([0, 1, 2, -1]), ["Cat", "dog", "emu"], "hand")
    known, wrong = misclassified(pts, np.array([1, 1, 0, 0]), ["dog", "cat"])  # model: 0 dog, 1 cat; no emu
    assert known.tolist() == [True, True, False, False] and wrong.tolist() == [False, True, False, False]
    assert not misclassified(pts, np.array([1, 1, 0, 0]), ["dog", "cat"], same_task=False)[0].any()
    g = np.array([3] * 5 + [1] * 4 + [2] * 3 + [0] * 2 + [-1])
    assert colour_groups(g, max_groups=3).tolist() == [3] * 5 + [1] * 4 + [-1] * 6  # the 2 most frequent keep theirs
    assert colour_groups(g, max_groups=4).tolist() == g.tolist()
    texts = hover_texts(pts, np.array([1, 1, 0, 0]), ["dog", "cat"], wrong)
    assert texts[1] == "#1<br>label: dog<br>predicted: cat<br><b>misclassified</b>"
    assert texts[3] == "#3<br>label: ?<br>predicted: dog"


def test_cached_features_one_pass_for_the_missing_layers(lenet, monkeypatch):
    import cnnviz.methods.embeddings as em

    calls = []
    real = em.extract_layers
    monkeypatch.setattr(em, "extract_layers",
                        lambda m, im, layers, *a, **kw: calls.append(list(layers)) or real(m, im, layers, *a, **kw))
    c, imgs = ResultCache(10), load_points("mnist", "test", 20).images
    f = cached_features(c, lenet, "k", imgs, "classifier.4", also=["pixels", "classifier.4", "features.2"])
    assert calls == [["classifier.4", "pixels", "features.2"]] and f.values.shape == (20, 84)
    assert cached_features(c, lenet, "k", imgs, "pixels") is c.get((lenet.key, "k", "pixels", "auto"))
    cached_features(c, lenet, "k", imgs, "features.5", also=["pixels"])
    assert calls[1:] == [["features.5"]]  # pixels were cached: not extracted again
    ref = extract_features(lenet, imgs, "features.2")
    assert torch.allclose(c.get((lenet.key, "k", "features.2", "auto")).values, ref.values)


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
    for row, i in zip(proj, picks):
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

    from cnnviz.methods import embeddings as em

    em.warm_up()
    fn = umap.umap_.smooth_knn_dist
    assert isinstance(fn, Dispatcher) and type(fn._cache).__name__ != "NullCache"


# ---------------------------------------------------------------------- neighbour scores
def test_knn_accuracy_hand_worked():
    pts = np.array([[0.0], [0.1], [5.0], [5.1], [0.25]])
    # 1-NN: 0->1, 1->0, 2->3, 3->2, 4->1
    assert knn_accuracy(pts, np.array([0, 0, 1, 1, 0]), k=1) == 1.0
    # point 4 labelled 1 among the zeros: its neighbour (point 1) says 0; the others are unaffected
    assert knn_accuracy(pts, np.array([0, 0, 1, 1, 1]), k=1) == pytest.approx(4 / 5)
    assert np.isnan(knn_accuracy(pts, np.full(5, -1), k=1))  # unknown labels are skipped


def test_knn_preservation_and_trustworthiness_hand_worked():
    high = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    # a monotone stretch keeps every neighbourhood
    assert knn_preservation(high, high * 2 + 1, k=2) == 1.0
    assert trustworthiness(high, high * 2 + 1, k=1) == pytest.approx(1.0)
    # swapping the two ends breaks neighbourhoods
    low = np.array([[15.0], [1.0], [3.0], [7.0], [0.0]])
    # 1-NN high: 0->1, 1->0, 2->1, 3->2, 4->3;  low: 0->3, 1->4, 2->1, 3->2, 4->1
    # kept: point 2 (1) and point 3 (2): 2 of 5
    assert knn_preservation(high, low, k=1) == pytest.approx(2 / 5)
    assert trustworthiness(high, low, k=1) < 1.0


def test_nearest_neighbours_hand_worked():
    idx, dist = nearest_neighbours(torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]]), torch.tensor([0.0, 0.0]), k=2)
    assert idx.tolist() == [0, 2]
    np.testing.assert_allclose(dist, [0.0, 1.0], atol=1e-6)


# -------------------------------------------------------------------- feature extraction
def test_pool_features_hand_worked():
    t = torch.arange(32.0).view(1, 2, 4, 4)
    v, how = pool_features(t, "avg")
    assert how == "avg" and v.tolist() == [[7.5, 23.5]]  # means of 0..15 and 16..31
    v, how = pool_features(t, "flatten")
    assert how == "flatten" and v.shape == (1, 32) and v[0, 5].item() == 5.0
    v, how = pool_features(t, "auto")  # 32 values <= 4096: flattened
    assert how == "flatten" and v.shape == (1, 32)
    v, how = pool_features(torch.zeros(1, 300, 8, 8), "auto")  # 19200 > 4096: s = isqrt(4096 // 300) = 3
    assert how == "avg3x3" and v.shape == (1, 2700)


def test_lenet_layers_and_comparison_defaults(lenet):
    names = feature_layers(lenet)
    assert names[0] == PIXELS and "features.0" in names and "classifier.5" in names
    assert "classifier.0" not in names  # Flatten repeats its input
    assert comparison_layers(lenet) == [PIXELS, "features.2", "features.5", "classifier.4"]


def test_extraction_equals_model_activations(lenet):
    pts = load_points("mnist", "test", 40, seed=3)
    x = lenet.preprocess([Image.fromarray(a) for a in pts.images])
    ref = lenet.activations(x, ["features.3", "classifier.4"])
    for layer in ("features.3", "classifier.4"):
        f = extract_features(lenet, pts.images, layer, "flatten", batch_size=16)
        assert f.values.device == lenet.device and f.values.shape == (40, ref[layer][0].numel())
        torch.testing.assert_close(f.values, ref[layer].reshape(40, -1), rtol=1e-5, atol=1e-5)
    pix = extract_features(lenet, pts.images, PIXELS, batch_size=7)
    torch.testing.assert_close(pix.values, x.reshape(40, -1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pix.predictions, lenet.predict_batch(x).argmax(1))
    avg = extract_features(lenet, pts.images, "features.3", "avg")
    torch.testing.assert_close(avg.values, ref["features.3"].mean((2, 3)), rtol=1e-5, atol=1e-5)
    both = extract_layers(lenet, pts.images, ["classifier.4", PIXELS, "features.3"], "flatten", batch_size=16)
    assert list(both) == ["classifier.4", PIXELS, "features.3"]
    torch.testing.assert_close(both["features.3"].values, ref["features.3"].reshape(40, -1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(both[PIXELS].values, x.reshape(40, -1), rtol=1e-5, atol=1e-5)


def test_extraction_releases_hooks_and_rejects_unknown_layer(lenet):
    for _ in range(5):
        extract_features(lenet, load_points("mnist", "test", 8).images, "features.1")
    assert all(not m._forward_hooks for m in lenet.module.modules())
    with pytest.raises(KeyError, match="feature_layers"):
        extract_features(lenet, load_points("mnist", "test", 8).images, "nope")


def test_trained_features_separate_digits_better_than_pixels(lenet):
    pts = load_points("mnist", "test", 400, seed=1)
    acc = {l: knn_accuracy(extract_features(lenet, pts.images, l).values, pts.labels) for l in (PIXELS, "classifier.4")}
    assert acc["classifier.4"] > 0.95 and acc["classifier.4"] > acc[PIXELS] + 0.02


def test_compare_layers_scores_rise_with_depth(lenet):
    views = compare_layers(lenet, load_points("mnist", "test", 300, seed=2), method="pca")
    assert [v.layer for v in views] == comparison_layers(lenet)
    acc = [v.knn_accuracy_features for v in views]
    assert acc[-1] > acc[0] and acc[-1] > 0.9  # the classifier's input separates digits better than pixels
    assert all(0 < v.trustworthiness <= 1 and v.embedding.points.shape == (300, 2) for v in views)


def test_load_points_subsets():
    a = load_points("mnist", "test", 50, seed=0)
    b = load_points("mnist", "test", 50, seed=0)
    assert np.array_equal(a.images, b.images) and a.images.shape == (50, 28, 28)
    assert len(load_points("mnist", "test", 10**6)) == 2000  # capped at the split
    assert len(load_points("fashion-mnist", "train+test", 10**6)) == 18000
    with pytest.raises(ValueError, match="split must be"):
        load_points("mnist", "val", 5)


def test_image_folder(tmp_path, lenet):
    for cls, value in (("dark", 20), ("light", 230)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((40, 30, 3), value + i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dark" / "notes.txt").write_text("not an image")
    pts = load_image_folder(tmp_path, n=100, thumb=16)
    assert pts.classes == ["dark", "light"] and sorted(pts.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert pts.images.shape == (6, 16, 16, 3)
    f = extract_features(lenet, list(pts.paths), PIXELS)
    assert f.values.shape == (6, 784)
    with pytest.raises(FileNotFoundError, match="ImageFolder"):
        load_image_folder(tmp_path / "missing")


def test_result_cache_computes_once_and_evicts():
    c, calls = ResultCache(2), []
    f = lambda v: (lambda: calls.append(v) or v)  # noqa: E731
    assert c.get_or_compute("a", f(1)) == 1 and c.get_or_compute("a", f(99)) == 1
    c.get_or_compute("b", f(2))
    c.get_or_compute("c", f(3))  # evicts "a" (least recently used)
    assert "a" not in c and "b" in c and calls == [1, 2, 3]
