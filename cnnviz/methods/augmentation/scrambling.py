"""The scrambled image (the "Picasso problem"): shuffle the tiles of a grid and see how much of the prediction
survives. Every local feature is still there; only their arrangement is wrong.

Examples::

    >>> d = scramble_demo(load_model("lenet5-mnist"), "assets/samples/digit-6.png", 1)
    >>> d.clean_class == d.scrambled_class  # one tile: the image itself
    True
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cnnviz.core.images import ImageSource
from cnnviz.core.model import ModelHandle
from cnnviz.methods.augmentation.geometry import scramble
from cnnviz.methods.augmentation.pixels import image_tensor, to_arrays
from cnnviz.methods.augmentation.sweeps import sweep_pass


@dataclass
class ScrambleSweep:
    """How much of the prediction survives shuffling tiles, per grid size.

    Attributes:
        grids: tiles per side.
        probs: probability of the clean image's top class, ``[len(grids), shuffles]``.
        kept: fraction of shuffles whose top class is still the clean one, per grid.
        reference: the clean image's top class.
        classes: class names.
        examples: one scrambled image per grid ``[len(grids), C, H, W]`` (CPU).
    """

    grids: list[int]
    probs: torch.Tensor
    kept: list[float]
    reference: int
    classes: list[str]
    examples: torch.Tensor

    @property
    def tiles(self) -> list[int]:
        return [g * g for g in self.grids]

    @property
    def mean_probs(self) -> list[float]:
        return self.probs.mean(1).tolist()


def scramble_sweep(model: ModelHandle, image: ImageSource | torch.Tensor, grids: Sequence[int] = (1, 2, 3, 4, 5, 6, 7),
                   shuffles: int = 8, seed: int = 0) -> ScrambleSweep:
    """Scramble the image on each grid with ``shuffles`` different seeds; one forward pass for all of them.

    Examples::

        >>> s = scramble_sweep(m, img, grids=(1, 4), shuffles=3)
        >>> s.tiles, s.kept[0]
        ([1, 16], 1.0)
    """
    x0 = image_tensor(model, image)
    copies = torch.stack([scramble(x0, g, seed + r) for g in grids for r in range(shuffles)])
    p = sweep_pass(model, x0, copies)
    ref = p.reference
    probs = p.probs[1:].view(len(grids), shuffles, -1)
    kept = (probs.argmax(2) == ref).float().mean(1).tolist()
    examples = copies[::shuffles].cpu()  # the first shuffle of every grid
    return ScrambleSweep(list(grids), probs[:, :, ref].cpu(), kept, ref, list(model.classes), examples)


def scramble_limits(model: ModelHandle) -> tuple[int, int]:
    """``(largest grid, shuffles per grid)`` for the scramble demo: tiles of at least 4 pixels, at most 8 per side;
    ImageNet-size models get 4 shuffles instead of 8 (fewer forward passes).

    Examples::

        >>> scramble_limits(load_model("lenet5-mnist"))
        (7, 8)
    """
    side = min(model.input_size[1:])
    return max(2, min(8, side // 4)), 8 if side <= 64 else 4


@dataclass
class ScrambleDemo:
    """One scrambled image next to the clean one, and the sweep over grid sizes.

    Attributes:
        clean, scrambled: uint8 images for display.
        grid: tiles per side of ``scrambled``.
        clean_probs, scrambled_probs: the model's probabilities on each (CPU).
        sweep: probabilities of the clean class over grids 1..max_grid.
    """

    clean: np.ndarray
    scrambled: np.ndarray
    grid: int
    clean_probs: torch.Tensor
    scrambled_probs: torch.Tensor
    sweep: ScrambleSweep

    @property
    def reference(self) -> int:
        return int(self.clean_probs.argmax())

    @property
    def clean_class(self) -> str:
        return self.sweep.classes[self.reference]

    @property
    def scrambled_class(self) -> str:
        return self.sweep.classes[int(self.scrambled_probs.argmax())]


def scramble_demo(model: ModelHandle, image: ImageSource | torch.Tensor, grid: int, seed: int = 0,
                  max_grid: int | None = None, shuffles: int | None = None) -> ScrambleDemo:
    """The image scrambled on a ``grid`` x ``grid`` tiling, and :func:`scramble_sweep` up to ``max_grid``.

    Defaults come from :func:`scramble_limits`.

    Examples::

        >>> d = scramble_demo(load_model("lenet5-mnist"), "assets/samples/digit-6.png", 1)
        >>> d.clean_class == d.scrambled_class  # one tile: the image itself
        True
    """
    limit, n = scramble_limits(model)
    x0 = image_tensor(model, image)
    p = sweep_pass(model, x0, scramble(x0, grid, seed)[None])
    sweep = scramble_sweep(model, x0, grids=list(range(1, (max_grid or limit) + 1)), shuffles=shuffles or n, seed=seed)
    clean, scrambled = to_arrays(p.images)
    probs = p.probs.cpu()
    return ScrambleDemo(clean, scrambled, grid, probs[0], probs[1], sweep)
