"""cnnviz.text.embeddings: menu titles, hover texts and captions of /embeddings, read against hand-written strings."""
import numpy as np

from cnnviz.methods.embeddings import METHODS, POOLINGS, PointSet
from cnnviz.text import embeddings as te


def test_hover_texts_say_label_prediction_and_mistake():
    pts = PointSet(np.zeros((4, 1, 1), np.uint8), np.array([0, 1, 2, -1]), ["Cat", "dog", "emu"], "hand")
    wrong = np.array([False, True, False, False])
    texts = te.hover_texts(pts, np.array([1, 1, 0, 0]), ["dog", "cat"], wrong)
    assert texts[1] == "#1<br>label: dog<br>predicted: cat<br><b>misclassified</b>"
    assert texts[3] == "#3<br>label: ?<br>predicted: dog"
    assert te.hover_texts(pts, np.array([7, 1, 0, 0]), ["dog", "cat"])[0] == "#0<br>label: Cat<br>predicted: 7"


def test_titles_and_captions():
    assert te.source_title("folder") == "Image folder (path on the server)"
    assert te.source_title("fashion-mnist:train+test", own_dataset=False) == \
        "Bundled fashion-mnist — train+test (28×28 grayscale, upscaled)"
    assert te.layer_title("features.2", (6, 14, 14)) == "features.2  [6×14×14]"
    assert te.layer_title("pixels", (1, 28, 28), pixels=True) == "pixels (the raw input, the baseline)  [1×28×28]"
    assert te.layer_title("x", ()) == "x"
    assert te.grid_caption("tsne", 64, 200, 8, 8, 3).endswith(
        "64 of 200 images in 8×8 cells (a seeded random subset). From the first two of the three dimensions.")
    assert te.grid_caption("pca", 10, 10, 3, 4, 2).endswith("10 of 10 images in 3×4 cells.")
    assert set(te.METHOD_TITLES) == set(te.PLACEMENT_NOTES) == set(METHODS)  # a title for every method
    assert set(te.POOLING_TITLES) == set(POOLINGS)
