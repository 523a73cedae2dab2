"""Modified-ReLU backpropagation: the class score sent back with every ``nn.ReLU`` passing only positive
gradients, under one of two rules.

* ``"guided"`` -- guided backpropagation (Springenberg et al., 2015): the positive part of the incoming
  gradient, and only where the forward input was positive (the ordinary ReLU gate as well);
* ``"deconvnet"`` -- Zeiler and Fergus's deconvnet (2014): the positive part of the incoming gradient,
  ignoring the forward gate.

Both are :func:`modified_backprop` with a rule (:func:`guided_backprop`, :func:`deconvnet`), and
:func:`guided_grad_cam` multiplies guided backprop by Grad-CAM. Only ReLU *modules* are changed (as in Captum);
ReLUs called as functions stay ordinary. The change is made in the capture engine's traced copy for one
pass, never in the shared model.

Examples::

    >>> guided_backprop(m, img, 7).raw.shape, deconvnet(m, img, 7).raw.shape
    (torch.Size([1, 28, 28]), torch.Size([1, 28, 28]))
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from cnnviz.methods.attribution.base import (
    Attribution,
    AttributionError,
    input_gradients,
    model_input,
    resolve_target,
)
from cnnviz.methods.attribution.cams import grad_cam

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle


class _RectifiedReLU(torch.autograd.Function):
    """ReLU forward; backward passes the positive part of the incoming gradient, gated by the forward
    output's sign when ``gated`` (guided backprop) or not (deconvnet)."""

    @staticmethod
    def forward(ctx, inp: torch.Tensor, gated: bool) -> torch.Tensor:
        out = inp.clamp(min=0)
        ctx.gated = gated
        if gated:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        g = grad.clamp(min=0)
        if ctx.gated:
            (out,) = ctx.saved_tensors
            g = g * (out > 0)
        return g, None


# plain module-level functions: a traced graph calls them, and the capture engine caches its copy per function
def _guided_relu(x: torch.Tensor) -> torch.Tensor:
    return _RectifiedReLU.apply(x, True)


def _deconv_relu(x: torch.Tensor) -> torch.Tensor:
    return _RectifiedReLU.apply(x, False)


RULES = {"guided": _guided_relu, "deconvnet": _deconv_relu}


def modified_backprop(m: ModelHandle, img, target: int | str | None = None, rule: str = "guided") -> Attribution:
    """The input gradient with every ``nn.ReLU``'s backward replaced by ``rule`` (one of :data:`RULES`);
    the map is max |value| over colour channels, ``raw`` the signed ``[C, H, W]``.

    The method key of the result is the rule (``"guided"`` or ``"deconvnet"``).

    Examples::

        >>> modified_backprop(m, img, 7, "deconvnet").method
        'deconvnet'
    """
    if rule not in RULES:
        raise AttributionError(f"unknown ReLU rule {rule!r}; choose one of {list(RULES)}")
    x = model_input(m, img)
    t = resolve_target(m, x, target)
    g = input_gradients(m, x, t, replace={nn.ReLU: RULES[rule]})[0]
    return Attribution(rule, t, g.abs().amax(0), g)


def guided_backprop(m: ModelHandle, img, target: int | str | None = None) -> Attribution:
    """Guided backpropagation: every ``nn.ReLU`` passes back only positive gradients at positive inputs.

    Examples::

        >>> guided_backprop(m, img, 7).method
        'guided'
    """
    return modified_backprop(m, img, target, "guided")


def deconvnet(m: ModelHandle, img, target: int | str | None = None) -> Attribution:
    """Zeiler-Fergus deconvnet: every ``nn.ReLU`` rectifies the *signal* sent back (not gated by the forward
    pass), max |value| over colour channels.

    Examples::

        >>> deconvnet(m, img).raw.shape
        torch.Size([1, 28, 28])
    """
    return modified_backprop(m, img, target, "deconvnet")


def guided_grad_cam(m: ModelHandle, img, target: int | str | None = None, layer: str | None = None,
                    upsample: str = "bilinear") -> Attribution:
    """Guided backprop times the upsampled Grad-CAM: fine detail, but only where the class is.

    Examples::

        >>> guided_grad_cam(m, img, 7).info["layer"]
        'features.3'
    """
    x = model_input(m, img)
    t = resolve_target(m, x, target)
    cam = grad_cam(m, x, t, layer, upsample)
    gb = guided_backprop(m, x, t)
    prod = gb.raw * cam.map[None]
    return Attribution("guided_gradcam", t, prod.abs().amax(0), prod, dict(cam.info))
