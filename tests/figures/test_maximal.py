"""Figures of maximally activating inputs (cnnviz.figures.maximal): pixel colours, sizes and click layouts by hand."""
import numpy as np
import pytest
import torch

from cnnviz.figures import maximal as fx
from cnnviz.methods.maximal import Hit, Patch


def patch(value: int, side: int = 3, rgb: bool = False) -> Patch:
    px = np.full((side, side, 3) if rgb else (side, side), value, np.uint8)
    return Patch(px, Hit(float(value), 0, 0, 0), (0, 0, side, side), f"#{value}")


def test_strip_and_grid_layouts_map_clicks_back():
    patches = [patch(10), patch(20), patch(30)]
    strip, layout = fx.patch_strip(patches, side=30, labels=["a", "b", "c"], pad=5, font_size=10, cols=2)
    # 2 columns of 30 px with 5 px gaps; rows of 30 px + a 20 px label band
    assert strip.shape == (5 + 2 * (30 + 20 + 5), 5 + 2 * (30 + 5), 3)
    assert layout.tile_at(5 + 55 + 10, 5 + 10) == 2 and layout.tile_at(10, 40 + 5) == 1 and layout.tile_at(2, 2) is None
    grid, glayout = fx.channel_grid([[patches[0]], [patches[1]]], tile=3, pad=4)
    assert glayout.n == 2 and grid.shape == (4 + 5 + 4, 4 + 2 * (5 + 4))  # a 3 px patch + 1 px frame each side
    assert glayout.tile_at(6, 4 + 9 + 2) == 1


def test_strip_pixels_are_the_patches_enlarged_on_white():
    strip, layout = fx.patch_strip([patch(0), patch(200, rgb=True)], side=9, labels=None, pad=2)
    assert strip.shape == (2 + 9 + 2, 2 + 2 * (9 + 2), 3)
    y0, x0 = layout.origin(1)
    assert (y0, x0) == (2, 13)
    assert (strip[y0:y0 + 9, x0:x0 + 9] == 200).all()  # 3x3 -> 9x9 by nearest neighbour: every pixel kept
    assert (strip[2:11, 2:11] == 0).all() and (strip[0, :] == 255).all() and (strip[:, 11:13] == 255).all()


def test_labels_are_drawn_in_the_band_under_each_tile():
    strip, _ = fx.patch_strip([patch(0)], side=40, labels=["7.24"], pad=4, font_size=14)
    band = strip[4 + 40:, 4:44]
    assert band.min() < 100  # dark text
    assert (fx.patch_strip([patch(0)], side=40, labels=[""], pad=4, font_size=14)[0][4 + 40:] == 255).all()


def test_strip_geometry_and_grid_tile_by_hand():
    assert fx.strip_geometry(8) == (8, 640 // 8 - 8)
    assert fx.strip_geometry(2) == (2, 128)  # capped at 128 px
    assert fx.strip_geometry(16) == (8, 72)
    # 16 channels, 4 patches each: (640 / 8 - 4 - 3) / 2 = 36.5 px; 14 px patches at 2x stay crisp
    assert fx.grid_tile(14, 16, 4) == 28
    assert fx.grid_tile(5, 16, 1) == 5 * ((640 / 8 - 4 - 2) // 5)
    assert fx.grid_tile(100, 16, 4) == 36  # larger than the target: shrunk to it
    assert fx.grid_tile(212, 64, 9) == 24  # (640 / 8 - 4 - 4) / 3
    assert fx.grid_tile(212, 64, 9, column_px=200) == 16  # never below 16 px


def test_channel_grid_mosaics_pixels_and_enlargement():
    lists = [[patch(0), patch(50), patch(100), patch(150)], [patch(250)]]
    grid, layout = fx.channel_grid(lists, tile=3, pad=4, fill=128)
    # each mosaic: 2x2 patches of 3 px, 1 px white frames: 1 + 2 * (3 + 1) = 9 px
    assert layout.tile_h == 9 and grid.shape == (4 + 9 + 4, 4 + 2 * (9 + 4))
    y0, x0 = layout.origin(0)
    assert grid[y0 + 1, x0 + 1] == 0 and grid[y0 + 1, x0 + 5] == 50 and grid[y0 + 5, x0 + 1] == 100
    assert grid[y0 + 5, x0 + 5] == 150 and grid[y0, x0] == 255
    y1, x1 = layout.origin(1)
    assert grid[y1 + 1, x1 + 1] == 250 and grid[y1 + 1, x1 + 5] == 128  # empty cells: the fill grey
    big, blayout = fx.channel_grid(lists, tile=3, pad=4, width=3 * grid.shape[1] + 2)
    assert big.shape == (3 * grid.shape[0], 3 * grid.shape[1])
    assert np.array_equal(big[::3, ::3], grid)
    for y, x in [(y1 + 2, x1 + 2), (y0 + 5, x0 + 5), (1, 1)]:  # a click lands on the same mosaic at 3x
        assert blayout.tile_at(3 * y + 1, 3 * x + 1) == layout.tile_at(y, x)


def test_channel_grid_rgb_patches_are_area_averaged():
    px = np.zeros((4, 4, 3), np.uint8)
    px[:, :2] = (200, 0, 0)  # left half red: averaged to 2x2 gives one red column, one black
    grid, layout = fx.channel_grid([[Patch(px, Hit(1.0, 0, 0, 0), (0, 0, 4, 4))]], tile=2, pad=1)
    y0, x0 = layout.origin(0)
    assert grid.shape[2] == 3
    assert grid[y0 + 1, x0 + 1].tolist() == [200, 0, 0] and grid[y0 + 1, x0 + 2].tolist() == [0, 0, 0]


def test_draw_box_and_unit_on_image():
    out = fx.draw_box(np.zeros((4, 4), np.uint8), (1, 1, 3, 3), scale=2, width=1)
    assert out.shape == (8, 8, 3)
    red = (out == [255, 40, 40]).all(2)
    # the outline of rows/cols 2..5 (box 1..3 at 2x, exclusive end): 4 x 4 square minus its 2 x 2 inside
    assert red.sum() == 12 and red[2, 2] and red[5, 5] and not red[3, 3] and not red[0, 0]
    clipped = (fx.draw_box(np.zeros((4, 4), np.uint8), (-2, -2, 2, 2), width=1) == [255, 40, 40]).all(2)
    assert clipped[0, 0] and clipped[1, 1] and not clipped[3, 3]  # the box reaching into the padding is clipped
    big = fx.unit_on_image(np.zeros((28, 28), np.uint8), (0, 0, 14, 14))
    assert big.shape == (280, 280, 3)  # 28 px -> 10x, at least 280 px


def test_channel_map_trace_is_the_map_and_marks_the_unit():
    z = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    fig = fx.channel_map(z, 2, 1, channel=7)
    assert np.array_equal(np.asarray(fig.data[0].z), z) and fig.data[0].zmid == 0
    assert list(fig.data[1].x) == [1] and list(fig.data[1].y) == [2]
    assert "Channel 7" in fig.layout.title.text and "3×4" in fig.layout.title.text
    assert fig.layout.yaxis.autorange == "reversed"


def test_synthesis_grid_tiles_values_and_rows():
    imgs = torch.zeros(5, 1, 28, 28)
    imgs[1] = 0.5
    imgs[4] = 1.0
    assert fx.synthesis_side(28) == 168 and fx.synthesis_side(64) == 192 and fx.synthesis_side(224) == 200
    grid = fx.synthesis_grid(imgs, [f"ch {i}" for i in range(5)], torch.arange(5.0), column_px=720)
    # 168 px tiles + 6 px gaps: 4 fit 720 px; 5 images take 2 rows of 168 + a 28 px label band
    assert grid.shape == (6 + 2 * (168 + 28 + 6), 6 + 4 * (168 + 6), 3)
    assert (grid[6:174, 6 + 174:6 + 174 + 168] == 128).all()  # 0.5 -> 128, tile 1
    y4 = 6 + 168 + 28 + 6
    assert (grid[y4:y4 + 168, 6:174] == 255).all() and (grid[y4:y4 + 168, 180:] == 255).all()  # white tile 4, then page
    rgb = fx.synthesis_grid(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 224, 224), ["P cat"])
    assert rgb[6 + 100, 6 + 100].tolist() == [255, 0, 0] and rgb.shape[1] == 6 + 200 + 6


@pytest.mark.parametrize("n,cols", [(1, 1), (3, 3), (9, 4)])
def test_synthesis_grid_columns_follow_the_count(n, cols):
    grid = fx.synthesis_grid(torch.zeros(n, 1, 28, 28), [""] * n)
    assert grid.shape[1] == 6 + cols * (168 + 6)


def test_fit_labelled_grid_fills_a_box_and_synthesis_grid_takes_the_side():
    assert fx.fit_labelled_grid(8, 1180, 540) == (4, 233)  # 2 rows of 4: 962 x 540 px
    assert fx.fit_labelled_grid(16, 1180, 560) == (6, 150)  # 3 rows of 6
    cols, side = fx.fit_labelled_grid(1, 1180, 540)
    assert (cols, side) == (1, 540 - 6 - 6 - 28)
    for n in (1, 3, 8, 16, 64):
        cols, side = fx.fit_labelled_grid(n, 1180, 540)
        img, _ = fx.labelled_grid([np.zeros((28, 28), np.uint8)] * n, ["x"] * n, side=side, cols=cols)
        assert img.shape[0] <= 540 and img.shape[1] <= 1180, n
    grid = fx.synthesis_grid(torch.zeros(8, 1, 28, 28), [f"ch {i}" for i in range(8)], column_px=962, side=233)
    assert grid.shape[:2] == (540, 962)
