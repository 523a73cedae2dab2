"""Canvases: boxes tight around the ink, every ink pixel in a box, labels from the data set, seeded."""
from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import CnnvizError
from cnnviz.methods.detection import Canvas, make_canvas, make_canvases


def check_tight(c: Canvas) -> None:
    """Each box's edge rows and columns hold ink, and no ink lies outside every box."""
    assert c.boxes.dtype == np.float32 and c.labels.dtype == np.int64 and len(c.boxes) == len(c.labels)
    covered = np.zeros(c.image.shape, bool)
    for x0, y0, x1, y1 in c.boxes.astype(int):
        assert 0 <= x0 < x1 <= c.image.shape[1] and 0 <= y0 < y1 <= c.image.shape[0]
        inside = c.image[y0:y1, x0:x1]
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        covered[y0:y1, x0:x1] = True
    assert not (c.image[~covered] > 0).any()


@pytest.mark.parametrize("size", [56, 128, (200, 300)])
def test_boxes_are_tight_around_the_ink(size):
    for c in make_canvases(15, size, seed=4):
        check_tight(c)
        assert c.image.shape == ((size, size) if isinstance(size, int) else size)
        assert c.image.dtype == np.uint8 and c.image[0, 0] == 0  # black background
        sides = np.maximum(c.boxes[:, 2] - c.boxes[:, 0], c.boxes[:, 3] - c.boxes[:, 1])
        assert ((sides >= 18) & (sides <= 44)).all(), sides  # object_size (20, 44), less the faint edge


def test_objects_barely_overlap():
    for c in make_canvases(20, 160, n_objects=6, seed=5):
        b = c.boxes
        for i in range(len(b)):
            for j in range(i + 1, len(b)):
                inter = max(0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])) * \
                    max(0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]))
                smaller = min((b[i, 2] - b[i, 0]) * (b[i, 3] - b[i, 1]), (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1]))
                assert inter <= 0.05 * smaller


def test_counts_labels_and_garments():
    c = make_canvas(256, n_objects=4, seed=0)
    assert len(c.labels) == 4 and c.classes == [str(d) for d in range(10)]
    g = make_canvas(160, n_objects=(2, 3), dataset="fashion-mnist", split="train", seed=1)
    assert 2 <= len(g.labels) <= 3 and g.classes[0] == "T-shirt/top" and g.dataset == "fashion-mnist"
    check_tight(g)


def test_seeded():
    a, b = make_canvas(128, seed=3), make_canvas(128, seed=3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, make_canvas(128, seed=4).image)
    few, more = make_canvases(3, 96, seed=9), make_canvases(6, 96, seed=9)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(few, more, strict=False))
    assert not np.array_equal(more[0].image, more[1].image)


@pytest.mark.parametrize("kwargs", [{"size": 20}, {"dataset": "cifar"}, {"split": "val"},
                                    {"n_objects": (3, 1)}, {"object_size": 2}])
def test_bad_arguments(kwargs):
    with pytest.raises(CnnvizError):
        make_canvas(**kwargs)
