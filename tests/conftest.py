import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CNNVIZ_DEVICE", "cpu") if not torch.cuda.is_available() else None

import cnnviz  # noqa: E402

SAMPLES = ROOT / "assets" / "samples"


@pytest.fixture(scope="session")
def lenet():
    return cnnviz.load_model("lenet5-mnist")


@pytest.fixture(scope="session")
def small_vgg():
    return cnnviz.load_model("small-vgg-fashion")


@pytest.fixture(scope="session")
def resnet18_untrained():
    return cnnviz.load_model("resnet18", untrained=True)
