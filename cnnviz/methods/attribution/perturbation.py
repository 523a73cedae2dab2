"""Perturbation: what the class score loses when part of the image is hidden (no gradients at all).

* :func:`occlusion` -- the drop of the class score when a grey patch hides each region (Zeiler and Fergus,
  2014), the patched copies run as batches on the device;
* :func:`occlusion_positions` -- how many patch positions (forward passes) that takes.

Examples::

    >>> occlusion(m, img, 7, patch=4, stride=4).info["positions"]   # (28 - 4) // 4 + 1 = 7 a side
    49
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from cnnviz.core.runtime import Progress, report
from cnnviz.methods.attribution.base import Attribution, AttributionError, model_input, resolve_target

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle


def occlusion_positions(size: tuple[int, int], patch: int, stride: int) -> int:
    """How many patch positions (one forward pass each) :func:`occlusion` runs on an input of ``size`` (H, W).

    Examples::

        >>> occlusion_positions((28, 28), patch=4, stride=4)   # (28 - 4) // 4 + 1 = 7 a side
        49
    """
    h, w = size
    return max(0, (h - patch) // stride + 1) * max(0, (w - patch) // stride + 1)


def occlusion(m: ModelHandle, img, target: int | str | None = None, patch: int = 4, stride: int = 2,
              fill: float = 0.0, batch_size: int = 64, progress: Progress | None = None) -> Attribution:
    """Occlusion sensitivity: the drop of the class score (logit) when a square patch is filled with ``fill``.

    Each pixel gets the mean drop over the patches that cover it (Captum's convention, so the
    result equals ``captum.attr.Occlusion`` with the same window and stride); signed (negative: hiding
    the patch *raised* the score). Patches are run as batches on the device.

    Args:
        patch: side of the square patch in input pixels.
        stride: step between patch positions; ``stride > patch`` leaves pixels never covered (0).
        fill: the value in normalised input space; 0 is the data set's mean colour (grey).
        progress: ``progress(fraction, text)`` after each batch (:func:`cnnviz.core.runtime.report`).

    Examples::

        >>> occlusion(m, img, 7, patch=28, stride=1).map.unique().numel()   # one patch covers everything
        1
    """
    x = model_input(m, img)
    _, _, h, w = x.shape
    if not (1 <= patch <= min(h, w)) or stride < 1:
        raise AttributionError(f"patch {patch} / stride {stride}: need 1 <= patch <= {min(h, w)} and stride >= 1")
    t = resolve_target(m, x, target)
    pos = torch.tensor([(y, xx) for y in range(0, h - patch + 1, stride) for xx in range(0, w - patch + 1, stride)],
                       device=x.device)
    base = m.logits(x)[0, t]
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    total = torch.zeros(h, w, device=x.device)
    count = torch.zeros(h, w, device=x.device)
    done = 0
    for p in pos.split(batch_size):
        rows = (ar_h[None] >= p[:, :1]) & (ar_h[None] < p[:, :1] + patch)  # b, h
        cols = (ar_w[None] >= p[:, 1:]) & (ar_w[None] < p[:, 1:] + patch)  # b, w
        mask = (rows[:, :, None] & cols[:, None, :]).float()  # b, h, w
        xo = x * (1 - mask[:, None]) + fill * mask[:, None]
        drop = base - m.logits(xo)[:, t]
        total += (drop[:, None, None] * mask).sum(0)
        count += mask.sum(0)
        done += len(p)
        report(progress, done / len(pos), f"{done} of {len(pos)} patches")
    att = torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))
    return Attribution("occlusion", t, att, None, {"patch": patch, "stride": stride, "positions": len(pos),
                                                   "base_score": float(base)})
