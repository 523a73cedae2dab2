"""cnnviz.figures.activations: the grids, maps and strips show the numbers the methods computed."""
import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.errors import CnnvizError
from cnnviz.figures.activations import (
    channel_range_chart,
    compare_grids,
    depth_strip,
    depth_strip_figure,
    first_layer_filter,
    grid_geometry,
    overlay_map,
    render_channel_grid,
    render_map,
)
from cnnviz.figures.render import COLORMAPS
from cnnviz.methods.activations import MapComparison, StageMaps, channel_stats, compare_maps, strongest_maps

from ..conftest import SAMPLES


def _rgb(cmap: str, i: int) -> list[int]:
    return (np.asarray(COLORMAPS[cmap][i]) * 255).round().astype(int).tolist()


def test_grid_layout_and_click_mapping_by_hand():
    # 3 channels of 2x2, constant 0, 1, 2; shared scale -> colours bottom, middle, top of viridis
    maps = torch.stack([torch.full((2, 2), float(v)) for v in (0, 1, 2)])
    g = render_channel_grid(maps, order="max", scale="shared", tile_px=2, cols=3)
    # tile 2 px, pad 2: width 2 + 3 * (2 + 2) = 14, height 2 + 1 * (2 + 2) = 6
    assert g.image.shape == (6, 14, 3) and g.scale == 1
    assert g.order == [2, 1, 0]  # sorted by max: channel 2 first
    assert g.channel_at(2, 2) == 2 and g.channel_at(3, 7) == 1 and g.channel_at(2, 10) == 0
    assert g.channel_at(0, 0) is None and g.channel_at(2, 4) is None  # padding
    assert g.image[2, 2].tolist() == _rgb("viridis", -1) and g.image[2, 10].tolist() == _rgb("viridis", 0)
    assert (g.lo, g.hi) == (0.0, 2.0)
    # the frame of channel 1 (tile 1, origin (2, 6)) fills the padding around it, the tile itself is untouched
    red = g.highlight(1)
    assert red[0, 4].tolist() == red[5, 9].tolist() == red[3, 5].tolist() == [228, 26, 28]
    assert np.array_equal(red[2:4, 6:8], g.image[2:4, 6:8]) and np.array_equal(g.highlight(7), g.image)
    # per-channel scale: a constant map has no range and shows the bottom colour
    gp = render_channel_grid(maps, scale="per", tile_px=2, cols=3)
    assert gp.image[2, 10].tolist() == _rgb("viridis", 0)
    with pytest.raises(CnnvizError, match="expected one of"):
        render_channel_grid(maps, scale="log")
    with pytest.raises(CnnvizError, match=r"maps\[0\]"):
        render_channel_grid(maps[None])


def test_grid_enlarges_small_maps_by_an_integer_factor():
    g = render_channel_grid(torch.rand(16, 5, 5), tile_px=40)
    assert g.scale == 8 and g.layout.tile_h == 40 and g.layout.cols == 4
    y, x = g.layout.origin(5)
    assert g.channel_at(y + 39, x + 39) == g.order[5]


def test_grid_geometry_is_wider_than_tall():
    # 6 channels: ceil(sqrt(9.6)) = 4 columns, 1100 / 4 - 3 = 272 px capped at 160
    assert grid_geometry(6) == (4, 160)
    # 512 channels: ceil(sqrt(819.2)) = 29 columns of int(1100 / 29 - 3) = 34 px
    assert grid_geometry(512) == (29, 34)


def test_channel_range_chart_bars_are_the_statistics_in_grid_order():
    maps = torch.tensor([[[0.0, 2.0], [0.0, 2.0]], [[-1.0, 3.0], [5.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    bar = channel_range_chart(channel_stats(maps), [1, 0, 2]).data[0]
    # channel 1 spans -1..5, channel 0 spans 0..2, channel 2 is all zero
    assert list(bar.base) == [-1.0, 0.0, 0.0] and list(bar.y) == [6.0, 2.0, 0.0]
    assert list(bar.x) == ["0", "1", "2"]
    assert bar.customdata[:, 0].tolist() == [1, 0, 2]  # the channel behind each tile
    assert bar.customdata[:, 1].tolist() == [2.0, 1.0, 0.0] and bar.customdata[:, 2].tolist() == [0.0, 0.5, 1.0]


def test_render_map_and_overlay_colours():
    m = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    img = render_map(m, size=4)  # 2x2 map enlarged 2x: crisp blocks
    assert img.shape == (4, 4, 3)
    assert img[0, 0].tolist() == _rgb("viridis", 0) and img[3, 3].tolist() == _rgb("viridis", -1)
    assert img[1, 1].tolist() == img[0, 0].tolist()  # same block
    fixed = render_map(m, "rdbu", size=2, value_range=(-4, 4))  # 0 sits at the middle of rdbu
    assert fixed[0, 0].tolist() == _rgb("rdbu", 5) and fixed[1, 1].tolist() == _rgb("rdbu", -1)
    seen = np.full((4, 4, 3), 100, np.uint8)
    assert np.array_equal(overlay_map(seen, m, alpha=0.0), seen)
    full = overlay_map(seen, torch.tensor([[0.0, 0.0], [0.0, 8.0]]), alpha=1.0)
    assert full[0, 0].tolist() == _rgb("jet", 0) and full[3, 3].tolist() == _rgb("jet", -1)


def test_first_layer_filter_pictures(lenet, resnet18_untrained):
    rgb = torch.zeros(3, 2, 2)
    rgb[0, 0, 0], rgb[2, 1, 1] = 2.0, -1.0  # red +max, blue -half
    f = first_layer_filter(rgb, size=4)
    assert f.shape == (4, 4, 3)
    assert f[0, 0].tolist() == [255, 128, 128] and f[3, 3].tolist() == [128, 128, 64] and f[0, 3].tolist() == [128] * 3
    w = resnet18_untrained.module.conv1.weight[0].detach()
    big = first_layer_filter(w, size=140)  # 7x7 kernel drawn 20x
    c, i, j = np.unravel_index(int(w.abs().argmax()), w.shape)
    assert big.shape == (140, 140, 3) and big[i * 20, j * 20, c] in (0, 255)
    gray = first_layer_filter(lenet.module.features[0].weight[2].detach(), size=160)
    k = lenet.module.features[0].weight[2, 0]
    i, j = np.unravel_index(int(k.abs().argmax()), k.shape)
    assert gray.shape[:2] == (160, 160)  # 5x5 drawn 32x
    assert gray[i * 32, j * 32].tolist() == _rgb("rdbu", -1 if k[i, j] > 0 else 0)


def test_depth_strip_by_hand():
    ramp = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    stages = StageMaps(["a", "b#2"], [[0, 1], [4]], [torch.stack([ramp, torch.ones(2, 2)]), ramp[None] * 5], k=2)
    s = depth_strip(stages, tile=4, pad=1)
    # 2 columns, 2 rows of 4 px tiles, 1 px padding
    assert s.image.shape == (1 + 2 * 5, 1 + 2 * 5, 3) and s.layers == ["a", "b#2"] and s.channels == [[0, 1], [4]]
    top, bottom = _rgb("viridis", -1), _rgb("viridis", 0)
    assert s.image[1, 1].tolist() == bottom and s.image[4, 4].tolist() == top  # ramp: min top-left, max bottom-right
    assert s.image[9, 9].tolist() == bottom  # row 2 of column a: a constant map
    assert s.image[7, 7].tolist() == bottom  # row 2 of column b: a blank tile (b has one channel)
    assert s.image[4, 9].tolist() == top  # column b, row 1: the ramp again
    fig = depth_strip_figure(s, {"a": (2, 2), "b": (7, 7)})
    assert list(fig.layout.xaxis.ticktext) == ["a<br>2×2", "b#2<br>7×7"]
    assert list(fig.layout.xaxis.tickvals) == [3.0, 8.0] and list(fig.layout.yaxis.ticktext) == ["#1", "#2"]
    assert np.array_equal(fig.data[0].z, s.image)


def test_depth_strip_of_lenet(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-2.png")
    strip = depth_strip(strongest_maps(lenet, img, k=3), tile=20)
    assert strip.layers == ["features.1", "features.4"]
    assert strip.image.shape == (3 + 3 * 23, 3 + 2 * 23, 3)  # 2 columns, 3 rows of 20 px tiles, 3 px padding


def test_compare_grids_share_order_and_range(lenet):
    a = torch.stack([torch.full((2, 2), 1.0), torch.full((2, 2), 3.0)])
    b = torch.stack([torch.full((2, 2), 5.0), torch.full((2, 2), 1.0)])
    ga, gb = compare_grids(MapComparison(a, b, [1, 0], 1.0, 5.0, (a - b).abs().mean((1, 2))), tile_px=2)
    assert ga.order == gb.order == [1, 0]
    # tile 0 is channel 1: 3 in A (middle of 1..5), 1 in B (bottom); tile 1 is channel 0: 1 in A, 5 in B (top)
    y, x = ga.layout.origin(1)
    assert ga.image[y, x].tolist() == _rgb("viridis", 0) and gb.image[y, x].tolist() == _rgb("viridis", -1)
    assert ga.image[2, 2].tolist() == _rgb("viridis", 5) and gb.image[2, 2].tolist() == _rgb("viridis", 0)
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    same_a, same_b = compare_grids(compare_maps(lenet, img, img, "features.0"))
    assert np.array_equal(same_a.image, same_b.image)
