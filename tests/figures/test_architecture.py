"""The depth chart of /architecture: its traces are the layer table's shapes and receptive fields."""
import pytest

from cnnviz.figures.architecture import depth_figure
from cnnviz.methods.architecture import DepthPoint, depth_steps, layer_table, receptive_fields_or_none


def test_depth_figure_traces_equal_the_steps():
    steps = [DepthPoint("input", (3, 32, 32), 1), DepthPoint("conv", (16, 32, 32), 3),
             DepthPoint("pool", (16, 16, 16), 4), DepthPoint("fc", (10, 1, 1), None)]
    fig = depth_figure(steps, 32)
    assert len(fig.data) == 3
    assert list(fig.data[0].y) == [32, 32, 16, 1] and list(fig.data[1].y) == [3, 16, 16, 10]
    assert list(fig.data[2].y) == [1, 3, 4, None] and fig.data[2].connectgaps
    assert list(fig.data[0].customdata) == ["input", "conv", "pool", "fc"]
    assert fig.layout.shapes[0].y0 == 32  # the dashed input-size line on the receptive-field panel
    assert list(fig.layout.xaxis3.ticktext) == ["input", "conv", "pool", "fc"]
    assert fig.layout.height == 780


def test_depth_figure_without_receptive_fields_has_two_panels(lenet):
    fig = depth_figure(depth_steps(lenet, layer_table(lenet), None), 28)
    assert len(fig.data) == 2 and fig.layout.height == 560 and not fig.layout.shapes
    assert fig.data[1].y[0] == 1 and max(fig.data[1].y) == 16  # LeNet: 1 input channel, at most 16 maps


def test_depth_figure_of_lenet_receptive_fields(lenet):
    fields, why = receptive_fields_or_none(lenet)
    if fields is None:
        pytest.skip(why)
    steps = depth_steps(lenet, layer_table(lenet, fields), fields)
    bars = depth_figure(steps, 28).data[2]
    fig_names = list(bars.customdata)
    rf = dict(zip(fig_names, bars.y, strict=True))
    assert fig_names[0] == "input" and rf["input"] == 1
    # hand-worked in tests/methods/test_architecture.py: 5, 6, 14, 16 through conv, pool, conv, pool
    assert [rf[n] for n in ("features.0", "features.2", "features.3", "features.5")] == [5, 6, 14, 16]


def test_cost_figure_bars_are_the_table_counts(lenet):
    from cnnviz.figures.architecture import cost_figure

    rows = layer_table(lenet)
    fig = cost_figure(rows)
    assert sum(fig.data[0].y) == 61706 and sum(fig.data[1].y) == 416520
    assert "classifier.1" in list(fig.data[0].x) and all(r.params or r.macs for r in rows
                                                         if r.name in set(fig.data[0].x))


def test_outline_figure_draws_lenet_as_its_volumes(lenet):
    from cnnviz.figures.architecture import outline_figure
    from cnnviz.methods.architecture import outline

    rows = layer_table(lenet)
    volumes = outline(depth_steps(lenet, rows, None), rows)
    fig = outline_figure(volumes)
    texts = [a.text for a in fig.layout.annotations if a.text]
    assert "<b>1×28×28</b>" in texts and "<b>16×5×5</b>" in texts and "<b>120</b>" in texts
    assert len(fig.layout.shapes) == 3 * len(volumes)  # front, top and side of each box
