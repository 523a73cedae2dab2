"""The bridge between learned filters and classic kernels: which classic kernel each filter is closest to.

A bank of classic kernels at the filter's size (:func:`classic_bank`), the cosine similarity of every
filter to every bank kernel (:func:`similarity_to_classic`), the best match per filter
(:func:`best_matches`) and summaries over a layer (:func:`family_summary`, :func:`mean_abs_cosine`).

Examples::

    >>> from cnnviz.methods.kernels import best_matches, classic_kernel
    >>> w = classic_kernel("sobel_x").expand(1, 3, 3, 3)       # Sobel x on R, G and B alike
    >>> best_matches(w)[0].name, round(best_matches(w)[0].cosine, 4)
    ('Sobel x', 1.0)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from cnnviz.methods.kernels.classic import classic_kernel, gabor, gaussian, identity


@dataclass(frozen=True)
class KernelMatch:
    """The classic kernel most similar to one learned filter."""

    filter: int
    name: str  # bank entry, e.g. "Sobel x" or "Gabor 60° λ=5.5 odd"
    family: str  # "edge", "Gabor", "blur", "Laplacian", "centre", "emboss"
    cosine: float  # signed: -0.9 means the filter is close to the negated kernel
    colour_share: float  # fraction of the filter's energy that differs between input channels (0 for grey filters)
    theta: float | None = None  # Gabor orientation in degrees


# the 3x3 classic kernels in the bank, by their name in the bank
_BANK_3X3 = {"sobel_x": "Sobel x", "sobel_y": "Sobel y", "prewitt_x": "Prewitt x", "prewitt_y": "Prewitt y",
             "laplacian": "Laplacian", "outline": "outline", "sharpen": "sharpen", "emboss": "emboss"}
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
    for name, title in _BANK_3X3.items():
        bank[title] = _resize_kernel(classic_kernel(name), (kh, kw))
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

        >>> mean_abs_cosine([KernelMatch(0, "Sobel x", "edge", -0.75, 0.0), KernelMatch(1, "Sobel y", "edge", 0.25, 0)])
        0.5
    """
    return float(np.mean([abs(mt.cosine) for mt in matches]))


__all__ = ["KernelMatch", "classic_bank", "similarity_to_classic", "colour_share", "best_matches", "family_summary",
           "matched_template", "mean_abs_cosine"]
