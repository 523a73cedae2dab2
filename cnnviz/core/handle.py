"""The model handle: one loaded network with its preprocessing, classes and device.

A handle is shared by every browser session. Its module is prepared once, when the handle is made
(:func:`cnnviz.core.capture.prepare_for_serving`: eval mode, frozen parameters, in-place activations off)
and never changed afterwards: layer outputs and gradients are read through the capture engine
(:mod:`cnnviz.core.capture`), which leaves the module untouched, so sessions run forward and backward
passes at the same time without a lock.

Handles are made by the loaders (:func:`cnnviz.core.model.load_model`, :func:`cnnviz.core.model.wrap`,
:func:`cnnviz.core.onnx_import.load_onnx`); this module knows nothing of files.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.core.capture import capture, leaf_names, prepare_for_serving
from cnnviz.core.device import describe_device
from cnnviz.core.images import ImageSource, load_image, to_grayscale, to_rgb


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
        architecture: the architecture's name (``"lenet5"``, ``"resnet18"``, ``"onnx"``, a class name).
        resize_size: shorter side before the centre crop (ImageNet models), or None.
        trained: False for randomly initialised weights; every view labels it.
        source: ``"bundled"``, ``"zoo"``, ``"upload"``, ``"onnx"`` or ``"notebook"``.
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
        weights = "trained" if self.trained else "untrained"
        return f"{self.name}|{self.architecture}|{weights}|{self.card.get('weights_digest', '')}"

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

            >>> m = cnnviz.load_model("lenet5-mnist")
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

            >>> m = cnnviz.load_model("lenet5-mnist")
            >>> m.preprocess(cnnviz.load_image("assets/samples/digit-7.png")).shape
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

            >>> m.predict(cnnviz.load_image("assets/samples/digit-7.png"), k=1)[0][0]
            '7'
        """
        probs = torch.softmax(self.logits(self.preprocess(img)), dim=1)[0]
        top = probs.topk(min(k, len(self.classes)))
        return [(self.classes[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)]

    def predict_batch(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Softmax probabilities [N, classes] for a normalised batch, run in chunks on the device."""
        outs = [torch.softmax(self.logits(x[i:i + batch_size]), 1) for i in range(0, len(x), batch_size)]
        return torch.cat(outs)

    def layer_names(self, kinds: tuple[type, ...] | None = None) -> list[str]:
        """Names of leaf modules (optionally only of the given types), in definition order."""
        return leaf_names(self.module, kinds)

    def conv_layer_names(self) -> list[str]:
        return self.layer_names((nn.Conv2d,))

    def activations(self, img: ImageSource | torch.Tensor,
                    layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
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

    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each leaf layer's output shape without the batch dimension (a shared module: its first call), in
        execution order."""
        shapes: dict[str, tuple[int, ...]] = {}
        for info in self.layers():
            shapes.setdefault(info.name, info.output_shape)
        return shapes

    def spatial_layers(self, convs_only: bool = False) -> list[str]:
        """The leaf layers whose output is a stack of 2-D maps ``[C, H, W]`` with more than one pixel, in
        execution order; ``convs_only``: the convolutions among them. A layer on a 1x1 map (the
        squeeze-excitation gates of MobileNetV3 and EfficientNet) is not spatial.

        Examples::

            >>> load_model("lenet5-mnist").spatial_layers(convs_only=True)
            ['features.0', 'features.3']
        """
        names = [n for n, s in self.output_shapes().items() if len(s) == 3 and s[1] * s[2] > 1]
        if convs_only:
            convs = set(self.conv_layer_names())
            names = [n for n in names if n in convs]
        return names

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
        fresh = fresh.to(self.device)  # prepared for serving by the new handle
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

