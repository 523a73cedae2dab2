"""A tiny model whose attributions are worked out by hand, and a hook counter for shared-model safety."""
import pytest
import torch
from torch import nn

from cnnviz.core.model import ModelHandle

X = torch.tensor([[[[1.0, -2.0], [3.0, -4.0]]]])


def tiny_model() -> ModelHandle:
    """conv 1x1 (weights 1 and 2, no bias) -> ReLU -> global mean -> linear [[1, 1], [0, -1]].

    With x = [[1, -2], [3, -4]] the ReLU keeps the two positive pixels (mask [[1, 0], [1, 0]]) and
        y0 = 0.75 * sum(relu(x)) = 3,   y1 = -0.5 * sum(relu(x)) = -2.
    """
    conv = nn.Conv2d(1, 2, 1, bias=False)
    fc = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
        fc.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, -1.0]]))
    module = nn.Sequential(conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return ModelHandle("tiny", module, torch.device("cpu"), ["pos", "neg"], (1, 2, 2), (0.0,), (1.0,), "tiny")


def hook_count(module: nn.Module) -> int:
    """Forward, pre-forward and backward hooks on every submodule (0: nothing was left on the model)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in module.modules())


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()
