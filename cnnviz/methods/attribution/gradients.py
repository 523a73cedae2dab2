"""Gradient saliency and SmoothGrad: how fast the class score changes with each input pixel.

* :func:`saliency` -- ``max_c |d score / d x_c|`` per pixel (Simonyan et al., 2014);
* :func:`smoothgrad` -- the same gradient magnitude averaged over noisy copies of the input (Smilkov et al.,
  2017), the copies run as batches on the device.

Gradients come from the capture engine (:func:`cnnviz.methods.attribution.base.input_gradients`), which
never hooks or changes the shared model.

Examples::

    >>> saliency(m, img, 7).map.shape
    torch.Size([28, 28])
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from cnnviz.methods.attribution.base import Attribution, input_gradients, model_input, resolve_target

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle


def saliency(m: ModelHandle, img, target: int | str | None = None) -> Attribution:
    """Vanilla gradient saliency: ``max_c |d score / d x_c|`` per pixel; ``raw`` is the signed gradient ``[C, H, W]``.

    Examples::

        >>> saliency(m, img).map.shape
        torch.Size([28, 28])
    """
    x = model_input(m, img)
    t = resolve_target(m, x, target)
    g = input_gradients(m, x, t)[0]
    return Attribution("saliency", t, g.abs().amax(0), g)


def smoothgrad(m: ModelHandle, img, target: int | str | None = None, samples: int = 16,
               noise: float = 0.15, seed: int = 0) -> Attribution:
    """SmoothGrad: the mean of ``|gradient|`` over noisy copies, max over colour channels.

    Args:
        samples: noisy copies (run as batches on the device).
        noise: noise standard deviation as a fraction of the input's value range (0.1-0.2 in the paper).
        seed: the noise is reproducible, so a page rerun shows the same map.

    Examples::

        >>> torch.equal(smoothgrad(m, img, 7, noise=0.0).map, saliency(m, img, 7).map)
        True
    """
    x = model_input(m, img)
    t = resolve_target(m, x, target)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    sigma = noise * float(x.max() - x.min())
    xs = x + sigma * torch.randn((samples, *x.shape[1:]), generator=gen, device=x.device)
    g = input_gradients(m, xs, t).abs().mean(0)
    return Attribution("smoothgrad", t, g.amax(0), g, {"samples": samples, "noise": noise})
