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
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from cnnviz.figures.render import GridLayout, colormap, normalize_maps, tile_grid

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
    KernelSpec("identity", "Identity", "One 1 in the centre: the output is the input. Start here and edit a cell.", ("size",)),
    KernelSpec("box_blur", "Box blur", "The average of the neighbourhood (all weights 1/n²): smooths, sums to 1 so brightness is kept.", ("size",)),
    KernelSpec("gaussian", "Gaussian blur", "A weighted average that favours the centre (weights exp(-r²/2σ²), summing to 1): smooths without the box's blockiness.", ("size", "sigma")),
    KernelSpec("sharpen", "Sharpen", "Identity plus a negative Laplacian: boosts the difference between a pixel and its neighbours."),
    KernelSpec("sobel_x", "Sobel x", "Brightness increasing to the right → positive, to the left → negative: finds vertical edges. Sums to 0, so flat areas give 0."),
    KernelSpec("sobel_y", "Sobel y", "Brightness increasing downwards → positive: finds horizontal edges."),
    KernelSpec("sobel_magnitude", "Sobel gradient magnitude", "√(Gx² + Gy²) of the two Sobel responses: edges in every direction, always ≥ 0 (a non-linear combination of two kernels)."),
    KernelSpec("prewitt_x", "Prewitt x", "Like Sobel x without the extra weight on the centre row."),
    KernelSpec("prewitt_y", "Prewitt y", "Like Sobel y without the extra weight on the centre column."),
    KernelSpec("laplacian", "Laplacian", "The second derivative (sum of neighbours minus 4× the centre): responds on both sides of an edge, zero on flat areas and on linear ramps."),
    KernelSpec("emboss", "Emboss", "A diagonal derivative plus the image: looks like light from the top left on a relief."),
    KernelSpec("outline", "Outline", "8× the centre minus all 8 neighbours: every edge lights up, flat areas go to 0."),
    KernelSpec("gabor", "Gabor", "A sinusoidal grating under a Gaussian window: responds to stripes and edges of one orientation and one spatial frequency, like V1 simple cells and the first layer of trained CNNs.", ("size", "theta", "wavelength", "gabor_sigma", "gamma", "phase")),
]}


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
        raise ValueError(f"sigma must be > 0, got {sigma}; a tiny sigma (e.g. 0.3) approaches the identity")
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
        raise ValueError(f"wavelength, sigma and gamma must be > 0 (got {wavelength}, {sigma}, {gamma})")
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
        raise KeyError(f"unknown kernel {name!r}. Known: {', '.join(KERNELS)}")
    if name in ("identity", "box_blur", "gaussian", "gabor") and not (1 <= size <= 31):
        raise ValueError(f"kernel size must be between 1 and 31, got {size}")
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
        raise ValueError(f"a kernel must be a non-empty 2-D table (rows x columns), got shape {tuple(k.shape)}")
    if not torch.isfinite(k).all():
        raise ValueError("the kernel contains empty or non-numeric cells (NaN/inf); fill every cell with a number")
    return k


def luminance(image: torch.Tensor) -> torch.Tensor:
    """[C, H, W] (C = 1 or 3) to one channel [1, H, W] by 0.299 R + 0.587 G + 0.114 B."""
    if image.shape[0] == 1:
        return image
    if image.shape[0] != 3:
        raise ValueError(f"luminance needs 1 or 3 channels, got {image.shape[0]}")
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
        raise ValueError(f"mode must be 'grayscale' or 'per_channel', got {mode!r}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    device = torch.device(device) if device is not None else image.device
    x = image.to(device).float()
    x = x.unsqueeze(0) if x.ndim == 2 else x
    if x.ndim != 3:
        raise ValueError(f"image must be [H, W] or [C, H, W], got shape {tuple(image.shape)}")
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
            raise ValueError(f"a {kh}x{kw} kernel does not fit in a {h}x{w} image with 'valid' padding; use a same-size padding or a smaller kernel")
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


# ------------------------------------------------------------------ learned filters

def _module(model) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(getattr(model, "module"), nn.Module) else model


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
        raise KeyError(f"layer {layer!r} is not in the model. Hint: m.conv_layer_names() lists the conv layers")
    mod = mods[layer]
    if not isinstance(mod, nn.Conv2d):
        raise TypeError(f"layer {layer!r} is a {type(mod).__name__}, not a Conv2d; pick one of m.conv_layer_names()")
    return mod.weight.detach()


def first_conv_layer(model) -> str:
    """The name of the first Conv2d (the one that looks at pixels)."""
    for name, mod in _module(model).named_modules():
        if isinstance(mod, nn.Conv2d):
            return name
    raise ValueError("the model has no Conv2d layer")


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
    raw = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(unit) if k > 1 and n > 1 else np.zeros(n, int)
    sizes = np.bincount(raw, minlength=k)
    rank = np.empty(k, int)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    labels = rank[raw]
    norms = filter_norms(weights).cpu().numpy()
    order = np.lexsort((-norms, labels))
    return torch.as_tensor(order, dtype=torch.long), labels


def filter_grid_rgb(weights: torch.Tensor, normalize: str = "per", order: torch.Tensor | Sequence[int] | None = None,
                    cols: int | None = None, pad: int = 1) -> tuple[torch.Tensor, GridLayout]:
    """First-layer filters of an RGB model as colour images in one grid (the AlexNet figure).

    Each filter [3, kh, kw] becomes an RGB tile by min-max scaling to 0..1, either per filter
    (``"per"``: every filter uses its full range; shows shape) or with one range for the whole
    layer (``"shared"``: weak filters look grey; shows strength).

    Args:
        weights: [N, 3, kh, kw].
        normalize: ``"per"`` or ``"shared"``.
        order: filter indices in display order (e.g. :func:`sort_by_norm`); tile i shows ``order[i]``.
        cols: grid columns (default about √N).
        pad: white pixels between tiles.

    Returns:
        (image [3, H, W] with values 0..1, layout); ``layout.tile_at(y, x)`` gives the tile index.

    Examples::

        >>> img, layout = filter_grid_rgb(torch.randn(64, 3, 11, 11), cols=8)
        >>> tuple(img.shape), layout.tile_at(1, 1)
        ((3, 97, 97), 0)
    """
    if weights.ndim != 4 or weights.shape[1] != 3:
        raise ValueError(f"filter_grid_rgb needs filters with 3 input channels [N, 3, kh, kw], got {tuple(weights.shape)}. "
                         "Hint: use weight_map for layers with other channel counts")
    if normalize not in ("per", "shared"):
        raise ValueError(f"normalize must be 'per' or 'shared', got {normalize!r}")
    w = weights if order is None else weights[torch.as_tensor(order, device=weights.device)]
    return tile_grid(normalize_maps(w, normalize), cols=cols, pad=pad, pad_value=1.0)


@dataclass
class FilterMap:
    """Many filters' weights as one 2-D map, with the way back from a pixel to (filter, channel).

    Attributes:
        z: [H, W] weights (scaled as asked), NaN on the padding between tiles.
        layout: where each tile sits (:class:`~cnnviz.figures.render.GridLayout`).
        filters: the filter index shown by each tile.
        channels: the input channel shown by each tile.
    """

    z: torch.Tensor
    layout: GridLayout
    filters: list[int]
    channels: list[int]
    scale: str = "raw"
    shape: tuple[int, ...] = field(default=())

    def at(self, y: float, x: float) -> tuple[int, int] | None:
        """(filter, input channel) under pixel (y, x), or None on padding."""
        i = self.layout.tile_at(y, x)
        return None if i is None else (self.filters[i], self.channels[i])

    def index_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel filter and channel index arrays [H, W] (-1 on padding), e.g. for a Plotly ``customdata``."""
        L = self.layout
        h, w = self.z.shape
        ys, xs = np.arange(h) - L.pad, np.arange(w) - L.pad
        r, ry = np.divmod(ys, L.tile_h + L.pad)
        c, rx = np.divmod(xs, L.tile_w + L.pad)
        tile = r[:, None] * L.cols + c[None, :]
        valid = (ys[:, None] >= 0) & (xs[None, :] >= 0) & (ry[:, None] < L.tile_h) & (rx[None, :] < L.tile_w) & (c[None, :] < L.cols) & (tile < L.n)
        tile = np.where(valid, tile, 0)
        f = np.where(valid, np.asarray(self.filters)[tile], -1)
        ch = np.where(valid, np.asarray(self.channels)[tile], -1)
        return f, ch

    def to_image(self, cmap: str = "gray") -> np.ndarray:
        """uint8 RGB picture of the map: zero is mid-grey (or the colour map's middle), padding white."""
        z = self.z
        nan = torch.isnan(z)
        z0 = z.masked_fill(nan, 0.0)  # colormap cannot index NaN
        v = (z0 / z0.abs().amax().clamp_min(1e-12) + 1) / 2
        if cmap == "gray":  # the grey ramp needs no table lookup: 4M-pixel maps stay fast
            g = (v.masked_fill(nan, 1.0) * 255).round().byte()
            return g[..., None].expand(*g.shape, 3).cpu().numpy()
        rgb = colormap(v, cmap).masked_fill(nan[..., None], 1.0)
        return (rgb.clamp(0, 1) * 255).round().byte().cpu().numpy()


def weight_map(weights: torch.Tensor, order: torch.Tensor | Sequence[int] | None = None, scale: str = "raw",
               max_filters: int | None = None, max_channels: int | None = None, filter_start: int = 0,
               channel_start: int = 0, pad: int = 1, filters_per_row: int = 1) -> FilterMap:
    """All (filter, input channel) kernels of a layer as one grayscale map: one row of tiles per
    filter, one column per input channel (for one-channel layers, the filters in a near-square grid).

    Args:
        weights: [N, C, kh, kw].
        order: filter indices in display order (default 0..N-1).
        scale: ``"raw"`` (the weights as they are; one scale for the layer) or ``"per_filter"``
            (each filter divided by its largest absolute weight, so weak filters are visible too).
        max_filters, max_channels, filter_start, channel_start: show a window of the layer
            (rows ``filter_start ..`` of the ordered filters, channels ``channel_start ..``), for
            layers too large to draw whole.
        pad: NaN pixels between tiles.
        filters_per_row: for layers with few input channels (e.g. 3), put several filters side by
            side (each a run of C tiles) so the map is not a thin strip.

    Examples::

        >>> fm = weight_map(torch.randn(4, 2, 3, 3))
        >>> tuple(fm.z.shape), fm.at(1 + 4, 1 + 4)   # second row, second column
        ((17, 9), (1, 1))
    """
    if weights.ndim != 4:
        raise ValueError(f"weights must be [filters, channels, kh, kw], got {tuple(weights.shape)}")
    if scale not in ("raw", "per_filter"):
        raise ValueError(f"scale must be 'raw' or 'per_filter', got {scale!r}")
    n, c, kh, kw = weights.shape
    idx = torch.arange(n) if order is None else torch.as_tensor(order, dtype=torch.long).cpu()
    idx = idx[filter_start: filter_start + max_filters if max_filters else None]
    w = weights[idx.to(weights.device)].float()
    if scale == "per_filter":
        w = w / w.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    c_end = channel_start + max_channels if max_channels else c
    ch = torch.arange(c)[channel_start:c_end]
    w = w[:, channel_start:c_end]
    nf, nc = w.shape[:2]
    if nc == 1:
        tiles, cols = w[:, 0], None
        filters, channels = idx.tolist(), [int(ch[0])] * nf
    else:
        # tiles are filter-major, so cols = g * C puts g filters (C tiles each) on a row
        tiles, cols = w.reshape(nf * nc, kh, kw), nc * max(1, min(int(filters_per_row), nf))
        filters = [f for f in idx.tolist() for _ in range(nc)]
        channels = ch.tolist() * nf
    z, layout = tile_grid(tiles, cols=cols, pad=pad, pad_value=float("nan"))
    return FilterMap(z, layout, filters, channels, scale, (n, c, kh, kw))


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


def filter_response(model, weight: torch.Tensor, img: Image.Image, bias: torch.Tensor | float | None = None) -> torch.Tensor:
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
        raise ValueError(f"the filter must be [{x.shape[1]}, kh, kw] for this model's {x.shape[1]}-channel input, "
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
        raise IndexError(f"filter {index} does not exist: layer {layer!r} has {len(w)} filters (0..{len(w) - 1})")
    mod = dict(_module(model).named_modules())[layer]
    if w.shape[1] != model.input_size[0]:
        raise ValueError(f"layer {layer!r} takes {w.shape[1]} input channels, the image has {model.input_size[0]}: "
                         "only the first conv layer looks at pixels; pick it")
    b = mod.bias[index] if bias and mod.bias is not None else None
    return filter_response(model, w[index], img, b)


__all__ = [
    "KERNELS", "KernelSpec", "identity", "box_blur", "gaussian", "gabor", "classic_kernel", "image_tensor", "luminance",
    "apply_kernel", "gradient_magnitude", "learned_filters", "first_conv_layer", "filter_norms", "sort_by_norm",
    "cluster_filters", "filter_grid_rgb", "FilterMap", "weight_map", "KernelMatch", "classic_bank",
    "similarity_to_classic", "colour_share", "best_matches", "filter_response", "apply_learned_filter",
]
