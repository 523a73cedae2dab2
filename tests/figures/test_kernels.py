"""cnnviz.figures.kernels: the pictures of the Filter kernels page hold the numbers they claim to show."""
import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from cnnviz.figures.kernels import (
    MapWindow,
    bridge_table,
    family_bar,
    filter_channels_figure,
    filter_grid_rgb,
    filter_pick_grid,
    fit_window,
    kernel_figure,
    layer_picture,
    map_window,
    response_figure,
    rgb_response,
    signed_tile,
    weight_map,
    weight_map_figure,
)
from cnnviz.figures.render import to_uint8
from cnnviz.methods.kernels import KernelError, KernelMatch, apply_kernel, best_matches, classic_bank, classic_kernel

RAMP = torch.arange(1, 17, dtype=torch.float32).view(4, 4)


# ------------------------------------------------------------------ classic kernels and responses

def test_kernel_figure_writes_the_numbers_in_the_cells():
    k = classic_kernel("sobel_x").numpy()
    fig = kernel_figure(k, "Sobel x")
    hm = fig.data[0]
    assert np.array_equal(np.asarray(hm.z), k)
    assert [list(r) for r in hm.text] == [["-1", "0", "1"], ["-2", "0", "2"], ["-1", "0", "1"]]
    assert hm.zmid == 0 and hm.colorscale[0][1] != hm.colorscale[-1][1]  # diverging around 0
    assert fig.layout.yaxis.autorange == "reversed"  # row 0 on top, as the editor shows it
    # larger kernels get two significant digits, not three
    assert kernel_figure(np.full((9, 9), 1 / 81), "box").data[0].text[0][0] == "0.012"


def test_response_figure_is_the_response_on_a_symmetric_scale():
    r = apply_kernel(RAMP, classic_kernel("sobel_x"), padding="zeros")[0]  # corner 10, interior 8, right edge -
    fig = response_figure(r, "signed")
    assert np.allclose(np.asarray(fig.data[0].z), r.numpy())
    m = float(r.abs().max())
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-m, m)
    relu = response_figure(r.clamp_min(0), "relu", signed=False)
    assert relu.data[0].zmin is None and relu.data[0].zmid is None
    assert float(np.min(relu.data[0].z)) == 0.0


def test_rgb_response_grey_is_zero_when_signed_black_after_relu():
    r = torch.zeros(3, 1, 4)
    r[0] = torch.tensor([-4.0, 0.0, 2.0, 4.0])  # red channel only; the largest |value| over all channels is 4
    signed = rgb_response(r, signed=True)
    assert signed.shape == (1, 4, 3)
    # (v / 4 + 1) / 2 * 255: -4 -> 0, 0 -> 127.5 -> 128, 2 -> 191.25 -> 191, 4 -> 255; G and B are 0 -> 128
    assert signed[0, :, 0].tolist() == [0, 128, 191, 255]
    assert signed[0, :, 1].tolist() == [128] * 4
    relu = rgb_response(r, signed=False)
    assert relu[0, :, 0].tolist() == [0, 0, 128, 255] and relu[0, :, 1].tolist() == [0] * 4


# ------------------------------------------------------------------ learned filters (moved from tests/methods)

def test_filter_grid_rgb_pixels_equal_weights():
    torch.manual_seed(0)
    w = torch.randn(5, 3, 2, 2)
    img, layout = filter_grid_rgb(w, normalize="per", cols=3, pad=1)
    assert img.shape == (3, 1 + 2 * 3, 1 + 3 * 3)
    for i in range(5):
        y0, x0 = 1 + (i // 3) * 3, 1 + (i % 3) * 3
        expected = (w[i] - w[i].min()) / (w[i].max() - w[i].min())
        assert torch.allclose(img[:, y0:y0 + 2, x0:x0 + 2], expected, atol=1e-6)
        assert layout.tile_at(y0 + 1, x0 + 1) == i
    assert img[:, 0, :].eq(1).all()  # padding is white
    shared, _ = filter_grid_rgb(w, normalize="shared", cols=3, pad=1)
    lo, hi = w.min(), w.max()
    assert torch.allclose(shared[:, 4:6, 1:3], (w[3] - lo) / (hi - lo), atol=1e-6)
    # an order puts filter order[i] in tile i
    ordered, _ = filter_grid_rgb(w, normalize="per", order=[4, 0, 1, 2, 3], cols=3, pad=1)
    assert torch.allclose(ordered[:, 1:3, 1:3], img[:, 4:6, 4:6])


def test_filter_grid_rgb_refuses_grey_layers():
    with pytest.raises(KernelError, match="weight_map"):
        filter_grid_rgb(torch.zeros(4, 1, 3, 3))


def test_weight_map_rows_are_filters_columns_are_channels():
    torch.manual_seed(1)
    w = torch.randn(4, 3, 2, 2)
    fm = weight_map(w)
    assert fm.z.shape == (1 + 4 * 3, 1 + 3 * 3)
    for f in range(4):
        for c in range(3):
            y0, x0 = 1 + 3 * f, 1 + 3 * c
            assert torch.equal(fm.z[y0:y0 + 2, x0:x0 + 2], w[f, c])
            assert fm.at(y0 + 1, x0) == (f, c)
    assert torch.isnan(fm.z[0]).all() and fm.at(0, 0) is None
    # the per-pixel index arrays agree with at() everywhere (a second way to the same answer)
    fa, ca = fm.index_arrays()
    for y in range(fm.z.shape[0]):
        for x in range(fm.z.shape[1]):
            hit = fm.at(y, x)
            assert (fa[y, x], ca[y, x]) == ((-1, -1) if hit is None else hit)
    per = weight_map(w, scale="per_filter")
    assert torch.nan_to_num(per.z.abs()).amax().item() == pytest.approx(1.0)
    win = weight_map(w, order=[3, 2, 1, 0], max_filters=2, channel_start=1, max_channels=2)
    assert win.at(1, 1) == (3, 1) and win.at(4, 4) == (2, 2)
    assert torch.equal(win.z[4:6, 4:6], w[2, 2])


def test_weight_map_single_channel_is_square_grid():
    fm = weight_map(torch.randn(6, 1, 5, 5))
    assert fm.layout.cols == 3 and fm.layout.rows == 2
    assert fm.at(1 + 6, 1 + 12) == (5, 0)


def test_weight_map_several_filters_per_row():
    w = torch.randn(6, 3, 2, 2)
    fm = weight_map(w, filters_per_row=2)
    assert fm.layout.cols == 6 and fm.layout.rows == 3
    # row 1, second filter of the row (filter 3), channel 2 -> tile column 3 + 2 = 5
    y0, x0 = 1 + 3 * 1, 1 + 3 * 5
    assert fm.at(y0, x0) == (3, 2)
    assert torch.equal(fm.z[y0:y0 + 2, x0:x0 + 2], w[3, 2])


def test_weight_map_image_grey_levels():
    w = torch.tensor([[[[2.0, 0.0], [-2.0, 1.0]]]])  # one filter, one channel
    img = weight_map(w).to_image("gray")
    assert img.shape == (4, 4, 3)
    # value v -> (v / max|v| + 1) / 2 * 255: 2 -> 255, 0 -> 127.5 -> 128, -2 -> 0, 1 -> 191.25 -> 191; padding white
    assert img[1:3, 1:3, 0].tolist() == [[255, 128], [0, 191]]
    assert img[0, 0].tolist() == [255, 255, 255]


def test_filter_grid_rgb_bad_normalize_is_a_cnnviz_error():
    with pytest.raises(KernelError, match="'per' or 'shared'"):
        filter_grid_rgb(torch.zeros(2, 3, 3, 3), normalize="global")


# ------------------------------------------------------------------ the page's grids and maps

def test_pick_grid_colour_and_click_name_the_filter():
    w = -torch.ones(4, 3, 3, 3)
    w[2, 0] = 1.0  # filter 2: red where the other two channels are at the minimum -> pure red tile
    g = filter_pick_grid(w, order=[2, 0, 1, 3], width=64)
    # 4 filters in 2 columns, 3x3 tiles, 1 px padding: a 9x9 grid enlarged 64 // 9 = 7 times
    assert g.scale == 7 and g.image.shape == (63, 63, 3)
    # tile 0 (top left) shows filter 2: native pixels 1..3 -> enlarged 7..27; tile 1 starts at native 5 -> 35
    assert g.image[20, 20].tolist() == [255, 0, 0]
    assert g.image[0, 0].tolist() == [255, 255, 255] and g.image[30, 30].tolist() == [255, 255, 255]  # padding
    assert g.tile_at(20, 20) == 2 and g.tile_at(20, 45) == 0 and g.tile_at(45, 20) == 1 and g.tile_at(45, 45) == 3
    assert g.tile_at(4, 4) is None and g.tile_at(30, 30) is None  # on the padding


@pytest.mark.parametrize("shape, expected", [
    ((6, 1, 5, 5), MapWindow(6, 1, 1, 1, False, False)),  # LeNet's first layer: all of it
    # 64 RGB 7x7 filters: 3 channels, sqrt(64 / 3) = 4.6 -> 5 filters a row
    ((64, 3, 7, 7), MapWindow(64, 3, 5, 1, False, False)),
    # 512 x 512 x 3x3: 16 px a tile, 250k cells -> 15625 tiles; 64 channels, capped at 64 filters
    ((512, 512, 3, 3), MapWindow(64, 64, 1, 1, True, True)),
    # 1x1: one cell a weight, 256 channels, 976 rows fit but at most 512; 2048 x 512 = 1M cells fit whole
    ((2048, 512, 1, 1), MapWindow(512, 256, 1, 0, True, True)),
    # 2048 x 1024 x 3x3 = 33.6M cells: too many for one static picture
    ((2048, 1024, 3, 3), MapWindow(64, 64, 1, 1, True, False)),
])
def test_map_window_by_hand(shape, expected):
    assert map_window(shape) == expected


def test_weight_map_figure_hover_data_names_filter_channel_and_cluster():
    torch.manual_seed(3)
    w = torch.randn(5, 2, 3, 3)
    order, labels = [4, 3, 2, 1, 0], [0, 1, 1, 2, 2]
    fig = weight_map_figure(w, order=order, labels=labels, shared=True)
    hm = fig.data[0]
    z = np.asarray(hm.z, dtype=float)
    fm = weight_map(w, order=order, filters_per_row=map_window(w.shape).per_row)
    assert np.allclose(z, fm.z.numpy(), equal_nan=True)
    m = float(w.abs().max())
    assert hm.zmin == pytest.approx(-m) and hm.zmax == pytest.approx(m) and hm.colorbar.title.text == "weight"
    cd = np.asarray(hm.customdata)
    # 2 channels, sqrt(5 / 2) = 1.6 -> 2 filters a row; tile (0, 0) is order[0] = 4, channel 0;
    # tiles are 3 px + 1 px padding: tile (0, 3) is the second filter of the row (order[1] = 3), channel 1
    assert cd[1, 1].tolist() == [4, 0, labels[4]]
    assert cd[1, 1 + 3 * 4].tolist() == [3, 1, labels[3]]
    assert cd[0, 0].tolist() == [-1, -1, -1]  # padding
    # the same weight under the same hover: z at the tile's corner is w[4, 0, 0, 0]
    assert z[1, 1] == pytest.approx(float(w[4, 0, 0, 0]), abs=1e-6)
    per = weight_map_figure(w)
    assert per.data[0].zmax == pytest.approx(1.0) and per.data[0].colorbar.title.text == "weight / max|w|"


def test_layer_picture_rgb_grid_or_grey_map():
    torch.manual_seed(0)
    w3 = torch.randn(4, 3, 2, 2)
    img, _ = filter_grid_rgb(w3, "shared", cols=2)
    assert np.array_equal(layer_picture(w3, shared=True), to_uint8(img))
    w1 = torch.tensor([[[[2.0, 0.0], [-2.0, 1.0]]]])
    assert layer_picture(w1)[1:3, 1:3, 0].tolist() == [[255, 128], [0, 191]]  # as weight_map(...).to_image
    big = torch.randn(100, 70, 1, 1)
    assert layer_picture(big).shape == (64, 64, 3)  # capped at 64 x 64 weights, no padding for 1x1
    assert layer_picture(big, max_side=None).shape == (100, 70, 3)


def test_filter_channels_figure_one_scale_for_the_filter():
    w = torch.zeros(3, 2, 2)
    w[0] = torch.tensor([[1.0, -3.0], [0.0, 0.5]])
    w[2, 1, 1] = 2.0
    fig = filter_channels_figure(w, rgb=True)
    assert [a.text for a in fig.layout.annotations] == ["R", "G", "B"]
    assert all((t.zmin, t.zmax) == (-3.0, 3.0) for t in fig.data)
    assert np.array_equal(np.asarray(fig.data[0].z), w[0].numpy())
    assert [list(r) for r in fig.data[0].text] == [["1.00", "-3.00"], ["0.00", "0.50"]]
    assert [t.showscale for t in fig.data] == [True, False, False]
    many = filter_channels_figure(torch.randn(40, 9, 9))
    assert len(many.data) == 16 and many.data[0].text is None  # first 16 channels; 9x9 has no numbers
    assert many.layout.annotations[15].text == "channel 15"


# ------------------------------------------------------------------ learned vs classic

def test_signed_tile_blue_white_red():
    tile = signed_tile(torch.tensor([[-2.0, 0.0, 2.0]]))
    assert tile[0].tolist() == [[5, 48, 97], [247, 247, 247], [103, 0, 31]]  # the ends and middle of RdBu


def _png(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def test_bridge_table_rows_and_pictures():
    torch.manual_seed(0)
    sob = classic_kernel("sobel_x")
    w = torch.stack([0.9 * sob + 0.3 * torch.randn(3, 3), -classic_kernel("sobel_y")]).unsqueeze(1)
    matches = best_matches(w)
    bank = classic_bank(3)
    t = bridge_table(w, matches, bank)
    assert list(t.columns) == ["filter", "learned", "closest classic", "kernel", "family", "|cosine|"]
    assert t["filter"].tolist() == [1, 0]  # filter 1 is exactly -Sobel y: |cos| 1 comes first
    assert t.iloc[0]["kernel"] == "−Sobel y" and t.iloc[0]["|cosine|"] == pytest.approx(1.0)
    # the classic picture of a negated match is the negated kernel: -Sobel y has its top row positive (red)
    classic = _png(t.iloc[0]["closest classic"])
    assert classic.shape == (45, 45, 3)  # 3x3 enlarged to at least 44 px: 15x
    assert classic[0, 0, 0] > 200 > classic[0, 0, 2]  # red: a positive weight
    assert np.array_equal(classic[::15, ::15], signed_tile(-bank["Sobel y"]))
    assert np.array_equal(_png(t.iloc[0]["learned"])[::15, ::15], signed_tile(w[1, 0]))
    rgb = torch.randn(3, 3, 3, 3)
    assert "colour share" in bridge_table(rgb, best_matches(rgb), bank).columns


def test_family_bar_counts_and_mean_cosines():
    m = [KernelMatch(0, "Sobel x", "edge", -0.8, 0.0), KernelMatch(1, "Sobel y", "edge", 0.6, 0.0),
         KernelMatch(2, "Gaussian", "blur", 0.5, 0.0)]
    bar = family_bar(m).data[0]
    assert list(bar.x) == ["edge", "blur"] and list(bar.y) == [2, 1]
    assert list(bar.text) == ["|cos| 0.70", "|cos| 0.50"]


@pytest.mark.parametrize("shape, per_row", [((64, 32, 3, 3), 2), ((32, 1, 3, 3), 8), ((6, 1, 5, 5), 4)])
def test_fit_window_makes_the_map_about_twice_as_wide_as_high(shape, per_row):
    win = fit_window(map_window(shape), shape)
    assert win.per_row == per_row
    z = weight_map_figure(torch.randn(*shape), window=win).data[0].z
    assert 1.2 <= z.shape[1] / z.shape[0] <= 3.2, z.shape  # a slide's figure area is about 2:1
    # every filter and channel is still in the map: the hover names each (filter, channel) once
    cells = {tuple(c) for row in weight_map_figure(torch.randn(*shape), window=win).data[0].customdata for c in row}
    assert {(f, c) for f in range(shape[0]) for c in range(min(shape[1], win.channels))} <= cells


def test_weight_map_one_channel_columns_follow_filters_per_row():
    assert tuple(weight_map(torch.randn(8, 1, 3, 3), filters_per_row=4).z.shape) == (9, 17)  # 2 rows x 4 tiles, padded
    assert tuple(weight_map(torch.randn(8, 1, 3, 3)).z.shape) == (13, 13)  # default: near-square, 3 x 3 tiles
