"""Maximally activating dataset examples: which real images (and where in them) excite a channel most.

One pass over a data set records, for every chosen layer and channel, the ``k`` images with the
largest (and the smallest) activation anywhere in the channel's map, with the position of that
maximum. Reductions run inside forward hooks on the model's device (``amax`` over the map, then
``torch.topk`` over the batch merged with the running best), so the full activation maps are never
kept or moved to the CPU. The result is cached on disk under ``.cache/maximal/``.

Patches are cropped to the unit's theoretical receptive field (:mod:`cnnviz.methods.receptive_field`),
so a patch shows exactly the pixels that can influence the unit.

Examples::

    >>> m = load_model("lenet5-mnist")
    >>> idx = build_index(m, bundled_images("mnist"))
    >>> hits = idx.top("features.3", channel=5, k=4)
    >>> patches = top_patches(m, idx, bundled_images("mnist"), "features.3", 5, k=4)
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from cnnviz.core.capture import capture, split_key
from cnnviz.core.model import ModelHandle
from cnnviz.core.paths import SAMPLES_DIR, cache_dir
from cnnviz.core.runtime import Progress, ResultCache, StopFlag, WeakMemo, report, stopped
from cnnviz.core.weights import read_cache
from cnnviz.errors import CnnvizError, ImageFolderError, LayerError

log = logging.getLogger(__name__)
CACHE_DIR = cache_dir("maximal")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_K = 16  # kept per channel and direction; pages show fewer
INDEX_VERSION = 1


class MaximalError(CnnvizError):
    """An index or patch request that cannot be served (the message says what to pick instead)."""


class ChannelError(MaximalError, IndexError):
    """A channel number outside the layer (also an ``IndexError``)."""


# --------------------------------------------------------------------------- image sets
class ImageSet:
    """A sequence of images prepared exactly as the model sees them (uint8, before normalising).

    Subclasses give ``name``, ``key`` (content identity, for caches), ``__len__``, ``arrays(i0, i1)``
    and ``caption(i)``.
    """

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def arrays(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        """Images ``start..stop-1`` as uint8 ``[B, H, W]`` (grayscale) or ``[B, H, W, 3]``."""
        raise NotImplementedError

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as a uint8 array."""
        return self.arrays(i, i + 1)[0]

    def caption(self, i: int) -> str:
        return f"#{i}"


@dataclass
class ArrayImageSet(ImageSet):
    """Images held in memory as one uint8 array (bundled data sets, augmented sample photos).

    Args:
        name: shown on the page and stored in cache keys.
        images: uint8 ``[N, H, W]`` or ``[N, H, W, 3]``, already at the model's input size.
        labels: optional class index per image; ``classes`` names them.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray | None = None
    classes: Sequence[str] | None = None
    note: str = ""
    key: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim not in (3, 4):
            raise MaximalError(f"images must be uint8 [N,H,W] or [N,H,W,3], got {self.images.dtype} "
                               f"{self.images.shape}")
        if not self.key:
            h = hashlib.sha1(str(self.images.shape).encode())
            h.update(np.ascontiguousarray(self.images).tobytes())
            self.key = f"{self.name}:{len(self.images)}:{h.hexdigest()[:12]}"

    def __len__(self) -> int:
        return len(self.images)

    def arrays(self, start: int, stop: int) -> np.ndarray:
        return self.images[start:stop]

    def caption(self, i: int) -> str:
        if self.labels is not None and self.classes is not None:
            return f"#{i} {self.classes[int(self.labels[i])]}"
        return f"#{i}"


class FolderImageSet(ImageSet):
    """Image files under a folder (ImageFolder layout: one sub-folder per class, or flat).

    Each file is read and prepared with ``model.prepare_image`` (resize, centre crop, colour mode)
    when its batch is needed, so the set costs no memory up front.

    Args:
        folder: the folder to scan recursively.
        model: the model whose input preparation is applied.
        limit: at most this many files (sorted by path), to bound the index pass.
    """

    def __init__(self, folder: str | Path, model: ModelHandle, limit: int = 5000):
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise ImageFolderError(f"{root} is not a folder. Give a folder of images (ImageFolder layout: "
                                    "one sub-folder per class) that exists on the machine running the app")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ImageFolderError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {root}; give a folder "
                                   "that holds image files (in sub-folders per class, or directly)")
        self.root, self.model = root, model
        self.files = files[:limit]
        self.name = f"folder {root.name}"
        self.note = f"{len(self.files)} images from {root}" + (
            f" (first {limit} of {len(files)})" if len(files) > limit else "")
        h = hashlib.sha1(str(root.resolve()).encode())
        for p in self.files:
            st = p.stat()
            h.update(f"{p.relative_to(root)}|{st.st_size}|{int(st.st_mtime)}".encode())
        self.key = f"folder:{len(self.files)}:{h.hexdigest()[:12]}:{model.input_size}:{model.resize_size}"

    def __len__(self) -> int:
        return len(self.files)

    def arrays(self, start: int, stop: int) -> np.ndarray:
        from cnnviz.core.images import load_image

        return np.stack([np.asarray(self.model.prepare_image(load_image(p)), dtype=np.uint8)
                         for p in self.files[start:stop]])

    def caption(self, i: int) -> str:
        p = self.files[i]
        return f"#{i} {p.parent.name}/{p.name}" if p.parent != self.root else f"#{i} {p.name}"


def bundled_images(name: str, split: str = "test") -> ArrayImageSet:
    """A bundled data set split (``"mnist"`` or ``"fashion-mnist"``) as an image set.

    Examples::

        >>> len(bundled_images("mnist"))
        2000
    """
    from cnnviz.core.datasets import load_dataset

    ds = load_dataset(name, split)
    return ArrayImageSet(f"{name} {split}", ds.images, ds.labels, ds.classes,
                         note=f"{len(ds)} bundled {name} {split} images", key=f"{name}:{split}:{len(ds)}")


def sample_photo_images(model: ModelHandle, crops_per_photo: int = 16, seed: int = 0) -> ArrayImageSet:
    """A TINY set for RGB models when no image folder is given: the bundled sample photos plus
    seeded random crops and flips of them, prepared at the model's input size.

    It is far too small to say what a channel of an ImageNet model is for; it only shows how the
    method works. Give an image folder for real answers.
    """
    from PIL import Image

    from cnnviz.core.images import load_image

    photos = sorted(p for p in SAMPLES_DIR.iterdir() if p.name.startswith("photo-"))
    if not photos:
        raise ImageFolderError(f"no photo-*.jpg in {SAMPLES_DIR}: the package's sample photos are missing; "
                               "reinstall cnnviz or give an image folder")
    rng = np.random.default_rng(seed)
    c, h, w = model.input_size
    out, labels = [], []
    for k, path in enumerate(photos):
        img = load_image(path)
        img = img.convert("L" if c == 1 else "RGB")
        out.append(np.asarray(model.prepare_image(img), dtype=np.uint8))
        labels.append(k)
        for _ in range(crops_per_photo - 1):
            s = rng.uniform(0.3, 0.9)  # side of the crop as a fraction of the shorter side
            side = max(8, int(min(img.size) * s))
            x0 = int(rng.integers(0, img.width - side + 1))
            y0 = int(rng.integers(0, img.height - side + 1))
            crop = img.crop((x0, y0, x0 + side, y0 + side)).resize((w, h), Image.BILINEAR)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            out.append(np.asarray(crop, dtype=np.uint8))
            labels.append(k)
    names = [p.stem.removeprefix("photo-") for p in photos]
    arr = np.stack(out)
    return ArrayImageSet("sample photos (tiny set)", arr, np.asarray(labels), names,
                         note=f"TINY set: {len(photos)} bundled photos + random crops/flips = {len(arr)} images")


def open_image_set(which: str, model: ModelHandle, folder: str = "", limit: int = 2000) -> ImageSet:
    """The image set named by :func:`image_set_choices`: a bundled split, the sample photos, or ``folder``."""
    if which in ("mnist", "fashion-mnist"):
        return bundled_images(which)
    if which == "samples":
        return sample_photo_images(model)
    return FolderImageSet(folder, model, limit=limit)


def images_to_batch(model: ModelHandle, arr: np.ndarray) -> torch.Tensor:
    """uint8 images ``[B,H,W]`` / ``[B,H,W,3]`` to the normalised float batch on the model's device."""
    arr = np.ascontiguousarray(arr)
    t = torch.from_numpy(arr if arr.flags.writeable else arr.copy()).to(model.device)
    t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
    return model.normalize(t.float() / 255)


IMAGE_SET_TITLES = {"mnist": "MNIST digits (2,000 bundled test images)",
                    "fashion-mnist": "Fashion-MNIST (3,000 bundled test images)",
                    "samples": "Sample photos + random crops (tiny set, 96 images)",
                    "folder": "An image folder on the server"}


def image_set_choices(model: ModelHandle) -> list[str]:
    """The data sets that suit ``model``, best first: bundled digits/clothes for grayscale models (its own
    first), the tiny sample-photo set for RGB ones, and an image folder for both (see :data:`IMAGE_SET_TITLES`).

    Examples::

        >>> image_set_choices(load_model("small-vgg-fashion"))
        ['fashion-mnist', 'mnist', 'folder']
    """
    if not model.grayscale:
        return ["samples", "folder"]
    return (["fashion-mnist", "mnist"] if model.dataset == "fashion-mnist" else ["mnist", "fashion-mnist"]) + ["folder"]


def index_layers(model: ModelHandle, extra: str | None = None) -> tuple[list[str], dict[str, tuple[int, ...]]]:
    """The layers whose dataset examples can be indexed: the convolutions with spatial maps
    (:meth:`ModelHandle.spatial_layers`), plus ``extra`` (e.g. a ReLU or pooling layer a link asks for) when its
    output is spatial too, in forward order.

    Returns:
        ``(layers, shapes)``: the names and every layer's output shape (first call of a shared module).
    """
    names = model.spatial_layers(convs_only=True)
    if extra and names and extra not in names:
        spatial = model.spatial_layers()
        if extra in spatial:
            names = [n for n in spatial if n in names or n == extra]
    return names, model.output_shapes()


def index_macs(model: ModelHandle, n_images: int) -> float:
    """Multiply-accumulates of one index pass over ``n_images`` (a whole forward pass each)."""
    return float(sum(i.macs for i in model.layers())) * n_images


def needs_confirmation(model: ModelHandle, n_images: int, limit: float = 2e11) -> bool:
    """Whether an index pass is long enough to ask first: over ``limit`` MACs on a CPU (a GPU does it at once)."""
    return model.device.type == "cpu" and index_macs(model, n_images) > limit


# --------------------------------------------------------------------------- the index
@dataclass(frozen=True)
class Hit:
    """One dataset example of a channel: the activation ``value`` at position (``y``, ``x``) of
    the channel's map, reached in image ``image`` (its largest, or for bottom hits smallest, value)."""

    value: float
    image: int
    y: int
    x: int


@dataclass
class MaximalIndex:
    """Top-k and bottom-k images per channel of each indexed layer.

    For layer ``L`` (output ``[C, H, W]``), ``top_values[L]`` is ``[C, k]`` (descending),
    ``top_where[L]`` is ``[C, k]`` int64 with ``image * H * W + y * W + x``; ``bottom_*`` likewise,
    ascending. Tensors live on the CPU (the reduction ran on the device).
    """

    model_key: str
    dataset_key: str
    layers: list[str]
    shapes: dict[str, tuple[int, int, int]]
    k: int
    n_images: int
    top_values: dict[str, torch.Tensor]
    top_where: dict[str, torch.Tensor]
    bottom_values: dict[str, torch.Tensor]
    bottom_where: dict[str, torch.Tensor]
    complete: bool = True
    from_cache: bool = False
    seconds: float = 0.0

    def hits(self, layer: str, channel: int, k: int | None = None, largest: bool = True) -> list[Hit]:
        """The ``k`` best (``largest``) or worst images of one channel, with value and position.

        Examples::

            >>> idx.hits("features.0", 2, k=1)[0]
            Hit(value=3.1, image=123, y=14, x=9)
        """
        if layer not in self.top_values:
            raise LayerError(f"layer {layer!r} is not in this index; indexed layers: {self.layers}. "
                           "Build the index with layers=[...] including it")
        c, h, w = self.shapes[layer]
        if not 0 <= channel < c:
            raise ChannelError(f"channel {channel} out of range: layer {layer} has {c} channels (0..{c - 1})")
        vals = (self.top_values if largest else self.bottom_values)[layer][channel]
        where = (self.top_where if largest else self.bottom_where)[layer][channel]
        n = min(k or self.k, self.k, self.n_images)
        out = []
        for v, pos in zip(vals[:n].tolist(), where[:n].tolist(), strict=True):
            if pos < 0:
                continue
            img, rest = divmod(int(pos), h * w)
            y, x = divmod(rest, w)
            out.append(Hit(float(v), img, y, x))
        return out

    top = hits

    def bottom(self, layer: str, channel: int, k: int | None = None) -> list[Hit]:
        return self.hits(layer, channel, k, largest=False)


def weights_digest(model: ModelHandle) -> str:
    """A digest of every parameter and buffer (shapes and a strided sample of values), memoised per module
    (weakly: the memo never keeps a model alive)."""
    return _DIGESTS.get_or_compute(model.module, "weights", lambda: _digest(model.module))


def _digest(module: torch.nn.Module) -> str:
    h = hashlib.sha1()
    for name, t in list(module.state_dict().items()):
        flat = t.detach().reshape(-1)
        step = max(1, flat.numel() // 4096)
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(flat[::step].float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


_DIGESTS = WeakMemo(per_owner=1)  # module -> its weights' digest
_MEMORY = ResultCache(8)  # cache key -> the last indexes built or read, so a rerun does not read the disk


def is_cached(model: ModelHandle, images: ImageSet, layers: Sequence[str] | None = None, k: int = DEFAULT_K,
              cache_dir: Path | None = None) -> bool:
    """Whether :func:`build_index` with these arguments would return at once (memory or disk cache)."""
    key = cache_key(model, images, _check_layers(model, layers), k)
    return key in _MEMORY or ((cache_dir or CACHE_DIR) / f"{key}.safetensors").exists()


def cache_key(model: ModelHandle, images: ImageSet, layers: Sequence[str], k: int) -> str:
    """The disk-cache identity of an index: model, weights digest, data set, layer set and k."""
    raw = json.dumps([INDEX_VERSION, model.key, weights_digest(model), images.key, list(layers), k])
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def _check_layers(model: ModelHandle, layers: Sequence[str] | None) -> list[str]:
    names = list(layers) if layers is not None else model.conv_layer_names()
    if not names:
        raise MaximalError(f"{model.name} has no Conv2d layers to index; pass layers=[...] (see m.layer_names())")
    mods = dict(model.module.named_modules())
    missing = [n for n in names if split_key(n)[0] not in mods]
    if missing:
        raise LayerError(f"layer(s) {missing} not in model {model.name}. Hint: m.conv_layer_names() lists them")
    return names


class _RunningExtremes:
    """The running top-``k`` and bottom-``k`` images per channel of each wanted layer, fed one batch of maps at a
    time by the capture engine (:meth:`record`), on the maps' device.

    For every layer: ``[top values, top where, bottom values, bottom where]``, each ``[C, <= k]``, where
    ``where = image * H * W + y * W + x`` (see :class:`MaximalIndex`).
    """

    def __init__(self, names: Sequence[str], k: int):
        self.names, self.wanted, self.k = list(names), set(names), k
        self.best: dict[str, list[torch.Tensor]] = {}
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self.offset = 0  # the index of the batch's first image in the data set

    def record(self, name: str, out: torch.Tensor) -> None:
        """Reduce one layer's maps ``[B, C, H, W]`` into the running extremes."""
        if name not in self.wanted:  # a plain name means a module's first call; 'name#2' its second
            return
        if out.ndim != 4:
            raise MaximalError(f"layer {name} gives outputs of shape {tuple(out.shape)}; only [N,C,H,W] maps can "
                               "be indexed. Pick a convolutional layer")
        b, c, h, w = out.shape
        self.shapes[name] = (c, h, w)
        flat = out.detach().float().reshape(b, c, h * w)
        old = self.best.get(name)
        merged: list[torch.Tensor] = []
        # values by amax/amin (fast); positions only for the entries that make the top-k (argmax of k rows)
        for j, (largest, vals) in enumerate(((True, flat.amax(dim=2)), (False, flat.amin(dim=2)))):
            old_v, old_w = (old[2 * j], old[2 * j + 1]) if old is not None else (None, None)
            merged += self._merge(flat, vals, old_v, old_w, largest)
        self.best[name] = merged

    def _merge(self, flat: torch.Tensor, vals: torch.Tensor, old_v: torch.Tensor | None, old_w: torch.Tensor | None,
               largest: bool) -> list[torch.Tensor]:
        """The new (values, where) of one direction: the batch's per-image extremes ``vals`` [B, C] merged with
        the running ones."""
        b, hw = flat.shape[0], flat.shape[2]
        k_old = 0 if old_v is None else old_v.shape[1]
        cand = vals.t() if old_v is None else torch.cat([old_v, vals.t()], dim=1)  # [C, k_old + B]
        top_v, top_i = cand.topk(min(self.k, cand.shape[1]), dim=1, largest=largest, sorted=True)
        bi = (top_i - k_old).clamp_min(0)  # batch index of entries that come from this batch
        if old_w is None and 2 * bi.shape[1] >= b:  # first batch, most of it wins: one arg-reduction
            arg = flat.argmax(dim=2) if largest else flat.argmin(dim=2)  # [B, C]
            return [top_v, (bi + self.offset) * hw + arg.t().gather(1, bi)]
        # positions only for the entries new to the top-k (few, once the pass is under way)
        is_new = top_i >= k_old
        where = torch.zeros_like(top_i) if old_w is None else old_w.gather(1, top_i.clamp(max=max(k_old - 1, 0)))
        cs, js = is_new.nonzero(as_tuple=True)
        if len(cs):
            rows = flat[bi[cs, js], cs]  # [new entries, H*W]
            pos = rows.argmax(dim=1) if largest else rows.argmin(dim=1)
            where[cs, js] = (bi[cs, js] + self.offset) * hw + pos
        return [top_v, where]

    def to_index(self, model: ModelHandle, images: ImageSet, n_images: int, complete: bool,
                 seconds: float) -> MaximalIndex:
        """The extremes so far as a :class:`MaximalIndex` on the CPU (``complete=False``: a stopped pass)."""
        missing = [nm for nm in self.names if nm not in self.best]
        if missing and complete:
            raise MaximalError(f"layer(s) {missing} were not called in the forward pass of {model.name}; pick layers "
                               "on the main path")
        cpu = {nm: [t.cpu() for t in v] for nm, v in self.best.items()}
        parts = ({nm: v[i] for nm, v in cpu.items()} for i in range(4))
        return MaximalIndex(model.key, images.key, [nm for nm in self.names if nm in cpu], self.shapes, self.k,
                            n_images, *parts, complete=complete, seconds=seconds)


def _index_pass(model: ModelHandle, images: ImageSet, extremes: _RunningExtremes, batch_size: int,
                progress: Progress | None, stop: StopFlag) -> tuple[int, bool]:
    """Run ``images`` through the model batch by batch into ``extremes``: (images done, whether all were)."""
    n, done = len(images), 0
    for start in range(0, n, batch_size):
        if stopped(stop):
            return done, False
        end = min(n, start + batch_size)
        extremes.offset = start
        # each map is reduced as soon as it exists
        capture(model.module, images_to_batch(model, images.arrays(start, end)), extremes.names,
                on_output=extremes.record)
        done = end
        report(progress, done / n, f"{done:,} / {n:,} images")
    return done, True


def build_index(model: ModelHandle, images: ImageSet, layers: Sequence[str] | None = None, k: int = DEFAULT_K,
                batch_size: int = 256, progress: Progress | None = None, stop: StopFlag = None,
                cache: bool = True, cache_dir: Path | None = None) -> MaximalIndex:
    """One pass over ``images`` recording each channel's top-``k`` and bottom-``k`` images.

    For every image and channel the map's maximum (and minimum) is taken on the device;
    ``torch.topk`` over the batch merged with the running best keeps ``k`` per channel, and the
    position inside the map is found only for the entries that make the top ``k``.
    Nothing is locked (the capture engine never changes the model), so other sessions keep working.

    Args:
        model: the model to index.
        images: the data set (:func:`bundled_images`, :func:`sample_photo_images`, :class:`FolderImageSet`).
        layers: layer names whose outputs are ``[N, C, H, W]``; default every Conv2d.
        k: examples kept per channel and direction.
        batch_size: images per forward pass.
        progress: ``progress(fraction, text)`` after each batch, the text counting images
            (:func:`cnnviz.core.runtime.report`).
        stop: a ``threading.Event`` or a function returning True to interrupt
            (:data:`cnnviz.core.runtime.StopFlag`); the partial index is returned with ``complete=False``
            and is not cached.
        cache: read and write the disk cache (``.cache/maximal/``).

    Examples::

        >>> idx = build_index(load_model("lenet5-mnist"), bundled_images("mnist"), k=8)
        >>> idx.top_values["features.0"].shape
        torch.Size([6, 8])
    """
    names = _check_layers(model, layers)
    if len(images) == 0:
        raise MaximalError(f"the image set {images.name!r} is empty; give a folder with images in it")
    key = cache_key(model, images, names, k)
    folder = cache_dir or CACHE_DIR
    if cache:
        hit = _MEMORY.get(key) or load_index(folder, key)
        if hit is not None:
            _MEMORY.get_or_compute(key, lambda: hit)
            report(progress, 1.0, f"{len(images):,} / {len(images):,} images (from the cache)")
            return replace(hit, from_cache=True)
    t0 = time.perf_counter()
    extremes = _RunningExtremes(names, k)
    done, complete = _index_pass(model, images, extremes, batch_size, progress, stop)
    idx = extremes.to_index(model, images, done, complete, time.perf_counter() - t0)
    if complete and cache:
        save_index(folder, key, idx)
        _MEMORY.get_or_compute(key, lambda: idx)
    return idx


def save_index(folder: Path, key: str, idx: MaximalIndex) -> None:
    """Write ``idx`` to ``folder/<key>.safetensors`` (a temporary file, then an atomic rename); a folder that
    cannot be written is skipped silently (a read-only checkout works without the disk cache)."""
    from safetensors.torch import save_file

    try:
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for i, nm in enumerate(idx.layers):
            for part in _PARTS:
                tensors[f"{i}.{part}"] = getattr(idx, part)[nm].contiguous()
        meta = {"model_key": idx.model_key, "dataset_key": idx.dataset_key, "layers": idx.layers,
                "shapes": {nm: list(s) for nm, s in idx.shapes.items()}, "k": idx.k, "n_images": idx.n_images,
                "seconds": idx.seconds, "version": INDEX_VERSION}
        tmp = folder / f"{key}.{os.getpid()}-{threading.get_ident()}.tmp"  # one per writer: sessions may race
        save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta)})
        tmp.replace(folder / f"{key}.safetensors")  # atomic: a concurrent reader sees all or nothing
    except OSError:
        pass  # a read-only checkout still works, just without the disk cache


def load_index(folder: Path, key: str) -> MaximalIndex | None:
    """The index :func:`save_index` wrote as ``folder/<key>.safetensors``, or None (no file, or an unreadable one)."""
    path = folder / f"{key}.safetensors"
    got = read_cache(path)
    if got is None:
        return None
    tensors, meta = got
    try:
        parts = {p: {nm: tensors[f"{i}.{p}"] for i, nm in enumerate(meta["layers"])} for p in _PARTS}
        return MaximalIndex(meta["model_key"], meta["dataset_key"], meta["layers"],
                            {nm: tuple(s) for nm, s in meta["shapes"].items()}, meta["k"], meta["n_images"],
                            parts["top_values"], parts["top_where"], parts["bottom_values"], parts["bottom_where"],
                            complete=True, from_cache=True, seconds=meta.get("seconds", 0.0))
    except (KeyError, TypeError, AttributeError) as e:  # an older layout: rebuilt
        log.warning("ignoring the index cache %s of another layout (%s: %s); it will be rebuilt", path,
                    type(e).__name__, e)
        return None


_PARTS = ("top_values", "top_where", "bottom_values", "bottom_where")


# --------------------------------------------------------------------------- patches
@dataclass
class Patch:
    """A dataset patch: the pixels of ``image`` inside the unit's receptive field ``box``
    (top, left, bottom, right; exclusive, may extend past the image where it was padded)."""

    pixels: np.ndarray
    hit: Hit
    box: tuple[int, int, int, int]
    caption: str = ""


def crop_box(image: np.ndarray, box: tuple[int, int, int, int], fill: int = 128) -> np.ndarray:
    """Crop ``image`` (uint8 ``[H,W]`` or ``[H,W,3]``) to ``box`` = (top, left, bottom, right),
    filling parts outside the image with ``fill`` so the crop is always ``bottom-top`` x ``right-left``.

    Examples::

        >>> crop_box(np.ones((4, 4), np.uint8), (-1, -1, 2, 2), fill=0)
        array([[0, 0, 0],
               [0, 1, 1],
               [0, 1, 1]], dtype=uint8)
    """
    top, left, bottom, right = (int(v) for v in box)
    h, w = image.shape[:2]
    out = np.full((bottom - top, right - left, *image.shape[2:]), fill, dtype=image.dtype)
    y0, y1, x0, x1 = max(top, 0), min(bottom, h), max(left, 0), min(right, w)
    if y1 > y0 and x1 > x0:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return out


def unit_box(model: ModelHandle, layer: str, y: int, x: int) -> tuple[int, int, int, int]:
    """The receptive-field box (top, left, bottom, right; exclusive, unclipped) of unit (``y``, ``x``) of ``layer``.

    Raises:
        cnnviz.methods.receptive_field.ReceptiveFieldError: the model cannot be traced.
    """
    import math

    from cnnviz.methods.receptive_field import receptive_fields

    rfs = receptive_fields(model)  # cached per model by the receptive_field module
    if layer not in rfs:
        raise LayerError(f"no receptive field computed for layer {layer!r} of {model.name}; "
                       "cnnviz.receptive_fields(m) lists the layers it covers")
    rf = rfs[layer]
    top, left, _, _ = rf.box(y, x)
    top, left = math.floor(top), math.floor(left)
    return top, left, top + int(rf.size[0]), left + int(rf.size[1])


def top_patches(model: ModelHandle, index: MaximalIndex, images: ImageSet, layer: str, channel: int,
                k: int = 9, largest: bool = True, fill: int = 128) -> list[Patch]:
    """The ``k`` best (or worst) dataset patches of one channel, cropped to the receptive field.

    Args:
        fill: grey level for the part of a receptive field that lies outside the image (the
            network saw zero padding there).

    Examples::

        >>> [p.pixels.shape for p in top_patches(m, idx, ds, "features.3", 0, k=2)]
        [(14, 14), (14, 14)]
    """
    if index.dataset_key != images.key:
        raise MaximalError(f"this index was built over {index.dataset_key!r}, not {images.key!r}; "
                           "build it for this image set")
    out = []
    for hit in index.hits(layer, channel, k, largest):
        box = unit_box(model, layer, hit.y, hit.x)
        out.append(Patch(crop_box(images.image(hit.image), box, fill), hit, box, images.caption(hit.image)))
    return out


def channel_grid_patches(model: ModelHandle, index: MaximalIndex, images: ImageSet, layer: str,
                         channels: Sequence[int], per_channel: int = 1, largest: bool = True,
                         fill: int = 128) -> list[list[Patch]]:
    """For each channel, its ``per_channel`` best patches (for the many-channels-at-once grid)."""
    return [top_patches(model, index, images, layer, c, per_channel, largest, fill) for c in channels]


def index_summary(model: ModelHandle, index: MaximalIndex, images: ImageSet, layer: str) -> str:
    """A caption: the data set, the index (cached or built, how fast) and what a unit of ``layer`` sees."""
    from cnnviz.methods.receptive_field import receptive_fields

    how = ("loaded from the cache." if index.from_cache
           else f"built in {index.seconds:.1f} s on {model.device_description}.")
    try:
        rf = receptive_fields(model)[layer]
        seen = (f"A unit of **{layer}** sees **{rf.size[0]}×{rf.size[1]} px** of the {model.input_size[1]}×"
                f"{model.input_size[2]} input; neighbouring units are **{rf.jump[0]} px** apart.")
    except (CnnvizError, KeyError) as e:  # an untraceable uploaded model: say so instead of failing
        seen = f"(The receptive field of {layer} could not be computed: {e})"
    return f"{images.note}. Index of {len(index.layers)} layers × top/bottom {index.k} per channel: {how} {seen}"


def channel_map(model: ModelHandle, image: np.ndarray, layer: str, channel: int) -> np.ndarray:
    """The activation map of ``channel`` of ``layer`` on one uint8 image, as float32 ``[H, W]`` on the CPU.

    Examples::

        >>> channel_map(m, ds.image(0), "features.3", 5).shape
        (10, 10)
    """
    with torch.inference_mode():
        maps = model.activations(images_to_batch(model, image[None]), [layer])[layer]
    if not 0 <= channel < maps.shape[1]:
        raise ChannelError(f"channel {channel} out of range: layer {layer} has {maps.shape[1]} channels "
                           f"(0..{maps.shape[1] - 1})")
    return maps[0, channel].float().cpu().numpy()


__all__ = ["ImageSet", "ArrayImageSet", "FolderImageSet", "bundled_images", "sample_photo_images", "images_to_batch",
           "Hit", "MaximalIndex", "build_index", "save_index", "load_index", "cache_key", "weights_digest",
           "Patch", "crop_box", "unit_box", "top_patches", "channel_grid_patches", "is_cached", "channel_map",
           "index_summary", "open_image_set", "index_layers", "image_set_choices", "IMAGE_SET_TITLES", "index_macs",
           "needs_confirmation", "MaximalError", "ChannelError", "CACHE_DIR", "DEFAULT_K"]
