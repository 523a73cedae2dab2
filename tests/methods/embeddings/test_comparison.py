"""cnnviz.methods.embeddings.comparison: the same points at several layers, scored."""
from cnnviz.methods.embeddings import comparison_layers, load_points
from cnnviz.methods.embeddings.comparison import compare_layers, share_of


def test_compare_layers_scores_rise_with_depth(lenet):
    said = []
    views = compare_layers(lenet, load_points("mnist", "test", 300, seed=2), method="pca",
                           progress=lambda f, t: said.append((f, t)))
    assert [v.layer for v in views] == comparison_layers(lenet)
    acc = [v.knn_accuracy_features for v in views]
    assert acc[-1] > acc[0] and acc[-1] > 0.9  # the classifier's input separates digits better than pixels
    assert all(0 < v.trustworthiness <= 1 and v.embedding.points.shape == (300, 2) for v in views)
    # PCA reports 1.0 once per layer: layer i of 4 ends at (i + 1) / 4
    assert said == [((i + 1) / 4, f"{name}: PCA done") for i, name in enumerate(comparison_layers(lenet))]


def test_share_of_maps_a_part_into_its_slice():
    said = []
    part = share_of(lambda f, t: said.append((f, t)), 1, 4, "features.2")
    part(0.5, "half")
    assert said == [(0.375, "features.2: half")]  # (1 + 0.5) / 4
    assert share_of(None, 0, 4, "x") is None
