"""Embeddings of a layer's features: PCA, t-SNE and UMAP, image grids, nearest neighbours.

The pipeline, as in Karpathy's "t-SNE of CNN codes" and TensorBoard's Embedding Projector:

1. :func:`extract_features` runs images through the model in batches on its device and keeps
   one layer's output per image (``"pixels"``: the normalised input itself, the baseline).
   Convolutional maps are flattened, or average-pooled where flattening would be too large
   (see :data:`POOLINGS`).
2. :func:`embed` reduces the features to 2 or 3 dimensions: PCA directly; t-SNE (openTSNE,
   FFT-accelerated) and UMAP after a PCA pre-reduction to 100 dimensions (standard practice is 50;
   100 kept neighbourhoods as well as scikit-learn's TSNE on raw 512-d features, 50 lost 1-2%).
   :meth:`Embedding.project` places new points (your image) into an existing embedding:
   exactly for PCA, by openTSNE's ``TSNEEmbedding.transform`` and UMAP's ``transform``
   (optimisation against the fixed reference points) otherwise.
3. :func:`snap_to_grid` assigns 2D points to the cells of a grid by a linear assignment
   (the "image grid" view), :func:`nearest_neighbours` finds neighbours in feature space, and
   :func:`knn_accuracy` / :func:`trustworthiness` / :func:`knn_preservation` measure how well
   an embedding separates classes and keeps neighbourhoods.

No Streamlit here: every step is one call in a notebook.

Examples::

    >>> m = load_model("lenet5-mnist")
    >>> pts = load_points("mnist", "test", 500)
    >>> feats = extract_features(m, pts.images, "classifier.4")
    >>> emb = embed(feats.values, "tsne")
    >>> knn_accuracy(emb.points, pts.labels) > 0.9
    True
"""
from __future__ import annotations

import importlib
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from cnnviz.core.capture import call_key, capture, split_key
from cnnviz.core.datasets import load_dataset
from cnnviz.core.images import load_image
from cnnviz.core.model import ModelHandle
from cnnviz.core.runtime import ResultCache
from cnnviz.errors import CnnvizError, ImageFolderError

PIXELS = "pixels"
METHODS = ("pca", "tsne", "umap")
METHOD_TITLES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
POOLINGS = ("auto", "flatten", "avg")
POOLING_TITLES = {
    "auto": "auto (flatten up to 4096 values, else average-pool the map to fit)",
    "flatten": "flatten (every value of the map)",
    "avg": "global average pool (one value per channel)",
}
MAX_AUTO_DIMS = 4096
MAX_FEATURE_BYTES = 2 * 2**30  # refuse to hold more than 2 GiB of features
SPLITS = ("test", "train", "train+test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
# layer types whose output is a copy or a regulariser, not a new representation
_SKIP_TYPES = (nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Identity)
_REPRESENTATION_TYPES = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.MaxPool2d, nn.AvgPool2d,
                         nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear)

_POOL_TYPES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)

ProgressFn = Callable[[float, str], None]


class EmbeddingError(CnnvizError):
    """An embedding request that cannot be served (the message says what to change)."""


def _report(progress: ProgressFn | None, frac: float, text: str) -> None:
    if progress is not None:
        progress(float(min(1.0, max(0.0, frac))), text)


# ------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class PointSet:
    """The images to embed.

    Attributes:
        images: uint8 arrays [N, H, W] (grayscale) or [N, H, W, 3], what :func:`extract_features` reads;
            for an image folder, thumbnails (the features come from ``paths``).
        labels: true class per image (int64 [N]); -1 where unknown.
        classes: class names for the labels.
        source: a human description ("mnist test, 1000 of 2000").
        paths: image files (image folders only).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    source: str
    paths: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def inputs(self) -> np.ndarray | list[str]:
        """What the model reads: the image files of a folder, else the arrays."""
        return list(self.paths) if self.paths else self.images

    def label_name(self, i: int) -> str:
        """The true class name of point ``i`` (``"?"`` where unknown)."""
        return self.classes[self.labels[i]] if self.labels[i] >= 0 else "?"


def load_points(dataset: str, split: str = "test", n: int = 1000, seed: int = 0) -> PointSet:
    """A seeded random subset of a bundled data set.

    Args:
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"test"``, ``"train"`` or ``"train+test"`` (to reach larger counts).
        n: how many images; capped at the size of the split.
        seed: the subset's random seed (the same seed gives the same images).

    Examples::

        >>> pts = load_points("mnist", "test", 100)
        >>> pts.images.shape, pts.labels.shape
        ((100, 28, 28), (100,))
    """
    if split not in SPLITS:
        raise EmbeddingError(f"split must be one of {SPLITS}, not {split!r}")
    parts = [load_dataset(dataset, s) for s in (("train", "test") if split == "train+test" else (split,))]
    images = np.concatenate([p.images for p in parts]) if len(parts) > 1 else parts[0].images
    labels = np.concatenate([p.labels for p in parts]) if len(parts) > 1 else parts[0].labels
    total = len(labels)
    k = max(1, min(int(n), total))
    idx = np.sort(np.random.default_rng(seed).permutation(total)[:k])
    return PointSet(images[idx], labels[idx].astype(np.int64), list(parts[0].classes),
                    f"{dataset} {split}, {k} of {total}")


def load_image_folder(root: str | Path, n: int = 1000, seed: int = 0, thumb: int = 64) -> PointSet:
    """Images from a folder in ImageFolder layout (``root/<class>/<image>``), or a flat folder.

    Args:
        root: the folder.
        n: at most this many images (a seeded random subset).
        seed: the subset's seed.
        thumb: side of the square thumbnails kept for display.

    Examples::

        >>> pts = load_image_folder("~/data/imagenette/val", n=500)
    """
    root = Path(os.path.expanduser(str(root)))
    if not root.is_dir():
        raise ImageFolderError(f"{root} is not a folder. Give a folder with one sub-folder per class "
                                "(ImageFolder layout: root/cat/1.jpg, root/dog/2.jpg), or a folder of images")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for ci, c in enumerate(classes):
        files += [(p, ci) for p in sorted((root / c).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not classes:
        files = [(p, -1) for p in sorted(root.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ImageFolderError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {root}; give a folder that "
                               "holds image files")
    pick = np.sort(np.random.default_rng(seed).permutation(len(files))[:max(1, int(n))])
    thumbs, labels, paths = [], [], []
    for i in pick:
        p, ci = files[i]
        try:
            img = load_image(str(p)).convert("RGB")
        except Exception:  # an unreadable file is skipped, not fatal
            continue
        s = min(img.size)
        img = img.crop(((img.width - s) // 2, (img.height - s) // 2, (img.width + s) // 2, (img.height + s) // 2))
        thumbs.append(np.asarray(img.resize((thumb, thumb), Image.BILINEAR)))
        labels.append(ci)
        paths.append(str(p))
    if not paths:
        raise ImageFolderError(f"none of the images under {root} could be read; give a folder of PNG or JPEG files")
    return PointSet(np.stack(thumbs), np.asarray(labels, dtype=np.int64), classes or ["?"],
                    f"{root.name}: {len(paths)} of {len(files)} images", tuple(paths))


SPLIT_SIZES = {"mnist": {"test": 2000, "train": 8000, "train+test": 10000},
               "fashion-mnist": {"test": 3000, "train": 15000, "train+test": 18000}}
FOLDER = "folder"
MAX_FOLDER_POINTS = 20_000


def source_choices(m: ModelHandle) -> list[str]:
    """The point sources for ``m``: its own bundled data set's splits first (then a folder), or for a model
    without one (ImageNet), a folder first and the bundled sets after. A source is ``"dataset:split"`` or
    ``"folder"``.

    Examples::

        >>> source_choices(load_model("lenet5-mnist"))
        ['mnist:test', 'mnist:train', 'mnist:train+test', 'folder']
    """
    if m.dataset:
        return [f"{m.dataset}:{s}" for s in SPLITS] + [FOLDER]
    return [FOLDER, "mnist:test", "fashion-mnist:test", "mnist:train+test", "fashion-mnist:train+test"]


def source_title(source: str, own_dataset: bool = True) -> str:
    """How a source reads in a menu (``own_dataset=False``: the model was not trained on bundled data)."""
    if source == FOLDER:
        return "Image folder (path on the server)"
    return f"Bundled {source.replace(':', ' — ')}" + ("" if own_dataset else " (28×28 grayscale, upscaled)")


def layer_titles(m: ModelHandle) -> dict[str, str]:
    """A menu label per :func:`feature_layers` name: the name and its output shape, e.g. ``"features.2  [6×14×14]"``."""
    shapes = {li.name: li.output_shape for li in reversed(m.layers())}  # the first call of a shared module
    shapes[PIXELS] = tuple(m.input_size)
    out = {}
    for name in feature_layers(m):
        dims = "×".join(str(s) for s in shapes.get(name.split("#")[0], ()))
        title = "pixels (the raw input, the baseline)" if name == PIXELS else name
        out[name] = title + (f"  [{dims}]" if dims else "")
    return out


def source_size(source: str) -> int:
    """How many images a source holds (an image folder: the most that are read)."""
    if source == FOLDER:
        return MAX_FOLDER_POINTS
    dataset, split = source.split(":")
    return SPLIT_SIZES[dataset][split]


def load_source(source: str, n: int, seed: int = 0, folder: str = "") -> PointSet:
    """``n`` points of a source from :func:`source_choices` (``folder``: the path, for ``"folder"``)."""
    if source == FOLDER:
        if not folder.strip():
            raise ImageFolderError("type the path of an image folder on the server (one sub-folder per class, e.g. "
                                   "an Imagenette validation folder), or pick a bundled data set")
        return load_image_folder(folder.strip(), n=n, seed=seed)
    dataset, split = source.split(":")
    return load_points(dataset, split, n, seed=seed)


def misclassified(points: PointSet, predictions: np.ndarray, model_classes: Sequence[str],
                  same_task: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Which points have a label the model knows (``known``) and which of those it gets wrong (``wrong``).

    A point's class is matched to the model's classes by name (case-insensitive), so an image folder
    named by class works too. ``same_task=False`` (bundled digits on an ImageNet model) marks nothing.

    Examples::

        >>> pts = PointSet(np.zeros((3, 1, 1), np.uint8), np.array([0, 1, -1]), ["cat", "dog"], "")
        >>> misclassified(pts, np.array([0, 0, 0]), ["dog", "cat"])
        (array([ True,  True, False]), array([ True, False, False]))
    """
    index = {c.lower(): i for i, c in enumerate(model_classes)}
    to_model = np.array([index.get(c.lower(), -1) for c in points.classes])
    if not same_task:
        to_model[:] = -1
    labels = np.asarray(points.labels)
    mapped = to_model[np.clip(labels, 0, None)]
    known = (labels >= 0) & (mapped >= 0)
    return known, known & (mapped != np.asarray(predictions))


def hover_texts(points: PointSet, predictions: np.ndarray, model_classes: Sequence[str],
                wrong: np.ndarray | None = None) -> list[str]:
    """One hover text per point: its number, true label, the model's prediction, and whether it is wrong."""
    out = []
    for i, (lab, pred) in enumerate(zip(points.labels, predictions)):
        name = model_classes[pred] if 0 <= pred < len(model_classes) else str(pred)
        out.append(f"#{i}<br>label: {points.classes[lab] if lab >= 0 else '?'}<br>predicted: {name}"
                   + ("<br><b>misclassified</b>" if wrong is not None and wrong[i] else ""))
    return out


def colour_groups(groups: np.ndarray, max_groups: int = 20) -> np.ndarray:
    """Groups for colouring: with more than ``max_groups`` (ImageNet predictions), the ``max_groups - 1``
    most frequent keep their index and the rest become ``-1`` (drawn grey as "other").

    Examples::

        >>> colour_groups(np.array([5, 5, 7, 9, 9, 9]), max_groups=3).tolist()
        [5, 5, -1, 9, 9, 9]
    """
    groups = np.asarray(groups)
    uniq, counts = np.unique(groups[groups >= 0], return_counts=True)
    if len(uniq) <= max_groups:
        return groups
    keep = uniq[np.argsort(-counts, kind="stable")[:max_groups - 1]]
    return np.where(np.isin(groups, keep), groups, -1)


# ------------------------------------------------------------------------------- features
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
    reps = [n for n in layers if isinstance(mods[n], _REPRESENTATION_TYPES)]
    if reps and isinstance(mods[reps[-1]], nn.Linear) and reps[-1] == layers[-1]:
        reps = reps[:-1]  # the logits are not the penultimate representation
    if not reps:
        reps = layers[:-1] or layers
    last = reps[-1]
    # block ends: pooling outputs where there are at least two, else activations
    pools = [n for n in reps[:-1] if isinstance(mods[n], _POOL_TYPES)]
    before = pools if len(pools) >= 2 else [n for n in reps[:-1] if not isinstance(mods[n], nn.Linear)] or [last]
    early = before[max(0, math.ceil(len(before) / 3) - 1)]
    middle = before[max(0, math.ceil(2 * len(before) / 3) - 1)]
    out = [PIXELS]
    for n in (early, middle, last):
        if n not in out:
            out.append(n)
    return out


def penultimate_layer(m: ModelHandle) -> str:
    """The layer the classifier reads (the usual "CNN code" to embed)."""
    return comparison_layers(m)[-1]


def _pooled_shape(c: int, h: int, w: int, pooling: str) -> tuple[str, int]:
    """(pooling label, side s of the s x s pooled map; 0 = flatten unchanged)."""
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
    if t.ndim <= 2:
        return t.reshape(len(t), -1).float(), "flatten"
    if t.ndim != 4:
        return t.reshape(len(t), -1).float(), "flatten"
    label, s = _pooled_shape(*t.shape[1:], pooling)
    if s:
        t = F.adaptive_avg_pool2d(t.float(), s)
    return t.reshape(len(t), -1).float(), label


def _batches_from(m: ModelHandle, images: np.ndarray | torch.Tensor | Sequence, start: int, stop: int) -> torch.Tensor:
    """Normalised input batch [B, C, H, W] on the device for images[start:stop]."""
    if isinstance(images, torch.Tensor):
        return images[start:stop].to(m.device).float()
    c, h, w = m.input_size
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        chunk = images[start:stop]
        gray = chunk.ndim == 3
        if chunk.shape[1:3] == (h, w) and ((gray and c == 1) or (not gray and chunk.shape[3] == c)):
            # fast path: the arrays are already what the network sees; normalise on the device
            t = torch.from_numpy(np.ascontiguousarray(chunk)).to(m.device).float().div_(255)
            t = t.unsqueeze(1) if gray else t.permute(0, 3, 1, 2)
            mean = torch.tensor(m.mean, device=m.device).view(1, -1, 1, 1)
            std = torch.tensor(m.std, device=m.device).view(1, -1, 1, 1)
            return (t - mean) / std
        return m.preprocess([Image.fromarray(a) for a in chunk])
    return m.preprocess([load_image(p) if isinstance(p, (str, Path)) else p for p in images[start:stop]])


def extract_features(m: ModelHandle, images: np.ndarray | torch.Tensor | Sequence, layer: str, pooling: str = "auto",
                     batch_size: int = 256, progress: ProgressFn | None = None) -> Features:
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


def extract_layers(m: ModelHandle, images: np.ndarray | torch.Tensor | Sequence, layers: Sequence[str],
                   pooling: str = "auto", batch_size: int = 256, progress: ProgressFn | None = None) -> dict[str, Features]:
    """Several layers' features from one forward pass per batch (see :func:`extract_features`).

    Examples::

        >>> fs = extract_layers(m, images, ["pixels", "features.2", "classifier.4"])
        >>> {k: v.dims for k, v in fs.items()}
        {'pixels': 784, 'features.2': 1176, 'classifier.4': 84}
    """
    mods = dict(m.module.named_modules())
    layers = list(dict.fromkeys(layers))
    missing = [name for name in layers if name != PIXELS and split_key(name)[0] not in mods]
    if missing:
        raise KeyError(f"layer(s) {missing} not in model {m.name}. Hint: feature_layers(m) lists the choices")
    n = len(images)
    if n == 0:
        raise ValueError("no images to extract features from")
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    how: dict[str, str] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    preds = []
    what = layers[0] if len(layers) == 1 else f"{len(layers)} layers"
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        x = _batches_from(m, images, start, stop)
        # the engine's naming rule: a plain name is a module's first call, 'name#2' its second
        rec = capture(m.module, x, [name for name in layers if name != PIXELS], logits=True)
        captured, logits = rec.outputs, rec.logits
        for name in layers:
            out = x if name == PIXELS else captured.get(name)
            if out is None:
                raise RuntimeError(f"layer {name!r} produced no tensor output in {m.name}'s forward pass; choose another layer")
            shapes[name] = tuple(out.shape[1:])
            vec, how[name] = pool_features(out, pooling)
            if start == 0 and n * vec.shape[1] * 4 > MAX_FEATURE_BYTES:
                raise MemoryError(f"{n} points x {vec.shape[1]} values of {name} would take "
                                  f"{n * vec.shape[1] * 4 / 2**30:.1f} GiB; choose pooling 'avg' or 'auto', or fewer points")
            chunks[name].append(vec)
        preds.append(logits.argmax(1))
        _report(progress, stop / n, f"features of {what}: {stop}/{n} images")
    pred = torch.cat(preds)
    return {name: Features(name, how[name], torch.cat(chunks[name]), pred, shapes[name]) for name in layers}


# ------------------------------------------------------------------------------------ PCA
@dataclass
class PCA:
    """A fitted principal component analysis (tensors on the features' device).

    Attributes:
        mean: [D] the centre.
        components: [k, D] orthonormal directions, largest variance first.
        explained_variance_ratio: [k] share of the total variance along each component.
    """

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance_ratio: torch.Tensor

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Coordinates [N, k] of points [N, D] (exact for new points too)."""
        return (x.to(self.mean.device).float() - self.mean) @ self.components.T


def fit_pca(x: torch.Tensor, k: int, seed: int = 0) -> PCA:
    """PCA of [N, D] points on their device.

    Exact (an eigen-decomposition of the smaller of the D x D covariance and the N x N Gram matrix,
    in float64) when that side is at most 512, else torch's randomized ``pca_lowrank`` (Halko et al.,
    k + 20 columns, 6 power iterations: a full eigen-decomposition of a 1176 x 1176 covariance
    measured 25 s on a busy 2-core machine, the randomized one well under a second). Each
    component's sign is fixed (largest loading positive) so results are reproducible.

    Examples::

        >>> p = fit_pca(torch.tensor([[0., 0], [2, 0], [4, 0]]), 1)
        >>> p.components.abs().tolist(), p.explained_variance_ratio.tolist()
        ([[1.0, 0.0]], [1.0])
    """
    x = x.float()
    n, d = x.shape
    k = max(1, min(int(k), n, d))
    mean = x.mean(0)
    xc = x - mean
    total = xc.pow(2).sum().clamp_min(1e-30)
    if min(n, d) <= 512:
        if d <= n:
            cov = (xc.T @ xc).double()
            evals, evecs = torch.linalg.eigh(cov)
            comps = evecs.flip(1)[:, :k].T.float()
            var = evals.flip(0)[:k].clamp_min(0).float()
        else:
            gram = (xc @ xc.T).double()
            evals, evecs = torch.linalg.eigh(gram)
            evals, evecs = evals.flip(0)[:k].clamp_min(0), evecs.flip(1)[:, :k]
            comps = (xc.double().T @ evecs / evals.sqrt().clamp_min(1e-12)).T.float()
            var = evals.float()
    else:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            _u, s, v = torch.pca_lowrank(xc, q=min(k + 20, n, d), center=False, niter=6)
        comps, var = v[:, :k].T, s[:k].pow(2)
    sign = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * torch.where(sign == 0, torch.ones_like(sign), sign)
    return PCA(mean, comps, (var / total.float()).clamp(0, 1))


# ------------------------------------------------------------------------------ embedding
PLACEMENT_NOTES = {
    "pca": "PCA places it exactly (the same linear projection).",
    "tsne": "Placed by openTSNE's transform: it starts at the median of its nearest reference points and is "
            "optimised against the fixed embedding (the reference points do not move).",
    "umap": "Placed by UMAP's transform against the fixed embedding.",
}  # how Embedding.project places a new point, per method


@dataclass
class Embedding:
    """Points in 2 or 3 dimensions, and what is needed to add new points.

    Attributes:
        method: ``"pca"``, ``"tsne"`` or ``"umap"``.
        points: float32 [N, dim] (NumPy, for plotting).
        pca: the PCA that is the embedding (method "pca") or the pre-reduction (None if none).
        seconds: wall time of the fit.
        note: how it was made (library, parameters), for captions.
    """

    method: str
    points: np.ndarray
    pca: PCA | None
    seconds: float
    note: str
    _model: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])

    def project(self, features: torch.Tensor) -> np.ndarray:
        """Place new points (features [k, D] of the same layer and pooling) into this embedding.

        PCA: exact. t-SNE: openTSNE's ``transform`` (each new point starts at the median of its
        nearest reference points and is optimised against the fixed embedding). UMAP: umap-learn's
        ``transform``.
        """
        f = features.reshape(len(features), -1).float()
        if self.method == "pca":
            return self.pca.transform(f).cpu().numpy()
        z = (self.pca.transform(f) if self.pca is not None else f).cpu().numpy().astype(np.float64)
        with self._lock:  # the fitted models are shared between sessions and not thread-safe
            if self.method == "tsne":
                proj = np.asarray(self._model.transform(z), dtype=np.float64)
                # guard against the reference frame moving (see embed): undo any translation
                proj -= np.asarray(self._model).mean(0) - self.points.mean(0, dtype=np.float64)
                return proj.astype(np.float32)
            return np.asarray(self._model.transform(z.astype(np.float32)), dtype=np.float32)


_UMAP_LOCK = threading.Lock()
_UMAP_READY = False


def _umap():
    """umap-learn (a slow import, done on first use), with its numba functions cached on disk.

    umap-learn compiles its functions with numba on first use, in every process, without numba's disk cache:
    the first UMAP of a server took 14-48 s on 2 busy cores (``smooth_knn_dist`` alone 10 s), the next ones
    2-5 s. With the cache switched on (``Dispatcher.enable_caching``, numba's own mechanism, keyed by the
    source file, so an upgrade of umap-learn recompiles), a machine compiles once; a later process loads the
    compiled code in about a second.
    """
    global _UMAP_READY
    import umap  # noqa: PLC0415  (slow import, only when asked for)

    with _UMAP_LOCK:
        if not _UMAP_READY:
            from numba.core.dispatcher import Dispatcher

            for name in ("umap.umap_", "umap.utils", "umap.layouts", "umap.distances", "umap.sparse", "umap.spectral"):
                try:
                    mod = importlib.import_module(name)
                except ImportError:
                    continue
                for obj in list(vars(mod).values()):
                    if isinstance(obj, Dispatcher) and type(obj._cache).__name__ == "NullCache":
                        try:
                            obj.enable_caching()
                        except Exception:  # noqa: BLE001 - no writable cache directory: compile as before
                            pass
            _UMAP_READY = True
    return umap


def warm_up() -> None:
    """Import openTSNE (and the neighbour search it uses from 1,000 points) and umap-learn, and fit one small
    UMAP: the numba code is compiled (first time on a machine) or loaded from the disk cache, so the first
    t-SNE or UMAP a user asks for does not wait for it. Meant for a background thread; never raises."""
    try:
        import openTSNE  # noqa: F401, PLC0415

        try:
            import pynndescent  # noqa: F401, PLC0415
        except ImportError:
            pass
        z = np.random.default_rng(0).normal(size=(300, 20)).astype(np.float32)
        _umap().UMAP(n_components=2, n_neighbors=15, random_state=0, n_jobs=1, init="spectral").fit_transform(z)
    except Exception:  # noqa: BLE001 - a warm-up only; the real call reports its own errors
        pass


def idle_threads() -> int:
    """Threads for openTSNE: the cores not already busy (by the 1-minute load average).

    openTSNE's worker threads spin; on oversubscribed cores 2 threads measured 4x slower than 1.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = int(os.getloadavg()[0])
    except (OSError, AttributeError):
        busy = 0
    return max(1, min(cores, cores - busy))


def embed(features: torch.Tensor | np.ndarray, method: str = "tsne", dim: int = 2, *, pca_dims: int = 100,
          perplexity: float = 30.0, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0,
          n_jobs: int | None = None, progress: ProgressFn | None = None) -> Embedding:
    """Embed [N, D] features in ``dim`` (2 or 3) dimensions.

    Args:
        features: the points (a tensor stays on its device for the PCA step).
        method: ``"pca"``; ``"tsne"`` (openTSNE: Barnes-Hut gradients, FFT-accelerated interpolation for
            2D with 10,000 points or more;
            chosen over scikit-learn's TSNE by measurement, see ``cnnviz.bench.embeddings``); ``"umap"``
            (umap-learn).
        dim: 2 or 3.
        pca_dims: t-SNE and UMAP first reduce to this many principal components (the standard
            preprocessing: faster neighbour search, less noise; 100 rather than the usual 50, see the
            module docstring); 0 turns it off.
        perplexity: t-SNE's effective number of neighbours (lowered to (N-1)/3 for small N).
        n_neighbors, min_dist: UMAP's neighbourhood size and packing.
        seed: random seed (same seed, same picture).
        n_jobs: t-SNE threads (default :func:`idle_threads`).
        progress: called with (fraction done, message).

    Examples::

        >>> emb = embed(torch.randn(300, 20), "pca", 2)
        >>> emb.points.shape
        (300, 2)
    """
    if method not in METHODS:
        raise EmbeddingError(f"method must be one of {METHODS}, not {method!r}")
    if dim not in (2, 3):
        raise EmbeddingError(f"dim must be 2 or 3, not {dim}")
    x = torch.as_tensor(features).float()
    x = x.reshape(len(x), -1)
    n = len(x)
    if n < 5:
        raise EmbeddingError(f"need at least 5 points to embed, got {n}; choose more points")
    t0 = time.perf_counter()
    if method == "pca":
        p = fit_pca(x, dim, seed)
        pts = p.transform(x).cpu().numpy()
        if pts.shape[1] < dim:  # fewer features than dimensions: pad with zeros
            pts = np.pad(pts, ((0, 0), (0, dim - pts.shape[1])))
        evr = p.explained_variance_ratio.sum().item()
        _report(progress, 1.0, "PCA done")
        return Embedding("pca", pts.astype(np.float32), p, time.perf_counter() - t0,
                         f"PCA: the {dim} directions of largest variance ({evr:.0%} of it)")
    pre = None
    if pca_dims and x.shape[1] > pca_dims:
        _report(progress, 0.02, f"PCA to {pca_dims} dimensions")
        pre = fit_pca(x, pca_dims, seed)
        z = pre.transform(x)
    else:
        z = x
    z = z.cpu().numpy().astype(np.float64 if method == "tsne" else np.float32)
    pre_note = f"PCA to {pca_dims} dims, then " if pre is not None else ""
    if method == "tsne":
        from openTSNE import TSNE

        perp = float(max(2.0, min(perplexity, (n - 1) / 3)))
        ee, it = 250, 500
        every = 25

        # Barnes-Hut below 10,000 points (openTSNE's own rule: the FFT grid grows with the
        # embedding's extent, and measured 15x slower than BH on 240 well-separated points)
        grad = "fft" if dim == 2 and n >= 10_000 else "bh"
        calls = [0]

        def cb(iteration, error, embedding):  # called every `every` iterations of each phase
            calls[0] += 1
            done = min(ee + it, calls[0] * every)
            _report(progress, 0.1 + 0.9 * done / (ee + it), f"t-SNE iteration {done}/{ee + it} (KL divergence {error:.2f})")
            return False

        _report(progress, 0.05, f"t-SNE: nearest neighbours and affinities (perplexity {perp:.0f})")
        tsne = TSNE(n_components=dim, perplexity=perp, early_exaggeration_iter=ee, n_iter=it,
                    negative_gradient_method=grad, n_jobs=n_jobs or idle_threads(), random_state=seed,
                    # FFT grid: 1.5 units per interval instead of 1. Trained features spread to an extent of
                    # ~150, where the default grid made the second phase 3x slower for a 1% gain in kNN
                    # preservation (measured on 10,000 small-vgg features: 28.6 s vs 12.3 s, 0.398 vs 0.395)
                    ints_in_interval=1.5,
                    callbacks=cb if progress is not None else None, callbacks_every_iters=every, verbose=False)
        model = tsne.fit(z)
        # the fit's progress report ends here: placing a point later (Embedding.project: openTSNE's transform runs
        # the same optimiser) must not call it again (in the app it redrew a finished progress bar)
        model.gradient_descent_params["callbacks"] = None
        # openTSNE's transform re-centres the reference embedding on its bounding box, in place;
        # centre it that way now so that points and projections share one frame
        model -= (np.asarray(model).min(0) + np.asarray(model).max(0)) / 2
        pts = np.asarray(model, dtype=np.float32)
        note = f"{pre_note}t-SNE (openTSNE, perplexity {perp:.0f}, {'FFT' if grad == 'fft' else 'Barnes-Hut'} gradients)"
    else:
        umap = _umap()
        nn_ = int(max(2, min(n_neighbors, n - 1)))
        _report(progress, 0.1, f"UMAP: neighbour graph (k={nn_}) and layout")
        model = umap.UMAP(n_components=dim, n_neighbors=nn_, min_dist=min_dist, random_state=seed, n_jobs=1,
                          init="spectral" if n > dim + 1 else "random")
        pts = np.asarray(model.fit_transform(z), dtype=np.float32)
        note = f"{pre_note}UMAP (umap-learn, {nn_} neighbours, min_dist {min_dist})"
    _report(progress, 1.0, "done")
    return Embedding(method, pts, pre, time.perf_counter() - t0, note, model)


# ------------------------------------------------------------------------- neighbourhoods
def _knn(points: torch.Tensor, queries: torch.Tensor, k: int, exclude_self: bool, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """k nearest points (Euclidean) for each query, chunked so 20,000 x 20,000 fits in memory."""
    idx, dist = [], []
    for s in range(0, len(queries), chunk):
        d = torch.cdist(queries[s:s + chunk], points)
        if exclude_self:
            rows = torch.arange(s, min(s + chunk, len(queries)), device=d.device)
            d[torch.arange(len(rows), device=d.device), rows] = float("inf")
        v, i = d.topk(min(k, points.shape[0] - int(exclude_self)), dim=1, largest=False)
        idx.append(i)
        dist.append(v)
    return torch.cat(idx), torch.cat(dist)


def _as_tensor(x, device=None) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.reshape(len(t), -1).float()
    return t.to(device) if device is not None else t


def nearest_neighbours(features: torch.Tensor, query: torch.Tensor, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the ``k`` points nearest to ``query`` [D] or [1, D] in feature space.

    Examples::

        >>> nearest_neighbours(torch.tensor([[0.], [1], [5]]), torch.tensor([0.9]), k=2)
        (array([1, 0]), array([0.1, 0.9], dtype=float32))
    """
    pts = _as_tensor(features)
    q = _as_tensor(query.reshape(1, -1), pts.device)
    i, d = _knn(pts, q, k, exclude_self=False)
    return i[0].cpu().numpy(), d[0].cpu().numpy()


def knn_accuracy(points, labels, k: int = 10) -> float:
    """Leave-one-out k-nearest-neighbour classification accuracy (majority vote, ties to the lowest label).

    1.0 means every point's neighbours mostly share its class: the classes are separated.

    Examples::

        >>> knn_accuracy(np.array([[0.], [0.1], [5], [5.1]]), np.array([0, 0, 1, 1]), k=1)
        1.0
    """
    pts = _as_tensor(points)
    lab = torch.as_tensor(np.asarray(labels)).long().to(pts.device)
    known = lab >= 0
    if known.sum() < 2:
        return float("nan")
    pts, lab = pts[known], lab[known]
    idx, _ = _knn(pts, pts, k, exclude_self=True)
    votes = F.one_hot(lab[idx], int(lab.max()) + 1).sum(1)
    return float((votes.argmax(1) == lab).float().mean())


def knn_preservation(high, low, k: int = 10) -> float:
    """Mean fraction of each point's ``k`` nearest neighbours in ``high`` that are also among its
    ``k`` nearest in ``low`` (1.0: neighbourhoods kept exactly).

    Examples::

        >>> knn_preservation(np.array([[0.], [1], [3], [7]]), np.array([[0.], [2], [6], [14]]), k=1)
        1.0
    """
    h, l = _as_tensor(high), _as_tensor(low)
    ih, _ = _knn(h, h, k, exclude_self=True)
    il, _ = _knn(l.to(h.device), l.to(h.device), k, exclude_self=True)
    kk = ih.shape[1]
    same = (ih.unsqueeze(2) == il.unsqueeze(1)).any(2).float().sum(1) / kk
    return float(same.mean())


def trustworthiness(high, low, k: int = 10, max_points: int = 2000, seed: int = 0) -> float:
    """scikit-learn's trustworthiness (1.0: no false neighbours in the embedding), on a seeded
    subsample of ``max_points`` points because it needs all pairwise distances."""
    from sklearn.manifold import trustworthiness as sk_trust

    h = _as_tensor(high).cpu().numpy()
    l = _as_tensor(low).cpu().numpy()
    if len(h) > max_points:
        pick = np.random.default_rng(seed).permutation(len(h))[:max_points]
        h, l = h[pick], l[pick]
    k = min(k, len(h) // 2 - 1)
    return float(sk_trust(h, l, n_neighbors=max(1, k)))


# ----------------------------------------------------------------------------- image grid
def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(rows, cols) of the smallest near-square grid with at least ``n`` cells.

    Examples::

        >>> grid_shape(10)
        (3, 4)
    """
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    rows = max(1, math.ceil(n / cols))
    return rows, cols


def snap_to_grid(points: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Assign 2D points to distinct cells of a rows x cols grid, minimising the total squared
    distance between each point and its cell centre (a linear assignment, scipy's
    ``linear_sum_assignment``): the layout of Karpathy's t-SNE grid.

    Points are first scaled so their bounding box spans the cell centres (x to columns, y to rows
    with y up, so row 0 is the top). Cell ``r * cols + c`` is row r, column c. The assignment is
    O(cells³): about 0.3 s for 24 x 24, 1 s for 32 x 32 and 6 s for 40 x 40 on a busy CPU core (the LAPJV
    package ``lap`` measured slower than scipy here, so scipy it is).

    Args:
        points: [N, 2] with N <= rows * cols.

    Returns:
        int64 [N]: the cell of each point, all distinct.

    Examples::

        >>> snap_to_grid(np.array([[0., 1], [1, 1], [0, 0], [1, 0]]), 2, 2).tolist()
        [0, 1, 2, 3]
    """
    from scipy.optimize import linear_sum_assignment

    p = np.asarray(points, dtype=np.float64)[:, :2]
    n = len(p)
    if n > rows * cols:
        raise EmbeddingError(f"{n} points do not fit a {rows}x{cols} grid; use more cells or fewer points")
    lo, hi = p.min(0), p.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    u = (p - lo) / span  # 0..1
    x = u[:, 0] * (cols - 1)
    y = (1 - u[:, 1]) * (rows - 1)
    cy, cx = np.divmod(np.arange(rows * cols), cols)
    cost = (x[:, None] - cx[None]) ** 2 + (y[:, None] - cy[None]) ** 2
    r, c = linear_sum_assignment(cost)
    cells = np.empty(n, dtype=np.int64)
    cells[r] = c
    return cells


def grid_subset(n: int, side: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """The points shown in a ``side`` x ``side`` image grid: all of them when they fit, else a seeded random
    subset (sorted); and the number of rows they need.

    Examples::

        >>> pick, rows = grid_subset(10, 4)
        >>> len(pick), rows
        (10, 3)
    """
    pick = np.arange(n) if n <= side * side else np.sort(np.random.default_rng(seed).permutation(n)[:side * side])
    return pick, math.ceil(len(pick) / side)


# ------------------------------------------------------------------------ layer comparison
@dataclass
class LayerView:
    """One layer of the comparison: its embedding and how well classes separate there."""

    layer: str
    embedding: Embedding
    knn_accuracy_embedding: float
    knn_accuracy_features: float
    trustworthiness: float


def layer_view(feats: Features, labels, method: str = "pca", dim: int = 2, k: int = 10, seed: int = 0,
               progress: ProgressFn | None = None, embedding: Embedding | None = None, **kw) -> LayerView:
    """Embed one layer's features and score it (kNN accuracy in the embedding and in feature space,
    trustworthiness). ``embedding``: score this existing embedding of ``feats`` instead of making one."""
    emb = embedding or embed(feats.values, method, dim, seed=seed, progress=progress, **kw)
    return LayerView(feats.layer, emb, knn_accuracy(emb.points, labels, k), knn_accuracy(feats.values, labels, k),
                     trustworthiness(feats.values, emb.points, k))


def compare_layers(m: ModelHandle, points: PointSet, layers: Sequence[str] | None = None, method: str = "pca",
                   dim: int = 2, pooling: str = "auto", seed: int = 0, progress: ProgressFn | None = None) -> list[LayerView]:
    """The same points embedded at several layers (default :func:`comparison_layers`), each scored.

    Examples::

        >>> views = compare_layers(m, load_points("mnist", "test", 500))
        >>> [round(v.knn_accuracy_embedding, 2) for v in views]   # pixels ... last layer: rising
    """
    layers = list(dict.fromkeys(layers or comparison_layers(m)))
    src = list(points.paths) if points.paths else points.images
    feats = extract_layers(m, src, layers, pooling)  # one forward pass per batch for all layers
    out = []
    for i, name in enumerate(layers):
        sub = (lambda f, t, i=i, name=name: _report(progress, (i + f) / len(layers), f"{name}: {t}")) if progress else None
        out.append(layer_view(feats[name], points.labels, method, dim, seed=seed, progress=sub))
    return out


# --------------------------------------------------------------------------------- caching
def cached_features(cache: ResultCache, m: ModelHandle, points_key: Hashable, images, layer: str,
                    pooling: str = "auto", also: Sequence[str] = (), batch_size: int = 256,
                    progress: ProgressFn | None = None) -> Features:
    """``layer``'s features from ``cache`` (keyed ``(m.key, points_key, layer, pooling)``). On a miss, one
    forward pass per batch extracts it together with every layer of ``also`` not cached yet, and caches all.

    Examples::

        >>> c = ResultCache(10)
        >>> f = cached_features(c, m, "mnist-500", pts.images, "classifier.4", also=comparison_layers(m))
        >>> (m.key, "mnist-500", "pixels", "auto") in c   # the comparison layers came with it
        True
    """
    key = lambda name: (m.key, points_key, name, pooling)  # noqa: E731
    if key(layer) not in cache:
        want = list(dict.fromkeys([layer, *(n for n in also if key(n) not in cache)]))
        for name, f in extract_layers(m, images, want, pooling, batch_size=batch_size, progress=progress).items():
            cache.get_or_compute(key(name), lambda f=f: f)
    return cache.get_or_compute(key(layer), lambda: extract_features(m, images, layer, pooling, batch_size))


