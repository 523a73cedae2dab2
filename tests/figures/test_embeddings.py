"""Figures of embeddings (cnnviz.figures.embeddings): trace data equal to the points, colours, grid pixels."""
import cv2
import numpy as np

from cnnviz.figures import embeddings as fe
from cnnviz.figures.common import FrozenFigure


def points_and_groups():
    pts = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0], [5.0, 5.0], [4.0, 0.5]], np.float32)
    groups = np.array([0, 1, 0, -1, 1])
    return pts, groups


def test_scatter_traces_are_the_groups_with_their_points():
    pts, groups = points_and_groups()
    wrong = np.array([False, True, False, False, False])
    fig = fe.scatter(pts, groups, ["zero", "one"], wrong=wrong, title="PCA of x", own=np.array([2.5, 2.5]),
                     other="unlabelled")
    assert [t.name for t in fig.data] == ["zero", "one", "unlabelled", "your image"]
    zero, one, rest, own = fig.data
    assert list(zero.x) == [0.0, 3.0] and list(zero.y) == [0.0, 1.0] and list(zero.customdata) == [0, 2]
    assert list(one.customdata) == [1, 4] and list(one.marker.symbol) == ["x", "circle"]
    assert list(one.marker.size) == [11, 7]  # misclassified points 4 px larger
    assert zero.marker.color == fe.PALETTE[0] and one.marker.color == fe.PALETTE[1] and rest.marker.color == fe.GREY
    assert list(own.x) == [2.5] and own.marker.symbol == "star"
    assert fig.layout.title.text == "PCA of x — × misclassified"
    assert fig.layout.yaxis.scaleanchor == "x"  # one unit is as long on both axes
    assert zero.hovertext == ("#0", "#2")


def test_scatter_3d_and_many_classes():
    pts = np.arange(30, dtype=np.float32).reshape(10, 3)
    fig = fe.scatter(pts, np.arange(10) % 2, ["a", "b"], ticks=False)
    assert [t.type for t in fig.data] == ["scatter3d", "scatter3d"] and list(fig.data[1].z) == [5, 11, 17, 23, 29]
    assert fig.layout.title.text == ""  # nothing misclassified: no legend note
    # more classes than colours (ImageNet): colours follow the trace position, not the class index
    assert fe.group_colour(900, 2, 1000) == fe.PALETTE[2] and fe.group_colour(5, 2, 10) == fe.PALETTE[5]
    big = fe.scatter(np.zeros((4001, 2), np.float32), np.zeros(4001, int), ["a"])
    assert big.data[0].type == "scattergl" and set(big.data[0].marker.size) == {4}


def test_layer_scatter_image_puts_each_point_at_its_pixel_in_its_class_colour():
    # x spans 0..2 and y 0..1 over 11 pixels with no margin: columns 0, 10, 5 and rows (y up) 10, 0, 5
    img = fe.layer_scatter_image(np.array([[0.0, 0.0], [2.0, 1.0], [1.0, 0.5]]), np.array([0, 1, -1]), side=11,
                                 radius=0, pad=0.0)
    assert img.shape == (11, 11, 3) and img.dtype == np.uint8
    assert img[10, 0].tolist() == [0x63, 0x6E, 0xFA] == list(int(fe.PALETTE[0][i:i + 2], 16) for i in (1, 3, 5))
    assert img[0, 10].tolist() == [0xEF, 0x55, 0x3B] and img[5, 5].tolist() == [0xAA] * 3  # class 1; unlabelled grey
    assert int((img != 255).any(axis=2).sum()) == 3  # nothing else drawn
    # a margin of 10% on 21 pixels: the corners move 2 pixels in; a radius of 1 draws a plus of 5 pixels
    big = fe.layer_scatter_image(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 0]), side=21, radius=1, pad=0.1)
    assert big[18, 2].tolist() == big[2, 18].tolist() == [0x63, 0x6E, 0xFA]
    assert int((big != 255).any(axis=2).sum()) == 10
    assert (fe.layer_scatter_image(np.zeros((0, 2)), np.zeros(0, int), side=5) == 255).all()
    # the discs are OpenCV's filled circles, pixel for pixel (all points on the centre: a margin of nearly half)
    for radius in (2, 3, 4):
        ref = np.zeros((21, 21), np.uint8)
        cv2.circle(ref, (10, 10), radius, 1, thickness=-1, lineType=cv2.LINE_8)
        img = fe.layer_scatter_image(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1]), side=21, radius=radius,
                                     pad=0.5 - 1e-9)
        assert ((img != 255).any(axis=2) == ref.astype(bool)).all(), radius


def test_image_grid_places_each_thumbnail_in_its_cell():
    thumbs = np.array([[[255]], [[0]]], dtype=np.uint8)  # two 1x1 tiles: white, black
    img = fe.image_grid(thumbs, np.array([1, 0]), 1, 3, pad=0, empty=0.5)
    assert img.tolist() == [[0, 255, 128]]  # black in cell 0, white in cell 1, empty grey in cell 2
    rgb = np.zeros((2, 2, 2, 3), np.uint8)
    rgb[0, ..., 1] = 200
    out = fe.image_grid(rgb, np.array([3, 0]), 2, 2, pad=1)
    assert out.shape == (1 + 2 * 3, 1 + 2 * 3, 3)
    assert out[4, 4].tolist() == [0, 200, 0] and out[1, 1].tolist() == [0, 0, 0] and out[1, 4].tolist() == [128] * 3
    assert out[0, 0].tolist() == [255] * 3  # white lines between cells


def test_selection_grid_and_neighbour_strip():
    thumbs = np.stack([np.full((2, 2), v, np.uint8) for v in range(0, 250, 25)])  # 10 tiles
    grid = fe.selection_grid(thumbs)
    assert grid.shape == (1 + 3 * 3, 1 + 4 * 3)  # 10 tiles: 3 rows x 4 columns of 2 px + 1 px lines
    assert grid[1 + 3, 1 + 3] == 125 and grid[1 + 6, 1 + 6] == 128  # tile 5; empty cell 10
    assert fe.selection_grid(np.zeros((100, 2, 2), np.uint8)).shape == (1 + 8 * 3, 1 + 8 * 3)  # first 64 only
    strip = fe.neighbour_strip(thumbs[:3], ["7\nd=0.10", "1\nd=0.20", "7\nd=0.30"], cols=2, side=20)
    # two label lines of 14 + 4 px and 6 px below: tiles are 20 + 42 px high
    assert strip.shape == (4 + 2 * (20 + 42 + 4), 4 + 2 * (20 + 4), 3)
    assert (strip[4:24, 28:48] == 25).all()  # tile 1, enlarged 2x2 -> 20x20 with nearest neighbour


def test_count_by_trace_reads_a_frozen_figure_as_the_live_one():
    """A selection's count per class, from a scatter as built and as shared frozen by the server."""
    groups = np.array([0, 1, 1, 0, 1, 2])
    fig = fe.scatter(np.arange(12, dtype=np.float32).reshape(6, 2), groups, ["a", "b", "c"])
    picked = [1, 2, 4, 5]  # three of class b, one of c: counted by hand
    assert fe.count_by_trace(fig, picked) == [("b", 3), ("c", 1)]
    assert fe.count_by_trace(FrozenFigure(fig.to_dict()), picked) == [("b", 3), ("c", 1)]


def test_layer_scatter_image_spans_a_given_height():
    # 5 wide, 9 high, no margin: x 0..1 over columns 0..4, y 0..1 over rows 8..0
    img = fe.layer_scatter_image(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]), np.array([0, 0, 1]), side=5,
                                 height=9, radius=0, pad=0.0)
    assert img.shape == (9, 5, 3)
    assert [tuple(map(int, rc)) for rc in np.argwhere((img != 255).any(axis=2))] == [(0, 4), (4, 2), (8, 0)]
