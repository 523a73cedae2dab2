"""cnnviz.figures.receptive_field: the charts and pictures of the Receptive fields page show the method's numbers."""
import numpy as np
import pytest
import torch
from torch import nn

from cnnviz.figures.receptive_field import (
    BOX,
    activation_picture,
    depth_chart,
    erf_coverage,
    erf_figure,
    erf_size_table,
    field_on_image,
    fields_on_image,
    jump_latex,
    recurrence_figure,
    recurrence_latex,
    unit_at,
)
from cnnviz.figures.render import colormap
from cnnviz.methods.receptive_field import EffectiveReceptiveField, ReceptiveField, receptive_fields, recurrence_steps

# conv 3 -> pool 2 -> conv 3: fields 3, 4, 8 by hand (r' = r + (k - 1) j: 1 + 2, 3 + 1, 4 + 2 * 2)
NET = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def test_depth_chart_traces_are_the_field_sizes():
    fields = list(receptive_fields(NET, (1, 16, 16)).values())
    fig = depth_chart(fields, "1", (16, 16))
    assert list(fig.data[0].y) == [3, 4, 8]
    assert len(fig.data) == 2  # square fields: no separate width trace, one chosen-layer marker
    assert list(fig.data[1].x) == [1] and list(fig.data[1].y) == [4]
    assert fig.layout.shapes[0].y0 == 16  # the input height line


def test_recurrence_and_jump_latex_carry_the_numbers():
    rf = receptive_fields(NET, (1, 16, 16))["2"]
    steps = recurrence_steps(NET, "2", input_size=(1, 16, 16))
    tex = recurrence_latex(steps, rf)
    # r_3 = 1; r_2 = 1 * 1 + (3 - 1) = 3; r_1 = 2 * 3 + (2 - 2) = 6; r_0 = 1 * 6 + (3 - 1) = 8
    for line in (r"r_{3} &= 1", r"= 1 \cdot 1 + (3 - 1) = 3", r"= 2 \cdot 3 + (2 - 2) = 6",
                 r"= 1 \cdot 6 + (3 - 1) = 8"):
        assert line in tex, line
    assert tex.startswith(r"\begin{aligned}") and tex.endswith(r"\end{aligned}")
    assert jump_latex(steps, rf).startswith(r"j = \prod_l s_l = 1 \cdot 2 \cdot 1 = 2 ")


def test_activation_picture_colours_and_outline():
    act = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    pic, scale = activation_picture(act, (1, 0), side=40)
    a = np.asarray(pic)
    assert scale == 20 and a.shape == (40, 40, 3)
    viridis = (colormap(torch.tensor([0.0, 1.0])) * 255).round().byte().numpy()
    assert a[10, 10].tolist() == viridis[0].tolist()  # the minimum, unit (0, 0)
    assert a[30, 30].tolist() == viridis[1].tolist()  # the maximum, unit (1, 1)
    assert a[20, 0].tolist() == [230, 25, 75] and a[39, 10].tolist() == [230, 25, 75]  # the chosen unit's outline
    assert a[25, 10].tolist() != [230, 25, 75]  # inside the outline: the map


def test_unit_at_maps_pixels_to_units():
    assert unit_at(0, 0, 20, (2, 3)) == 0
    assert unit_at(39.9, 59.9, 20, (2, 3)) == 5  # row 1, col 2 -> 1 * 3 + 2
    assert unit_at(45, 10, 20, (2, 3)) is None and unit_at(10, 61, 20, (2, 3)) is None


def test_field_on_image_boxes_are_the_field():
    rf = ReceptiveField("c", "Conv2d", (5, 5), (2, 2), (-2.0, -2.0))
    img = np.zeros((8, 8, 3), np.uint8)
    fig = field_on_image(img, rf, (0, 0))
    pad, frame, field = fig.layout.shapes
    # unit (0, 0): rows and columns -2..2 (box -2, -2, 3, 3); on the image 0..2 (clipped 0, 0, 3, 3)
    assert (pad.x0, pad.x1, pad.y0, pad.y1) == (-2.5, 2.5, -2.5, 2.5)
    assert (field.x0, field.x1, field.y0, field.y1) == (-0.5, 2.5, -0.5, 2.5) and field.line.color == BOX
    assert (frame.x1, frame.y1) == (7.5, 7.5)
    assert list(fig.data[1].x) == [0.0] and list(fig.data[1].y) == [0.0]  # the centre, (top + (r - 1) / 2)
    assert fig.layout.xaxis.range == (-3.5, 8.5)


def _erf() -> EffectiveReceptiveField:
    g = np.zeros((20, 20))
    g[8:12, 9:11] = 1.0
    theo = ReceptiveField("c", "Conv2d", (7, 7), (1, 1), (-3.0, -3.0))
    return EffectiveReceptiveField("c", (10, 10), g, theo, (9.5, 9.5), (1.5, 0.5), 1.0)


def test_erf_figure_boxes_are_mean_plus_minus_k_sigma():
    erf = _erf()
    fig = erf_figure(erf, "t")
    assert np.array_equal(np.asarray(fig.data[0].z), erf.gradient)
    theo, one, two = fig.layout.shapes
    assert (theo.x0, theo.x1, theo.y0, theo.y1) == (6.5, 13.5, 6.5, 13.5)  # rows/cols 7..13 of unit (10, 10)
    assert (one.x0, one.x1, one.y0, one.y1) == (9.0, 10.0, 8.0, 11.0)  # 9.5 -+ 0.5 across, 9.5 -+ 1.5 down
    assert (two.x0, two.x1, two.y0, two.y1) == (8.5, 10.5, 6.5, 12.5)
    logged = erf_figure(erf, "t", log=True).data[0]
    assert logged.zmax == pytest.approx(np.log10(1 + 1e-4)) and logged.zmin == pytest.approx(-4.0)


def test_erf_size_table_and_coverage():
    erf = _erf()
    table = erf_size_table(erf).splitlines()
    assert table[2] == "| ±1σ (68 % of a Gaussian) | 3.0 px | 1.0 px |"
    assert table[3] == "| ±2σ (95 %) | 6.0 px | 2.0 px |"
    assert table[4] == "| theoretical (on the image) | 7 px | 7 px |"
    assert erf_coverage(erf) == pytest.approx(6 * 2 / 49)


def test_recurrence_figure_is_the_pyramid_of_the_recurrence():
    rf = receptive_fields(NET, (1, 16, 16))["2"]
    steps = recurrence_steps(NET, "2", input_size=(1, 16, 16))
    fig = recurrence_figure(steps, rf)
    bars = fig.data[0]
    assert list(bars.x) == [1, 3, 6, 8]  # one unit, then r in units of each layer below, down to the pixels
    assert list(bars.base) == [-0.5, -1.5, -3.0, -4.0]  # centred
    assert bars.y[0].endswith("2 (one unit)") and bars.y[-1].endswith("input image (pixels)")
    notes = [a.text for a in fig.layout.annotations]
    assert notes[0] == "r = 1" and notes[2].startswith("r = 2·3 + (2 − 2) = 6")


def test_fields_on_image_draws_each_layers_centre_unit_box():
    fields = receptive_fields(NET, (1, 16, 16))
    fig = fields_on_image(np.zeros((16, 16), np.uint8), [fields["0"], fields["2"]])
    boxes = fig.data[1:]
    assert [b.name for b in boxes] == ["0: 3×3 px", "2: 8×8 px"]
    # layer 0's map is 14x14: its centre unit (7, 7) sees rows/cols 7..9
    t, le, b, r = fields["0"].box(7, 7)
    assert (t, le, b, r) == (7.0, 7.0, 10.0, 10.0)
    assert min(boxes[0].x) == le - 0.5 and max(boxes[0].y) == b - 0.5
