"""Turning tensors into pictures: channel grids, colour maps, overlays (no Streamlit here).

Tensors stay on their device until the last step, where one ``.cpu()`` makes the figure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class GridLayout:
    """Where tile ``i`` sits in a composed grid image: row ``i // cols``, column ``i % cols``."""

    n: int
    cols: int
    rows: int
    tile_h: int
    tile_w: int
    pad: int

    def origin(self, i: int) -> tuple[int, int]:
        """Top-left pixel (y, x) of tile ``i``."""
        r, c = divmod(i, self.cols)
        return self.pad + r * (self.tile_h + self.pad), self.pad + c * (self.tile_w + self.pad)

    def tile_at(self, y: float, x: float) -> int | None:
        """Index of the tile under pixel (y, x) of the grid image, or None on padding/outside."""
        r, ry = divmod(int(y) - self.pad, self.tile_h + self.pad)
        c, rx = divmod(int(x) - self.pad, self.tile_w + self.pad)
        if r < 0 or c < 0 or c >= self.cols or ry >= self.tile_h or rx >= self.tile_w:
            return None
        i = r * self.cols + c
        return i if i < self.n else None


def normalize_maps(maps: torch.Tensor, mode: str = "per", symmetric: bool = False) -> torch.Tensor:
    """Scale maps [N, ...] to 0..1, each on its own range (``"per"``) or one shared range (``"shared"``).

    With ``symmetric`` the range is [-m, m] around zero (0.5 is zero), for signed maps.
    """
    x = maps.float()
    flat = x.reshape(len(x), -1)
    if symmetric:
        m = flat.abs().amax(1) if mode == "per" else flat.abs().amax().expand(len(x))
        m = m.clamp_min(1e-12).view(-1, *([1] * (x.ndim - 1)))
        return (x / m + 1) / 2
    lo = flat.amin(1) if mode == "per" else flat.amin().expand(len(x))
    hi = flat.amax(1) if mode == "per" else flat.amax().expand(len(x))
    shape = (-1, *([1] * (x.ndim - 1)))
    lo, hi = lo.view(shape), hi.view(shape)
    return torch.where(hi > lo, (x - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(x))


def tile_grid(tiles: torch.Tensor, cols: int | None = None, pad: int = 1,
              pad_value: float = 1.0) -> tuple[torch.Tensor, GridLayout]:
    """Compose tiles [N, H, W] or [N, C, H, W] (values 0..1) into one image [H', W'] or [C, H', W'].

    Args:
        tiles: the tiles, already scaled to 0..1.
        cols: columns; default about sqrt(N) so the grid is near square.
        pad: pixels between tiles (and around), filled with ``pad_value``.

    Examples::

        >>> img, layout = tile_grid(torch.zeros(6, 4, 4), cols=3, pad=1)
        >>> tuple(img.shape)
        (11, 16)
    """
    squeeze = tiles.ndim == 3
    t = tiles.unsqueeze(1) if squeeze else tiles
    n, c, h, w = t.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = torch.full((c, pad + rows * (h + pad), pad + cols * (w + pad)), pad_value, dtype=t.dtype, device=t.device)
    layout = GridLayout(n, cols, rows, h, w, pad)
    if n:
        # one strided copy instead of a Python loop over tiles
        full = torch.full((rows * cols, c, h, w), pad_value, dtype=t.dtype, device=t.device)
        full[:n] = t
        block = full.view(rows, cols, c, h, w).permute(2, 0, 3, 1, 4)  # c, rows, h, cols, w
        view = out[:, pad:, pad:].unfold(1, h, h + pad).unfold(2, w, w + pad)  # c, rows, cols, h, w
        view.copy_(block.permute(0, 1, 3, 2, 4))
    return (out[0] if squeeze else out), layout


def upsample(map2d: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """A [H, W] map resized to ``size`` (height, width)."""
    x = map2d.float()[None, None]
    kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(x, size=size, mode=mode, **kw)[0, 0]


_VIRIDIS = np.array([
    [68, 1, 84], [72, 36, 117], [65, 68, 135], [53, 95, 141], [42, 120, 142], [33, 145, 140],
    [34, 168, 132], [68, 191, 112], [122, 209, 81], [189, 223, 38], [253, 231, 37]], dtype=np.float32) / 255
_RDBU = np.array([
    [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
    [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]], dtype=np.float32) / 255
_JET = np.array([[0, 0, .5], [0, 0, 1], [0, .5, 1], [0, 1, 1], [.5, 1, .5], [1, 1, 0], [1, .5, 0], [1, 0, 0],
                 [.5, 0, 0]], dtype=np.float32)
_GRAY = np.array([[0, 0, 0], [1, 1, 1]], dtype=np.float32)
COLORMAPS = {"viridis": _VIRIDIS, "rdbu": _RDBU, "jet": _JET, "gray": _GRAY}


def colormap(x: torch.Tensor, name: str = "viridis") -> torch.Tensor:
    """Values 0..1 [..., H, W] to RGB 0..1 [..., H, W, 3] by linear interpolation in a colour table."""
    table = torch.as_tensor(COLORMAPS[name], device=x.device)
    pos = x.float().clamp(0, 1) * (len(table) - 1)
    lo = pos.floor().long().clamp(max=len(table) - 2)
    frac = (pos - lo).unsqueeze(-1)
    return table[lo] * (1 - frac) + table[lo + 1] * frac


def colormap_enlarged(x: torch.Tensor, name: str = "viridis", f: int = 1) -> torch.Tensor:
    """``colormap(x)`` with every value drawn as an ``f`` x ``f`` block: ``[..., H, W]`` to ``[..., H*f, W*f, 3]``.

    The same pixels as colouring the nearest enlargement, since the colour map works pixel by pixel; coloured
    at the native size first, it does ``f``² times less work.

    Examples::

        >>> x = torch.rand(2, 3, 3)
        >>> torch.equal(colormap_enlarged(x, "viridis", 4),
        ...             colormap(x.repeat_interleave(4, 1).repeat_interleave(4, 2), "viridis"))
        True
    """
    rgb = colormap(x, name)
    return rgb.repeat_interleave(f, -3).repeat_interleave(f, -2) if f > 1 else rgb


def overlay(image: np.ndarray, heat: torch.Tensor, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a 0..1 heat map (any size; resized to the image) over a uint8 image; returns uint8 RGB."""
    img = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    h, w = img.shape[:2]
    hm = upsample(heat, (h, w)).clamp(0, 1) if tuple(heat.shape) != (h, w) else heat.float().clamp(0, 1)
    rgb = colormap(hm, cmap).cpu().numpy()
    out = (1 - alpha) * img.astype(np.float32) / 255 + alpha * rgb
    return (out.clip(0, 1) * 255).round().astype(np.uint8)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """0..1 tensor ([H,W], [H,W,3] or [3,H,W]) to a uint8 array for display."""
    if x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.permute(1, 2, 0)
    arr = (x.float().clamp(0, 1) * 255).round().byte().cpu().numpy()
    return arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
