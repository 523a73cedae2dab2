"""Which models cnnviz knows, and loading them by name: the bundled ones (trained here) and torchvision's zoo.

Nothing downloads silently: zoo weights are used when the file is in the torch hub cache
(``$TORCH_HOME/hub/checkpoints``) or at a path the user gives; ``download_weights`` is an
explicit action. How each architecture is built and takes its weights is :mod:`cnnviz.core.architectures`.
"""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnviz.core.architectures import UnknownModelError, architecture
from cnnviz.core.datasets import DATASETS
from cnnviz.core.handle import ModelHandle
from cnnviz.core.paths import MODELS_DIR
from cnnviz.core.weights import MissingWeightsError, WeightSource, load_state_into, read_state_dict, weights_digest

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
    "capsnet-mnist": {  # trained by cnnviz.methods.capsules.training (margin loss, routing by agreement)
        "architecture": "capsnet", "dataset": "mnist", "mean": 0.1307, "std": 0.3081,
        "title": "CapsNet on MNIST digits (dynamic routing)", "shift": 2,
    },
}
DEFAULT_MODEL = "lenet5-mnist"
WEIGHTS_URL = "https://download.pytorch.org/models/"

# torchvision zoo: name -> weights enum name, title, and the file name of the enum's DEFAULT weights (its URL's last
# part). The file name is written here so that the sidebar can tell whether the weights are on this machine without
# importing torchvision.models (2-4 s on a fresh server's first request); a test keeps it equal to the enum's.
ZOO: dict[str, dict] = {
    "alexnet": {"weights": "AlexNet_Weights", "title": "AlexNet (2012)", "file": "alexnet-owt-7be5be79.pth"},
    "vgg16": {"weights": "VGG16_Weights", "title": "VGG-16 (2014)", "file": "vgg16-397923af.pth"},
    "googlenet": {"weights": "GoogLeNet_Weights", "title": "GoogLeNet / Inception v1 (2014)",
                  "file": "googlenet-1378be20.pth"},
    "resnet18": {"weights": "ResNet18_Weights", "title": "ResNet-18 (2015)", "file": "resnet18-f37072fd.pth"},
    "resnet50": {"weights": "ResNet50_Weights", "title": "ResNet-50 (2015)", "file": "resnet50-11ad3fa6.pth"},
    "mobilenet_v3_small": {"weights": "MobileNet_V3_Small_Weights", "title": "MobileNetV3-Small (2019)",
                           "file": "mobilenet_v3_small-047dcff4.pth"},
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
    file = ZOO[name]["file"]
    path = hub_checkpoint_dir() / file
    return WeightStatus(name, path.is_file(), path, WEIGHTS_URL + file)


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
    return architecture(name).build(num_classes, for_weights=for_weights)


def finish_zoo_module(name: str, module: torch.nn.Module) -> torch.nn.Module:
    """The module as it is served once its weights are in (GoogLeNet drops its auxiliary heads, as torchvision does)."""
    return architecture(name).finish(module)


def resolve_architecture(architecture_name: str) -> str:
    """The model name whose architecture a weight file is for: a bundled or zoo name, or a bundled
    network's architecture (``"lenet5"`` -> ``"lenet5-mnist"``).

    Raises:
        UnknownModelError: none of those (the message lists them).

    Examples::

        >>> resolve_architecture("lenet5"), resolve_architecture("resnet18")
        ('lenet5-mnist', 'resnet18')
    """
    if architecture_name in BUNDLED or architecture_name in ZOO:
        return architecture_name
    for name, spec in BUNDLED.items():
        if spec["architecture"] == architecture_name:
            return name
    known = sorted({*ZOO, *BUNDLED, *(s["architecture"] for s in BUNDLED.values())})
    raise UnknownModelError(f"unknown architecture {architecture_name!r}. Known architectures: {', '.join(known)}")


def class_names(classes: Sequence[str] | None, n: int, own: Sequence[str]) -> list[str]:
    """The names given, else the model's own ``own`` when there are ``n`` of them, else ``"0"``, ``"1"``, ..."""
    if classes:
        return list(classes)
    return list(own) if n == len(own) else [str(i) for i in range(n)]


def load_bundled(name: str, device: torch.device, *, weights: WeightSource | None = None,
                 weights_name: str | None = None, num_classes: int | None = None,
                 classes: Sequence[str] | None = None, untrained: bool = False) -> ModelHandle:
    """A bundled model: its trained weights from ``assets/models``, your weights for its architecture, or seeded
    random ones (``untrained``). The arguments are :func:`cnnviz.core.model.load_model`'s.

    Raises:
        MissingWeightsError: the bundled weight file is not there (a checkout without its assets).
        ModelFileError: ``weights`` cannot be read or do not fit the architecture with ``num_classes``.
    """
    spec = BUNDLED[name]
    arch, own = spec["architecture"], list(DATASETS[spec["dataset"]])
    n = num_classes or len(own)
    module = architecture(arch).build(n)
    card = dict(bundled_card(name), title=spec["title"], data=spec["dataset"])
    source = "bundled"
    if weights is not None:
        state = read_state_dict(weights, weights_name)
        load_state_into(module, state, f"{arch} with {n} classes")
        card = {"title": f"{arch} ({weights_name or 'your weights'})", "weights_digest": weights_digest(state)}
        source = "upload"
    elif not untrained:
        path = MODELS_DIR / f"{name}.safetensors"
        if not path.exists():
            raise MissingWeightsError(f"bundled weights {path} are missing; run `python -m cnnviz.train {name}`")
        load_state_into(module, read_state_dict(path), name)
    else:
        card["test_accuracy"] = None
    return ModelHandle(name, module, device, class_names(classes, n, own), (1, 28, 28), (spec["mean"],),
                       (spec["std"],), arch, None, not untrained, source,
                       spec["dataset"] if source == "bundled" else None, card,
                       invert_light_background=spec["dataset"] == "mnist")


def load_zoo(name: str, device: torch.device, *, weights: WeightSource | None = None, weights_name: str | None = None,
             num_classes: int | None = None, classes: Sequence[str] | None = None,
             untrained: bool = False) -> ModelHandle:
    """A torchvision model: ImageNet weights from the torch hub cache (untrained, with the reason on its card,
    when they are not there), your weights for its architecture, or seeded random ones (``untrained``).
    The arguments are :func:`cnnviz.core.model.load_model`'s.

    Raises:
        ModelFileError: ``weights`` cannot be read or do not fit the architecture with ``num_classes``.
    """
    spec, w, arch = ZOO[name], zoo_weights(name), architecture(name)
    tf, imagenet = w.transforms(), list(w.meta["categories"])
    card = {"title": spec["title"], "data": "ImageNet-1k", "weights_url": w.url,
            "test_accuracy": w.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")}
    own_classes = num_classes is not None and num_classes != len(imagenet)
    module = arch.build(num_classes if own_classes else None, for_weights=not untrained)
    trained, source = False, "zoo"
    if weights is not None:
        state = read_state_dict(weights, weights_name)
        arch.fit_state(module, state)
        load_state_into(module, state, f"{name} with {num_classes or len(imagenet)} classes")
        trained, source = True, ("upload" if own_classes or weights_name else "zoo")
        file = weights_name if isinstance(weights, (bytes, bytearray)) else str(weights_name or weights)
        card.update(weights_digest=weights_digest(state), weights_file=str(file))
        if source == "upload":
            card.update(title=f"{spec['title']} ({weights_name or 'your weights'})", data="your data",
                        test_accuracy=None)
    elif not untrained:
        status = weight_status(name)
        card["weight_status"] = status.message
        if status.available:
            state = read_state_dict(status.path)
            load_state_into(module, state, name)
            trained = True
            card["weights_digest"] = weights_digest(state)
    if not trained:
        card["test_accuracy"] = None
    names = class_names(classes, num_classes if own_classes else len(imagenet), imagenet)
    crop = tf.crop_size[0]
    return ModelHandle(name, arch.finish(module, trained), device, names, (3, crop, crop), tuple(tf.mean),
                       tuple(tf.std), name, tf.resize_size[0], trained, source, None, card)
