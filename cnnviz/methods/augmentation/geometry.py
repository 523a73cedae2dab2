"""Deterministic image operations of the invariance sweeps, batched on the device: rotation and zoom about the
centre, whole-pixel shifts, and the tile shuffle of the "Picasso problem".

Examples::

    >>> x = torch.rand(1, 9, 9)
    >>> torch.allclose(rotate_scale(x, 90)[0], torch.rot90(x, 1, dims=(1, 2)), atol=1e-5)
    True
    >>> shift_image(torch.tensor([[1., 2., 3.]]), 0, 1)
    tensor([[0., 1., 2.]])
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from cnnviz.methods.augmentation.errors import AugmentationError


def rotate_scale(x: torch.Tensor, angles: Sequence[float] | float,
                 scales: Sequence[float] | float = 1.0) -> torch.Tensor:
    """Rotate ``x`` ``[C, H, W]`` by each angle (degrees, counter-clockwise) and zoom by each scale, about the centre.

    All copies come from one ``affine_grid`` + ``grid_sample`` call on the device (bilinear, zeros outside),
    instead of one torchvision call per angle. The map is that of ``TF.affine(x, -angle, scale=...)``;
    only pixels on the rotated image's border differ (torchvision blends its fill differently there).

    Args:
        x: one image ``[C, H, W]``.
        angles: one angle or a sequence; a single value broadcasts against ``scales``.
        scales: zoom factors (1 = unchanged, 0.5 = half size).

    Returns:
        ``[N, C, H, W]`` with N = the longer of ``angles`` / ``scales``.

    Examples::

        >>> x = torch.rand(1, 9, 9)
        >>> torch.allclose(rotate_scale(x, 90)[0], torch.rot90(x, 1, dims=(1, 2)), atol=1e-5)
        True
    """
    a = torch.as_tensor(angles, dtype=torch.float64).reshape(-1)
    z = torch.as_tensor(scales, dtype=torch.float64).reshape(-1)
    a, z = torch.broadcast_tensors(a, z)
    if bool((z <= 0).any()):
        raise AugmentationError(f"scales must be positive zoom factors, got {z.tolist()}")
    n, (c, h, w) = len(a), x.shape[-3:]
    rad = a * torch.pi / 180
    cos, sin = torch.cos(rad), torch.sin(rad)
    # output pixel -> input pixel (the inverse map), in pixel units with y pointing down
    inv = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1) / z.view(-1, 1, 1)
    half = torch.tensor([w / 2, h / 2], dtype=torch.float64)
    inv = inv * half.view(1, 1, 2) / half.view(1, 2, 1)  # to affine_grid's normalised coordinates
    theta = torch.cat([inv, torch.zeros(n, 2, 1, dtype=torch.float64)], 2).to(x.device, torch.float32)
    grid = torch.nn.functional.affine_grid(theta, [n, c, h, w], align_corners=False)
    return torch.nn.functional.grid_sample(x.float().expand(n, c, h, w), grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=False)


def shift_image(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift ``x`` ``[..., H, W]`` by whole pixels (down by ``dy``, right by ``dx``); uncovered pixels become 0.

    Examples::

        >>> shift_image(torch.tensor([[1., 2., 3.]]), 0, 1)
        tensor([[0., 1., 2.]])
    """
    dy, dx = int(dy), int(dx)
    if dy == 0 and dx == 0:
        return x
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y, dst_y = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    src_x, dst_x = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


def scramble(x: torch.Tensor, grid: int, seed: int = 0) -> torch.Tensor:
    """Cut ``x`` ``[C, H, W]`` into ``grid`` x ``grid`` tiles and shuffle them (the "Picasso problem").

    Tiles are ``H // grid`` x ``W // grid`` pixels; when the size is not divisible, the few pixels of
    the bottom/right margin stay in place. With ``grid >= 2`` the shuffle is never the identity.

    Examples::

        >>> x = torch.arange(16.).view(1, 4, 4)
        >>> scramble(x, 1).equal(x)
        True
    """
    if grid < 1:
        raise AugmentationError(f"grid must be at least 1 tile per side, got {grid}")
    h, w = x.shape[-2:]
    th, tw = h // grid, w // grid
    if th < 1 or tw < 1:
        raise AugmentationError(f"a {grid}x{grid} grid does not fit a {h}x{w} image; "
                                f"use at most {min(h, w)} tiles per side")
    if grid == 1:
        return x
    gen = torch.Generator().manual_seed(int(seed))
    n = grid * grid
    perm = torch.randperm(n, generator=gen)
    while bool((perm == torch.arange(n)).all()):
        perm = torch.randperm(n, generator=gen)
    region = x[..., :grid * th, :grid * tw]
    tiles = region.unflatten(-2, (grid, th)).unflatten(-1, (grid, tw))  # C, gy, th, gx, tw
    tiles = tiles.movedim(-2, -3).flatten(-4, -3)  # C, n, th, tw
    tiles = tiles[..., perm.to(x.device), :, :]
    out = x.clone()
    out[..., :grid * th, :grid * tw] = (tiles.unflatten(-3, (grid, grid)).movedim(-3, -2)
                                        .flatten(-4, -3).flatten(-2, -1))
    return out
