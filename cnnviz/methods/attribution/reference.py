"""Attribution against a reference image: each pixel's share of ``score(x) - score(reference)``.

* :func:`integrated_gradients` -- gradients integrated along the straight path from the reference
  (Sundararajan et al., 2017);
* :func:`deeplift` -- every unit compared with its value on the reference, Rescale rule (Shrikumar et al., 2017);
* :func:`gradient_shap` -- expected gradients times ``(input - reference)`` over random references and points
  (Lundberg and Lee, 2017).

All three are Captum's implementations; their attributions add up (approximately, ``info["delta"]``) to the
score difference. The reference is the black image (:func:`~cnnviz.methods.attribution.base.black_input`,
through the model's own normalisation) or the data set's mean colour (normalised zero).

Examples::

    >>> ig = integrated_gradients(m, img, 7, steps=64)
    >>> ig.info["delta"] < 0.05 * abs(float(m.logits(x)[0, 7] - m.logits(black_input(m, x))[0, 7]))
    True
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

from cnnviz.core.capture import hook_twin
from cnnviz.methods.attribution.base import Attribution, AttributionError, black_input, model_input, resolve_target

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle

REFERENCES = ("black", "mean")


def integrated_gradients(m: ModelHandle, img, target: int | str | None = None, steps: int = 32,
                         baseline: str = "black") -> Attribution:
    """Integrated Gradients from a baseline image (Captum), ``|sum over channels|`` per pixel.

    Args:
        steps: points on the path (Gauss-Legendre); more is more exact and slower.
        baseline: ``"black"`` (all-zero pixels) or ``"mean"`` (the normalised zero: the data set's mean colour).

    ``info["delta"]`` is the completeness error: attributions should sum to
    ``score(x) - score(baseline)``.

    Examples::

        >>> integrated_gradients(m, img, 7, steps=8).raw.shape
        torch.Size([1, 28, 28])
    """
    from captum.attr import IntegratedGradients

    x = model_input(m, img)
    t = resolve_target(m, x, target)
    if baseline not in REFERENCES:
        raise AttributionError(f"baseline {baseline!r}: expected one of {list(REFERENCES)}")
    base = black_input(m, x) if baseline == "black" else torch.zeros_like(x)
    with torch.inference_mode(False), torch.enable_grad():  # Captum IG only runs forward and autograd
        attr, delta = IntegratedGradients(m.module).attribute(
            x.clone(), base, target=t, n_steps=steps, internal_batch_size=steps, return_convergence_delta=True)
    a = attr[0].detach()
    return Attribution("ig", t, a.sum(0).abs(), a, {"delta": float(delta.abs().sum()), "steps": steps})


def deeplift(m: ModelHandle, img, target: int | str | None = None) -> Attribution:
    """DeepLIFT (Captum's Rescale rule) from a black image; signed, summed over channels.

    Captum's DeepLift hooks the model's non-linearities, so it runs on the capture engine's private
    copy of the model (its hook twin, one call at a time), never on the shared model.
    ``info["delta"]``: the summation-to-delta error (attributions sum to ``score(x) - score(black)``).

    Examples::

        >>> float(deeplift(m, img, 7).map.min()) < 0   # signed: evidence against the class too
        True
    """
    from captum.attr import DeepLift

    x = model_input(m, img)
    t = resolve_target(m, x, target)
    twin, lock = hook_twin(m.module)
    with lock, torch.inference_mode(False), torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(hooks|require gradients)", category=UserWarning)
        attr, delta = DeepLift(twin).attribute(x.clone(), black_input(m, x), target=t, return_convergence_delta=True)
    a = attr[0].detach()
    return Attribution("deeplift", t, a.sum(0), a, {"delta": float(delta.abs().sum())})


def gradient_shap(m: ModelHandle, img, target: int | str | None = None, samples: int = 16, noise: float = 0.1,
                  seed: int = 0) -> Attribution:
    """GradientSHAP (Captum): expected gradients x (input - baseline) over random points between the image
    (with noise) and a baseline drawn from {black, mean colour}; signed, summed over channels.

    Args:
        samples: random points (one batch).
        noise: standard deviation of the noise added to the input (normalised units).
        seed: Captum draws from torch's and NumPy's global generators; they are seeded with ``seed`` and
            restored afterwards, so a rerun shows the same map.

    Examples::

        >>> torch.equal(gradient_shap(m, img, 7, seed=3).raw, gradient_shap(m, img, 7, seed=3).raw)
        True
    """
    from captum.attr import GradientShap

    x = model_input(m, img)
    t = resolve_target(m, x, target)
    bases = torch.cat([black_input(m, x), torch.zeros_like(x)])
    np_state = np.random.get_state()
    devices = [x.device] if x.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.inference_mode(False), torch.enable_grad():
            torch.manual_seed(seed)
            np.random.seed(seed)
            attr = GradientShap(m.module).attribute(x.clone(), bases, n_samples=samples, stdevs=noise, target=t)
    finally:
        np.random.set_state(np_state)
    a = attr[0].detach()
    return Attribution("gradientshap", t, a.sum(0), a, {"samples": samples, "seed": seed})
