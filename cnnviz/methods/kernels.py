"""Filter kernels: classic image kernels, applying them to an image, and a model's learned filters.

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
from torch import nn
from torch.nn import functional as F

from cnnviz.errors import CnnvizError, LayerError


class KernelError(CnnvizError):
    """A kernel, image or filter that cannot be used as asked; the message says what to change."""


class UnknownKernelError(KernelError, KeyError):
    """A classic kernel name that :data:`KERNELS` does not have (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotAConvError(KernelError, TypeError):
    """A layer that is not a ``Conv2d``, so it has no filters to show (also a ``TypeError``)."""


class FilterIndexError(KernelError, IndexError):
    """A filter index outside the layer (also an ``IndexError``)."""

# ------------------------------------------------------------------ classic kernels

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
    """One classic kernel as the page offers it: which parameters it takes and what it does."""

    name: str
    title: str
    description: str
    params: tuple[str, ...] = ()  # among "size", "sigma", "theta", "wavelength", "gabor_sigma", "gamma", "phase"


KERNELS: dict[str, KernelSpec] = {s.name: s for s in [
    KernelSpec("identity", "Identity",
               "One 1 in the centre: the output is the input. Start here and edit a cell.",
               ("size",)),
    KernelSpec("box_blur", "Box blur",
               "The average of the neighbourhood (all weights 1/n²): smooths, sums to 1 so brightness is kept.",
               ("size",)),
    KernelSpec("gaussian", "Gaussian blur",
               "A weighted average that favours the centre (weights exp(-r²/2σ²), summing to 1): smooths without the "
               "box's blockiness.",
               ("size", "sigma")),
    KernelSpec("sharpen", "Sharpen",
               "Identity plus a negative Laplacian: boosts the difference between a pixel and its neighbours."),
    KernelSpec("sobel_x", "Sobel x",
               "Brightness increasing to the right → positive, to the left → negative: finds vertical edges. Sums to "
               "0, so flat areas give 0."),
    KernelSpec("sobel_y", "Sobel y", "Brightness increasing downwards → positive: finds horizontal edges."),
    KernelSpec("sobel_magnitude", "Sobel gradient magnitude",
               "√(Gx² + Gy²) of the two Sobel responses: edges in every direction, always ≥ 0 (a non-linear "
               "combination of two kernels)."),
    KernelSpec("prewitt_x", "Prewitt x", "Like Sobel x without the extra weight on the centre row."),
    KernelSpec("prewitt_y", "Prewitt y", "Like Sobel y without the extra weight on the centre column."),
    KernelSpec("laplacian", "Laplacian",
               "The second derivative (sum of neighbours minus 4× the centre): responds on both sides of an edge, "
               "zero on flat areas and on linear ramps."),
    KernelSpec("emboss", "Emboss",
               "A diagonal derivative plus the image: looks like light from the top left on a relief."),
    KernelSpec("outline", "Outline", "8× the centre minus all 8 neighbours: every edge lights up, flat areas go to 0."),
    KernelSpec("gabor", "Gabor",
               "A sinusoidal grating under a Gaussian window: responds to stripes and edges of one orientation and "
               "one spatial frequency, like V1 simple cells and the first layer of trained CNNs.",
               ("size", "theta", "wavelength", "gabor_sigma", "gamma", "phase")),
]}


@dataclass(frozen=True)
class KernelParam:
    """One parameter of a classic kernel as the page offers it: a slider, or a choice when ``choices`` is set."""

    name: str  # the keyword of classic_kernel
    label: str
    key: str  # the page's URL query key
    lo: float
    hi: float
    default: float
    step: float | None = None
    help: str | None = None
    choices: tuple[tuple[int, str], ...] = ()  # (value, label) pairs


KERNEL_PARAMS: dict[str, KernelParam] = {p.name: p for p in [
    KernelParam("size", "Size (n × n)", "kn_n", 1, 15, 3),
    KernelParam("sigma", "σ (px)", "kn_sigma", 0.3, 5.0, 1.0, 0.1),
    KernelParam("theta", "Orientation θ (°)", "kn_theta", 0, 180, 0, 15,
                help="Direction across the stripes; 0° = vertical stripes, which answer vertical edges."),
    KernelParam("wavelength", "Wavelength λ (px)", "kn_lambda", 2.0, 20.0, 6.0, 0.5),
    KernelParam("gabor_sigma", "Window σ (px)", "kn_gsigma", 0.5, 8.0, 3.0, 0.5),
    KernelParam("gamma", "Aspect γ", "kn_gamma", 0.2, 1.0, 0.5, 0.1),
    KernelParam("phase", "Phase ψ", "kn_phase", 0, 90, 0, choices=((0, "0° (line)"), (90, "90° (edge)"))),
]}
# one size key per kernel family, so switching kernel does not carry an unsuitable size along
_SIZE_KEYS = {"gabor": ("kn_gn", 11), "gaussian": ("kn_sn", 5)}


def kernel_params(name: str) -> list[KernelParam]:
    """The parameters classic kernel ``name`` takes, in the order of its :class:`KernelSpec`.

    Examples::

        >>> [(p.name, p.key, p.default) for p in kernel_params("gaussian")]
        [('size', 'kn_sn', 5), ('sigma', 'kn_sigma', 1.0)]
    """
    if name not in KERNELS:
        raise UnknownKernelError(f"unknown kernel {name!r}. Known: {', '.join(KERNELS)}")
    out = []
    for p in KERNELS[name].params:
        spec = KERNEL_PARAMS[p]
        if p == "size" and name in _SIZE_KEYS:
            key, default = _SIZE_KEYS[name]
            spec = KernelParam(spec.name, spec.label, key, spec.lo, spec.hi, default)
        out.append(spec)
    return out


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
    if name not in KERNELS:
        raise UnknownKernelError(f"unknown kernel {name!r}. Known: {', '.join(KERNELS)}")
    if name in ("identity", "box_blur", "gaussian", "gabor") and not (1 <= size <= 31):
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


# ------------------------------------------------------------------ a typed kernel

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


def kernel_sum_note(kernel: np.ndarray | torch.Tensor) -> str:
    """What a kernel's sum does to a flat area of the image (1: kept, 0: removed, s: scaled by s).

    Examples::

        >>> kernel_sum_note(box_blur(3))
        'sums to 1: flat areas keep their brightness'
    """
    s = float(np.asarray(kernel, dtype=np.float64).sum())
    if abs(s - 1) < 1e-3:
        return "sums to 1: flat areas keep their brightness"
    if abs(s) < 1e-3:
        return "sums to 0: flat areas give 0, only changes respond"
    return f"sums to {s:.3g}: flat areas are multiplied by {s:.3g}"


# ------------------------------------------------------------------ learned filters

def _module(model) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def learned_filters(model, layer: str) -> torch.Tensor:
    """The weight tensor [out_channels, in_channels / groups, kh, kw] of a Conv2d layer, detached, on its device.

    Args:
        model: a :class:`~cnnviz.core.model.ModelHandle` or an ``nn.Module``.
        layer: the layer's name, as in ``m.conv_layer_names()``.

    Examples::

        >>> learned_filters(load_model("lenet5-mnist"), "features.0").shape
        torch.Size([6, 1, 5, 5])
    """
    mods = dict(_module(model).named_modules())
    if layer not in mods:
        raise LayerError(f"layer {layer!r} is not in the model. Hint: m.conv_layer_names() lists the conv layers")
    mod = mods[layer]
    if not isinstance(mod, nn.Conv2d):
        raise NotAConvError(f"layer {layer!r} is a {type(mod).__name__}, not a Conv2d; "
                            "pick one of m.conv_layer_names()")
    return mod.weight.detach()


def first_conv_layer(model) -> str:
    """The name of the first Conv2d (the one that looks at pixels)."""
    for name, mod in _module(model).named_modules():
        if isinstance(mod, nn.Conv2d):
            return name
    raise KernelError("the model has no Conv2d layer")


def filter_norms(weights: torch.Tensor) -> torch.Tensor:
    """L2 norm of each filter (over all its input channels and taps): [out_channels]."""
    return weights.flatten(1).norm(dim=1)


def sort_by_norm(weights: torch.Tensor, descending: bool = True) -> torch.Tensor:
    """Filter indices ordered by norm (strongest first by default)."""
    return torch.argsort(filter_norms(weights), descending=descending, stable=True)


def cluster_filters(weights: torch.Tensor, n_clusters: int = 8) -> tuple[torch.Tensor, np.ndarray]:
    """Group similar filters: agglomerative (Ward) clustering of the unit-normalised weight vectors.

    On unit vectors the Euclidean distance is ``√(2 - 2 cos)``, so this groups filters by the
    cosine similarity of their patterns, whatever their strength.

    Returns:
        (order, labels): filter indices grouped by cluster (largest cluster first, strongest
        filter first within a cluster), and each filter's cluster label (0 = largest).

    Examples::

        >>> w = torch.cat([torch.ones(3, 1, 2, 2), -torch.ones(2, 1, 2, 2)])
        >>> cluster_filters(w, 2)[1].tolist()
        [0, 0, 0, 1, 1]
    """
    from sklearn.cluster import AgglomerativeClustering

    n = len(weights)
    k = max(1, min(int(n_clusters), n))
    flat = weights.flatten(1).float()
    unit = (flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)).cpu().numpy()
    if k > 1 and n > 1:
        raw = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(unit)
    else:
        raw = np.zeros(n, int)
    sizes = np.bincount(raw, minlength=k)
    rank = np.empty(k, int)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    labels = rank[raw]
    norms = filter_norms(weights).cpu().numpy()
    order = np.lexsort((-norms, labels))
    return torch.as_tensor(order, dtype=torch.long), labels


def describe_layer(layer: str, weights: torch.Tensor, groups: int = 1, labels: Sequence[int] | None = None) -> str:
    """One caption for a conv layer: filters x channels x kernel = weights, grouping, cluster sizes.

    Examples::

        >>> describe_layer("features.0", torch.zeros(6, 1, 5, 5))
        'Layer `features.0`: 6 filters × 1 input channel × 5×5 = 150 weights. '
    """
    n_f, n_c, kh, kw = weights.shape
    text = (f"Layer `{layer}`: {n_f} filters × {n_c} input channel{'s' if n_c > 1 else ''} × {kh}×{kw} = "
            f"{weights.numel():,} weights. " + grouping_note(n_c, groups))
    if labels is not None:
        text += f"Clusters (sizes): {', '.join(str(c) for c in np.bincount(np.asarray(labels)))}."
    return text


ORDERS = {"index": "as stored", "norm": "by norm (strongest first)", "cluster": "clustered (similar together)"}


def filter_order(weights: torch.Tensor, how: str = "index", n_clusters: int = 6) -> tuple[list[int], list[int] | None]:
    """Display order of a layer's filters, and their cluster labels when ``how == "cluster"``.

    Args:
        weights: [N, C, kh, kw].
        how: one of :data:`ORDERS`: ``"index"`` (as stored), ``"norm"`` (:func:`sort_by_norm`) or
            ``"cluster"`` (:func:`cluster_filters` into ``n_clusters`` groups).

    Examples::

        >>> filter_order(torch.stack([torch.ones(1, 1, 1), 3 * torch.ones(1, 1, 1)]), "norm")
        ([1, 0], None)
    """
    if how not in ORDERS:
        raise KernelError(f"order {how!r} is not one of {', '.join(ORDERS)}")
    if how == "norm":
        return sort_by_norm(weights).tolist(), None
    if how == "cluster":
        order, labels = cluster_filters(weights, n_clusters)
        return order.tolist(), labels.tolist()
    return list(range(len(weights))), None


def grouping_note(in_channels: int, groups: int) -> str:
    """One sentence on what a grouped convolution's filters see ('' for an ordinary convolution).

    Examples::

        >>> grouping_note(1, 32)[:40]
        'Grouped convolution (32 groups): each fi'
    """
    if groups == 1:
        return ""
    return (f"Grouped convolution ({groups} groups): each filter sees only {in_channels} of the layer's "
            f"{in_channels * groups} input channels"
            + (" (depthwise: filter f sees channel f). " if in_channels == 1 else ", the channels of its own group. "))


# ------------------------------------------------------------------ bridge: learned vs classic

@dataclass(frozen=True)
class KernelMatch:
    """The classic kernel most similar to one learned filter."""

    filter: int
    name: str  # bank entry, e.g. "Sobel x" or "Gabor 60° λ=5.5 odd"
    family: str  # "edge", "Gabor", "blur", "Laplacian", "centre", "emboss"
    cosine: float  # signed: -0.9 means the filter is close to the negated kernel
    colour_share: float  # fraction of the filter's energy that differs between input channels (0 for grey filters)
    theta: float | None = None  # Gabor orientation in degrees


_BANK_FAMILY = {"identity": "centre", "sharpen": "centre", "box blur": "blur", "Gaussian": "blur",
                "Sobel x": "edge", "Sobel y": "edge", "Prewitt x": "edge", "Prewitt y": "edge",
                "Laplacian": "Laplacian", "outline": "Laplacian", "emboss": "emboss"}


def _resize_kernel(k: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(k.shape) == tuple(size):
        return k
    return F.interpolate(k[None, None], size=size, mode="bilinear", align_corners=True)[0, 0]


def classic_bank(size: int | tuple[int, int], orientations: int = 12) -> dict[str, torch.Tensor]:
    """Classic kernels at a filter's size, for comparison with learned filters.

    The 3x3 kernels (Sobel, Prewitt, Laplacian, ...) are resized bilinearly (corners kept on
    corners); blurs and Gabors are built at the size itself. Gabors come at ``orientations``
    angles (0°, 180°/n, ...), two wavelengths (size/2 and size, at least 2 px) and two phases
    (even = line detector, odd = edge detector); at 3x3 at most 4 orientations.

    Examples::

        >>> bank = classic_bank(3)
        >>> bank["Sobel x"][1].tolist()
        [-2.0, 0.0, 2.0]
    """
    kh, kw = (size, size) if isinstance(size, int) else size
    s = max(kh, kw)
    if s <= 3:  # a 3x3 grid cannot tell orientations 15° apart; fewer templates, fewer chance matches
        orientations = min(orientations, 4)
    bank = {
        "identity": _resize_kernel(identity(3), (kh, kw)) if s > 1 else torch.ones(kh, kw),
        "box blur": torch.full((kh, kw), 1.0 / (kh * kw)),
        "Gaussian": _resize_kernel(gaussian(s, max(0.5, s / 5)), (kh, kw)),
    }
    for name in ("sobel_x", "sobel_y", "prewitt_x", "prewitt_y", "laplacian", "outline", "sharpen", "emboss"):
        title = {"sobel_x": "Sobel x", "sobel_y": "Sobel y", "prewitt_x": "Prewitt x", "prewitt_y": "Prewitt y",
                 "laplacian": "Laplacian", "outline": "outline", "sharpen": "sharpen", "emboss": "emboss"}[name]
        bank[title] = _resize_kernel(torch.tensor(_FIXED[name], dtype=torch.float32), (kh, kw))
    for lam in sorted({max(2.0, s / 2), max(2.0, float(s))}):
        sig = 0.5 * lam
        for i in range(orientations):
            th = i * 180.0 / orientations
            for ph, kind in ((0.0, "even"), (90.0, "odd")):
                bank[f"Gabor {th:g}° λ={lam:g} {kind}"] = _resize_kernel(gabor(s, th, lam, sig, 1.0, ph), (kh, kw))
    return bank


def _family(name: str) -> str:
    return "Gabor" if name.startswith("Gabor") else _BANK_FAMILY[name]


def similarity_to_classic(weights: torch.Tensor, bank: dict[str, torch.Tensor] | None = None,
                          orientations: int = 12) -> tuple[torch.Tensor, list[str]]:
    """Cosine similarity of each learned filter to each classic kernel: ([N, K], kernel names).

    A classic kernel k is a grey kernel: compared with a filter of C input channels it is used
    on every channel (the template is k repeated C times), so a pure colour filter (e.g. red
    minus green) scores near 0 against all of them.

    Examples::

        >>> w = classic_kernel("sobel_x").expand(1, 3, 3, 3)
        >>> sim, names = similarity_to_classic(w)
        >>> round(float(sim[0, names.index("Sobel x")]), 4)
        1.0
    """
    n, c, kh, kw = weights.shape
    bank = bank if bank is not None else classic_bank((kh, kw), orientations)
    names = list(bank)
    t = torch.stack([bank[k] for k in names]).to(weights.device).float()  # [K, kh, kw]
    t = t[:, None].expand(-1, c, -1, -1).flatten(1)
    w = weights.float().flatten(1)
    sim = (w @ t.T) / (w.norm(dim=1, keepdim=True).clamp_min(1e-12) * t.norm(dim=1).clamp_min(1e-12))
    return sim, names


def colour_share(weights: torch.Tensor) -> torch.Tensor:
    """Per filter: 1 − ‖channel-mean part‖² / ‖filter‖²; 0 for a grey filter, near 1 for a colour-opponent one."""
    c = weights.shape[1]
    grey = weights.mean(1, keepdim=True).expand_as(weights)
    total = weights.flatten(1).pow(2).sum(1).clamp_min(1e-24)
    return 1 - grey.flatten(1).pow(2).sum(1) / total if c > 1 else torch.zeros(len(weights), device=weights.device)


def best_matches(weights: torch.Tensor, orientations: int = 12) -> list[KernelMatch]:
    """For each learned filter, the classic kernel with the largest |cosine similarity|.

    Examples::

        >>> w = torch.stack([gabor(11, 60, 5, 2.5, 0.7, 90)]).unsqueeze(1)
        >>> best_matches(w)[0].theta
        60.0
    """
    sim, names = similarity_to_classic(weights, orientations=orientations)
    best = sim.abs().argmax(1).tolist()
    share = colour_share(weights).tolist()
    out = []
    for f, j in enumerate(best):
        name = names[j]
        theta = float(name.split()[1].rstrip("°")) if name.startswith("Gabor") else None
        out.append(KernelMatch(f, name, _family(name), float(sim[f, j]), float(share[f]), theta))
    return out


def family_summary(matches: Sequence[KernelMatch]) -> list[tuple[str, int, float]]:
    """Per kernel family: (family, number of filters closest to it, their mean |cosine|), most filters first.

    Examples::

        >>> family_summary([KernelMatch(0, "Sobel x", "edge", -0.8, 0.0), KernelMatch(1, "Sobel y", "edge", 0.6, 0.0)])
        [('edge', 2, 0.7)]
    """
    by: dict[str, list[float]] = {}
    for mt in matches:
        by.setdefault(mt.family, []).append(abs(mt.cosine))
    rows = [(fam, len(v), float(np.mean(v))) for fam, v in by.items()]
    return sorted(rows, key=lambda r: -r[1])


def matched_template(bank: dict[str, torch.Tensor], match: KernelMatch) -> torch.Tensor:
    """The bank kernel of ``match`` with the sign of its cosine (a filter close to −Sobel x gets −Sobel x).

    Examples::

        >>> bank = classic_bank(3)
        >>> matched_template(bank, KernelMatch(0, "Sobel x", "edge", -0.9, 0.0))[1, 0].item()
        2.0
    """
    return bank[match.name] * (1 if match.cosine >= 0 else -1)


def mean_abs_cosine(matches: Sequence[KernelMatch]) -> float:
    """The mean over filters of the |cosine| to their closest classic kernel (from :func:`best_matches`).

    Examples::

        >>> mean_abs_cosine([KernelMatch(0, "Sobel x", "edge", -0.8, 0.0), KernelMatch(1, "Sobel y", "edge", 0.4, 0.0)])
        0.6
    """
    return float(np.mean([abs(mt.cosine) for mt in matches]))


def filter_response(model, weight: torch.Tensor, img: Image.Image,
                    bias: torch.Tensor | float | None = None) -> torch.Tensor:
    """Slide one filter [C, kh, kw] (C = the model's input channels) over the image as the network sees it: [H, W].

    The image is prepared and normalised exactly as for the network (``model.preprocess``) and
    zero-padded to keep its size (zero is the data set's mean colour after normalising); stride 1.

    Examples::

        >>> template = classic_kernel("sobel_x").expand(3, 3, 3)   # Sobel x on R, G and B alike
        >>> filter_response(m, template, img).shape
        torch.Size([224, 224])
    """
    x = model.preprocess(img)
    w = weight.to(x.device, torch.float32)
    if w.ndim != 3 or w.shape[0] != x.shape[1]:
        raise KernelError(f"the filter must be [{x.shape[1]}, kh, kw] for this model's {x.shape[1]}-channel input, "
                         f"got {tuple(weight.shape)}; only the first conv layer looks at pixels")
    kh, kw = w.shape[1:]
    b = None if bias is None else torch.as_tensor(bias, dtype=torch.float32, device=x.device).reshape(1)
    with torch.inference_mode():
        xp = F.pad(x, ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2))
        return F.conv2d(xp, w[None], b)[0, 0]


def apply_learned_filter(model, layer: str, index: int, img: Image.Image, bias: bool = True) -> torch.Tensor:
    """One first-layer filter slid over the image as the network sees it (stride 1, size kept): [H, W].

    The image is prepared and normalised exactly as for the network (``model.preprocess``),
    then cross-correlated with filter ``index`` summed over its input channels, plus its bias.
    The layer's own stride is ignored so the map has the image's resolution.

    Examples::

        >>> apply_learned_filter(m, "features.0", 0, img).shape
        torch.Size([28, 28])
    """
    w = learned_filters(model, layer)
    if not 0 <= index < len(w):
        raise FilterIndexError(f"filter {index} does not exist: layer {layer!r} has {len(w)} filters (0..{len(w) - 1})")
    mod = dict(_module(model).named_modules())[layer]
    if w.shape[1] != model.input_size[0]:
        raise KernelError(f"layer {layer!r} takes {w.shape[1]} input channels, the image has {model.input_size[0]}: "
                         "only the first conv layer looks at pixels; pick it")
    b = mod.bias[index] if bias and mod.bias is not None else None
    return filter_response(model, w[index], img, b)


__all__ = [
    "KernelError", "UnknownKernelError", "NotAConvError", "FilterIndexError", "KernelParam", "KERNEL_PARAMS",
    "kernel_params", "parse_kernel", "kernel_from_values", "format_kernel", "kernel_sum_note", "ORDERS",
    "filter_order", "grouping_note", "family_summary", "matched_template", "mean_abs_cosine",
    "describe_layer",
    "KERNELS", "KernelSpec", "identity", "box_blur", "gaussian", "gabor", "classic_kernel", "image_tensor", "luminance",
    "apply_kernel", "gradient_magnitude", "learned_filters", "first_conv_layer", "filter_norms", "sort_by_norm",
    "cluster_filters", "KernelMatch", "classic_bank",
    "similarity_to_classic", "colour_share", "best_matches", "filter_response", "apply_learned_filter",
]
