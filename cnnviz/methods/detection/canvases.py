"""Canvases for detection: bundled digits (or garments) pasted at random places and sizes on black.

A canvas is MNIST's look at a larger scale: light ink on a black background, several objects, each
with a box tight around its ink and its class. Everything is drawn from the bundled data sets
(:mod:`cnnviz.core.datasets`) and seeded, so the same arguments give the same canvas.

Examples::

    >>> c = make_canvas(128, n_objects=3, seed=1)
    >>> c.image.shape, c.image.dtype, len(c.boxes) == len(c.labels)
    ((128, 128), dtype('uint8'), True)
    >>> [c.classes[k] for k in c.labels]      # the digits, in the order they were placed
    ['1', '6', '0']
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnnviz.core.datasets import load_dataset
from cnnviz.errors import CnnvizError

INK_FLOOR = 16  # resized pixels darker than this are set to black, so boxes are tight around visible ink
MAX_OVERLAP = 0.05  # at most this share of the smaller box may lie inside another object's box
DATASET_ALIASES = {"mnist": "mnist", "digits": "mnist", "fashion-mnist": "fashion-mnist", "fashion": "fashion-mnist"}


class CanvasError(CnnvizError):
    """A canvas that cannot be drawn as asked (too small, unknown data set, wrong ranges)."""


@dataclass
class Canvas:
    """A canvas and its ground truth.

    Attributes:
        image: ``(H, W)`` uint8, light objects on black.
        boxes: ``[N, 4]`` float32 ``(x0, y0, x1, y1)`` tight around each object's ink, in pixels: the ink
            covers columns ``x0 .. x1 - 1`` and rows ``y0 .. y1 - 1``.
        labels: ``[N]`` int64 class indices into ``classes``.
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        classes: the class names of the data set.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    dataset: str
    classes: list[str]

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return self.image.shape[0], self.image.shape[1]


def _range(value: int | tuple[int, int], what: str) -> tuple[int, int]:
    lo, hi = (value, value) if isinstance(value, (int, np.integer)) else (int(value[0]), int(value[1]))
    if lo < 0 or hi < lo:
        raise CanvasError(f"{what} must be a number or a (low, high) pair with 0 <= low <= high; got {value!r}")
    return int(lo), int(hi)


def _object(crop: np.ndarray, side: int) -> np.ndarray:
    """A 28x28 image cut to its ink's bounding box and resized so its longer side is ``side`` pixels."""
    ys, xs = np.nonzero(crop)
    ink = crop[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = ink.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = np.asarray(Image.fromarray(ink).resize(size, Image.BILINEAR)).copy()
    out[out < INK_FLOOR] = 0
    ys, xs = np.nonzero(out)
    return out[ys.min():ys.max() + 1, xs.min():xs.max() + 1]  # tight again after the floor


def _fits(box: tuple[int, int, int, int], placed: list[tuple[int, int, int, int]]) -> bool:
    x0, y0, x1, y1 = box
    for a0, b0, a1, b1 in placed:
        inter = max(0, min(x1, a1) - max(x0, a0)) * max(0, min(y1, b1) - max(y0, b0))
        smaller = min((x1 - x0) * (y1 - y0), (a1 - a0) * (b1 - b0))
        if inter > MAX_OVERLAP * smaller:
            return False
    return True


def _draw(rng: np.random.Generator, height: int, width: int, n_objects: tuple[int, int], dataset: str,
          split: str, object_size: tuple[int, int]) -> Canvas:
    data = load_dataset(dataset, split)
    image = np.zeros((height, width), np.uint8)
    boxes, labels, placed = [], [], []
    wanted = int(rng.integers(n_objects[0], n_objects[1] + 1))
    top = min(object_size[1], height, width)
    lo = min(object_size[0], top)
    for _ in range(wanted):
        index = int(rng.integers(len(data)))
        crop = data.images[index]
        if crop.ndim == 3:
            crop = crop.mean(axis=2).astype(np.uint8)
        obj = _object(np.asarray(crop), int(rng.integers(lo, top + 1)))
        h, w = obj.shape
        for _try in range(30):  # a free spot, else the object is left out
            x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            box = (x0, y0, x0 + w, y0 + h)
            if _fits(box, placed):
                break
        else:
            continue
        placed.append(box)
        np.maximum(image[y0:y0 + h, x0:x0 + w], obj, out=image[y0:y0 + h, x0:x0 + w])
        boxes.append(box)
        labels.append(int(data.labels[index]))
    return Canvas(image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64),
                  dataset, list(data.classes))


def _check(size, n_objects, dataset, split, object_size):
    height, width = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if min(height, width) < 28:
        raise CanvasError(f"a canvas must be at least 28 pixels on each side; got {height}x{width}")
    if dataset not in DATASET_ALIASES:
        raise CanvasError(f"unknown data set {dataset!r}; choose 'mnist' or 'fashion-mnist'")
    if split not in ("train", "test"):
        raise CanvasError(f"split must be 'train' or 'test', not {split!r}")
    sizes = _range(object_size, "object_size")
    if sizes[0] < 4:
        raise CanvasError(f"objects must be at least 4 pixels; got object_size={object_size!r}")
    return int(height), int(width), _range(n_objects, "n_objects"), DATASET_ALIASES[dataset], sizes


def make_canvas(size: int | tuple[int, int] = 128, n_objects: int | tuple[int, int] = (2, 5),
                dataset: str = "mnist", split: str = "test", seed: int = 0,
                object_size: int | tuple[int, int] = (20, 44)) -> Canvas:
    """One canvas of objects pasted at random places and sizes.

    Args:
        size: the side in pixels, or ``(height, width)``.
        n_objects: how many objects, or a ``(low, high)`` range (inclusive). Objects that find no free
            place (they may overlap another's box by at most 5% of the smaller box) are left out, so a
            small canvas can hold fewer.
        dataset: ``"mnist"`` (digits) or ``"fashion-mnist"`` (garments).
        split: which split of the bundled data set the objects come from.
        seed: the same seed gives the same canvas.
        object_size: the longer side of each object's ink box in pixels, or a ``(low, high)`` range;
            capped at the canvas size.

    Raises:
        CanvasError: a canvas under 28 pixels, an unknown data set or split, or a bad range.
    """
    height, width, n, name, sizes = _check(size, n_objects, dataset, split, object_size)
    return _draw(np.random.default_rng(seed), height, width, n, name, split, sizes)


def make_canvases(count: int, size: int | tuple[int, int] = 128, n_objects: int | tuple[int, int] = (2, 5),
                  dataset: str = "mnist", split: str = "test", seed: int = 0,
                  object_size: int | tuple[int, int] = (20, 44)) -> list[Canvas]:
    """``count`` canvases, each drawn as :func:`make_canvas` does, from one seed (canvas ``i`` is seeded by
    ``(seed, i)``, so the first ones do not change when ``count`` grows)."""
    height, width, n, name, sizes = _check(size, n_objects, dataset, split, object_size)
    return [_draw(np.random.default_rng([seed, i]), height, width, n, name, split, sizes) for i in range(count)]


__all__ = ["Canvas", "CanvasError", "make_canvas", "make_canvases"]
