"""The graph toolkit: tracing beside other threads' forward passes, cutting, shapes, call naming."""
import threading

import pytest
import torch
import torchvision
from torch import nn

from cnnviz.core import graph
from cnnviz.core.capture import capture


class _Gate(nn.Module):
    """A block whose forward, while it is traced, hands the CPU to another thread and waits for it."""

    def __init__(self, inner: nn.Module, entered: threading.Event, resume: threading.Event):
        super().__init__()
        self.inner, self.entered, self.resume = inner, entered, resume

    def forward(self, x):
        if isinstance(x, torch.fx.Proxy):  # only the trace waits
            self.entered.set()
            assert self.resume.wait(20)
        return self.inner(x)


def _traced_while(other: nn.Module, x: torch.Tensor, traced: nn.Module, entered, resume):
    """Trace ``traced`` in this thread while another thread runs ``other(x)`` inside the trace."""
    result: dict = {}

    def forward_elsewhere():
        assert entered.wait(20)
        try:
            with torch.no_grad():
                result["out"] = other(x)
        except Exception as e:  # what a serving thread would have raised
            result["error"] = e
        finally:
            resume.set()

    t = threading.Thread(target=forward_elsewhere)
    t.start()
    g = graph.Tracer().trace(traced)
    t.join(20)
    return g, result


def test_a_forward_pass_in_another_thread_during_a_trace_runs_untouched():
    """torch.fx patches nn.Module.__call__ for the whole process while it traces; before the guard, a forward
    pass of another model at that moment raised "module is not installed as a submodule"."""
    torch.manual_seed(0)
    entered, resume = threading.Event(), threading.Event()
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        expected = other(x)
    traced = nn.Sequential(nn.Conv2d(1, 2, 3), _Gate(nn.ReLU(), entered, resume), nn.Flatten())
    g, result = _traced_while(other, x, traced, entered, resume)
    assert "error" not in result, result.get("error")
    assert torch.equal(result["out"], expected)
    assert [n.target for n in g.nodes if n.op == "call_module"] == ["0", "1.inner", "2"]


def test_a_forward_pass_of_the_traced_model_itself_stays_out_of_its_graph():
    """The same model run by another session during its trace: its parameters stay tensors and its calls are
    not recorded into the graph being traced."""
    torch.manual_seed(0)
    entered, resume = threading.Event(), threading.Event()
    model = nn.Sequential(nn.Conv2d(1, 2, 3), _Gate(nn.ReLU(), entered, resume), nn.Flatten()).eval()
    x = torch.randn(1, 1, 6, 6)
    with torch.no_grad():
        expected = torch.relu(nn.functional.conv2d(x, model[0].weight, model[0].bias)).flatten(1)
    g, result = _traced_while(model, x, model, entered, resume)
    assert "error" not in result, result.get("error")
    assert torch.equal(result["out"], expected)
    resume.set()
    alone = graph.Tracer().trace(model)  # the same model traced with nobody else running
    assert [(n.op, n.target) for n in g.nodes] == [(n.op, n.target) for n in alone.nodes]


def test_split_at_a_residual_layer_gives_the_whole_network_back():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    head, tail = graph.split_at(net, "layer2.0.conv2")
    with torch.no_grad():
        a, values = head(x)
        assert len(values) == 1  # the block's input, for its downsample branch
        assert torch.allclose(tail(a, *values), net(x), atol=1e-5)
        assert torch.allclose(a, capture(net, x, ["layer2.0.conv2"]).outputs["layer2.0.conv2"], atol=1e-6)
    with pytest.raises(graph.CutError, match="never happens"):
        graph.split_at(net, "layer1.0.relu#3")


def test_head_until_and_shape_prop_agree_with_a_real_pass():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(1, 3, 96, 80)
    gm = torch.fx.GraphModule(net, graph.trace(net))
    graph.shape_prop(gm, x)
    node = graph.find_call(gm.graph, "layer1.0.relu#2")
    assert node is not None and node.target == "layer1.0.relu"
    with torch.no_grad():
        real = capture(net, x, ["layer1.0.relu#2", "layer4.1.bn2"]).outputs
        assert torch.allclose(graph.head_until(gm, node)(x), real["layer1.0.relu#2"], atol=1e-6)
    shapes = {n.target: tuple(n.meta["val"].shape) for n in gm.graph.nodes if n.op == "call_module"}
    assert shapes["layer4.1.bn2"] == tuple(real["layer4.1.bn2"].shape) == (1, 512, 3, 3)
    assert shapes["fc"] == (1, 10)


def test_out_of_place_rewrites_a_copy_and_keeps_the_result():
    class Net(nn.Module):
        def forward(self, x):
            y = x * 2
            y += 1
            return torch.relu_(y)

    net = Net()
    g = graph.Tracer().trace(net)
    graph.out_of_place(g)
    gm = torch.fx.GraphModule(net, g)
    x = torch.randn(5)
    assert torch.equal(gm(x), torch.relu(x * 2 + 1))
    targets = [n.target for n in g.nodes if n.op in ("call_function", "call_method")]
    assert "relu_" not in targets and all(getattr(t, "__name__", "") != "iadd" for t in targets)
