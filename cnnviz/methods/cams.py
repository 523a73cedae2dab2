"""The CAM family beyond Grad-CAM: Grad-CAM++, XGrad-CAM, Layer-CAM, HiResCAM, Score-CAM, Ablation-CAM, Eigen-CAM.

Every method weights (or projects) a conv layer's maps ``A_k`` [K, h, w] into one map, kept where positive:

* ``gradcam``     -- ``sum_k mean(dS/dA_k) A_k`` (Selvaraju et al., 2017), as :func:`~cnnviz.methods.attribution.grad_cam`;
* ``gradcampp``   -- Grad-CAM++ (Chattopadhay et al., 2018): positive gradients weighted by ``alpha_ij``;
* ``xgradcam``    -- XGrad-CAM (Fu et al., 2020): weights ``sum_ij g_ij A_ij / sum_ij A_ij``;
* ``layercam``    -- Layer-CAM (Jiang et al., 2021): ``sum_k relu(g_k) * A_k`` element-wise;
* ``hirescam``    -- HiResCAM (Draelos and Carin, 2020): ``sum_k g_k * A_k`` element-wise;
* ``scorecam``    -- Score-CAM (Wang et al., 2020): each upsampled, min-max scaled map masks the input, the
  softmax over channels of the masked inputs' scores are the weights; the K forward passes run as batches;
* ``ablationcam`` -- Ablation-CAM (Desai and Ramaswamy, 2020): the relative score drop when one channel is
  ablated; only the network *after* the layer runs, on a batch of ablated copies of the layer's output;
* ``eigencam``    -- Eigen-CAM (Muhammad and Yeasin, 2020): the maps projected on their first principal
  component (no gradients, not class-specific).

The formulas follow pytorch-grad-cam (the reference the tests compare with). Optional test-time augmentation
smoothing (``aug_smooth``: horizontal flip x brightness 0.9/1/1.1, as pytorch-grad-cam's ``aug_smooth``) and
an average over several layers (``layers=[...]``).

Layer outputs and gradients come from the capture engine, and Ablation-CAM's "rest of the network" is a
torch.fx copy of the traced graph that shares the model's layers: the shared model is never hooked or changed.

Examples::

    >>> import cnnviz
    >>> from cnnviz.methods.cams import cam
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> a = cam(m, cnnviz.load_image("assets/samples/digit-7.png"), kind="scorecam")
    >>> m.classes[a.target], tuple(a.map.shape), tuple(a.raw.shape)
    ('7', (28, 28), (10, 10))
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.fx
from torch.nn import functional as F

from cnnviz.core.capture import capture
from cnnviz.core.graph import CutError, split_at, split_key
from cnnviz.methods.attribution import (
    Attribution,
    AttributionError,
    LayerGradients,
    _batch,
    default_cam_layer,
    resolve_target,
)

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle

GRADIENT_CAMS = ("gradcam", "gradcampp", "xgradcam", "layercam", "hirescam")
CAM_KINDS = (*GRADIENT_CAMS, "scorecam", "ablationcam", "eigencam")
ABLATION_VALUE = 1e7  # pytorch-grad-cam's: an ablated channel of a signed layer goes this far below the minimum


# ============================================================== one layer, a batch of images, one class
def _layer_key(layer: str) -> str:
    """The capture key of a layer's first call unless the key names another (a ResNet block's shared ReLU)."""
    return layer if split_key(layer)[1] is not None else f"{layer}#1"


def _acts(m: ModelHandle, x: torch.Tensor, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer's output and the logits for batch ``x``, no gradients."""
    c = capture(m.module, x, [_layer_key(layer)], logits=True)
    return next(iter(c.outputs.values())), c.logits


def weights_from_gradients(kind: str, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The signed CAM ``[N, h, w]`` (before the ReLU) of a gradient method from maps ``a`` and gradients ``g``.

    Args:
        kind: one of :data:`GRADIENT_CAMS`.
        a: the layer's maps ``[N, K, h, w]``.
        g: d score / d maps, same shape.

    Examples::

        >>> a = torch.ones(1, 1, 1, 2); g = torch.tensor([[[[1., -1.]]]])
        >>> weights_from_gradients("hirescam", a, g), weights_from_gradients("layercam", a, g)
        (tensor([[[ 1., -1.]]]), tensor([[[1., 0.]]]))
    """
    if kind == "gradcam":
        return (g.mean((2, 3), keepdim=True) * a).sum(1)
    if kind == "gradcampp":
        g2 = g * g
        s = a.sum((2, 3), keepdim=True)
        alpha = torch.where(g != 0, g2 / (2 * g2 + s * g2 * g + 1e-6), torch.zeros_like(g))
        return ((F.relu(g) * alpha).sum((2, 3), keepdim=True) * a).sum(1)
    if kind == "xgradcam":
        s = a.sum((2, 3), keepdim=True)
        return ((g * a / (s + 1e-7)).sum((2, 3), keepdim=True) * a).sum(1)
    if kind == "layercam":
        return (F.relu(g) * a).sum(1)
    if kind == "hirescam":
        return (g * a).sum(1)
    raise AttributionError(f"{kind!r} is not a gradient CAM; choose one of {list(GRADIENT_CAMS)}")


def eigen_projection(a: torch.Tensor) -> torch.Tensor:
    """Each image's maps ``[N, K, h, w]`` projected on their first principal component: ``[N, h, w]``.

    An SVD's sign is arbitrary. The sign is chosen so that the projection correlates positively with
    the layer's mean activation (where the layer fires is where the map is bright, so the ReLU that
    follows keeps the object, not the background); when that correlation is zero, so that the largest
    magnitude is positive. The largest-magnitude rule alone inverts maps where one quiet pixel stands far
    from many active ones: one map ``[0, 4, 4, 4]`` centres to ``[-3, 1, 1, 1]``, which it would flip.

    Examples::

        >>> eigen_projection(torch.tensor([[[[0., 2.]], [[0., 2.]]]]))  # centred [-1, 1] on both maps
        tensor([[[-1.4142,  1.4142]]])
        >>> eigen_projection(torch.tensor([[[[0., 4., 4., 4.]]]]))  # bright where the layer fires
        tensor([[[-3.,  1.,  1.,  1.]]])
    """
    n, k, h, w = a.shape
    out = []
    for ai in a.double():
        mat = ai.reshape(k, h * w).T
        mat = mat - mat.mean(0)
        # mat @ (first right singular vector), from the smaller of the two Gram matrices (cheaper than an SVD)
        if h * w <= k:
            lam, vec = torch.linalg.eigh(mat @ mat.T)
            p = vec[:, -1] * lam[-1].clamp_min(0).sqrt()
        else:
            p = mat @ torch.linalg.eigh(mat.T @ mat)[1][:, -1]
        mean = ai.mean(0).reshape(-1)
        agree = float((p * (mean - mean.mean())).sum())
        if abs(agree) > 1e-12 * float(p.abs().sum() * mean.abs().sum() + 1e-30):
            out.append(p if agree > 0 else -p)
        else:
            out.append(-p if p.min().abs() > p.max().abs() else p)
    return torch.stack(out).reshape(n, h, w).to(a.dtype)


def score_cam_weights(m: ModelHandle, x: torch.Tensor, a: torch.Tensor, target: int,
                      batch_size: int = 64) -> torch.Tensor:
    """Score-CAM channel weights ``[K]`` for one image ``x`` [1, C, H, W] and its maps ``a`` [1, K, h, w].

    Each map, upsampled (bilinear, corners aligned) and scaled to 0..1, multiplies the input; the
    target logits of the K masked copies (in batches of ``batch_size``) go through a softmax.
    """
    up = F.interpolate(a, size=x.shape[-2:], mode="bilinear", align_corners=True)[0]  # K, H, W
    flat = up.flatten(1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    up = (up - lo) / (hi - lo + 1e-8)
    scores = []
    with torch.inference_mode():
        for i in range(0, len(up), batch_size):
            scores.append(m.logits(x * up[i:i + batch_size, None])[:, target])
    return torch.softmax(torch.cat(scores), 0)


# ============================================================== the network after a layer (Ablation-CAM)
class _Split:
    """A traced model cut at one layer call: ``head(x)`` -> (layer output, values the tail needs), and
    ``tail(act, *values)`` -> logits. Both are GraphModules sharing the model's layers (nothing is copied
    or changed in the model)."""

    def __init__(self, module: torch.nn.Module, key: str):
        try:
            parts = split_at(module, key)
        except CutError as e:
            raise AttributionError(str(e)) from None
        if parts is None:
            raise AttributionError("Ablation-CAM runs the network after the layer on its own, which needs a model "
                                   "torch.fx can trace; this one does not. Use Score-CAM (forward passes only).")
        self.head, self.tail = parts


_splits: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, _Split]] = weakref.WeakKeyDictionary()
_split_lock = threading.Lock()


def _split(module: torch.nn.Module, key: str) -> _Split:
    with _split_lock:
        per = _splits.setdefault(module, {})
        if key not in per:
            per[key] = _Split(module, key)
        return per[key]


def ablation_cam_weights(m: ModelHandle, x: torch.Tensor, layer: str, target: int,
                         batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Ablation-CAM channel weights ``[K]`` for one image, and the layer's maps ``[1, K, h, w]``.

    Channel k of the layer's output is set to 0 (to ``min - 1e7`` when the layer is signed, as
    pytorch-grad-cam does) and only the rest of the network runs, on batches of ablated copies.
    Weight = ``(score - score_without_k) / score``.
    """
    sp = _split(m.module, _layer_key(layer))
    with torch.inference_mode():
        a, vals = sp.head(x)
        base = sp.tail(a, *vals)[0, target]
        value = 0.0 if float(a.min()) == 0 else float(a.min()) - ABLATION_VALUE
        k = a.shape[1]
        scores = []
        for i in range(0, k, batch_size):
            idx = torch.arange(i, min(k, i + batch_size), device=a.device)
            ab = a.expand(len(idx), *a.shape[1:]).clone()
            ab[torch.arange(len(idx), device=a.device), idx] = value
            rep = [v.expand(len(idx), *v.shape[1:]) if isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == 1
                   else v for v in vals]
            scores.append(sp.tail(ab, *rep)[:, target])
    return (base - torch.cat(scores)) / base, a


def layer_cams(m: ModelHandle, x: torch.Tensor, target: int | None, kind: str, layer: str,
               batch_size: int = 64) -> tuple[torch.Tensor, int]:
    """The signed CAM ``[N, h, w]`` (before the ReLU) of ``layer`` for each image of batch ``x``, and the class.

    Args:
        target: the class; None: the class predicted for the first image.
        kind: one of :data:`CAM_KINDS`.
        batch_size: forward passes per batch for Score-CAM and Ablation-CAM.

    Examples::

        >>> cams, t = layer_cams(m, x, None, "layercam", "features.3")
        >>> cams.shape
        torch.Size([1, 10, 10])
    """
    if kind not in CAM_KINDS:
        raise AttributionError(f"unknown CAM {kind!r}; choose one of {list(CAM_KINDS)}")
    if kind in GRADIENT_CAMS:
        lg = LayerGradients(m, layer)
        a, g, _ = lg(x, target)
        return weights_from_gradients(kind, a, g), lg.target
    LayerGradients(m, layer)  # the same clear error for a layer that is not in the model
    if kind == "eigencam":
        a, logits = _acts(m, x, layer)
        return eigen_projection(a), int(logits[0].argmax()) if target is None else target
    out, t = [], target
    for xi in x.split(1):
        if kind == "scorecam":
            a, logits = _acts(m, xi, layer)
            t = int(logits[0].argmax()) if t is None else t
            w = score_cam_weights(m, xi, a, t, batch_size)
        else:
            t = resolve_target(m, xi, t) if t is None else t
            w, a = ablation_cam_weights(m, xi, layer, t, batch_size)
        out.append((w.view(1, -1, 1, 1) * a).sum(1))
    return torch.cat(out), t


# ============================================================== one image: upsampling, TTA, several layers
def _up(c: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(c[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def _scale(c: torch.Tensor) -> torch.Tensor:
    """Each map of ``[N, H, W]`` shifted and scaled to 0..1 (pytorch-grad-cam's ``scale_cam_image``)."""
    flat = c.flatten(1)
    lo = flat.min(1).values[:, None, None]
    c = c - lo
    return c / (c.flatten(1).max(1).values[:, None, None] + 1e-7)


TTA = [(flip, f) for flip in (False, True) for f in (0.9, 1.0, 1.1)]  # ttach's HorizontalFlip x Multiply order


def cam(m: ModelHandle, img, target: int | str | None = None, kind: str = "gradcampp", layer: str | None = None,
        layers: Sequence[str] | None = None, aug_smooth: bool = False, batch_size: int = 64,
        progress: Callable[[float], None] | None = None) -> Attribution:
    """One CAM of one image, upsampled (bilinear) to the input size and kept where positive.

    Args:
        kind: one of :data:`CAM_KINDS`.
        layer: the conv layer (default the last one); ``layers``: several, averaged (each upsampled and
            scaled to 0..1 first, as pytorch-grad-cam does). The result is then 0..1.
        aug_smooth: average over 6 augmented copies (flip x brightness 0.9/1/1.1), each CAM scaled to 0..1
            and flipped back; run as one batch for the gradient methods. The result is then 0..1.
        batch_size: forward passes per batch (Score-CAM, Ablation-CAM).
        progress: called with the fraction of layers done.

    ``raw`` is the CAM at the layer's own resolution (single layer, no smoothing).

    Examples::

        >>> cam(m, img, kind="eigencam", layers=["features.0", "features.3"]).info["layers"]
        ['features.0', 'features.3']
    """
    x = _batch(m, img)
    names = list(layers) if layers else [layer or default_cam_layer(m)]
    t = None if target is None else resolve_target(m, x, target)
    if aug_smooth:
        t = resolve_target(m, x, None) if t is None else t
        xs = torch.cat([(xi.flip(-1) if flip else xi) * f for flip, f in TTA for xi in [x]])
    else:
        xs = x
    maps, raw = [], None
    for i, name in enumerate(names):
        c, t = layer_cams(m, xs, t, kind, name, batch_size)
        c = F.relu(c)
        if len(names) == 1 and not aug_smooth:
            raw = c[0]
            maps.append(_up(c, x.shape[-2:]))
        else:
            up = _scale(F.relu(_up(c, x.shape[-2:])))
            if aug_smooth:
                up = torch.stack([u.flip(-1) if flip else u for u, (flip, _) in zip(up, TTA)]).mean(0, keepdim=True)
                up = _scale(up) if len(names) > 1 else up
            maps.append(up)
        if progress is not None:
            progress((i + 1) / len(names))
    out = maps[0] if len(maps) == 1 else _scale(torch.stack(maps).mean(0))
    info = {"layer": names[0], "layers": names, "aug_smooth": aug_smooth}
    if raw is not None:
        info["layer_size"] = tuple(raw.shape)
    return Attribution(kind, t, out[0], raw, info)


def _method(kind: str) -> Callable[..., Attribution]:
    def run(m: ModelHandle, img, target: int | str | None = None, layer: str | None = None, **kw) -> Attribution:
        return cam(m, img, target, kind, layer, **kw)

    run.__name__ = kind
    run.__doc__ = f"{kind} of ``layer`` (default the last conv); see :func:`cam` for the options."
    return run


grad_cam_pp, xgrad_cam, layer_cam, hires_cam, score_cam, ablation_cam, eigen_cam = (
    _method(k) for k in CAM_KINDS[1:])
