"""Which models cnnviz knows: the bundled ones (trained here) and torchvision's zoo.

Nothing downloads silently: zoo weights are used when the file is in the torch hub cache
(``$TORCH_HOME/hub/checkpoints``) or at a path the user gives; ``download_weights`` is an
explicit action.
"""
from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnviz.core.paths import MODELS_DIR

# name -> how it was trained and how its inputs are prepared
BUNDLED: dict[str, dict] = {
    "lenet5-mnist": {
        "architecture": "lenet5", "dataset": "mnist", "mean": 0.1307, "std": 0.3081,
        "title": "LeNet-5 on MNIST digits", "shift": 2,
    },
    "small-vgg-fashion": {
        "architecture": "small-vgg", "dataset": "fashion-mnist", "mean": 0.2860, "std": 0.3530,
        "title": "Small VGG-style CNN on Fashion-MNIST", "shift": 2, "flip": True, "label_smoothing": 0.05,
    },
    "simple-cnn-mnist": {  # a second digit model of another architecture: adversarial transfer
        "architecture": "simple-cnn", "dataset": "mnist", "mean": 0.1307, "std": 0.3081,
        "title": "Plain 3x3 CNN on MNIST digits", "shift": 2,
    },
    "lenet5-mnist-robust": {  # trained with --adversarial (half of each batch FGSM examples)
        "architecture": "lenet5", "dataset": "mnist", "mean": 0.1307, "std": 0.3081,
        "title": "LeNet-5 on MNIST, adversarially trained", "shift": 2,
    },
}
DEFAULT_MODEL = "lenet5-mnist"

# torchvision zoo: name -> (weights enum name, title, what it introduced)
ZOO: dict[str, dict] = {
    "alexnet": {"weights": "AlexNet_Weights", "title": "AlexNet (2012)"},
    "vgg16": {"weights": "VGG16_Weights", "title": "VGG-16 (2014)"},
    "googlenet": {"weights": "GoogLeNet_Weights", "title": "GoogLeNet / Inception v1 (2014)"},
    "resnet18": {"weights": "ResNet18_Weights", "title": "ResNet-18 (2015)"},
    "resnet50": {"weights": "ResNet50_Weights", "title": "ResNet-50 (2015)"},
    "mobilenet_v3_small": {"weights": "MobileNet_V3_Small_Weights", "title": "MobileNetV3-Small (2019)"},
}


def model_names() -> list[str]:
    """Every name ``load_model`` accepts besides file paths."""
    return list(BUNDLED) + list(ZOO)


def bundled_card(name: str) -> dict:
    """The JSON card written by ``python -m cnnviz.methods.training`` for a bundled model."""
    path = MODELS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def zoo_weights(name: str):
    """torchvision's default weights enum entry for a zoo model (metadata only, no download)."""
    import torchvision

    return getattr(torchvision.models, ZOO[name]["weights"]).DEFAULT


@dataclass(frozen=True)
class WeightStatus:
    name: str
    available: bool
    path: Path
    url: str

    @property
    def message(self) -> str:
        if self.available:
            return f"ImageNet weights found at {self.path}"
        return (
            f"ImageNet weights for {self.name} are not on this machine. Download {self.url} "
            f"and put it at {self.path} (or give its path), then reload. Until then the "
            f"architecture is shown UNTRAINED (random weights)."
        )


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_status(name: str) -> WeightStatus:
    """Whether the ImageNet weight file for a zoo model is in the torch hub cache."""
    w = zoo_weights(name)
    path = hub_checkpoint_dir() / os.path.basename(w.url)
    return WeightStatus(name, path.is_file(), path, w.url)


def download_weights(name: str, progress: Callable[[int, int], None] | None = None) -> Path:
    """Explicitly download a zoo model's weights into the torch hub cache.

    Args:
        name: a zoo model name, e.g. ``"resnet18"``.
        progress: called as ``progress(bytes_done, bytes_total)``.
    """
    st = weight_status(name)
    st.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = st.path.with_suffix(".partial")
    with urllib.request.urlopen(st.url, timeout=30) as r, open(tmp, "wb") as f:
        total = int(r.headers.get("Content-Length") or 0)
        done = 0
        while chunk := r.read(1 << 20):
            f.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    tmp.replace(st.path)
    return st.path


def build_zoo_module(name: str, for_weights: bool, num_classes: int | None = None) -> torch.nn.Module:
    """The torchvision architecture, randomly initialised (seeded), shaped to take its weight file."""
    import torchvision

    kwargs: dict = {}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if name == "googlenet":
        kwargs.update(aux_logits=True, init_weights=True, transform_input=for_weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torchvision.models.get_model(name, weights=None, **kwargs)


def finish_zoo_module(name: str, module: torch.nn.Module) -> torch.nn.Module:
    if name == "googlenet":  # torchvision drops the auxiliary heads after loading too
        module.aux_logits = False
        module.aux1 = None
        module.aux2 = None
    return module
