"""Class activation maps: a conv layer's maps ``A_k`` [K, h, w] weighted into one map, kept where positive.

Every CAM is ``relu(sum_k w_k * A_k)``, upsampled to the input; the methods differ only in the weights
(pytorch-grad-cam's shape: a base and one weighting per method). From the gradients ``g = dS/dA``:

* ``gradcam``   -- Grad-CAM (Selvaraju et al., 2017): ``w_k = mean(g_k)``;
* ``gradcampp`` -- Grad-CAM++ (Chattopadhay et al., 2018): positive gradients weighted by ``alpha_ij``;
* ``xgradcam``  -- XGrad-CAM (Fu et al., 2020): ``w_k = sum_ij g_ij A_ij / sum_ij A_ij``;
* ``layercam``  -- Layer-CAM (Jiang et al., 2021): ``relu(g)``, element-wise;
* ``hirescam``  -- HiResCAM (Draelos and Carin, 2020): ``g``, element-wise.

Without gradients:

* ``scorecam``    -- Score-CAM (Wang et al., 2020): each upsampled, min-max scaled map masks the input; the
  softmax over channels of the masked inputs' scores are the weights; the K forward passes run as batches;
* ``ablationcam`` -- Ablation-CAM (Desai and Ramaswamy, 2020): the relative score drop when one channel is
  ablated; only the network *after* the layer runs (:func:`cnnviz.core.graph.split_at`), on a batch of
  ablated copies of the layer's output;
* ``eigencam``    -- Eigen-CAM (Muhammad and Yeasin, 2020): the maps projected on their first principal
  component (not class-specific).

The formulas follow pytorch-grad-cam (the reference the tests compare with). Optional test-time augmentation
smoothing (``aug_smooth``: horizontal flip x brightness 0.9/1/1.1, as pytorch-grad-cam's ``aug_smooth``) and
an average over several layers (``layers=[...]``). Layer outputs and gradients come from the capture engine:
the shared model is never hooked or changed.

Examples::

    >>> import cnnviz
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> a = cam(m, cnnviz.load_image("assets/samples/digit-7.png"), kind="scorecam")
    >>> m.classes[a.target], tuple(a.map.shape), tuple(a.raw.shape)
    ('7', (28, 28), (10, 10))
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from cnnviz.core.capture import capture
from cnnviz.core.graph import CutError, split_at, split_key
from cnnviz.core.runtime import Progress, WeakMemo, report
from cnnviz.errors import LayerError
from cnnviz.methods.attribution.base import (
    Attribution,
    AttributionError,
    class_score,
    model_input,
    resolve_target,
)

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle

ABLATION_VALUE = 1e7  # pytorch-grad-cam's: an ablated channel of a signed layer goes this far below the minimum
TTA = [(flip, f) for flip in (False, True) for f in (0.9, 1.0, 1.1)]  # ttach's HorizontalFlip x Multiply order
UPSAMPLE = ("bilinear", "bicubic", "nearest", "nearest-exact", "area")


# ============================================================== the layer, its maps and their gradients
def default_cam_layer(m: ModelHandle) -> str:
    """The last convolution: its maps are the most class-specific that still have a spatial layout.

    Examples::

        >>> default_cam_layer(load_model("lenet5-mnist"))
        'features.3'
    """
    convs = m.conv_layer_names()
    if not convs:
        raise AttributionError(f"{m.name} has no Conv2d layer, so a CAM has no maps to weight. "
                               "Use saliency or occlusion.")
    return convs[-1]


def _first_call(layer: str) -> str:
    """The capture key of a layer's first call unless the key names another (a ResNet block's shared ReLU)."""
    return layer if split_key(layer)[1] is not None else f"{layer}#1"


class LayerGradients:
    """A layer's output and its gradient from one forward+backward pass (the capture engine).

    Only the part of the network after the layer is differentiated. Nothing is hooked, so it
    is safe to use from many threads; the ``with`` form is kept for code written against the
    earlier hook-owning version.

    Examples::

        >>> with LayerGradients(m, "features.3") as lg:
        ...     acts, grads, logits = lg(x, target=7)
        >>> acts.shape == grads.shape
        True
    """

    def __init__(self, m: ModelHandle, layer: str):
        if split_key(layer)[0] not in dict(m.module.named_modules()):
            raise LayerError(f"layer {layer!r} is not in {m.name}. Hint: m.conv_layer_names() lists conv layers")
        self.m, self.layer = m, layer
        self.target: int | None = None

    def __enter__(self) -> LayerGradients:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, x: torch.Tensor, target: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Layer output, d score / d output, and the logits, for batch ``x`` (``target`` None: the
        class predicted for the first image, from the same forward pass; it is then in ``self.target``)."""
        picked: list[int] = []

        def objective(c):
            t = int(c.logits[0].argmax()) if target is None else target
            picked.append(t)
            return class_score(c.logits, t)

        c = capture(self.m.module, x, [_first_call(self.layer)], logits=True, grad_of=objective)
        k = next(iter(c.outputs))
        self.target = picked[0]
        return c.outputs[k].detach(), c.grads[k], c.logits.detach()


def layer_output(m: ModelHandle, x: torch.Tensor, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer's output ``[N, K, h, w]`` (its first call) and the logits for batch ``x``, no gradients.

    Examples::

        >>> a, logits = layer_output(m, x, "features.3"); a.shape
        torch.Size([1, 16, 10, 10])
    """
    c = capture(m.module, x, [_first_call(layer)], logits=True)
    return next(iter(c.outputs.values())), c.logits


# ============================================================== weights from gradients (one function per CAM)
def grad_cam_weights(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Grad-CAM: each map's mean gradient, ``[N, K, 1, 1]``."""
    return g.mean((2, 3), keepdim=True)


def grad_cam_pp_weights(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++: positive gradients weighted by ``alpha = g^2 / (2 g^2 + sum(A) g^3)``, summed per map."""
    g2 = g * g
    s = a.sum((2, 3), keepdim=True)
    alpha = torch.where(g != 0, g2 / (2 * g2 + s * g2 * g + 1e-6), torch.zeros_like(g))
    return (F.relu(g) * alpha).sum((2, 3), keepdim=True)


def xgrad_cam_weights(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM: gradients weighted by the map normalised to sum 1, summed per map."""
    return (g * a / (a.sum((2, 3), keepdim=True) + 1e-7)).sum((2, 3), keepdim=True)


def layer_cam_weights(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Layer-CAM: each activation's own positive gradient (element-wise, ``[N, K, h, w]``)."""
    return F.relu(g)


def hires_cam_weights(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """HiResCAM: the gradient itself, element-wise."""
    return g


GRADIENT_CAMS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "gradcam": grad_cam_weights, "gradcampp": grad_cam_pp_weights, "xgradcam": xgrad_cam_weights,
    "layercam": layer_cam_weights, "hirescam": hires_cam_weights}


def gradient_cam(kind: str, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The signed CAM ``[N, h, w]`` (before the ReLU) of a gradient CAM: ``sum_k w_k * A_k``.

    Args:
        kind: one of :data:`GRADIENT_CAMS`.
        a: the layer's maps ``[N, K, h, w]``.
        g: d score / d maps, same shape.

    Examples::

        >>> a = torch.ones(1, 1, 1, 2); g = torch.tensor([[[[1., -1.]]]])
        >>> gradient_cam("hirescam", a, g), gradient_cam("layercam", a, g)
        (tensor([[[ 1., -1.]]]), tensor([[[1., 0.]]]))
    """
    if kind not in GRADIENT_CAMS:
        raise AttributionError(f"{kind!r} is not a gradient CAM; choose one of {list(GRADIENT_CAMS)}")
    return (GRADIENT_CAMS[kind](a, g) * a).sum(1)


def cam_from(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Grad-CAM from a layer's maps ``[N, K, h, w]`` and their gradients: ``relu(sum_k mean(g_k) * A_k)``.

    Examples::

        >>> cam_from(torch.ones(1, 2, 2, 2), torch.tensor([1., -3.]).view(1, 2, 1, 1).expand(1, 2, 2, 2))
        tensor([[[0., 0.],
                 [0., 0.]]])
    """
    return F.relu(gradient_cam("gradcam", acts, grads))


# ============================================================== without gradients
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
                      batch_size: int = 32) -> torch.Tensor:
    """Score-CAM channel weights ``[K]`` for one image ``x`` [1, C, H, W] and its maps ``a`` [1, K, h, w].

    Each map, upsampled (bilinear, corners aligned) and scaled to 0..1, multiplies the input; the
    target logits of the K masked copies (in batches of ``batch_size``) go through a softmax.
    """
    up = F.interpolate(a, size=x.shape[-2:], mode="bilinear", align_corners=True)[0]  # K, H, W
    flat = up.flatten(1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    up = (up - lo) / (hi - lo + 1e-8)
    # channels-last batches: the CPU convolutions run about 1.4x faster on them (same arithmetic, another
    # memory order; BENCHMARKS.md), and Score-CAM is K forward passes of the whole network
    scores = [m.logits((x * masks[:, None]).contiguous(memory_format=torch.channels_last))[:, target]
              for masks in up.split(batch_size)]
    return torch.softmax(torch.cat(scores), 0)


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


_SPLITS = WeakMemo(per_owner=16)  # module -> layer key -> its _Split; freed with the model


def ablation_cam_weights(m: ModelHandle, x: torch.Tensor, layer: str, target: int,
                         batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Ablation-CAM channel weights ``[K]`` for one image, and the layer's maps ``[1, K, h, w]``.

    Channel k of the layer's output is set to 0 (to ``min - 1e7`` when the layer is signed, as
    pytorch-grad-cam does) and only the rest of the network runs, on batches of ablated copies.
    Weight = ``(score - score_without_k) / score``.
    """
    key = _first_call(layer)
    sp = _SPLITS.get_or_compute(m.module, key, lambda: _Split(m.module, key))
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


# ============================================================== one layer, a batch of images: each CAM
LayerCam = Callable[["ModelHandle", torch.Tensor, "int | None", str, int], tuple[torch.Tensor, int]]


def _gradient_layer_cam(kind: str) -> LayerCam:
    def run(m: ModelHandle, x: torch.Tensor, target: int | None, layer: str, batch_size: int):
        lg = LayerGradients(m, layer)
        a, g, _ = lg(x, target)
        return gradient_cam(kind, a, g), lg.target

    return run


def _eigen_layer_cam(m: ModelHandle, x: torch.Tensor, target: int | None, layer: str, batch_size: int):
    a, logits = layer_output(m, x, layer)
    return eigen_projection(a), int(logits[0].argmax()) if target is None else target


def _score_layer_cam(m: ModelHandle, x: torch.Tensor, target: int | None, layer: str, batch_size: int):
    out, t = [], target
    for xi in x.split(1):
        a, logits = layer_output(m, xi, layer)
        t = int(logits[0].argmax()) if t is None else t
        out.append((score_cam_weights(m, xi, a, t, batch_size).view(1, -1, 1, 1) * a).sum(1))
    return torch.cat(out), t


def _ablation_layer_cam(m: ModelHandle, x: torch.Tensor, target: int | None, layer: str, batch_size: int):
    out, t = [], target
    for xi in x.split(1):
        t = resolve_target(m, xi, None) if t is None else t
        w, a = ablation_cam_weights(m, xi, layer, t, batch_size)
        out.append((w.view(1, -1, 1, 1) * a).sum(1))
    return torch.cat(out), t


LAYER_CAMS: dict[str, LayerCam] = {**{k: _gradient_layer_cam(k) for k in GRADIENT_CAMS},
                                   "scorecam": _score_layer_cam, "ablationcam": _ablation_layer_cam,
                                   "eigencam": _eigen_layer_cam}
CAM_KINDS = tuple(LAYER_CAMS)


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
    if kind not in LAYER_CAMS:
        raise AttributionError(f"unknown CAM {kind!r}; choose one of {list(CAM_KINDS)}")
    LayerGradients(m, layer)  # the same clear error for a layer that is not in the model, whatever the CAM
    return LAYER_CAMS[kind](m, x, target, layer, batch_size)


# ============================================================== one image: upsampling, TTA, several layers
def _up(c: torch.Tensor, size: Sequence[int], mode: str) -> torch.Tensor:
    kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(c[:, None], size=tuple(size), mode=mode, **kw)[:, 0]


def _scale(c: torch.Tensor) -> torch.Tensor:
    """Each map of ``[N, H, W]`` shifted and scaled to 0..1 (pytorch-grad-cam's ``scale_cam_image``)."""
    c = c - c.flatten(1).min(1).values[:, None, None]
    return c / (c.flatten(1).max(1).values[:, None, None] + 1e-7)


def cam(m: ModelHandle, img, target: int | str | None = None, kind: str = "gradcampp", layer: str | None = None,
        layers: Sequence[str] | None = None, aug_smooth: bool = False, batch_size: int = 32,
        upsample: str = "bilinear", progress: Progress | None = None) -> Attribution:
    """One CAM of one image, upsampled to the input size and kept where positive.

    Args:
        kind: one of :data:`CAM_KINDS`.
        layer: the conv layer (default the last one); ``layers``: several, averaged (each upsampled and
            scaled to 0..1 first, as pytorch-grad-cam does). The result is then 0..1.
        aug_smooth: average over 6 augmented copies (flip x brightness 0.9/1/1.1), each CAM scaled to 0..1
            and flipped back; run as one batch for the gradient methods. The result is then 0..1.
        batch_size: forward passes per batch (Score-CAM, Ablation-CAM).
        upsample: the interpolation to the input size, one of :data:`UPSAMPLE`.
        progress: ``progress(fraction, text)`` after each layer (:func:`cnnviz.core.runtime.report`).

    ``raw`` is the CAM at the layer's own resolution (single layer, no smoothing).

    Examples::

        >>> cam(m, img, kind="eigencam", layers=["features.0", "features.3"]).info["layers"]
        ['features.0', 'features.3']
    """
    if upsample not in UPSAMPLE:
        raise AttributionError(f"upsample {upsample!r}: expected one of {list(UPSAMPLE)}")
    x = model_input(m, img)
    names = list(layers) if layers else [layer or default_cam_layer(m)]
    t = None if target is None else resolve_target(m, x, target)
    if aug_smooth:
        t = resolve_target(m, x, None) if t is None else t
        xs = torch.cat([(x.flip(-1) if flip else x) * f for flip, f in TTA])
    else:
        xs = x
    maps, raw = [], None
    for i, name in enumerate(names):
        c, t = layer_cams(m, xs, t, kind, name, batch_size)
        c = F.relu(c)
        if len(names) == 1 and not aug_smooth:
            raw = c[0]
            maps.append(_up(c, x.shape[-2:], upsample))
        else:
            up = _scale(F.relu(_up(c, x.shape[-2:], upsample)))
            if aug_smooth:
                up = torch.stack([u.flip(-1) if flip else u for u, (flip, _) in zip(up, TTA, strict=True)])
                up = up.mean(0, keepdim=True)
                up = _scale(up) if len(names) > 1 else up
            maps.append(up)
        report(progress, (i + 1) / len(names), f"{kind}: layer {name} done")
    out = maps[0] if len(maps) == 1 else _scale(torch.stack(maps).mean(0))
    info = {"layer": names[0], "layers": names, "aug_smooth": aug_smooth}
    if raw is not None:
        info["layer_size"] = tuple(raw.shape)
    return Attribution(kind, t, out[0], raw, info)


def grad_cam(m: ModelHandle, img, target: int | str | None = None, layer: str | None = None,
             upsample: str = "bilinear") -> Attribution:
    """Grad-CAM of ``layer`` (default the last conv), upsampled to the input size: :func:`cam` of kind
    ``"gradcam"``, one forward and one backward pass that stops at the layer.

    ``raw`` holds the map at the layer's own resolution (what Captum's LayerGradCam returns).

    Examples::

        >>> a = grad_cam(m, img, 7); a.info["layer"], tuple(a.raw.shape)
        ('features.3', (10, 10))
    """
    return cam(m, img, target, "gradcam", layer, upsample=upsample)
