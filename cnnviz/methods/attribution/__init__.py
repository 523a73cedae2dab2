"""Attribution: which input pixels drive a class score (no Streamlit here).

The package, one concept per module (captum's ``attr/`` shape), every method returning an
:class:`Attribution` on the model's device:

* :mod:`.base` -- the result type, the error, the model input, the class explained, batched passes;
* :mod:`.gradients` -- gradient saliency and SmoothGrad;
* :mod:`.reference` -- Integrated Gradients, DeepLIFT and GradientSHAP (against a black or mean image);
* :mod:`.backprop` -- one modified-ReLU backward pass: guided backprop, deconvnet, and Guided Grad-CAM;
* :mod:`.cams` -- the CAM family (Grad-CAM written once, as one of them), on the capture engine;
* :mod:`.perturbation` -- occlusion;
* :mod:`.sanity` -- the rank correlation of the sanity check.

This module is the registry: :data:`METHODS` (key -> :class:`MethodSpec`), :func:`attribute` (run one by
key), :func:`default_params` and the sign rules the figures use. Scoring maps (deletion, insertion, the
leaderboard) is :mod:`cnnviz.methods.faithfulness`, beside the package: it uses this registry.

Layer outputs and gradients come from the capture engine (:func:`cnnviz.core.capture.capture`),
which never hooks or changes the shared model, so sessions attribute at the same time without a lock.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods.attribution import attribute
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> a = attribute(m, cnnviz.load_image("assets/samples/digit-7.png"), "gradcam")
    >>> m.classes[a.target], tuple(a.map.shape)
    ('7', (28, 28))
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import torch

from cnnviz.methods.attribution.backprop import deconvnet, guided_backprop, guided_grad_cam, modified_backprop
from cnnviz.methods.attribution.base import (
    Attribution,
    AttributionError,
    batched_logits,
    black_input,
    class_score,
    input_gradients,
    model_input,
    resolve_target,
)
from cnnviz.methods.attribution.cams import (
    CAM_KINDS,
    LayerGradients,
    cam,
    cam_from,
    default_cam_layer,
    grad_cam,
    gradient_cam,
    layer_cams,
)
from cnnviz.methods.attribution.gradients import saliency, smoothgrad
from cnnviz.methods.attribution.perturbation import occlusion, occlusion_positions
from cnnviz.methods.attribution.reference import deeplift, gradient_shap, integrated_gradients
from cnnviz.methods.attribution.sanity import rank_correlation

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle


@dataclass(frozen=True)
class MethodSpec:
    """One method of the registry.

    Attributes:
        key: the method key (``Attribution.method`` of its results).
        label: its name for people (captions, tables).
        func: ``func(m, img, target, **params) -> Attribution``.
        uses_layer: whether it weights a conv layer's maps (takes ``layer=``).
        signed: whether its map has a meaningful sign (drawn on a diverging scale around zero).
    """

    key: str
    label: str
    func: Callable[..., Attribution]
    uses_layer: bool = False
    signed: bool = False


def _cam_spec(key: str, label: str) -> MethodSpec:
    return MethodSpec(key, label, partial(cam, kind=key), uses_layer=True)


METHODS: dict[str, MethodSpec] = {s.key: s for s in [
    MethodSpec("saliency", "Gradient saliency", saliency),
    MethodSpec("smoothgrad", "SmoothGrad", smoothgrad),
    MethodSpec("ig", "Integrated Gradients", integrated_gradients),
    MethodSpec("gradcam", "Grad-CAM", grad_cam, uses_layer=True),
    MethodSpec("guided_gradcam", "Guided Grad-CAM", guided_grad_cam, uses_layer=True),
    MethodSpec("occlusion", "Occlusion", occlusion, signed=True),
    MethodSpec("deconvnet", "Deconvnet", deconvnet),
    MethodSpec("deeplift", "DeepLIFT", deeplift, signed=True),
    MethodSpec("gradientshap", "GradientSHAP", gradient_shap, signed=True),
    _cam_spec("gradcampp", "Grad-CAM++"),
    _cam_spec("xgradcam", "XGrad-CAM"),
    _cam_spec("layercam", "Layer-CAM"),
    _cam_spec("hirescam", "HiResCAM"),
    _cam_spec("scorecam", "Score-CAM"),
    _cam_spec("ablationcam", "Ablation-CAM"),
    _cam_spec("eigencam", "Eigen-CAM"),
]}


def attribute(m: ModelHandle, img, method: str, target: int | str | None = None, **params) -> Attribution:
    """Run one method by key (see :data:`METHODS`), passing method-specific ``params`` through
    (``layer`` is dropped for methods that take none).

    Examples::

        >>> attribute(m, img, "occlusion", patch=6, stride=3).info["positions"]
        64
    """
    if method not in METHODS:
        raise AttributionError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    spec = METHODS[method]
    if not spec.uses_layer:
        params.pop("layer", None)
    return spec.func(m, img, target, **params)


def default_params(m: ModelHandle, method: str) -> dict:
    """Modest parameters for ``method`` on ``m`` (the comparison grid runs every method with these).

    CAM methods use the last convolution; occlusion a patch of about 1/7 of the input side
    with half that stride (about 13 x 13 positions, whatever the input size).

    Examples::

        >>> default_params(load_model("lenet5-mnist"), "occlusion")
        {'patch': 4, 'stride': 2}
    """
    if method in METHODS and METHODS[method].uses_layer:
        convs = m.conv_layer_names()
        return {"layer": convs[-1]} if convs else {}
    side = min(m.input_size[1:])
    return {"ig": {"steps": 16}, "smoothgrad": {"samples": 16, "noise": 0.15},
            "occlusion": {"patch": max(2, side // 7), "stride": max(1, side // 14)}}.get(method, {})


def is_signed(method: str) -> bool:
    """Whether ``method``'s map has a meaningful sign (drawn on a diverging scale): Integrated Gradients'
    raw attributions, and the methods marked :attr:`MethodSpec.signed`.

    Examples::

        >>> [k for k in METHODS if is_signed(k)]
        ['ig', 'occlusion', 'deeplift', 'gradientshap']
    """
    return method == "ig" or (method in METHODS and METHODS[method].signed)


def signed_map(a: Attribution) -> torch.Tensor:
    """The map to draw: signed (summed over colour channels) for Integrated Gradients, whose ``map`` is the
    magnitude; ``a.map`` otherwise (already signed for DeepLIFT, GradientSHAP and occlusion).

    Examples::

        >>> signed_map(attribute(m, img, "deeplift")).min() < 0
        tensor(True)
    """
    if a.method == "ig" and a.raw is not None and a.raw.ndim == 3:
        return a.raw.sum(0)
    return a.map


__all__ = [
    "METHODS", "MethodSpec", "attribute", "default_params", "is_signed", "signed_map",
    "Attribution", "AttributionError", "model_input", "resolve_target", "class_score", "black_input",
    "input_gradients", "batched_logits",
    "saliency", "smoothgrad", "integrated_gradients", "deeplift", "gradient_shap",
    "modified_backprop", "guided_backprop", "deconvnet", "guided_grad_cam",
    "CAM_KINDS", "LayerGradients", "cam", "cam_from", "default_cam_layer", "grad_cam", "gradient_cam", "layer_cams",
    "occlusion", "occlusion_positions", "rank_correlation",
]
