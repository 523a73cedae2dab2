"""The model handle: one loaded network with its preprocessing, classes and device.

A handle is shared by every browser session. Its module is prepared once at load time
(:func:`cnnviz.core.capture.prepare_for_serving`: eval mode, frozen parameters, in-place
activations off) and never changed afterwards: layer outputs and gradients are read through
the capture engine (:mod:`cnnviz.core.capture`), which leaves the module untouched, so
sessions run forward and backward passes at the same time without a lock.
"""
from __future__ import annotations

import copy
import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.core import zoo
from cnnviz.core.capture import capture, leaf_names, prepare_for_serving
from cnnviz.core.device import describe_device, pick_device
from cnnviz.core.images import ImageSource, load_image, to_grayscale, to_rgb
from cnnviz.core.networks import ARCHITECTURES
from cnnviz.errors import CnnvizError


class UnknownModelError(CnnvizError, KeyError):
    """A model or architecture name cnnviz does not know (the message lists the known ones)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def resolve_architecture(architecture: str) -> str:
    """The model name whose architecture a weight file is for: a bundled or zoo name, or a bundled
    network's architecture (``"lenet5"`` -> ``"lenet5-mnist"``).

    Examples::

        >>> resolve_architecture("lenet5"), resolve_architecture("resnet18")
        ('lenet5-mnist', 'resnet18')
    """
    if architecture in zoo.BUNDLED or architecture in zoo.ZOO:
        return architecture
    for name, spec in zoo.BUNDLED.items():
        if spec["architecture"] == architecture:
            return name
    known = sorted({*zoo.ZOO, *zoo.BUNDLED, *(s["architecture"] for s in zoo.BUNDLED.values())})
    raise UnknownModelError(f"unknown architecture {architecture!r}. Known architectures: {', '.join(known)}")


class ModelFileError(CnnvizError):
    """A weight file that does not fit the chosen architecture, or is not safe to read."""


@dataclass(frozen=True)
class LayerInfo:
    """One leaf layer of a model, as seen in a forward pass on an input of the model's size."""

    name: str
    type: str
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int
    macs: int  # multiply-accumulates for one image
    kernel: tuple | None = None
    stride: tuple | None = None
    padding: tuple | str | None = None


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        k = int(np.prod(module.kernel_size))
        return int(out[0].numel() * (module.in_channels // module.groups) * k)
    if isinstance(module, (nn.ConvTranspose2d,)):
        k = int(np.prod(module.kernel_size))
        return int(inp[0].numel() * (module.out_channels // module.groups) * k)
    if isinstance(module, nn.Linear):
        return int(out[0].numel() * module.in_features)
    return 0


@dataclass(eq=False)
class ModelHandle:
    """A loaded model ready for inspection.

    Attributes:
        name: the name it was loaded under (``"lenet5-mnist"``, ``"resnet18"``, a file name).
        module: the ``nn.Module`` in eval mode with frozen parameters, on ``device``.
        device: where its tensors live.
        classes: class names in output order.
        input_size: ``(channels, height, width)`` the network expects.
        mean, std: per-channel normalisation applied by :meth:`preprocess`.
        resize_size: shorter side before the centre crop (ImageNet models), or None.
        trained: False for randomly initialised weights; every view labels it.
        source: ``"bundled"``, ``"zoo"`` or ``"upload"``.
        dataset: the bundled data set it was trained on, if any.
        card: facts for the model card (accuracy, data, command, weight status).
    """

    name: str
    module: nn.Module
    device: torch.device
    classes: list[str]
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    architecture: str
    resize_size: int | None = None
    trained: bool = True
    source: str = "bundled"
    dataset: str | None = None
    card: dict = field(default_factory=dict)
    invert_light_background: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # only builds the untrained twin
    _layers: list | None = field(default=None, repr=False)
    _twin: ModelHandle | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # every handle is prepared once, before it is shared: on its device, eval, frozen, in-place activations off
        prepare_for_serving(self.module.to(self.device))

    # ---------------------------------------------------------------- identity
    @property
    def title(self) -> str:
        return self.card.get("title", self.name) + ("" if self.trained else " [UNTRAINED]")

    @property
    def key(self) -> str:
        """Identifies model and weights, for cache keys."""
        return f"{self.name}|{self.architecture}|{'trained' if self.trained else 'untrained'}|{self.card.get('weights_digest', '')}"

    @property
    def grayscale(self) -> bool:
        return self.input_size[0] == 1

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    @property
    def device_description(self) -> str:
        return describe_device(self.device)

    # ---------------------------------------------------------------- inputs
    def prepare_image(self, img: ImageSource) -> Image.Image:
        """The image resized/cropped/converted exactly as the network will see it (before normalising)."""
        img = load_image(img)
        c, h, w = self.input_size
        img = to_grayscale(img) if c == 1 else to_rgb(img)
        if self.resize_size is not None:
            sw, sh = img.size
            s = self.resize_size / min(sw, sh)
            img = img.resize((max(w, round(sw * s)), max(h, round(sh * s))), Image.BILINEAR)
            sw, sh = img.size
            left, top = (sw - w) // 2, (sh - h) // 2
            img = img.crop((left, top, left + w, top + h))
        elif img.size != (w, h):
            img = _fit_digit(img, (w, h)) if self.invert_light_background else img.resize((w, h), Image.BILINEAR)
        if self.invert_light_background:
            arr = np.asarray(img)
            border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
            if border.mean() > 127:  # dark strokes on light paper: MNIST is light on dark
                img = Image.fromarray(255 - arr)
        return img

    def image_to_tensor(self, img: Image.Image) -> torch.Tensor:
        """A prepared PIL image (or uint8 array) to a normalised [C,H,W] float tensor on the device."""
        arr = np.asarray(img, dtype=np.uint8)
        t = torch.from_numpy(arr.copy()).to(self.device)
        t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
        return self.normalize(t.float().div_(255))

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (-1, 1, 1) if like.ndim <= 3 else (1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(shape)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(shape)
        return mean, std

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels 0..1 (``[C, H, W]`` or ``[N, C, H, W]``, any device and float dtype) to the normalised input
        the module expects: ``(pixels - mean) / std`` per channel. The one normalisation of cnnviz.

        Examples::

            >>> m = load_model("lenet5-mnist")
            >>> round(float(m.normalize(torch.zeros(1, 1, 2, 2))[0, 0, 0, 0]), 4)  # (0 - 0.1307) / 0.3081
            -0.4242
        """
        mean, std = self._stats(pixels)
        return (pixels - mean) / std

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """A normalised input back to pixels 0..1 (what :meth:`normalize` undoes, clipped to [0, 1])."""
        mean, std = self._stats(x)
        return (x * std + mean).clamp(0, 1)

    def preprocess(self, img: ImageSource | Sequence[ImageSource]) -> torch.Tensor:
        """Image(s) to the normalised batch ``[N, C, H, W]`` on the model's device.

        Examples::

            >>> m = load_model("lenet5-mnist")
            >>> m.preprocess(load_image("assets/samples/digit-7.png")).shape
            torch.Size([1, 1, 28, 28])
        """
        if isinstance(img, torch.Tensor):
            t = img.to(self.device)
            return t.unsqueeze(0) if t.ndim == 3 else t
        imgs = img if isinstance(img, (list, tuple)) else [img]
        return torch.stack([self.image_to_tensor(self.prepare_image(i)) for i in imgs])

    def deprocess(self, x: torch.Tensor) -> np.ndarray:
        """Normalised tensor [C,H,W] or [1,C,H,W] back to a uint8 image array (what the model sees)."""
        x = x.detach()
        if x.ndim == 4:
            x = x[0]
        arr = (self.to_pixels(x) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        return arr[..., 0] if arr.shape[2] == 1 else arr

    # ---------------------------------------------------------------- running
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for a normalised batch (inference mode; no lock: the module is never changed)."""
        with torch.inference_mode():
            return self.module(x.to(self.device))

    def predict(self, img: ImageSource | torch.Tensor, k: int = 5) -> list[tuple[str, float]]:
        """Top-``k`` classes and probabilities for one image.

        Examples::

            >>> m.predict(load_image("assets/samples/digit-7.png"), k=1)[0][0]
            '7'
        """
        probs = torch.softmax(self.logits(self.preprocess(img)), dim=1)[0]
        top = probs.topk(min(k, len(self.classes)))
        return [(self.classes[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())]

    def predict_batch(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Softmax probabilities [N, classes] for a normalised batch, run in chunks on the device."""
        outs = [torch.softmax(self.logits(x[i:i + batch_size]), 1) for i in range(0, len(x), batch_size)]
        return torch.cat(outs)

    def layer_names(self, kinds: tuple[type, ...] | None = None) -> list[str]:
        """Names of leaf modules (optionally only of the given types), in definition order."""
        return leaf_names(self.module, kinds)

    def conv_layer_names(self) -> list[str]:
        return self.layer_names((nn.Conv2d,))

    def activations(self, img: ImageSource | torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Outputs of the named layers (default: every leaf layer) for one image or batch.

        Tensors stay on the model's device. A module called twice in one forward pass
        (e.g. the shared ReLU of a ResNet block) appears as ``name`` and ``name#2``; asking for
        ``"name#2"`` gives just that call (the naming rule of :mod:`cnnviz.core.capture`).

        Examples::

            >>> acts = m.activations(img, layers=["features.0"])
            >>> acts["features.0"].shape
            torch.Size([1, 6, 28, 28])
        """
        return capture(self.module, self.preprocess(img), None if layers is None else list(layers)).outputs

    def layers(self) -> list[LayerInfo]:
        """Every leaf layer with output shape, own parameters and MACs, from one forward pass."""
        if self._layers is not None:
            return self._layers
        mods = dict(self.module.named_modules())
        transposed = [n for n in self.layer_names() if isinstance(mods[n], nn.ConvTranspose2d)]
        x = torch.zeros(1, *self.input_size, device=self.device)
        rec = capture(self.module, x, None, inputs=transposed)
        infos: list[LayerInfo] = []
        for key, out in rec.outputs.items():
            name = key.split("#")[0]
            m = mods[name]
            p = sum(q.numel() for q in m.parameters(recurse=False))
            kernel = stride = padding = None
            if hasattr(m, "kernel_size"):
                kernel, stride = _pair(m.kernel_size), _pair(m.stride)
                padding = m.padding if isinstance(m.padding, str) else _pair(m.padding)
            infos.append(LayerInfo(name, type(m).__name__, tuple(out.shape[1:]), p, _macs(m, rec.inputs.get(key), out),
                                   kernel, stride, padding))
        self._layers = infos
        return infos

    def untrained(self) -> ModelHandle:
        """The same architecture with fresh random weights (seeded), for comparisons.

        Built once per handle and kept, so pages can ask for it on every rerun.
        """
        if not self.trained:
            return self
        with self.lock:
            if self._twin is None:
                self._twin = self._make_untrained()
            return self._twin

    def _make_untrained(self) -> ModelHandle:
        fresh = copy.deepcopy(self.module).cpu()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for mod in fresh.modules():
                if hasattr(mod, "reset_parameters") and mod is not fresh:
                    mod.reset_parameters()
        fresh = _freeze(fresh).to(self.device)
        card = dict(self.card, test_accuracy=None)
        return ModelHandle(self.name, fresh, self.device, self.classes, self.input_size, self.mean, self.std,
                           self.architecture, self.resize_size, False, self.source, self.dataset, card,
                           self.invert_light_background)


def _fit_digit(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize keeping aspect ratio and pad with the border colour (for drawn or photographed digits)."""
    w, h = size
    arr = np.asarray(img)
    bg = int(np.median(np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])))
    s = min(w / img.width, h / img.height)
    small = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BILINEAR)
    canvas = Image.new("L", size, bg)
    canvas.paste(small, ((w - small.width) // 2, (h - small.height) // 2))
    return canvas


def _freeze(module: nn.Module) -> nn.Module:
    return prepare_for_serving(module)


def read_state_dict(src: str | Path | bytes, filename: str | None = None) -> dict[str, torch.Tensor]:
    """Read a state_dict from .safetensors or a weights-only .pt/.pth, never unpickling code.

    Args:
        src: a path or the file's bytes.
        filename: the original name when ``src`` is bytes (its extension picks the format).
    """
    name = str(filename or src if not isinstance(src, (bytes, bytearray)) else filename or "upload")
    data = bytes(src) if isinstance(src, (bytes, bytearray)) else Path(src).read_bytes()
    if not data:
        raise ModelFileError(f"{name} is empty")
    if name.endswith(".safetensors") or data[8:9] == b"{":
        from safetensors.torch import load as st_load

        try:
            return st_load(data)
        except Exception as e:  # safetensors raises its own SafetensorError
            raise ModelFileError(f"{name} is not a valid safetensors file ({e})") from None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        msg = str(e).split("\n")[0]
        raise ModelFileError(
            f"{name} cannot be read as a weights-only PyTorch file: {msg}. Files that contain "
            "code or whole pickled models are refused; save `model.state_dict()` with "
            "safetensors.torch.save_file (or torch.save of the state_dict) instead."
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFileError(f"{name} does not hold a state_dict (a mapping of parameter names to tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_state_into(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` strictly, turning key and shape mismatches into a readable error."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    if wrong:
        problems.append(f"wrong shapes: {'; '.join(wrong[:5])}")
    if problems:
        raise ModelFileError(f"the weights do not match {what}: " + " | ".join(problems) +
                             ". Check the architecture and the number of classes you chose.")
    module.load_state_dict(state, strict=True)


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    import hashlib

    h = hashlib.sha1()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().view(-1)[:64].float().numpy().tobytes())
    return h.hexdigest()[:12]


def load_model(name: str, weights: str | Path | bytes | None = None, *, device: str | torch.device | None = None,
               num_classes: int | None = None, classes: Sequence[str] | int | None = None, untrained: bool = False,
               architecture: str | None = None, weights_name: str | None = None,
               input_size: Sequence[int] | None = None, mean: Sequence[float] | None = None,
               std: Sequence[float] | None = None, trust_code: bool = False) -> ModelHandle:
    """Load a bundled model, a torchvision zoo model, or your own weights for a known architecture.

    Args:
        name: ``"lenet5-mnist"``, ``"small-vgg-fashion"``, a zoo name (``"resnet18"``, ``"alexnet"``,
            ``"vgg16"``, ``"resnet50"``, ``"googlenet"``, ``"mobilenet_v3_small"``), or a path to a
            ``.safetensors``/``.pt`` state_dict (then ``architecture`` is required).
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

    Examples::

        >>> m = load_model("lenet5-mnist")
        >>> m.input_size
        (1, 28, 28)
    """
    dev = torch.device(device) if device is not None else pick_device()
    if str(name).lower().endswith(".onnx"):
        from cnnviz.core.onnx_import import load_onnx

        if input_size is None:
            raise ModelFileError("an ONNX model needs input_size=(C, H, W) (and mean=, std=, classes=)")
        return load_onnx(name, input_size, mean=mean, std=std, classes=classes, device=dev)
    if str(name).lower().endswith((".pt2", ".ts", ".jit")):
        return _load_trusted_program(Path(name), trust_code, dev, input_size, mean, std, classes)
    if name not in zoo.BUNDLED and name not in zoo.ZOO:
        if architecture is None:
            raise UnknownModelError(f"unknown model {name!r}. Known: {', '.join(zoo.model_names())}; for a weight "
                                    "file also pass architecture= (one of those names)")
        weights, weights_name, name = name, weights_name or Path(str(name)).name, resolve_architecture(architecture)
    arch_name = name
    if name in zoo.BUNDLED:
        spec = zoo.BUNDLED[name]
        from cnnviz.core.datasets import DATASETS

        ds_classes = list(DATASETS[spec["dataset"]])
        n = num_classes or len(ds_classes)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            module = ARCHITECTURES[spec["architecture"]](num_classes=n)
        card = dict(zoo.bundled_card(name))
        card.update(title=spec["title"], data=spec["dataset"])
        trained = not untrained
        source = "bundled"
        if weights is not None:
            state = read_state_dict(weights, weights_name)
            load_state_into(module, state, f"{spec['architecture']} with {n} classes")
            card = {"title": f"{spec['architecture']} ({weights_name or 'your weights'})", "weights_digest": weights_digest(state)}
            source = "upload"
        elif trained:
            from safetensors.torch import load_file

            path = zoo.MODELS_DIR / f"{name}.safetensors"
            if not path.exists():
                raise FileNotFoundError(f"bundled weights {path} are missing; run `python -m cnnviz.train {name}`")
            load_state_into(module, load_file(str(path)), name)
        else:
            card["test_accuracy"] = None
        cls = list(classes) if classes else (ds_classes if n == len(ds_classes) else [str(i) for i in range(n)])
        handle = ModelHandle(name, _freeze(module).to(dev), dev, cls, (1, 28, 28), (spec["mean"],), (spec["std"],),
                             spec["architecture"], None, trained, source, spec["dataset"] if source == "bundled" else None,
                             card, invert_light_background=spec["dataset"] == "mnist")
        return handle

    spec = zoo.ZOO[arch_name]
    w = zoo.zoo_weights(arch_name)
    tf = w.transforms()
    crop = tf.crop_size[0]
    card = {"title": spec["title"], "data": "ImageNet-1k", "weights_url": w.url,
            "test_accuracy": w.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")}
    own_classes = num_classes is not None and num_classes != len(w.meta["categories"])
    module = zoo.build_zoo_module(arch_name, for_weights=not untrained, num_classes=num_classes if own_classes else None)
    trained, source = False, "zoo"
    if weights is not None:
        state = read_state_dict(weights, weights_name)
        if arch_name == "googlenet" and not any(k.startswith("aux") for k in state):
            module.aux1 = module.aux2 = None
            module.aux_logits = False
        load_state_into(module, state, f"{arch_name} with {num_classes or len(w.meta['categories'])} classes")
        trained, source = True, ("upload" if own_classes or weights_name else "zoo")
        card.update(weights_digest=weights_digest(state), weights_file=str(weights_name or weights if not isinstance(weights, bytes) else weights_name))
        if source == "upload":
            card.update(title=f"{spec['title']} ({weights_name or 'your weights'})", data="your data", test_accuracy=None)
    elif not untrained:
        status = zoo.weight_status(arch_name)
        card["weight_status"] = status.message
        if status.available:
            state = torch.load(status.path, map_location="cpu", weights_only=True)
            load_state_into(module, state, arch_name)
            trained = True
            card["weights_digest"] = weights_digest(state)
    if not trained:
        card["test_accuracy"] = None
        if arch_name == "googlenet":
            module.transform_input = False
    module = zoo.finish_zoo_module(arch_name, module)
    cls = list(classes) if classes else (list(w.meta["categories"]) if not own_classes else [str(i) for i in range(num_classes)])
    return ModelHandle(arch_name, _freeze(module).to(dev), dev, cls, (3, crop, crop), tuple(tf.mean), tuple(tf.std),
                       arch_name, tf.resize_size[0], trained, source, None, card)


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
    fit = lambda v: tuple(float(x) for x in v) * (c if len(tuple(v)) == 1 else 1)  # noqa: E731
    label = name or type(module).__name__
    card = {"title": f"{label} (your module)", "data": "your data", "test_accuracy": None}
    resize = round(h / 0.875) if c == 3 and h >= 64 else None
    return ModelHandle(label, net, dev, names, (c, h, w), fit(mean), fit(std), type(module).__name__, resize,
                       True, "notebook", None, card)


def _load_trusted_program(path: Path, trust_code: bool, dev: torch.device, input_size, mean, std,
                          classes) -> ModelHandle:
    """A ``torch.export`` program or TorchScript module from a trusted local file (both unpickle)."""
    if not trust_code:
        raise ModelFileError(f"{path.name} is a torch.export/TorchScript file: loading it unpickles code. Only for "
                             "files you made yourself: load_model(path, trust_code=True, input_size=...). Uploads "
                             "take .safetensors, weights-only .pt and .onnx only")
    if input_size is None:
        raise ModelFileError("a program file needs input_size=(C, H, W) (and mean=, std=, classes=)")
    if path.suffix.lower() == ".pt2":
        module = torch.export.load(str(path)).module()  # trusted by the caller (trust_code=True)
    else:
        module = torch.jit.load(str(path), map_location=dev)
    return wrap(module, input_size, classes, mean=mean or (0.0,), std=std or (1.0,), name=path.name, device=dev,
                copy_module=False)
