"""Fixtures of the augmentation tests: the bundled handwritten 6, and a model small enough to work out by hand."""
import pytest
import torch
from torch import nn

from cnnviz.core.images import load_image
from cnnviz.core.model import ModelHandle

from ...conftest import SAMPLES


@pytest.fixture(scope="session")
def six():
    return load_image(SAMPLES / "digit-6.png")


@pytest.fixture(scope="session")
def three():
    return load_image(SAMPLES / "digit-3.png")


@pytest.fixture
def tiny_pool() -> ModelHandle:
    """1x8x8 input -> 2x2 average pool (stride 2) -> linear: every number can be worked out by hand."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return ModelHandle("tiny", net, torch.device("cpu"), ["a", "b", "c"], (1, 8, 8), (0.0,), (1.0,), "tiny")
