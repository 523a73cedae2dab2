"""Figures of maximally activating inputs: patch strips, the channel grid of best patches, the unit on
its image, the channel's map, and grids of synthesized images (Streamlit-free, uint8 arrays or Plotly).

Examples::

    >>> from cnnviz.methods import maximal as mx
    >>> patches = mx.top_patches(m, idx, ds, "features.3", 5, k=8)
    >>> strip, layout = patch_strip(patches, side=64, labels=[f"{p.hit.value:.2f}" for p in patches])
    >>> grid, glayout = channel_grid(mx.channel_grid_patches(m, idx, ds, "features.3", range(16), 4), tile=28)
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from torch.nn import functional as F

from cnnviz.figures.common import heatmap
from cnnviz.figures.render import GridLayout, tile_grid, to_uint8
from cnnviz.methods.maximal import Patch

COLUMN_PX = 640  # clickable grids are drawn at most this wide (the click component does not shrink to the column)


def labelled_grid(tiles: Sequence[np.ndarray], labels: Sequence[str] | None = None, side: int = 96,
                  cols: int | None = None, pad: int = 6, font_size: int = 18) -> tuple[np.ndarray, GridLayout]:
    """Images side by side (``cols`` per row) on white, each resized to ``side`` px, a text label under each
    (a label may have several lines, ``"7\\nd=0.31"``).

    Larger tiles are area-averaged, smaller ones enlarged with nearest neighbour (28x28 pixels stay crisp).

    Returns:
        ``(image, layout)``: a uint8 RGB image and the :class:`GridLayout` of the tiles (label band
        included in the tile height), so a click maps back to a tile.

    Examples::

        >>> img, layout = labelled_grid([np.zeros((4, 4), np.uint8)] * 3, ["a", "b", "c"], side=8, cols=2, pad=2)
        >>> img.shape, layout.tile_at(3, 3)
        ((2 + 2 * (8 + 28 + 2), 2 + 2 * (8 + 2), 3), 0)
    """
    from PIL import Image, ImageDraw, ImageFont

    lines = max((str(t).count("\n") + 1 for t in labels), default=1) if labels else 0
    band = lines * (font_size + 4) + 6 if labels else 0
    n = len(tiles)
    cols = max(1, min(cols or n, n))
    rows = max(1, -(-n // cols))
    canvas = Image.new("RGB", (max(pad + cols * (side + pad), 1), pad + rows * (side + band + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=font_size)
    for i, tile in enumerate(tiles):
        img = Image.fromarray(np.asarray(tile)).convert("RGB")
        img = img.resize((side, side), Image.BOX if img.width > side else Image.NEAREST)
        r, c = divmod(i, cols)
        x0, y0 = pad + c * (side + pad), pad + r * (side + band + pad)
        canvas.paste(img, (x0, y0))
        if labels:
            draw.multiline_text((x0 + side / 2, y0 + side + 4), labels[i], fill=(20, 20, 20), font=font, anchor="ma",
                                align="center", spacing=4)
    return np.asarray(canvas), GridLayout(n, cols, rows, side + band, side, pad)


def fit_labelled_grid(n: int, width: int, height: int, pad: int = 6, band: int = 28) -> tuple[int, int]:
    """(columns, tile side) that make the tiles of a :func:`labelled_grid` of ``n`` as large as possible within
    ``width`` x ``height`` pixels (one line of labels: a ``band`` of 28 px at font size 18); the fewest columns
    among equal sides. A slide uses it to fill its screen.

    Examples::

        >>> fit_labelled_grid(8, 1180, 540)   # 2 rows of 4: 962 x 540 px
        (4, 233)
    """
    best = (1, 0)
    for cols in range(1, max(1, n) + 1):
        rows = math.ceil(n / cols)
        side = min((width - pad) // cols - pad, (height - pad) // rows - pad - band)
        if side > best[1]:
            best = (cols, side)
    return best[0], max(8, best[1])


def strip_geometry(n: int, column_px: int = COLUMN_PX) -> tuple[int, int]:
    """(columns, tile side) of a strip of ``n`` patches: at most 8 per row, the whole strip fits ``column_px``.

    Examples::

        >>> strip_geometry(8)
        (8, 72)
    """
    cols = max(1, min(n, 8))
    return cols, max(48, min(128, column_px // cols - 8))


def patch_strip(patches: Sequence[Patch], side: int = 96, labels: Sequence[str] | None = None, pad: int = 6,
                font_size: int = 18, cols: int | None = None) -> tuple[np.ndarray, GridLayout]:
    """A channel's dataset patches side by side, each labelled (see :func:`labelled_grid`)."""
    return labelled_grid([p.pixels for p in patches], labels, side, cols, pad, font_size)


def grid_tile(rf_px: int, n_channels: int, per_channel: int, column_px: int = COLUMN_PX) -> int:
    """The patch side in the channel grid: whole multiples of the patch size (crisp) that fill ``column_px``
    with up to 8 channel mosaics per row; patches larger than that are shrunk (at least 16 px).

    Examples::

        >>> grid_tile(14, 16, 4)   # 640 / 8 - 4 - 3 = 73 px per mosaic / 2 patches: 36 -> 2 x 14
        28
    """
    side = math.ceil(math.sqrt(per_channel))
    target = (column_px / max(1, min(n_channels, 8)) - 4 - (side + 1)) / side
    return int(rf_px * max(1, target // rf_px)) if rf_px <= target else max(16, int(target))


def channel_grid(patch_lists: Sequence[Sequence[Patch]], tile: int = 64, pad: int = 4, fill: int = 128,
                 width: int | None = None) -> tuple[np.ndarray, GridLayout]:
    """Many channels at once: for each channel a square mosaic of its patches, all mosaics in one grid.

    Args:
        patch_lists: per channel, its best patches (:func:`cnnviz.methods.maximal.channel_grid_patches`).
        tile: side in pixels of each patch (area-averaged when larger, nearest when smaller).
        pad: white pixels between channel mosaics (1 px frames inside a mosaic).
        fill: grey level of empty mosaic cells.
        width: if given, the grid is enlarged by the largest whole factor that keeps it within this
            width (the layout scales with it).

    Returns:
        ``(grid, layout)``: a uint8 image ``[H, W]`` or ``[H, W, 3]`` and the :class:`GridLayout` of the
        mosaics (``layout.tile_at(y, x)`` is the position in ``patch_lists`` of the mosaic under a click).

    Examples::

        >>> grid, layout = channel_grid(mx.channel_grid_patches(m, idx, ds, "features.3", range(16), 4), tile=14)
        >>> layout.n
        16
    """
    side = math.ceil(math.sqrt(max(len(p) for p in patch_lists)))
    mosaics = []
    for patches in patch_lists:
        arr = [p.pixels for p in patches] + [np.full_like(patches[0].pixels, fill)] * (side * side - len(patches))
        t = torch.from_numpy(np.stack(arr)).float() / 255  # [P, h, w] or [P, h, w, 3]
        t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
        if t.shape[-1] != tile:
            t = F.interpolate(t, size=(tile, tile), mode="area" if t.shape[-1] > tile else "nearest")
        mosaics.append(tile_grid(t, cols=side, pad=1, pad_value=1.0)[0])
    grid, layout = tile_grid(torch.stack(mosaics), pad=pad, pad_value=1.0, cols=max(1, min(len(mosaics), 8)))
    img = to_uint8(grid)
    f = max(1, width // img.shape[1]) if width else 1
    if f > 1:
        img = np.repeat(np.repeat(img, f, axis=0), f, axis=1)
        layout = GridLayout(layout.n, layout.cols, layout.rows, layout.tile_h * f, layout.tile_w * f, layout.pad * f)
    return img, layout


def draw_box(image: np.ndarray, box: tuple[int, int, int, int], scale: int = 1, color=(255, 40, 40),
             width: int = 2) -> np.ndarray:
    """The image (nearest-upscaled by ``scale``) as RGB with the box outlined, clipped to the picture.

    Examples::

        >>> draw_box(np.zeros((4, 4), np.uint8), (1, 1, 3, 3), width=1)[1, 1].tolist()
        [255, 40, 40]
    """
    from PIL import Image, ImageDraw

    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    big = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    pil = Image.fromarray(big)
    top, left, bottom, right = box
    h, w = big.shape[:2]
    rect = [max(0, left * scale), max(0, top * scale), min(w - 1, right * scale - 1), min(h - 1, bottom * scale - 1)]
    ImageDraw.Draw(pil).rectangle(rect, outline=color, width=width)
    return np.asarray(pil)


def unit_on_image(image: np.ndarray, box: tuple[int, int, int, int], min_side: int = 280) -> np.ndarray:
    """The whole image enlarged by a whole factor to at least ``min_side`` px, the unit's receptive field in red."""
    scale = max(1, math.ceil(min_side / image.shape[0]))
    return draw_box(image, box, scale=scale, width=max(2, scale // 2))


def channel_map(z: np.ndarray, y: int, x: int, channel: int) -> go.Figure:
    """One channel's activation map on one image (red +, blue -), unit (``y``, ``x``) marked by a square."""
    fig = heatmap(z, title=f"Channel {channel} on this image ({z.shape[0]}×{z.shape[1]} map)", colorscale="RdBu_r",
                  zmid=0, height=340, hover="unit (%{y}, %{x}): %{z:.3f}<extra></extra>")
    fig.add_scatter(x=[x], y=[y], mode="markers", hoverinfo="skip", showlegend=False,
                    marker=dict(symbol="square-open", size=22, color="black", line=dict(width=3)))
    return fig


def synthesis_side(input_side: int) -> int:
    """Display side of a synthesized image: a whole multiple of small inputs (28 px -> 168), else 200 px."""
    return input_side * math.ceil(150 / input_side) if input_side <= 64 else 200


def synthesis_grid(images01: torch.Tensor, captions: Sequence[str], values: torch.Tensor | None = None,
                   column_px: int = 720, side: int | None = None) -> np.ndarray:
    """Synthesized images ``[N, C, H, W]`` (0..1) in rows that fit ``column_px``, each captioned (with its value).

    ``side``: each image's side in pixels (default :func:`synthesis_side`; a slide passes the side that fills
    the screen).

    Examples::

        >>> synthesis_grid(torch.zeros(2, 1, 28, 28), ["ch 0", "ch 1"], torch.tensor([1.0, 2.0])).shape
        (6 + 168 + 28 + 6, 6 + 2 * (168 + 6), 3)
    """
    side = side or synthesis_side(images01.shape[-1])
    arrs = [to_uint8(images01[i].detach().cpu()) for i in range(len(images01))]
    labels = [c + (f" = {float(values[i]):.2f}" if values is not None else "") for i, c in enumerate(captions)]
    cols = max(1, (column_px - 6) // (side + 6))
    return labelled_grid(arrs, labels, side=side, cols=cols, font_size=18)[0]


__all__ = ["COLUMN_PX", "labelled_grid", "fit_labelled_grid", "strip_geometry", "patch_strip", "grid_tile",
           "channel_grid", "draw_box", "unit_on_image", "channel_map", "synthesis_side", "synthesis_grid"]
