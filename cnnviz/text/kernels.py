"""Page text of /kernels: what each classic kernel does, the parameter sliders the page offers, the captions
that say how to read a figure, and the "what to notice" notes of each view.

Streamlit-free and computation-free: the numbers come from :mod:`cnnviz.methods.kernels`, these are the words
beside them.

Examples::

    >>> [(p.name, p.key, p.default) for p in kernel_params("gaussian")]
    [('size', 'kn_sn', 5), ('sigma', 'kn_sigma', 1.0)]
    >>> grouping_note(1, 32)[:40]
    'Grouped convolution (32 groups): each fi'
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch

from cnnviz.methods.kernels import KERNELS, check_kernel_name

# ------------------------------------------------------------------ classic kernels: descriptions and sliders

KERNEL_DESCRIPTIONS: dict[str, str] = {
    "identity": "One 1 in the centre: the output is the input. Start here and edit a cell.",
    "box_blur": "The average of the neighbourhood (all weights 1/n²): smooths, sums to 1 so brightness is kept.",
    "gaussian": "A weighted average that favours the centre (weights exp(-r²/2σ²), summing to 1): smooths without "
                "the box's blockiness.",
    "sharpen": "Identity plus a negative Laplacian: boosts the difference between a pixel and its neighbours.",
    "sobel_x": "Brightness increasing to the right → positive, to the left → negative: finds vertical edges. Sums "
               "to 0, so flat areas give 0.",
    "sobel_y": "Brightness increasing downwards → positive: finds horizontal edges.",
    "sobel_magnitude": "√(Gx² + Gy²) of the two Sobel responses: edges in every direction, always ≥ 0 (a "
                       "non-linear combination of two kernels).",
    "prewitt_x": "Like Sobel x without the extra weight on the centre row.",
    "prewitt_y": "Like Sobel y without the extra weight on the centre column.",
    "laplacian": "The second derivative (sum of neighbours minus 4× the centre): responds on both sides of an edge, "
                 "zero on flat areas and on linear ramps.",
    "emboss": "A diagonal derivative plus the image: looks like light from the top left on a relief.",
    "outline": "8× the centre minus all 8 neighbours: every edge lights up, flat areas go to 0.",
    "gabor": "A sinusoidal grating under a Gaussian window: responds to stripes and edges of one orientation and "
             "one spatial frequency, like V1 simple cells and the first layer of trained CNNs.",
}


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
SIZE_KEYS = {"gabor": ("kn_gn", 11), "gaussian": ("kn_sn", 5)}


def kernel_params(name: str) -> list[KernelParam]:
    """The parameters classic kernel ``name`` takes, in the order of its
    :class:`~cnnviz.methods.kernels.KernelSpec`, as the page's sliders.

    Examples::

        >>> [(p.name, p.key, p.default) for p in kernel_params("gaussian")]
        [('size', 'kn_sn', 5), ('sigma', 'kn_sigma', 1.0)]
    """
    check_kernel_name(name)
    out = []
    for p in KERNELS[name].params:
        spec = KERNEL_PARAMS[p]
        if p == "size" and name in SIZE_KEYS:
            key, default = SIZE_KEYS[name]
            spec = replace(spec, key=key, default=default)
        out.append(spec)
    return out


# every URL key a classic kernel's parameter sliders may own (one slider per parameter of the kernel shown)
PARAM_KEYS = tuple(dict.fromkeys(p.key for name in KERNELS for p in kernel_params(name)))
COLOUR_MODES = {"grayscale": "Grayscale", "per_channel": "Per channel (R, G, B)"}
BORDER_HELP = ("What the kernel sees beyond the image border: a mirror of the image, zeros, the edge pixel repeated, "
               "or nothing ('valid': the output shrinks by kernel size − 1).")
IMAGE_SIZE_HELP = "The image is resized for this demo; the network sees the sidebar's small picture."
FLIP_HELP = ("PyTorch's conv2d (used here and in every CNN) computes a cross-correlation: the kernel is NOT flipped. "
             "Switch this on to flip it in both axes first, which gives the convolution of signal processing. "
             "Symmetric kernels do not change; Sobel and Prewitt change sign.")
MAGNITUDE_INFO = ("The magnitude combines two kernels non-linearly, so there is no single grid to edit: choose Sobel x "
                  "or Sobel y to edit one of them.")
EDITOR_TITLE = "**Edit the kernel** (type a number in any cell; the response updates live)"


def kernel_sum_note(kernel: np.ndarray | torch.Tensor) -> str:
    """What a kernel's sum does to a flat area of the image (1: kept, 0: removed, s: scaled by s).

    Examples::

        >>> kernel_sum_note(np.full((3, 3), 1 / 9))
        'sums to 1: flat areas keep their brightness'
    """
    s = float(np.asarray(kernel, dtype=np.float64).sum())
    if abs(s - 1) < 1e-3:
        return "sums to 1: flat areas keep their brightness"
    if abs(s) < 1e-3:
        return "sums to 0: flat areas give 0, only changes respond"
    return f"sums to {s:.3g}: flat areas are multiplied by {s:.3g}"


def response_caption(low: float, high: float, device: str | None = None, flipped: bool = False) -> str:
    """The range of a kernel's response, and (``device`` given: on a page, not a slide) how it was computed.

    Examples::

        >>> response_caption(-4, 4)
        'Response range -4 … 4.'
    """
    text = f"Response range {low:.3g} … {high:.3g}"
    if device is None:
        return text + "."
    how = ("true convolution (kernel flipped)." if flipped
           else "cross-correlation (kernel not flipped), as in every CNN layer.")
    return f"{text}; computed with `torch.nn.functional.conv2d` on {device} as a {how}"


CLASSIC_NOTE = (
    "- **Edge kernels sum to 0**: on a flat area the positive and negative weights cancel, so only changes respond. "
    "Their response is *signed*: Sobel x is positive where the image gets brighter to the right and negative where "
    "it gets darker.\n"
    "- **ReLU keeps one sign only**: after max(0, ·) a Sobel x kernel reports dark-to-bright edges and forgets "
    "bright-to-dark ones. That is why a network needs both a kernel and its negative to see both kinds of edge.\n"
    "- **Correlation vs. convolution**: flip the kernel with the toggle: the Gaussian does not change, Sobel changes "
    "sign. A CNN does not care, since it learns the kernel either way.\n"
    "- **Gabor**: turn θ and watch stripes of that orientation light up; λ selects how fine the stripes must be.")

# ------------------------------------------------------------------ learned filters

ORDER_TITLES = {"index": "as stored", "norm": "by norm (strongest first)", "cluster": "clustered (similar together)"}
SHARED_SCALE_HELP = ("Off: each filter stretched to its own range (shows shapes). On: one range for the whole layer "
                     "(shows which filters are strong and which are nearly zero).")
ALEXNET_NOTE = (
    "This is the picture of Krizhevsky et al. (AlexNet, 2012, fig. 3) and Zeiler & Fergus (2014): the first layer of "
    "a trained network holds oriented edges, stripes of several frequencies and colour blobs. An untrained one holds "
    "coloured noise. Each tile is what the filter responds to most: the image patch that *looks like* it.")


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


def rgb_grid_caption(n_filters: int, kh: int, kw: int) -> str:
    """How to read the colour grid of a first layer's filters."""
    return (f"{n_filters} filters of {kh}×{kw}×3, read row by row in the order chosen above; each weight's R, G, B "
            "values are shown as a colour (grey = 0 when one scale is used). **Click a filter** to see its channels "
            "below.")


class _Window(Protocol):  # what weight_map_caption reads of a cnnviz.figures.kernels.MapWindow
    filters: int
    channels: int
    per_row: int


def weight_map_caption(shape: Sequence[int], window: _Window, filter_start: int = 0, channel_start: int = 0,
                       shared: bool = False) -> str:
    """How to read the concatenated weight map: what rows and columns are, and the grey scale.

    Args:
        shape: the layer's weights ``(filters, channels, kh, kw)``.
        window: the part of the layer drawn (a :class:`cnnviz.figures.kernels.MapWindow`).

    Examples::

        >>> from cnnviz.figures.kernels import map_window
        >>> weight_map_caption((6, 1, 5, 5), map_window((6, 1, 5, 5)))[:26]
        '6 filters, row by row. Hov'
    """
    n_f, n_c = shape[:2]
    if n_c == 1:
        note = f"{n_f} filters, row by row. "
    elif window.per_row == 1:
        last_f = filter_start + min(window.filters, n_f - filter_start) - 1
        note = (f"Rows: filters {filter_start}…{last_f} of the chosen order; "
                f"columns: input channels {channel_start}…{channel_start + window.channels - 1}. ")
    else:
        note = f"{window.per_row} filters per row, each a run of its {n_c} input-channel tiles, in the chosen order. "
    return (note + "Hover a tile to read which filter and channel it is. Black = most negative, white = most "
            "positive, mid-grey = 0" + ("" if shared else "; each filter stretched to its own largest |weight|") + ".")


LEARNED_NOTE = (
    "- A trained first layer of an ImageNet model shows **oriented edges, stripes and colour blobs**; an untrained "
    "one shows noise.\n"
    "- **Sort by norm**: a few filters carry most of the weight; with one shared scale the weak ones fade to grey.\n"
    "- **Cluster**: filters that differ only in strength, or are near copies, end up next to each other.\n"
    "- Deeper layers mix channels: their kernels are small (often 3×3) and look like noise one by one; their "
    "meaning is in the combination, which the Activation and Maximal-input pages show better.")


def filter_caption(index: int, norm: float, channels: int, shown: int = 16) -> str:
    """The caption under one filter drawn channel by channel (at most ``shown`` channels drawn).

    Examples::

        >>> filter_caption(3, 0.5, 1)
        'Filter 3: norm 0.500; red = positive, blue = negative weights, one scale for its 1 channel.'
    """
    return (f"Filter {index}: norm {norm:.3f}; red = positive, blue = negative weights, one scale for its {channels} "
            f"channel{'s' if channels > 1 else ''}"
            + (f" (first {shown} of {channels} shown; the map above shows all)." if channels > shown else "."))


def filter_note(layer: str) -> str:
    """The note of the one-filter view."""
    return (f"- One filter of `{layer}` has one small kernel per input channel; the filter's output is the sum of all "
            "of them, each slid over its own input map.\n"
            "- On the first layer of a colour model the three kernels are the filter's R, G and B parts.")


# ------------------------------------------------------------------ learned vs classic

def kernels_too_small(kh: int, kw: int) -> str:
    """Why a first layer of kernels smaller than 3x3 is not compared with the classic kernels."""
    return f"The first layer's kernels are {kh}×{kw}: too small to compare with 3×3 classic kernels."


def bridge_intro(layer: str, n_filters: int, kh: int, kw: int) -> str:
    """What the learned-vs-classic table measures, for the first layer ``layer``."""
    return (f"For each filter of the first layer `{layer}` ({n_filters} filters of {kh}×{kw}), the **cosine "
            f"similarity** to a bank of classic kernels resized to {kh}×{kw} (Sobel, Prewitt, Laplacian, blurs, "
            "Gabors at 12 orientations, 2 wavelengths, 2 phases). Cosine 1 means the same pattern up to a scale; −1 "
            "the negated pattern (the same detector for the opposite contrast); 0 nothing in common. A grey kernel is "
            "compared with the same pattern on every input channel, so a pure colour filter (red minus green) scores "
            "near 0: its **colour share** tells you so.")


def gabor_orientations(thetas: Sequence[float]) -> str:
    """The Gabor orientations the filters matched, with how many filters each.

    Examples::

        >>> gabor_orientations([60.0, 0.0, 60.0])
        'Gabor orientations found: 0°×1, 60°×2'
    """
    thetas = list(thetas)
    return "Gabor orientations found: " + ", ".join(f"{int(t)}°×{thetas.count(t)}" for t in sorted(set(thetas)))


BRIDGE_NOTE = ("- The bridge table turns *\"the network learned edge detectors\"* into a number per filter you can "
               "check.\n"
               "- A negative cosine is the same detector for the opposite contrast (dark-to-bright instead of "
               "bright-to-dark).")
APPLY_FILTER_HELP = "Default: the filter closest to a classic kernel."
APPLY_CAPTION = (
    "Both slid with stride 1 over the normalised image exactly as the first layer sees it (the learned one with its "
    "bias; the classic one on every input channel alike, the same template the cosine was measured against). "
    "Similar patterns of red and blue mean the learned filter does the classic kernel's job.")
APPLY_NOTE = ("- Similar patterns of red and blue mean the learned filter does the classic kernel's job.\n"
              "- Try a filter with a low |cosine| in the table above: its response matches no classic kernel.")

# ------------------------------------------------------------------ before and after training


def untrained_only(title: str) -> str:
    """Why a model with random weights only has no before/after comparison."""
    return (f"{title} has random weights only (no trained weights on this machine), so there is nothing to compare "
            "with. Choose LeNet-5 or the small VGG in the sidebar to see trained next to random filters.")


def chance_partners(bank_size: int) -> str:
    """Why even random filters score above 0 against a bank of ``bank_size`` classic kernels."""
    return (f"With {bank_size} kernels in the bank even random filters find a partner by chance; the difference "
            "between the two numbers is what training added.")


TRAINING_NOTE = ("- Training turns noise into structure: smooth blobs and oriented edges on the left, salt and pepper "
                 "on the right.\n"
                 "- Even random filters find a classic partner by chance; the gap between the two mean cosines is what "
                 "training added.")

__all__ = [
    "KERNEL_DESCRIPTIONS", "KernelParam", "KERNEL_PARAMS", "SIZE_KEYS", "kernel_params", "PARAM_KEYS",
    "COLOUR_MODES", "BORDER_HELP", "IMAGE_SIZE_HELP", "FLIP_HELP", "MAGNITUDE_INFO", "EDITOR_TITLE",
    "kernel_sum_note", "response_caption", "CLASSIC_NOTE", "ORDER_TITLES", "SHARED_SCALE_HELP", "ALEXNET_NOTE",
    "grouping_note", "describe_layer", "rgb_grid_caption", "weight_map_caption", "LEARNED_NOTE", "filter_caption",
    "filter_note", "kernels_too_small", "bridge_intro", "gabor_orientations", "BRIDGE_NOTE", "APPLY_FILTER_HELP",
    "APPLY_CAPTION", "APPLY_NOTE", "untrained_only", "chance_partners", "TRAINING_NOTE",
]
