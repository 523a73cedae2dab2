"""The executed graph: residual additions, Inception concatenations, shapes, blocks, views, the fallback."""
import pytest
import torch
from torch import nn

import cnnviz
from cnnviz.core.model import ModelHandle
from cnnviz.methods import network as nw

from ..conftest import SAMPLES


def _meta(name: str) -> ModelHandle:
    """A zoo architecture on the meta device (no weights, no arithmetic): enough for the graph."""
    from cnnviz.core import zoo

    with torch.device("meta"):
        module = zoo.finish_zoo_module(name, zoo.build_zoo_module(name, for_weights=False)).eval()
    return ModelHandle(name, module, torch.device("meta"), [], (3, 224, 224), (0.0,) * 3, (1.0,) * 3, name)


def test_resnet18_has_eight_residual_additions(resnet18_untrained):
    g = nw.network_graph(resnet18_untrained)
    adds = g.residual_adds()
    assert len(adds) == 8  # two BasicBlocks in each of four stages
    # each joins the block's bn2 with the skip: the block input, or the downsample branch
    first = g.nodes[adds[0]]
    assert set(first.inputs) == {"layer1.0.bn2", "maxpool"}
    assert "layer2.0.downsample.1" in g.nodes[adds[2]].inputs
    assert g.nodes["layer1.0.conv1"].shape == (64, 56, 56) and g.nodes["fc"].shape == (1000,)
    assert g.nodes["layer1.0.relu#2"].inputs == (adds[0],)  # the shared ReLU's second call follows the add
    assert g.stages == ["layer1", "layer2", "layer3", "layer4"] and g.blocks["layer1.0"] == "BasicBlock"
    # shapes from fx agree with a real pass (the activation engine's, module calls only)
    x = torch.zeros(1, 3, 224, 224)
    for key, t in resnet18_untrained.activations(x).items():
        assert g.nodes[key].shape == tuple(t.shape[1:]), key


def test_googlenet_has_nine_inception_concatenations():
    g = nw.network_graph(_meta("googlenet"))
    cats = g.concats()
    assert len(cats) == 9
    assert [g.nodes[c].containers[-1] for c in cats] == ["inception3a", "inception3b", "inception4a", "inception4b",
                                                         "inception4c", "inception4d", "inception4e", "inception5a",
                                                         "inception5b"]
    assert g.nodes[cats[0]].shape == (256, 28, 28) and len(g.nodes[cats[0]].inputs) == 4
    assert not g.residual_adds()


def test_a_concatenation_of_plain_slices_is_not_a_branch_merge():
    class Net(nn.Module):  # like GoogLeNet's transform_input: cat of rescaled channels, no layer on any path
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1)

        def forward(self, x):
            x = torch.cat([x[:, :1] * 2, x[:, 1:] + 1], 1)
            return torch.cat([self.a(x), self.b(x)], 1) + x.repeat(1, 2, 1, 1)

    m = ModelHandle("n", Net().eval(), torch.device("cpu"), [], (2, 4, 4), (0.0,) * 2, (1.0,) * 2, "n")
    g = nw.network_graph(m)
    assert len(g.concats()) == 1 and len(g.residual_adds()) == 1


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet50", "googlenet", "mobilenet_v3_small"])
def test_zoo_architectures_give_a_graph_and_a_view(name):
    m = _meta(name)
    g = nw.network_graph(m)
    detail, fold, opened = nw.default_view(g)
    v = nw.graph_view(m, detail, opened, fold)
    assert v.nodes[0].id == "x" and v.nodes[-1].shape == (1000,)
    members = [i for n in v.nodes for i in n.members]
    assert sorted(members) == sorted(g.nodes)  # every executed op is shown exactly once
    assert v.width <= 32
    # left to right: every edge goes to a later column
    assert all(v.column[s] < v.column[d] for s, d in v.edges)
    assert len({(v.column[n.id], v.row[n.id]) for n in v.nodes}) == len(v.nodes)  # no two nodes on one spot
    if name == "resnet50":
        assert len(g.residual_adds()) == 16 and [n.id for n in nw.graph_view(m, "stages").nodes][5:9] == \
            ["layer1", "layer2", "layer3", "layer4"]


def test_views_collapse_open_fold_and_are_cached(lenet, resnet18_untrained):
    m = resnet18_untrained
    a = nw.graph_view(m, "stages", ["layer2"])
    assert nw.graph_view(m, "stages", ["layer2"]) is a  # laid out once
    ids = [n.id for n in a.nodes]
    assert "layer1" in ids and "layer2.0" in ids and "layer2.0.conv1" not in ids  # opened stage: blocks inside
    b = nw.graph_view(m, "stages", ["layer2", "layer2.0"])
    assert "layer2.0.conv1" in [n.id for n in b.nodes] and any(f[0] == "layer2.0" for f in b.frames)
    assert b.row[b.owner("layer2.0.downsample.0")] == 1  # the downsample branch runs in its own row
    f = nw.graph_view(lenet, "layers", fold=True)
    assert f.node("features.0").op == "Conv2d+ReLU" and f.owner("features.1") == "features.0"
    with pytest.raises(nw.GraphError, match="expected one of"):
        nw.graph_view(lenet, "everything")


def test_node_values_one_pass_match_the_layers(lenet, resnet18_untrained):
    m = resnet18_untrained
    x = m.preprocess(cnnviz.load_image(SAMPLES / "photo-cat.jpg"))
    v = nw.graph_view(m, "layers")
    vals = nw.node_values(m, x, v)
    acts = m.activations(x)
    assert torch.equal(vals["layer1.0.conv1"], acts["layer1.0.conv1"][0])
    add = nw.network_graph(m).residual_adds()[0]  # read as the input of the ReLU that follows it
    assert torch.allclose(vals[add], acts["layer1.0.bn2"][0] + acts["maxpool"][0])
    assert torch.equal(vals["x"], x[0])
    assert nw.strongest_channels(vals["layer1.0.conv1"], 3)[0] == int(vals["layer1.0.conv1"].mean((1, 2)).argmax())


def test_untraceable_model_raises_a_graph_error():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            y = self.conv(x)
            return y * 2 if y.sum() > 0 else y

    m = ModelHandle("b", Branchy().eval(), torch.device("cpu"), [], (1, 5, 5), (0.0,), (1.0,), "b")
    with pytest.raises(nw.GraphError, match="cannot trace Branchy"):
        nw.network_graph(m)
    assert [li.name for li in m.layers()] == ["conv"]  # the page's fallback: a plain layer list

