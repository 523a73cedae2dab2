"""The animation's worked example: one input channel (a bundled digit, random integers or typed numbers), one
kernel (an edge, ones, random or typed) and the layer at that input's size.

Examples::

    >>> from cnnviz.methods.arithmetic.layer_spec import LayerSpec
    >>> d = demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=2), "random", kernel_kind="ones")
    >>> d.ok, tuple(d.x.shape), tuple(d.weight.shape)
    (True, (4, 4), (2, 2))
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image

from cnnviz.core.images import load_image
from cnnviz.core.paths import SAMPLES_DIR
from cnnviz.errors import CnnvizError
from cnnviz.methods.arithmetic.layer_spec import LayerSpec

INPUT_SOURCES = ("digit", "random", "custom")  # the labels are in cnnviz.text.arithmetic
KERNEL_KINDS = ("edge", "ones", "random", "custom")
DEMO_MAX_SIDE = 64  # the animation's input is at most this large (its grid is capped further by the figure)


class MatrixError(CnnvizError):
    """A typed matrix (input or kernel) that cannot be read, or has the wrong size."""


def parse_matrix(text: str, what: str = "matrix") -> torch.Tensor:
    """Numbers separated by spaces (or commas), rows by ``;``, as a float64 tensor.

    Raises:
        MatrixError: rows of different lengths or a word that is not a number, with the syntax.

    Examples::

        >>> parse_matrix("1 2; 3 4").tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    try:
        rows = [[float(v) for v in r.replace(",", " ").split()] for r in text.split(";") if r.strip()]
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            raise ValueError("rows of different lengths" if rows else "no numbers")
    except ValueError as e:
        raise MatrixError(
            f"The {what} cannot be read ({e}). Write numbers separated by spaces, rows separated by ';', "
            "e.g. `1 2; 3 4`."
        ) from e
    return torch.tensor(rows, dtype=torch.float64)


def identity_kernel_text(kernel: int) -> str:
    """A ``k x k`` identity matrix in :func:`parse_matrix`'s syntax (the default of a typed kernel).

    Examples::

        >>> identity_kernel_text(2)
        '1 0; 0 1'
    """
    return "; ".join(" ".join("1" if i == j else "0" for j in range(kernel)) for i in range(kernel))


def digit_values(digit: int, height: int, width: int) -> np.ndarray:
    """The bundled handwritten digit resized to ``height x width`` and scaled to whole numbers 0..9."""
    img = (
        load_image((SAMPLES_DIR / f"digit-{digit}.png").read_bytes())
        .convert("L")
        .resize((width, height), Image.BILINEAR)
    )
    return np.round(np.asarray(img, dtype=np.float64) / 255 * 9)


def demo_input(source: str, height: int, width: int, digit: int = 3, text: str = "") -> torch.Tensor:
    """One input channel for the animation: a digit, seeded random integers, or a typed matrix.

    Args:
        source: one of :data:`INPUT_SOURCES`.
        height, width: the size wanted (capped at :data:`DEMO_MAX_SIDE`; a typed matrix keeps its own).
        digit: the bundled digit (``source="digit"``).
        text: the typed matrix (``source="custom"``).

    Raises:
        MatrixError: when ``source="custom"`` and ``text`` cannot be read.

    Examples::

        >>> demo_input("random", 4, 5).shape
        torch.Size([4, 5])
    """
    h, w = min(height, DEMO_MAX_SIDE), min(width, DEMO_MAX_SIDE)
    if source == "digit":
        return torch.from_numpy(digit_values(digit, h, w))
    if source == "random":
        return torch.randint(0, 10, (h, w), generator=torch.Generator().manual_seed(height * 1000 + width)).double()
    return parse_matrix(text, "input")


def demo_kernel(kind: str, kernel: int, text: str = "") -> torch.Tensor:
    """The animation's kernel ``[k, k]``: a vertical edge, a box of ones, seeded random integers, or typed.

    Raises:
        MatrixError: a typed kernel that cannot be read or is not ``kernel x kernel``.

    Examples::

        >>> demo_kernel("edge", 3).tolist()
        [[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]
    """
    k = kernel
    if kind == "edge":
        w = torch.zeros(k, k, dtype=torch.float64)
        w[:, 0], w[:, -1] = -1.0, 1.0
        return torch.ones(1, 1, dtype=torch.float64) if k == 1 else w
    if kind == "ones":
        return torch.ones(k, k, dtype=torch.float64)
    if kind == "random":
        return torch.randint(-1, 3, (k, k), generator=torch.Generator().manual_seed(k)).double()
    w = parse_matrix(text, "kernel")
    if tuple(w.shape) != (k, k):
        raise MatrixError(
            f"The kernel you typed is {w.shape[0]}×{w.shape[1]}, but K = {k}: type {k} rows of {k} numbers."
        )
    return w


@dataclass(frozen=True)
class DemoLayer:
    """What the animation draws: one input channel, one kernel, the layer at that input's size.

    ``errors`` say why a typed input or kernel cannot be used (then ``ok`` is False);
    ``typed_size_differs`` is True when a typed input's size differs from the formulas' H×W, so the animation
    uses the typed size (``spec`` has it).
    """

    x: torch.Tensor | None
    weight: torch.Tensor | None
    spec: LayerSpec
    errors: tuple[CnnvizError, ...] = ()
    typed_size_differs: bool = False

    @property
    def ok(self) -> bool:
        return self.x is not None and (self.spec.is_pool or self.weight is not None) and not self.errors


def demo_layer(
    spec: LayerSpec,
    source: str = "digit",
    digit: int = 3,
    input_text: str = "",
    kernel_kind: str = "edge",
    kernel_text: str = "",
) -> DemoLayer:
    """The animation's input, kernel and layer; typed matrices that do not fit give errors, not exceptions.

    Examples::

        >>> d = demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=2), "custom", input_text="1 2 3; 4 5 6; 7 8 9")
        >>> d.ok, tuple(d.x.shape), d.spec.height, d.typed_size_differs
        (True, (3, 3), 3, True)
        >>> demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=2), "custom", input_text="1 2; 3").ok
        False
    """
    errors: list[CnnvizError] = []
    x = w = None
    try:
        x = demo_input(source, spec.height, spec.width, digit, input_text)
    except CnnvizError as e:
        errors.append(e)
    try:
        w = None if spec.is_pool else demo_kernel(kernel_kind, spec.kernel, kernel_text)
    except CnnvizError as e:
        errors.append(e)
    if x is None or tuple(x.shape) == (spec.height, spec.width):
        return DemoLayer(x, w, spec, tuple(errors))
    small = replace(spec, height=x.shape[0], width=x.shape[1], in_channels=1, out_channels=1, groups=1)
    if small.problems():
        errors.append(
            MatrixError("The typed input does not fit these settings: " + " ".join(p.message for p in small.problems()))
        )
    return DemoLayer(x, w, small, tuple(errors), typed_size_differs=source == "custom")
