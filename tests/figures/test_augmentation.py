"""Figures of /augmentation: curves carry the method's numbers, strips place tiles where the grid says."""
import numpy as np
import torch

from cnnviz.figures import augmentation as fa
from cnnviz.methods import augmentation as A


def _sweep(values, probs, classes=("a", "b"), reference=0, parameter="brightness"):
    return A.Sweep(parameter, list(values), torch.tensor(probs), list(classes), reference)


def test_strip_places_each_image_between_white_padding():
    imgs = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4) * 0.5])
    s = fa.strip(imgs)
    assert s.dtype == np.uint8 and s.shape == (6, 11)  # 1 px padding around two 4-px tiles
    assert s[0, 0] == 255 and s[1, 5] == 255  # padding is white
    assert s[1, 1] == 0 and s[4, 4] == 0  # tile 0
    assert s[1, 6] == 128 and s[4, 9] == 128  # tile 1 (0.5 -> 128)
    assert fa.strip(torch.zeros(3, 3, 56, 56)).shape == (56 + 4, 3 * 56 + 4 * 2, 3)  # 2 px padding at 56 px


def test_sweep_figure_traces_equal_the_sweep():
    s = _sweep([0.5, 1.0, 2.0], [[0.2, 0.8], [0.9, 0.1], [0.6, 0.4]])
    fig = fa.sweep_figure(s, "Brightness factor", "brightness factor")
    assert list(fig.data[0].y) == s.reference_probs and fig.data[0].name == "P(a)"
    assert list(fig.data[1].text) == ["b", "a", "a"] and np.allclose(fig.data[1].y, [0.8, 0.9, 0.6])
    assert list(fig.data[0].x) == [0.5, 1.0, 2.0] and tuple(fig.layout.yaxis.range) == (0, 1.1)


def test_rotation_figure_one_curve_per_scale():
    probs = torch.tensor([[[0.7, 0.3], [0.4, 0.6]], [[0.9, 0.1], [0.2, 0.8]]])
    g = A.RotationScaleGrid([0.0, 90.0], [1.0, 0.5], probs, ["cat", "dog"], 0)
    fig = fa.rotation_figure(g)
    assert [t.name for t in fig.data] == ["scale 100%", "scale 50%"]
    assert np.allclose(fig.data[1].y, [0.9, 0.2]) and fig.layout.title.text == "P(cat) against rotation"
    many = A.RotationScaleGrid([float(a) for a in range(0, 181, 15)], [1.0], torch.rand(1, 13, 2), ["a", "b"], 0)
    assert list(fa.rotation_figure(many).layout.xaxis.tickvals) == [float(a) for a in range(0, 181, 30)]
    six_scales = A.RotationScaleGrid([0.0], [1.0, 0.9, 0.8, 0.7, 0.6, 0.5], torch.rand(6, 1, 2), ["a", "b"], 0)
    fig = fa.rotation_figure(six_scales)  # every scale gets its curve; the colours repeat after five
    assert len(fig.data) == 6 and fig.data[5].line.color == fig.data[0].line.color == fa.COLOURS[0]


def test_shift_change_figure_marks_every_stride_multiple():
    s = _sweep(range(9), [[0.5, 0.5]] * 9, parameter="shift")
    sh = A.ShiftSweep(s, "pool2", 4, [0.1 * k for k in range(9)], [0.0] * 9)
    fig = fa.shift_change_figure(sh)
    assert [shape.x0 for shape in fig.layout.shapes] == [4, 8]
    assert np.allclose(fig.data[0].y, sh.change) and list(fig.data[1].y) == [0.0] * 9
    assert "round(k / 4)" in fig.data[1].name
    no_align = fa.shift_change_figure(A.ShiftSweep(s, "fc", None, [0.0] * 9, None))
    assert len(no_align.data) == 1 and not no_align.layout.shapes


def test_label_flip_figure_curves_and_flip_line():
    values = [-90.0, 0.0, 90.0, 180.0]
    s = _sweep(values, [[0.3, 0.7], [0.9, 0.1], [0.5, 0.5], [0.2, 0.8]], classes=("6", "9"), parameter="angle")
    fig = fa.label_flip_figure(A.LabelFlip(s, "6", "9", -90.0, -90.0))
    assert [t.name for t in fig.data] == ["P(6)", "P(9)"]
    assert np.allclose(fig.data[1].y, [0.7, 0.1, 0.5, 0.8])
    assert fig.layout.shapes[0].x0 == -90.0 and "read as 9 at -90°" in fig.layout.annotations[0].text


def test_scramble_figure_band_and_mean_are_the_sweeps_numbers():
    sw = A.ScrambleSweep([1, 2], torch.tensor([[0.9, 0.8], [0.5, 0.1]]), [1.0, 0.5], 0, ["cat", "dog"],
                         torch.zeros(2, 1, 4, 4))
    fig = fa.scramble_figure(sw)
    hi, lo, mean, kept = fig.data
    assert list(hi.x) == [1, 4] and np.allclose(hi.y, [0.9, 0.5]) and np.allclose(lo.y, [0.8, 0.1])
    assert lo.fill == "tonexty" and np.allclose(mean.y, [0.85, 0.3]) and list(kept.y) == [1.0, 0.5]
    assert "2 shuffles per grid" in fig.layout.title.text and "'cat'" in fig.layout.title.text


def test_sample_grid_frames_kept_green_and_changed_red():
    tiles = [np.full((4, 4), 200, np.uint8)] * 3
    g = fa.sample_grid(tiles, ["a 90%", "b 50%", "a 70%"], [True, False, True], cols=2, side=8, font_size=10, frame=2)
    band = 10 + 4 + 6
    assert g.shape == (6 + 2 * (12 + band + 6), 6 + 2 * (12 + 6), 3)
    assert tuple(g[6, 6]) == fa.KEPT_RGB and tuple(g[6, 6 + 18]) == fa.CHANGED_RGB  # the frames' corners
    assert tuple(g[6 + 2, 6 + 2]) == (200, 200, 200)  # the tile inside its frame
    assert tuple(g[-7, -7]) == (255, 255, 255)  # the empty fourth cell


def test_sample_grid_shape_fits_the_box_and_keeps_the_last_row_half_full():
    for n in (8, 16, 32, 64):
        for lines in (1, 3):
            cols, side = fa.sample_grid_shape(n, 1200, 525, font_size=16, lines=lines)
            g = fa.sample_grid([np.zeros((28, 28), np.uint8)] * n, ["x" + "\ny" * (lines - 1)] * n, [True] * n, cols,
                               side, font_size=16)
            assert g.shape[0] <= 525 and g.shape[1] <= 1200, (n, lines, g.shape)
            rows = -(-n // cols)
            assert 2 * (rows * cols - n) <= cols
    assert fa.sample_grid_shape(16, 1180, 520) == (6, 129)
