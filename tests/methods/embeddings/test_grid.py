"""cnnviz.methods.embeddings.grid: snapping points to a grid by linear assignment, grid shapes and subsets."""
import numpy as np
import pytest

from cnnviz.methods.embeddings import EmbeddingError
from cnnviz.methods.embeddings.grid import grid_shape, grid_subset, snap_to_grid


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
    with pytest.raises(EmbeddingError, match="use more cells"):
        snap_to_grid(np.zeros((5, 2)), 2, 2)


def test_grid_shape_and_subset():
    assert grid_shape(10) == (3, 4) and grid_shape(16) == (4, 4) and grid_shape(1) == (1, 1)
    pick, rows = grid_subset(10, 4)
    assert pick.tolist() == list(range(10)) and rows == 3  # all fit: 10 points in ceil(10 / 4) rows
    pick, rows = grid_subset(100, 4, seed=3)
    assert len(pick) == 16 and rows == 4 and (np.diff(pick) > 0).all()
    assert pick.tolist() == np.sort(np.random.default_rng(3).permutation(100)[:16]).tolist()
