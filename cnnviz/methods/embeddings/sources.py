"""The images to embed: seeded subsets of the bundled data sets, image folders, and the point set they become.

A *source* is ``"dataset:split"`` (``"mnist:test"``) or ``"folder"`` (a path on the server); :func:`load_source`
turns one into a :class:`PointSet`. :func:`misclassified` and :func:`colour_groups` read a point set against
the model's predictions.

Examples::

    >>> pts = load_source("mnist:test", 100)
    >>> pts.images.shape, pts.source
    ((100, 28, 28), 'mnist test, 100 of 2000')
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cnnviz.core.datasets import load_dataset
from cnnviz.core.images import load_image
from cnnviz.core.model import ModelHandle
from cnnviz.errors import ImageFolderError
from cnnviz.methods.embeddings.errors import EmbeddingError

SPLITS = ("test", "train", "train+test")
SPLIT_SIZES = {"mnist": {"test": 2000, "train": 8000, "train+test": 10000},
               "fashion-mnist": {"test": 3000, "train": 15000, "train+test": 18000}}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
FOLDER = "folder"
MAX_FOLDER_POINTS = 20_000


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


def folder_files(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """The class names and the ``(image file, class index)`` pairs of a folder: ``root/<class>/<image>``
    (ImageFolder layout, searched recursively per class), else the images directly in ``root`` (class -1)."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for ci, c in enumerate(classes):
        files += [(p, ci) for p in sorted((root / c).rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not classes:
        files = [(p, -1) for p in sorted(root.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return classes, files


def square_thumbnail(img: Image.Image, side: int) -> np.ndarray:
    """The centre square of ``img``, resized to ``side`` x ``side`` RGB (uint8 [side, side, 3])."""
    img = img.convert("RGB")
    s = min(img.size)
    left, top = (img.width - s) // 2, (img.height - s) // 2
    return np.asarray(img.crop((left, top, left + s, top + s)).resize((side, side), Image.BILINEAR))


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
    classes, files = folder_files(root)
    if not files:
        raise ImageFolderError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {root}; give a folder that "
                               "holds image files")
    pick = np.sort(np.random.default_rng(seed).permutation(len(files))[:max(1, int(n))])
    thumbs, labels, paths = [], [], []
    for i in pick:
        path, ci = files[i]
        try:
            img = load_image(str(path))
        except (OSError, ValueError):  # unreadable (ImageError is a ValueError) or unreachable: skipped, not fatal
            continue
        thumbs.append(square_thumbnail(img, thumb))
        labels.append(ci)
        paths.append(str(path))
    if not paths:
        raise ImageFolderError(f"none of the images under {root} could be read; give a folder of PNG or JPEG files")
    return PointSet(np.stack(thumbs), np.asarray(labels, dtype=np.int64), classes or ["?"],
                    f"{root.name}: {len(paths)} of {len(files)} images", tuple(paths))


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


def source_size(source: str) -> int:
    """How many images a source holds (an image folder: the most that are read).

    Examples::

        >>> source_size("mnist:train+test"), source_size("folder")
        (10000, 20000)
    """
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


__all__ = ["SPLITS", "SPLIT_SIZES", "IMAGE_SUFFIXES", "FOLDER", "MAX_FOLDER_POINTS", "PointSet", "load_points",
           "folder_files", "square_thumbnail", "load_image_folder", "source_choices", "source_size", "load_source",
           "misclassified", "colour_groups"]
