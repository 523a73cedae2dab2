"""Hubel & Wiesel's simple and complex cells, as a convolution and a max-pool.

A *simple cell* of the cat's primary visual cortex fires for a bar of one orientation at one place of its
receptive field: a Gabor filter (an oriented stripe pattern under a Gaussian window) applied at one position,
then rectified, does the same. A *complex cell* fires for that orientation anywhere in a larger region: the
maximum over simple cells of the same orientation at nearby positions (max-pooling over a convolution's
output map) does the same. A convolution layer followed by pooling is that pair, repeated.

The stimulus is a bright bar on a dark field (anti-aliased), at an angle (degrees counter-clockwise from
horizontal, as seen on screen) and shifted perpendicular to itself by a number of pixels.

Examples::

    >>> img = bar_stimulus(angle=90.0, offset=0.0)     # a vertical bar through the centre
    >>> img.shape, float(img[32, 32]), float(img[32, 5])
    ((65, 65), 1.0, 0.0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 65  # the stimulus field (pixels); its centre is the simple cell's receptive field centre
ANGLES = np.arange(0.0, 180.0, 5.0)
OFFSETS = np.arange(-24.0, 24.5, 1.0)


def bar_stimulus(angle: float, offset: float = 0.0, size: int = SIZE, length: float = 40.0,
                 width: float = 3.0) -> np.ndarray:
    """A bright bar (1) on a dark field (0), ``size`` x ``size``, float32.

    Args:
        angle: the bar's direction in degrees, counter-clockwise from horizontal as seen (rows grow downwards).
        offset: its shift from the centre perpendicular to itself, in pixels.
        length, width: in pixels (edges anti-aliased over one pixel).
    """
    c = (size - 1) / 2.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    a = math.radians(angle)
    dx, dy = cols - c, rows - c
    along = dx * math.cos(a) - dy * math.sin(a)  # the bar's direction, (cos a, -sin a) in (col, row)
    across = dx * math.sin(a) + dy * math.cos(a) - offset  # its normal
    img = np.clip(width / 2 + 0.5 - np.abs(across), 0, 1) * np.clip(length / 2 + 0.5 - np.abs(along), 0, 1)
    return img.astype(np.float32)


def gabor_cell(angle: float, wavelength: float = 8.0, sigma: float = 4.0, size: int = 21) -> np.ndarray:
    """A simple cell's receptive field: an even Gabor kernel (``cv2.getGaborKernel``) whose central stripe is a
    bar at ``angle`` (same convention as :func:`bar_stimulus`), zero mean (a uniform field gives 0)."""
    theta = math.radians(90.0 - angle)  # OpenCV's theta is the direction the stripes vary along (its normal)
    k = cv2.getGaborKernel((size, size), sigma, theta, wavelength, 0.5, 0.0, ktype=cv2.CV_64F)
    return (k - k.mean()).astype(np.float32)


def response_map(stimulus: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The rectified response of the simple cells of one orientation at every position: ReLU of the kernel
    slid over the stimulus (a convolution layer's channel), zero outside the field."""
    r = cv2.filter2D(stimulus.astype(np.float32), cv2.CV_32F, kernel, borderType=cv2.BORDER_CONSTANT)
    return np.maximum(r, 0.0)


def simple_response(stimulus: np.ndarray, kernel: np.ndarray) -> float:
    """The simple cell at the centre of the field: its receptive field is the kernel's footprint there."""
    c = stimulus.shape[0] // 2
    return float(response_map(stimulus, kernel)[c, c])


def complex_response(stimulus: np.ndarray, kernel: np.ndarray, pool: int = 10) -> float:
    """The complex cell: the maximum of the simple cells of its orientation within ``pool`` pixels of the
    centre (a max-pool over a (2·pool + 1)² window of the response map)."""
    c = stimulus.shape[0] // 2
    return float(response_map(stimulus, kernel)[c - pool:c + pool + 1, c - pool:c + pool + 1].max())


@dataclass(frozen=True)
class CellTuning:
    """Both cells' responses to a bar swept in angle (at a fixed offset) and in offset (at a fixed angle),
    divided by the simple cell's response to its preferred bar at the centre.

    Attributes:
        preferred: the cells' preferred bar angle.
        angle, offset: where the other sweep is held (the sliders).
        angles, simple_by_angle, complex_by_angle: the angle sweep.
        offsets, simple_by_offset, complex_by_offset: the position sweep.
        stimulus: the bar at (``angle``, ``offset``); kernel: the simple cell's receptive field;
        response: the simple cells' response map to ``stimulus``.
    """

    preferred: float
    angle: float
    offset: float
    pool: int
    angles: np.ndarray
    simple_by_angle: np.ndarray
    complex_by_angle: np.ndarray
    offsets: np.ndarray
    simple_by_offset: np.ndarray
    complex_by_offset: np.ndarray
    stimulus: np.ndarray
    kernel: np.ndarray
    response: np.ndarray

    @property
    def simple_now(self) -> float:
        return float(np.interp(self.offset, self.offsets, self.simple_by_offset))

    @property
    def complex_now(self) -> float:
        return float(np.interp(self.offset, self.offsets, self.complex_by_offset))


def cell_tuning(preferred: float = 90.0, angle: float = 90.0, offset: float = 0.0, pool: int = 10,
                angles: np.ndarray = ANGLES, offsets: np.ndarray = OFFSETS) -> CellTuning:
    """The tuning curves of a simple cell and a complex cell that prefer bars at ``preferred`` degrees."""
    kernel = gabor_cell(preferred)
    best = simple_response(bar_stimulus(preferred, 0.0), kernel)

    def both(a: float, o: float) -> tuple[float, float]:
        s = bar_stimulus(a, o)
        return simple_response(s, kernel) / best, complex_response(s, kernel, pool) / best

    by_angle = np.array([both(float(a), offset) for a in angles])
    by_offset = np.array([both(angle, float(o)) for o in offsets])
    stim = bar_stimulus(angle, offset)
    return CellTuning(preferred, angle, offset, pool, np.asarray(angles, float), by_angle[:, 0], by_angle[:, 1],
                      np.asarray(offsets, float), by_offset[:, 0], by_offset[:, 1], stim, kernel,
                      response_map(stim, kernel) / best)
