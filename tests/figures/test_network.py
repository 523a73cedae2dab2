"""Figures of the network page: the graph's nodes, thumbnails and clicks; the unit's patch, sums and window."""
import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.figures import network as fn
from cnnviz.methods import network as nw
from cnnviz.methods.unit import input_channel, unit_computation, window_region

from ..conftest import SAMPLES


def test_graph_figure_nodes_thumbnails_and_skip_arcs(lenet, resnet18_untrained):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    v = nw.graph_view(lenet, "layers")
    vals = nw.node_values(lenet, x, v)
    th = fn.node_thumbnails(vals, k=2)
    conv = vals["features.0"]
    strip = th["features.0"]
    assert strip.dtype == np.uint8 and strip.shape[1] > strip.shape[0]  # two tiles side by side
    assert "classifier.1" not in th  # vectors get no thumbnail
    fig = fn.graph_figure(v, th, selected="features.3")
    nodes = next(t for t in fig.data if t.customdata is not None)
    assert list(nodes.customdata) == [n.id for n in v.nodes]  # clicks return the node id
    assert len(fig.layout.images) == len(th)
    assert nodes.marker.line.color[[n.id for n in v.nodes].index("features.3")] == fn.SELECTED
    assert conv.shape[0] == 6
    r = nw.graph_view(resnet18_untrained, "stages", ["layer1", "layer1.0"])
    skips = [t for t in fn.graph_figure(r).data if t.name == "skip connection"]
    assert skips and sum(1 for y in skips[0].y if y is None) == 1  # one identity skip arc in the open block


def test_unit_figures(lenet):
    x = lenet.preprocess(cnnviz.load_image(SAMPLES / "digit-7.png"))
    u = unit_computation(lenet, x, "features.3", (3, 4, 5))
    top = u.order("contribution")[0]
    p = fn.patch_figure(u, top)
    assert np.allclose(np.asarray(p.data[-1].z, dtype=float), u.terms[top].products)
    c = fn.contributions_figure(u, "contribution", top)
    bars, run = c.data[0], c.data[1]
    assert list(bars.y) == sorted(bars.y, reverse=True) and run.y[-1] == pytest.approx(u.total)
    assert bars.marker.color[0] == fn.SELECTED
    assert c.data[3].y[0] == pytest.approx(u.pre_activation)
    region = window_region(u, input_channel(lenet, x, "features.3", u.terms[top].channel))
    w = fn.window_figure(region, u.terms[top].kernel)
    assert w.to_dict()["layout"]["sliders"][0]["active"] == region.start


def test_channel_grid_and_unit_map():
    grid, layout = fn.channel_grid(torch.rand(6, 7, 7), tile_px=28, selected=4)
    y, x = layout.origin(4)
    assert layout.tile_at(y + 3, x + 3) == 4 and tuple(grid[y - 1, x]) == (228, 26, 28)
    pic, f = fn.unit_map(torch.rand(7, 7), (2, 3), size=70)
    assert f == 10 and tuple(pic[20, 35]) == (228, 26, 28)
