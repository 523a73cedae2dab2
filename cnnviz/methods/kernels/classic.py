"""Classic (hand-made) kernels: identity, blurs, sharpen, Sobel, Prewitt, Laplacian, emboss, outline and Gabor,
applying them to an image, and a kernel typed in by hand.

Convention: :func:`apply_kernel` uses ``torch.nn.functional.conv2d``, which computes a
**cross-correlation** (the kernel is slid over the image *without* flipping it), as every
deep-learning framework does. ``convolution=True`` flips the kernel first, which gives the
true convolution of signal processing. The two agree for symmetric kernels (blur, Laplacian)
and differ in sign for antisymmetric ones (Sobel, Prewitt).

Examples::

    >>> import torch
    >>> from cnnviz.methods.kernels import apply_kernel, classic_kernel
    >>> img = torch.tensor([[0., 0., 1., 1.]] * 4)     # a step edge: dark left, bright right
    >>> apply_kernel(img, classic_kernel("sobel_x"), padding="valid")[0]
    tensor([[4., 4.],
            [4., 4.]])
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from cnnviz.methods.kernels.errors import KernelError, UnknownKernelError

# ------------------------------------------------------------------ the kernels

_FIXED: dict[str, list[list[float]]] = {
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "prewitt_x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt_y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
}


@dataclass(frozen=True)
class KernelSpec:
    """One classic kernel: its name, its title, and which parameters :func:`classic_kernel` reads for it.

    What the kernel does, in words, is page text (:data:`cnnviz.text.kernels.KERNEL_DESCRIPTIONS`).
    """

    name: str
    title: str
    params: tuple[str, ...] = ()  # among "size", "sigma", "theta", "wavelength", "gabor_sigma", "gamma", "phase"


KERNELS: dict[str, KernelSpec] = {s.name: s for s in [
    KernelSpec("identity", "Identity", ("size",)),
    KernelSpec("box_blur", "Box blur", ("size",)),
    KernelSpec("gaussian", "Gaussian blur", ("size", "sigma")),
    KernelSpec("sharpen", "Sharpen"),
    KernelSpec("sobel_x", "Sobel x"),
    KernelSpec("sobel_y", "Sobel y"),
    KernelSpec("sobel_magnitude", "Sobel gradient magnitude"),
    KernelSpec("prewitt_x", "Prewitt x"),
    KernelSpec("prewitt_y", "Prewitt y"),
    KernelSpec("laplacian", "Laplacian"),
    KernelSpec("emboss", "Emboss"),
    KernelSpec("outline", "Outline"),
    KernelSpec("gabor", "Gabor", ("size", "theta", "wavelength", "gabor_sigma", "gamma", "phase")),
]}
SIZED = ("identity", "box_blur", "gaussian", "gabor")  # the kernels built at any size (1..31)


def check_kernel_name(name: str) -> None:
    """Raise :class:`UnknownKernelError` (naming the known ones) when ``name`` is not in :data:`KERNELS`."""
    if name not in KERNELS:
        raise UnknownKernelError(f"unknown kernel {name!r}. Known: {', '.join(KERNELS)}")


def identity(size: int = 3) -> torch.Tensor:
    """A ``size`` x ``size`` kernel with one 1 in the centre (the row/column ``size // 2``)."""
    k = torch.zeros(size, size)
    k[size // 2, size // 2] = 1.0
    return k


def box_blur(size: int = 3) -> torch.Tensor:
    """The mean filter: all weights ``1 / size²``."""
    return torch.full((size, size), 1.0 / (size * size))


def gaussian(size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """A normalised (sum 1) Gaussian kernel, the outer product of two 1-D Gaussians.

    Examples::

        >>> round(float(gaussian(5, 1.0).sum()), 6)
        1.0
    """
    if sigma <= 0:
        raise KernelError(f"sigma must be > 0, got {sigma}; a tiny sigma (e.g. 0.3) approaches the identity")
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = torch.outer(g, g)
    return k / k.sum()


def gabor(size: int = 11, theta: float = 0.0, wavelength: float = 4.0, sigma: float = 2.0, gamma: float = 0.5,
          phase: float = 0.0) -> torch.Tensor:
    """A Gabor kernel: ``exp(-(x'² + γ² y'²) / 2σ²) · cos(2π x'/λ + ψ)``, with ``x' = x cosθ + y sinθ``.

    Args:
        size: side of the square kernel.
        theta: orientation in degrees of the wave vector, measured from the x axis (image y points
            down). ``theta=0`` gives vertical stripes, which respond to vertical edges and lines.
        wavelength: λ, the period of the stripes in pixels (≥ 2; 2 is the finest a grid can hold).
        sigma: σ, the width of the Gaussian window in pixels.
        gamma: γ, the aspect ratio of the window (1 round, < 1 longer along the stripes).
        phase: ψ in degrees: 0 gives an even (line/bar) detector, 90 an odd (edge) detector.

    Examples::

        >>> k = gabor(7, theta=0, phase=0)
        >>> bool(torch.allclose(k, k.flip(0)))   # vertical stripes: symmetric top to bottom
        True
    """
    if wavelength <= 0 or sigma <= 0 or gamma <= 0:
        raise KernelError(f"wavelength, sigma and gamma must be > 0 (got {wavelength}, {sigma}, {gamma})")
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    t = math.radians(theta)
    xr = x * math.cos(t) + y * math.sin(t)
    yr = -x * math.sin(t) + y * math.cos(t)
    env = torch.exp(-(xr ** 2 + gamma ** 2 * yr ** 2) / (2 * sigma ** 2))
    return (env * torch.cos(2 * math.pi * xr / wavelength + math.radians(phase))).float()


def classic_kernel(name: str, size: int = 3, sigma: float = 1.0, theta: float = 0.0, wavelength: float = 4.0,
                   gabor_sigma: float = 2.0, gamma: float = 0.5, phase: float = 0.0) -> torch.Tensor:
    """A classic kernel by name (see :data:`KERNELS`); parameters a kernel does not take are ignored.

    ``"sobel_magnitude"`` is not one kernel (it combines two): it returns Sobel x; use
    :func:`gradient_magnitude` for the magnitude.

    Examples::

        >>> classic_kernel("sobel_x")
        tensor([[-1.,  0.,  1.],
                [-2.,  0.,  2.],
                [-1.,  0.,  1.]])
    """
    check_kernel_name(name)
    if name in SIZED and not (1 <= size <= 31):
        raise KernelError(f"kernel size must be between 1 and 31, got {size}")
    if name == "identity":
        return identity(size)
    if name == "box_blur":
        return box_blur(size)
    if name == "gaussian":
        return gaussian(size, sigma)
    if name == "gabor":
        return gabor(size, theta, wavelength, gabor_sigma, gamma, phase)
    if name == "sobel_magnitude":
        name = "sobel_x"
    return torch.tensor(_FIXED[name], dtype=torch.float32)


# ------------------------------------------------------------------ applying kernels

def image_tensor(img: Image.Image | np.ndarray, size: int | None = 256, grayscale: bool = False,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """A picture as a float tensor [C, H, W] with values 0..1, optionally resized so its longer side is ``size``.

    Args:
        img: a PIL image or a uint8 array (H x W or H x W x 3).
        size: the longer side after resizing (up or down, aspect kept); None keeps the size.
        grayscale: convert to one luminance channel (ITU-R 601: 0.299 R + 0.587 G + 0.114 B).
        device: where the tensor goes.

    Examples::

        >>> image_tensor(Image.new("RGB", (40, 20)), size=100).shape
        torch.Size([3, 50, 100])
    """
    pil = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img, dtype=np.uint8))
    pil = pil.convert("L") if grayscale else pil.convert("RGB") if pil.mode not in ("L", "RGB") else pil
    if size is not None and max(pil.size) != size:
        s = size / max(pil.size)
        pil = pil.resize((max(1, round(pil.width * s)), max(1, round(pil.height * s))), Image.BILINEAR)
    t = torch.from_numpy(np.asarray(pil, dtype=np.uint8).copy()).to(device)
    t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
    return t.float() / 255


def _as_kernel(kernel, device) -> torch.Tensor:
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float32) if not isinstance(kernel, torch.Tensor) else kernel,
                        dtype=torch.float32, device=device)
    if k.ndim != 2 or k.numel() == 0:
        raise KernelError(f"a kernel must be a non-empty 2-D table (rows x columns), got shape {tuple(k.shape)}")
    if not torch.isfinite(k).all():
        raise KernelError("the kernel contains empty or non-numeric cells (NaN/inf); fill every cell with a number")
    return k


def luminance(image: torch.Tensor) -> torch.Tensor:
    """[C, H, W] (C = 1 or 3) to one channel [1, H, W] by 0.299 R + 0.587 G + 0.114 B."""
    if image.shape[0] == 1:
        return image
    if image.shape[0] != 3:
        raise KernelError(f"luminance needs 1 or 3 channels, got {image.shape[0]}")
    w = torch.tensor([0.299, 0.587, 0.114], device=image.device, dtype=image.dtype).view(3, 1, 1)
    return (image * w).sum(0, keepdim=True)


PADDINGS = ("reflect", "zeros", "replicate", "valid")


def apply_kernel(image: torch.Tensor, kernel: torch.Tensor | Sequence[Sequence[float]] | np.ndarray,
                 mode: str = "grayscale", convolution: bool = False, padding: str = "reflect",
                 device: torch.device | str | None = None) -> torch.Tensor:
    """Slide ``kernel`` over ``image`` with ``F.conv2d`` (cross-correlation; ``convolution=True`` flips it first).

    ``out[y, x] = Σ_ij k[i, j] · in[y + i - ph, x + j - pw]`` with ``ph = (kh - 1) // 2`` and
    ``pw = (kw - 1) // 2`` (the output is aligned with the input for "same" paddings).

    Args:
        image: [H, W] or [C, H, W] float tensor (e.g. from :func:`image_tensor`).
        kernel: a 2-D table of weights.
        mode: ``"grayscale"`` (convert to luminance, one output channel) or ``"per_channel"``
            (the same kernel on each channel separately, C output channels).
        convolution: flip the kernel in both axes, giving true convolution instead of correlation.
        padding: ``"reflect"``, ``"zeros"`` or ``"replicate"`` keep the size; ``"valid"`` shrinks the
            output by ``kh - 1`` x ``kw - 1`` (only positions where the kernel fits).
        device: where to compute (default: the image's device). Use the model's device.

    Returns:
        [C_out, H', W'] on ``device``.

    Examples::

        >>> apply_kernel(torch.ones(4, 4), box_blur(3), padding="zeros")[0, 0, 0].item()  # corner sees 4 of 9
        0.4444444477558136
    """
    if mode not in ("grayscale", "per_channel"):
        raise KernelError(f"mode must be 'grayscale' or 'per_channel', got {mode!r}")
    if padding not in PADDINGS:
        raise KernelError(f"padding must be one of {PADDINGS}, got {padding!r}")
    device = torch.device(device) if device is not None else image.device
    x = image.to(device).float()
    x = x.unsqueeze(0) if x.ndim == 2 else x
    if x.ndim != 3:
        raise KernelError(f"image must be [H, W] or [C, H, W], got shape {tuple(image.shape)}")
    k = _as_kernel(kernel, device)
    if convolution:
        k = k.flip(0, 1)
    if mode == "grayscale":
        x = luminance(x)
    c = x.shape[0]
    kh, kw = k.shape
    h, w = x.shape[1:]
    if padding == "valid":
        if kh > h or kw > w:
            raise KernelError(f"a {kh}x{kw} kernel does not fit in a {h}x{w} image with 'valid' padding; "
                              "use a same-size padding or a smaller kernel")
    else:
        pads = ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)  # left, right, top, bottom
        if padding == "reflect" and (max(pads[:2]) >= w or max(pads[2:]) >= h):
            padding = "replicate"  # reflection needs the image to be larger than the padding
        x = F.pad(x[None], pads, mode="constant" if padding == "zeros" else padding)[0]
    weight = k.expand(c, 1, kh, kw)
    return F.conv2d(x[None], weight, groups=c)[0]


def gradient_magnitude(image: torch.Tensor, mode: str = "grayscale", padding: str = "reflect",
                       device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sobel responses Gx, Gy and the magnitude √(Gx² + Gy²), each [C_out, H', W'].

    Examples::

        >>> gx, gy, mag = gradient_magnitude(torch.tensor([[0., 0., 1., 1.]] * 4), padding="valid")
        >>> mag[0, 0].tolist()
        [4.0, 4.0]
    """
    gx = apply_kernel(image, classic_kernel("sobel_x"), mode, padding=padding, device=device)
    gy = apply_kernel(image, classic_kernel("sobel_y"), mode, padding=padding, device=device)
    return gx, gy, torch.sqrt(gx ** 2 + gy ** 2)


# ------------------------------------------------------------------ a kernel typed in by hand

def parse_kernel(text: str) -> list[float]:
    """The numbers of a kernel written row by row, comma separated (the page's ``kn_k`` link value).

    Examples::

        >>> parse_kernel("0,1,0, 1,-4,1, 0,1,0")[4]
        -4.0
    """
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError as e:
        raise KernelError(f"the kernel {text[:40]!r} is not a comma-separated list of numbers "
                          "(write it row by row, e.g. 0,1,0,1,-4,1,0,1,0)") from e
    if not all(math.isfinite(v) for v in vals):
        raise KernelError(f"the kernel {text[:40]!r} holds inf or NaN; write a finite number in every cell")
    return vals


def kernel_from_values(values: Sequence[float], shape: tuple[int, int]) -> np.ndarray:
    """Numbers read row by row as a ``shape`` kernel (float32); a count that does not fit raises :class:`KernelError`.

    Examples::

        >>> kernel_from_values([1, 2, 3, 4], (2, 2)).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    rows, cols = shape
    if len(values) != rows * cols:
        raise KernelError(f"it has {len(values)} numbers, the {rows}×{cols} kernel needs {rows * cols}")
    return np.asarray(values, dtype=np.float32).reshape(rows, cols)


def format_kernel(kernel: np.ndarray | torch.Tensor) -> str:
    """A kernel as the comma-separated text :func:`parse_kernel` reads (4 significant digits).

    Examples::

        >>> format_kernel(classic_kernel("sobel_x"))
        '-1,0,1,-2,0,2,-1,0,1'
    """
    return ",".join(f"{float(v):.4g}" for v in np.asarray(kernel, dtype=np.float64).ravel())


__all__ = [
    "KernelSpec", "KERNELS", "SIZED", "check_kernel_name", "identity", "box_blur", "gaussian", "gabor",
    "classic_kernel", "image_tensor", "luminance", "PADDINGS", "apply_kernel", "gradient_magnitude", "parse_kernel",
    "kernel_from_values", "format_kernel",
]
