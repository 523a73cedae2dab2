"""Loading a model: :func:`load_model` hands each kind of source to its loader.

=================================  ==================================================
``load_model(name, ...)``          loaded by
=================================  ==================================================
a bundled name (``lenet5-mnist``)  :func:`cnnviz.core.zoo.load_bundled`
a zoo name (``resnet18``)          :func:`cnnviz.core.zoo.load_zoo`
a weight file + ``architecture=``  the loader of the model that architecture names
an ``.onnx`` file                  :func:`cnnviz.core.onnx_import.load_onnx`
a ``.pt2``/``.ts``/``.jit`` file   :func:`load_program` (trusted files only)
=================================  ==================================================

An ``nn.Module`` in a notebook becomes a handle with :func:`wrap`. The handle itself is
:mod:`cnnviz.core.handle`, weight files are :mod:`cnnviz.core.weights`, architectures and their quirks
:mod:`cnnviz.core.architectures`. Their public names are re-exported here, so
``from cnnviz.core.model import ModelHandle, read_state_dict`` keeps working.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from cnnviz.core import zoo
from cnnviz.core.architectures import UnknownModelError
from cnnviz.core.device import pick_device
from cnnviz.core.handle import LayerInfo, ModelHandle
from cnnviz.core.onnx_import import load_onnx
from cnnviz.core.weights import ModelFileError, load_state_into, read_state_dict, weights_digest
from cnnviz.core.zoo import resolve_architecture

__all__ = ["LayerInfo", "ModelFileError", "ModelHandle", "UnknownModelError", "load_model", "load_program",
           "load_state_into", "read_state_dict", "resolve_architecture", "weights_digest", "wrap"]

PROGRAM_SUFFIXES = (".pt2", ".ts", ".jit")  # they unpickle: trusted local files only


def load_model(name: str, weights: str | Path | bytes | None = None, *, device: str | torch.device | None = None,
               num_classes: int | None = None, classes: Sequence[str] | int | None = None, untrained: bool = False,
               architecture: str | None = None, weights_name: str | None = None,
               input_size: Sequence[int] | None = None, mean: Sequence[float] | None = None,
               std: Sequence[float] | None = None, trust_code: bool = False) -> ModelHandle:
    """Load a bundled model, a torchvision zoo model, your own weights for a known architecture, or an ONNX file.

    Args:
        name: ``"lenet5-mnist"``, ``"small-vgg-fashion"``, a zoo name (``"resnet18"``, ``"alexnet"``,
            ``"vgg16"``, ``"resnet50"``, ``"googlenet"``, ``"mobilenet_v3_small"``), a path to a
            ``.safetensors``/``.pt`` state_dict (then ``architecture`` is required) or to an ``.onnx`` file.
        weights: a weight file for the architecture (path or bytes); default: bundled weights, or
            the torch hub cache for zoo models.
        device: where to run; default :func:`cnnviz.core.device.pick_device`.
        num_classes: output classes of your own weights (default: the architecture's own).
        classes: class names for your own weights.
        untrained: random weights (seeded) instead of trained ones.
        architecture: the architecture of a weight file given as ``name``.
        weights_name: the original file name when ``weights`` is bytes.
        input_size, mean, std: for an ONNX file (``name`` ending in ``.onnx``): ``(C, H, W)`` and
            the per-channel normalisation; ``classes`` then gives names or their number.
        trust_code: load a trusted local ``torch.export`` program (``.pt2``) or TorchScript module
            (``.ts``/``.jit``); both unpickle, so they are refused without this flag and never offered
            for uploads.

    Raises:
        UnknownModelError: an unknown model or architecture name (the message lists the known ones).
        ModelFileError: a file that cannot be read safely or does not fit (the message says why).

    Examples::

        >>> m = load_model("lenet5-mnist")
        >>> m.input_size
        (1, 28, 28)
    """
    dev = torch.device(device) if device is not None else pick_device()
    suffix = Path(str(name)).suffix.lower()
    if suffix == ".onnx":
        if input_size is None:
            raise ModelFileError("an ONNX model needs input_size=(C, H, W) (and mean=, std=, classes=)")
        return load_onnx(name, input_size, mean=mean, std=std, classes=classes, device=dev)
    if suffix in PROGRAM_SUFFIXES:
        return load_program(name, input_size, mean=mean, std=std, classes=classes, device=dev, trust_code=trust_code)
    if name not in zoo.BUNDLED and name not in zoo.ZOO:  # a weight file: its architecture names the model
        if architecture is None:
            raise UnknownModelError(f"unknown model {name!r}. Known: {', '.join(zoo.model_names())}; for a weight "
                                    "file also pass architecture= (one of those names)")
        weights, weights_name, name = name, weights_name or Path(str(name)).name, resolve_architecture(architecture)
    load = zoo.load_bundled if name in zoo.BUNDLED else zoo.load_zoo
    return load(name, dev, weights=weights, weights_name=weights_name, num_classes=num_classes, classes=classes,
                untrained=untrained)


def wrap(module: nn.Module, input_size: Sequence[int], classes: Sequence[str] | int | None = None, *,
         mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,), name: str | None = None,
         device: str | torch.device | None = None, copy_module: bool = True) -> ModelHandle:
    """A :class:`ModelHandle` for any ``nn.Module`` of a notebook or script, for the whole library API.

    Args:
        module: the network (image batch ``[N, C, H, W]`` in, class scores ``[N, classes]`` out).
        input_size: ``(C, H, W)``.
        classes: names, or their number (default: the output size).
        mean, std: per-channel normalisation (1 or C values) that ``preprocess`` applies.
        name: shown on the pages (default the class name).
        device: where to run (default: the module's own device).
        copy_module: handles freeze their module (eval, no grad, in-place activations off); by
            default a copy is frozen, so your own module stays trainable.

    Raises:
        ModelFileError: the module does not output one ``[N, classes]`` tensor, or ``classes`` does not fit it.

    Examples::

        >>> m = cnnviz.wrap(torchvision.models.resnet18(), (3, 224, 224), 1000,
        ...                 mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
        >>> m.predict(img, k=1)
    """
    c, h, w = (int(v) for v in input_size)
    net = copy.deepcopy(module) if copy_module else module
    dev = torch.device(device) if device is not None else next((p.device for p in net.parameters()), pick_device())
    net = net.to(dev).eval()
    with torch.inference_mode():
        out = net(torch.zeros(1, c, h, w, device=dev))
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ModelFileError(f"the module outputs {type(out).__name__} {tuple(getattr(out, 'shape', ()))} for a "
                             f"[1, {c}, {h}, {w}] input; cnnviz needs one [N, classes] tensor of class scores")
    n = int(out.shape[1])
    names = [str(i) for i in range(n)] if classes is None or isinstance(classes, int) else list(classes)
    if isinstance(classes, int) and classes != n or len(names) != n:
        raise ModelFileError(f"{len(names) if not isinstance(classes, int) else classes} classes given, "
                             f"but the module has {n} outputs")

    def per_channel(v: Sequence[float]) -> tuple[float, ...]:
        return tuple(float(x) for x in v) * (c if len(tuple(v)) == 1 else 1)

    label = name or type(module).__name__
    card = {"title": f"{label} (your module)", "data": "your data", "test_accuracy": None}
    resize = round(h / 0.875) if c == 3 and h >= 64 else None
    return ModelHandle(label, net, dev, names, (c, h, w), per_channel(mean), per_channel(std), type(module).__name__,
                       resize, True, "notebook", None, card)


def load_program(path: str | Path, input_size: Sequence[int] | None, *, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, classes: Sequence[str] | int | None = None,
                 device: str | torch.device | None = None, trust_code: bool = False) -> ModelHandle:
    """A ``torch.export`` program (``.pt2``) or TorchScript module (``.ts``/``.jit``) from a trusted local file.

    Both formats unpickle, so they load only with ``trust_code=True`` and are never offered for uploads.

    Raises:
        ModelFileError: ``trust_code`` is not set, or ``input_size`` is missing.
    """
    path = Path(path)
    if not trust_code:
        raise ModelFileError(f"{path.name} is a torch.export/TorchScript file: loading it unpickles code. Only for "
                             "files you made yourself: load_model(path, trust_code=True, input_size=...). Uploads "
                             "take .safetensors, weights-only .pt and .onnx only")
    if input_size is None:
        raise ModelFileError("a program file needs input_size=(C, H, W) (and mean=, std=, classes=)")
    dev = torch.device(device) if device is not None else pick_device()
    if path.suffix.lower() == ".pt2":
        module = torch.export.load(str(path)).module()  # trusted by the caller (trust_code=True)
    else:
        module = torch.jit.load(str(path), map_location=dev)
    return wrap(module, input_size, classes, mean=mean or (0.0,), std=std or (1.0,), name=path.name, device=dev,
                copy_module=False)
