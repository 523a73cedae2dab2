"""A layer's features for many images: which layers, one forward pass per batch, maps pooled to vectors, cached.

:func:`extract_features` runs images through the model in batches on its device and keeps one layer's output
per image (``"pixels"``: the normalised input itself, the baseline); :func:`extract_layers` does several layers
in the same pass. Convolutional maps are flattened, or average-pooled where flattening would be too large
(:func:`pool_features`). :func:`cached_features` keeps them in a shared :class:`~cnnviz.core.runtime.ResultCache`.

Examples::

    >>> m = load_model("lenet5-mnist")
    >>> f = extract_features(m, load_points("mnist", "test", 64).images, "classifier.4")
    >>> f.values.shape, f.pooling
    (torch.Size([64, 84]), 'flatten')
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from cnnviz.core.capture import call_key, capture, split_key
from cnnviz.core.images import load_image
from cnnviz.core.model import ModelHandle
from cnnviz.core.runtime import Progress, ResultCache, report
from cnnviz.errors import LayerError
from cnnviz.methods.embeddings.errors import EmbeddingError, FeaturesTooLarge

PIXELS = "pixels"
POOLINGS = ("auto", "flatten", "avg")
MAX_AUTO_DIMS = 4096
MAX_FEATURE_BYTES = 2 * 2**30  # refuse to hold more than 2 GiB of features
# layer types whose output is a copy or a regulariser, not a new representation
_SKIP_TYPES = (nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Identity)
_REPRESENTATION_TYPES = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.MaxPool2d, nn.AvgPool2d,
                         nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear)
_POOL_TYPES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)

Images = np.ndarray | torch.Tensor | Sequence  # uint8 arrays, a normalised batch, or image files / PIL images


@dataclass
class Features:
    """One layer's features for a set of images.

    Attributes:
        layer: the layer name, or ``"pixels"``.
        pooling: how maps became vectors (``"flatten"``, ``"avg"``, ``"avg{s}x{s}"``).
        values: float32 [N, D] on the model's device.
        predictions: the model's predicted class per image, int64 [N] on the device.
        layer_shape: the layer's output shape for one image (before pooling).
    """

    layer: str
    pooling: str
    values: torch.Tensor
    predictions: torch.Tensor
    layer_shape: tuple[int, ...]

    @property
    def dims(self) -> int:
        return int(self.values.shape[1])


# ------------------------------------------------------------------------------------ which layers
def feature_layers(m: ModelHandle) -> list[str]:
    """Layers whose features can be embedded: ``"pixels"`` then every leaf layer in forward order
    (without Dropout/Flatten/Identity, which repeat their input).

    Examples::

        >>> feature_layers(load_model("lenet5-mnist"))[:3]
        ['pixels', 'features.0', 'features.1']
    """
    mods = dict(m.module.named_modules())
    calls: dict[str, int] = {}
    names = []
    for info in m.layers():  # forward order; a module called twice appears as 'name' and 'name#2'
        calls[info.name] = calls.get(info.name, 0) + 1
        if info.name not in mods or isinstance(mods[info.name], _SKIP_TYPES):
            continue
        names.append(call_key(info.name, calls[info.name]))
    return [PIXELS] + names


def layer_shapes(m: ModelHandle) -> dict[str, tuple[int, ...]]:
    """The output shape for one image of each :func:`feature_layers` name, in that order (``()`` where unknown).

    Examples::

        >>> layer_shapes(load_model("lenet5-mnist"))["features.2"]
        (6, 14, 14)
    """
    shapes = {li.name: tuple(li.output_shape or ()) for li in reversed(m.layers())}  # a shared module: first call
    shapes[PIXELS] = tuple(m.input_size)
    return {name: shapes.get(split_key(name)[0], ()) for name in feature_layers(m)}


def comparison_layers(m: ModelHandle) -> list[str]:
    """``["pixels", early, middle, last]``: the default layers for the layer comparison.

    ``last`` is the representation the classifier reads (the layer feeding the final Linear);
    early and middle are block ends (pooling outputs) at about one third and two thirds of the
    way there, or activations where the network has fewer than two pooling layers.

    Examples::

        >>> comparison_layers(load_model("lenet5-mnist"))
        ['pixels', 'features.2', 'features.5', 'classifier.4']
    """
    mods = dict(m.module.named_modules())
    layers = feature_layers(m)[1:]
    reps = [n for n in layers if isinstance(mods[split_key(n)[0]], _REPRESENTATION_TYPES)]
    if reps and isinstance(mods[split_key(reps[-1])[0]], nn.Linear) and reps[-1] == layers[-1]:
        reps = reps[:-1]  # the logits are not the penultimate representation
    if not reps:
        reps = layers[:-1] or layers
    last = reps[-1]
    # block ends: pooling outputs where there are at least two, else activations
    pools = [n for n in reps[:-1] if isinstance(mods[split_key(n)[0]], _POOL_TYPES)]
    before = pools if len(pools) >= 2 else [n for n in reps[:-1]
                                            if not isinstance(mods[split_key(n)[0]], nn.Linear)] or [last]
    early = before[max(0, math.ceil(len(before) / 3) - 1)]
    middle = before[max(0, math.ceil(2 * len(before) / 3) - 1)]
    return list(dict.fromkeys([PIXELS, early, middle, last]))


def penultimate_layer(m: ModelHandle) -> str:
    """The layer the classifier reads (the usual "CNN code" to embed).

    Examples::

        >>> penultimate_layer(load_model("lenet5-mnist"))
        'classifier.4'
    """
    return comparison_layers(m)[-1]


# ------------------------------------------------------------------------------------ pooling
def pooled_side(c: int, h: int, w: int, pooling: str) -> tuple[str, int]:
    """How :func:`pool_features` turns a [C, H, W] map into a vector: (its label, the side s of the s x s
    average-pooled map, 0 for flattening unchanged).

    Examples::

        >>> pooled_side(300, 8, 8, "auto")   # 19200 values > 4096: s = isqrt(4096 // 300) = 3
        ('avg3x3', 3)
    """
    if pooling == "flatten":
        return "flatten", 0
    if pooling == "avg":
        return "avg", 1
    if pooling != "auto":
        raise EmbeddingError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    if c * h * w <= MAX_AUTO_DIMS:
        return "flatten", 0
    s = max(1, min(h, w, int(math.isqrt(MAX_AUTO_DIMS // max(1, c)))))
    return (f"avg{s}x{s}" if s > 1 else "avg"), s


def pool_features(t: torch.Tensor, pooling: str = "auto") -> tuple[torch.Tensor, str]:
    """A batch of layer outputs [N, ...] to vectors [N, D].

    Args:
        t: [N, C, H, W] maps (or [N, D] vectors, returned as they are).
        pooling: ``"flatten"`` every value; ``"avg"`` global average per channel; ``"auto"``
            flatten when C*H*W <= 4096, else adaptive average pooling to the largest s x s
            grid with C*s*s <= 4096.

    Returns:
        the vectors and the pooling actually applied (``"flatten"``, ``"avg"``, ``"avg3x3"``...).

    Examples::

        >>> v, how = pool_features(torch.ones(2, 3, 4, 4), "avg")
        >>> tuple(v.shape), how
        ((2, 3), 'avg')
    """
    if t.ndim != 4:
        return t.reshape(len(t), -1).float(), "flatten"
    label, s = pooled_side(*t.shape[1:], pooling)
    if s:
        t = F.adaptive_avg_pool2d(t.float(), s)
    return t.reshape(len(t), -1).float(), label


# ------------------------------------------------------------------------------------ extraction
def input_batch(m: ModelHandle, images: Images, start: int, stop: int) -> torch.Tensor:
    """The normalised input batch [B, C, H, W] on the model's device for ``images[start:stop]``.

    uint8 arrays already of the network's size and channels are normalised on the device
    (:meth:`~cnnviz.core.model.ModelHandle.normalize`); other arrays, files and PIL images go through
    ``m.preprocess``; a tensor is taken as already normalised.
    """
    if isinstance(images, torch.Tensor):
        return images[start:stop].to(m.device).float()
    c, h, w = m.input_size
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        chunk = images[start:stop]
        gray = chunk.ndim == 3
        if chunk.shape[1:3] == (h, w) and ((gray and c == 1) or (not gray and chunk.shape[3] == c)):
            t = torch.from_numpy(np.ascontiguousarray(chunk)).to(m.device).float().div_(255)
            return m.normalize(t.unsqueeze(1) if gray else t.permute(0, 3, 1, 2))
        return m.preprocess([Image.fromarray(a) for a in chunk])
    return m.preprocess([load_image(p) if isinstance(p, (str, Path)) else p for p in images[start:stop]])


def extract_features(m: ModelHandle, images: Images, layer: str, pooling: str = "auto",
                     batch_size: int = 256, progress: Progress | None = None) -> Features:
    """One layer's features (and the model's predictions) for many images, in batches on the device.

    Nothing is locked (the capture engine never changes the model), so other sessions are not frozen
    during a long extraction. A module called twice in one forward pass (a shared ReLU) is
    ``name`` for its first call and ``name#2`` for its second (the block's output), as everywhere.

    Args:
        m: the model.
        images: uint8 arrays [N, H, W] / [N, H, W, 3] (resized and converted as needed), a normalised
            tensor [N, C, H, W], or a list of image files / PIL images.
        layer: a name from :func:`feature_layers` (``"pixels"``: the normalised input; inputs larger than
            4096 values are average-pooled like any map under ``"auto"``).
        pooling: see :func:`pool_features`.
        batch_size: images per forward pass.
        progress: called with (fraction done, message).

    Examples::

        >>> f = extract_features(m, load_points("mnist", "test", 64).images, "classifier.4")
        >>> f.values.shape
        torch.Size([64, 84])
    """
    return extract_layers(m, images, [layer], pooling, batch_size, progress)[layer]


def _check_request(m: ModelHandle, layers: list[str], n: int) -> None:
    mods = dict(m.module.named_modules())
    missing = [name for name in layers if name != PIXELS and split_key(name)[0] not in mods]
    if missing:
        raise LayerError(f"layer(s) {missing} not in model {m.name}. Hint: feature_layers(m) lists the choices")
    if n == 0:
        raise EmbeddingError("no images to extract features from; give at least one image")


def extract_layers(m: ModelHandle, images: Images, layers: Sequence[str], pooling: str = "auto",
                   batch_size: int = 256, progress: Progress | None = None) -> dict[str, Features]:
    """Several layers' features from one forward pass per batch (see :func:`extract_features`).

    Raises:
        LayerError: a layer the model does not have (also a ``KeyError``).
        FeaturesTooLarge: the features would take more than 2 GiB (also a ``MemoryError``).

    Examples::

        >>> fs = extract_layers(m, images, ["pixels", "features.2", "classifier.4"])
        >>> {k: v.dims for k, v in fs.items()}
        {'pixels': 784, 'features.2': 1176, 'classifier.4': 84}
    """
    layers = list(dict.fromkeys(layers))
    n = len(images)
    _check_request(m, layers, n)
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    how: dict[str, str] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    preds = []
    what = layers[0] if len(layers) == 1 else f"{len(layers)} layers"
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        x = input_batch(m, images, start, stop)
        # the engine's naming rule: a plain name is a module's first call, 'name#2' its second
        rec = capture(m.module, x, [name for name in layers if name != PIXELS], logits=True)
        for name in layers:
            out = x if name == PIXELS else rec.outputs.get(name)
            if out is None:
                raise EmbeddingError(f"layer {name!r} produced no tensor output in {m.name}'s forward pass; "
                                     "choose another layer")
            shapes[name] = tuple(out.shape[1:])
            vec, how[name] = pool_features(out, pooling)
            if start == 0 and n * vec.shape[1] * 4 > MAX_FEATURE_BYTES:
                raise FeaturesTooLarge(f"{n} points x {vec.shape[1]} values of {name} would take "
                                       f"{n * vec.shape[1] * 4 / 2**30:.1f} GiB; choose pooling 'avg' or 'auto', "
                                       "or fewer points")
            chunks[name].append(vec)
        preds.append(rec.logits.argmax(1))
        report(progress, stop / n, f"features of {what}: {stop}/{n} images")
    pred = torch.cat(preds)
    return {name: Features(name, how[name], torch.cat(chunks[name]), pred, shapes[name]) for name in layers}


# ------------------------------------------------------------------------------------ caching
def cached_features(cache: ResultCache, m: ModelHandle, points_key: Hashable, images: Images, layer: str,
                    pooling: str = "auto", also: Sequence[str] = (), batch_size: int = 256,
                    progress: Progress | None = None) -> Features:
    """``layer``'s features from ``cache`` (keyed ``(m.key, points_key, layer, pooling)``). On a miss, one
    forward pass per batch extracts it together with every layer of ``also`` not cached yet, and caches all.

    Examples::

        >>> c = ResultCache(10)
        >>> f = cached_features(c, m, "mnist-500", pts.images, "classifier.4", also=comparison_layers(m))
        >>> (m.key, "mnist-500", "pixels", "auto") in c   # the comparison layers came with it
        True
    """
    def key(name: str) -> tuple:
        return (m.key, points_key, name, pooling)

    if key(layer) not in cache:
        want = list(dict.fromkeys([layer, *(n for n in also if key(n) not in cache)]))
        for name, f in extract_layers(m, images, want, pooling, batch_size=batch_size, progress=progress).items():
            cache.get_or_compute(key(name), lambda f=f: f)
    return cache.get_or_compute(key(layer), lambda: extract_features(m, images, layer, pooling, batch_size))


__all__ = ["PIXELS", "POOLINGS", "MAX_AUTO_DIMS", "MAX_FEATURE_BYTES", "Features", "feature_layers", "layer_shapes",
           "comparison_layers", "penultimate_layer", "pooled_side", "pool_features", "input_batch",
           "extract_features", "extract_layers", "cached_features"]
