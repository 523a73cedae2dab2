"""Attribution: which input pixels drive a class score (no Streamlit here).

Methods (one function each, all returning an :class:`Attribution` on the model's device):

* :func:`saliency` -- the gradient of the class score w.r.t. the input, max |grad| over
  colour channels (Simonyan et al., 2014);
* :func:`smoothgrad` -- saliency averaged over noisy copies of the input (Smilkov et al., 2017);
* :func:`integrated_gradients` -- gradients integrated along a path from a black image
  (Sundararajan et al., 2017; Captum's implementation);
* :func:`grad_cam` -- a conv layer's maps weighted by their average gradient (Selvaraju
  et al., 2017); one forward and one backward pass that stops at the layer;
* :func:`guided_backprop` and :func:`guided_grad_cam` -- ReLU backward passes only positive
  gradients, multiplied by Grad-CAM;
* :func:`occlusion` -- the drop of the class score when a grey patch hides each region
  (Zeiler and Fergus, 2014), batched on the device.

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

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from cnnviz.core.capture import capture, split_key
from cnnviz.errors import CnnvizError, LayerError

if TYPE_CHECKING:
    from cnnviz.core.model import ModelHandle


class AttributionError(CnnvizError):
    """A request no attribution method can serve (a class, patch or method that does not exist); a ``ValueError``."""


@dataclass
class Attribution:
    """One attribution map for one image and one target class.

    Attributes:
        method: the method key (see :data:`METHODS`).
        target: the class index explained.
        map: ``[H, W]`` at input resolution, on the device. Non-negative for gradient methods
            and Grad-CAM; signed for occlusion (negative: hiding the patch *raised* the score).
        raw: the method's own output before reduction to ``[H, W]`` (e.g. ``[C, H, W]`` input
            gradients, or Grad-CAM at the layer's resolution), when there is one.
        info: extra facts for the page (e.g. Integrated Gradients' convergence delta).
    """

    method: str
    target: int
    map: torch.Tensor
    raw: torch.Tensor | None = None
    info: dict = field(default_factory=dict)

    def heat(self) -> torch.Tensor:
        """The map scaled to 0..1 for display: positive evidence only, divided by its maximum."""
        pos = self.map.float().clamp_min(0)
        return pos / pos.max().clamp_min(1e-12)


# ============================================================== targets and inputs
def _batch(m: ModelHandle, img) -> torch.Tensor:
    x = m.preprocess(img)
    if x.ndim != 4 or x.shape[0] != 1:
        raise AttributionError(f"expected one image, got a batch of shape {tuple(x.shape)}; call once per image")
    return x.detach()


def resolve_target(m: ModelHandle, x: torch.Tensor, target: int | str | None = None) -> int:
    """The class index to explain: the predicted class (None), a class name, or an index.

    Examples::

        >>> resolve_target(m, x, "7")   # by name
        7
    """
    if target is None:
        return int(m.logits(x)[0].argmax())
    if isinstance(target, str):
        if target in m.classes:
            return m.classes.index(target)
        low = [c.lower() for c in m.classes]
        if target.lower() in low:
            return low.index(target.lower())
        raise AttributionError(f"class {target!r} is not one of {m.name}'s classes. Hint: m.classes lists them, "
                               f"e.g. {m.classes[:3]}")
    t = int(target)
    if not 0 <= t < len(m.classes):
        raise AttributionError(f"class index {t} out of range: {m.name} has {len(m.classes)} classes "
                               f"(0..{len(m.classes) - 1})")
    return t


def _score(logits: torch.Tensor, target: int) -> torch.Tensor:
    return logits[:, target].sum()


# ============================================================== gradients
def _input_gradients(m: ModelHandle, x: torch.Tensor, target: int, batch_size: int = 32) -> torch.Tensor:
    """d score / d input for a batch ``x`` (in chunks of ``batch_size`` on the device)."""
    grads = []
    for i in range(0, len(x), batch_size):
        c = capture(m.module, x[i:i + batch_size], (), logits=True, grad_of=lambda c: _score(c.logits, target),
                    grad_input=True)
        grads.append(c.input_grad)
    return torch.cat(grads)


def saliency(m: ModelHandle, img, target: int | str | None = None) -> Attribution:
    """Vanilla gradient saliency: ``max_c |d score / d x_c|`` per pixel.

    Examples::

        >>> saliency(m, img).map.shape
        torch.Size([28, 28])
    """
    x = _batch(m, img)
    t = resolve_target(m, x, target)
    g = _input_gradients(m, x, t)[0]
    return Attribution("saliency", t, g.abs().amax(0), g)


def smoothgrad(m: ModelHandle, img, target: int | str | None = None, samples: int = 16,
               noise: float = 0.15, seed: int = 0) -> Attribution:
    """SmoothGrad: the mean of ``|gradient|`` over noisy copies, max over colour channels.

    Args:
        samples: noisy copies (run as batches on the device).
        noise: noise standard deviation as a fraction of the input's value range (0.1-0.2 in the paper).
        seed: the noise is reproducible, so a page rerun shows the same map.
    """
    x = _batch(m, img)
    t = resolve_target(m, x, target)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    sigma = noise * float(x.max() - x.min())
    xs = x + sigma * torch.randn((samples, *x.shape[1:]), generator=gen, device=x.device)
    g = _input_gradients(m, xs, t).abs().mean(0)
    return Attribution("smoothgrad", t, g.amax(0), g, {"samples": samples, "noise": noise})


def integrated_gradients(m: ModelHandle, img, target: int | str | None = None, steps: int = 32,
                         baseline: str = "black") -> Attribution:
    """Integrated Gradients from a baseline image (Captum), ``|sum over channels|`` per pixel.

    Args:
        steps: points on the path (Gauss-Legendre); more is more exact and slower.
        baseline: ``"black"`` (all-zero pixels) or ``"mean"`` (the normalised zero: the data set's mean colour).

    ``info["delta"]`` is the completeness error: attributions should sum to
    ``score(x) - score(baseline)``.
    """
    from captum.attr import IntegratedGradients

    x = _batch(m, img)
    t = resolve_target(m, x, target)
    if baseline == "black":
        mean = torch.tensor(m.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(m.std, device=x.device).view(1, -1, 1, 1)
        base = ((0 - mean) / std).expand_as(x)
    elif baseline == "mean":
        base = torch.zeros_like(x)
    else:
        raise AttributionError(f"baseline {baseline!r}: expected 'black' or 'mean'")
    with torch.inference_mode(False), torch.enable_grad():  # Captum IG only runs forward and autograd
        attr, delta = IntegratedGradients(m.module).attribute(
            x.clone(), base.clone(), target=t, n_steps=steps, internal_batch_size=steps, return_convergence_delta=True)
    a = attr[0].detach()
    return Attribution("ig", t, a.sum(0).abs(), a, {"delta": float(delta.abs().sum()), "steps": steps})


# ============================================================== Grad-CAM
def default_cam_layer(m: ModelHandle) -> str:
    """The last convolution: its maps are the most class-specific that still have a spatial layout."""
    convs = m.conv_layer_names()
    if not convs:
        raise AttributionError(f"{m.name} has no Conv2d layer, so Grad-CAM has no maps to weight. "
                               "Use saliency or occlusion.")
    return convs[-1]


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

    def __enter__(self) -> LayerGradients:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, x: torch.Tensor, target: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Layer output, d score / d output, and the logits, for batch ``x`` (``target`` None: the
        class predicted for the first image, from the same forward pass)."""
        picked: list[int] = []

        def objective(c):
            t = int(c.logits[0].argmax()) if target is None else target
            picked.append(t)
            return _score(c.logits, t)

        # a module called twice (a shared ReLU): its first call unless the key names another
        key = self.layer if split_key(self.layer)[1] is not None else f"{self.layer}#1"
        c = capture(self.m.module, x, [key], logits=True, grad_of=objective)
        k = next(iter(c.outputs))
        self.target = picked[0]
        return c.outputs[k].detach(), c.grads[k], c.logits.detach()


def cam_from(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Grad-CAM from a layer's maps ``[N, K, h, w]`` and their gradients: ``relu(sum_k mean(g_k) * A_k)``.

    Examples::

        >>> cam_from(torch.ones(1, 2, 2, 2), torch.tensor([1., -3.]).view(1, 2, 1, 1).expand(1, 2, 2, 2))
        tensor([[[0., 0.],
                 [0., 0.]]])
    """
    w = grads.mean((2, 3), keepdim=True)
    return F.relu((w * acts).sum(1))


def grad_cam(m: ModelHandle, img, target: int | str | None = None, layer: str | None = None,
             upsample: str = "bilinear") -> Attribution:
    """Grad-CAM of ``layer`` (default the last conv), upsampled to the input size.

    ``raw`` holds the map at the layer's own resolution (what Captum's LayerGradCam returns).
    """
    x = _batch(m, img)
    layer = layer or default_cam_layer(m)
    lg = LayerGradients(m, layer)
    # target None: the predicted class comes from the same forward pass, no extra one
    a, g, _ = lg(x, None if target is None else resolve_target(m, x, target))
    t = lg.target
    cam = cam_from(a, g)  # 1, h, w
    kw = {"align_corners": False} if upsample in ("bilinear", "bicubic") else {}
    up = F.interpolate(cam[:, None], size=x.shape[-2:], mode=upsample, **kw)[0, 0]
    return Attribution("gradcam", t, up, cam[0], {"layer": layer, "layer_size": tuple(cam.shape[-2:])})


# ============================================================== guided backprop
class _GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes only positive gradients at positive inputs (Springenberg et al.)."""

    @staticmethod
    def forward(ctx, inp):
        out = inp.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0)


def guided_relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU forward, guided backward (a plain function, so a traced graph can call it)."""
    return _GuidedReLU.apply(x)


def guided_backprop(m: ModelHandle, img, target: int | str | None = None) -> Attribution:
    """Guided backpropagation: every ``nn.ReLU`` passes back only positive gradients.

    Only ReLU *modules* are changed (as in Captum); ReLUs called as functions stay ordinary.
    """
    x = _batch(m, img)
    t = resolve_target(m, x, target)
    c = capture(m.module, x, (), logits=True, grad_of=lambda c: _score(c.logits, t), grad_input=True,
                replace={nn.ReLU: guided_relu})
    g = c.input_grad
    return Attribution("guided", t, g[0].abs().amax(0), g[0])


def guided_grad_cam(m: ModelHandle, img, target: int | str | None = None, layer: str | None = None,
                    upsample: str = "bilinear") -> Attribution:
    """Guided backprop times the upsampled Grad-CAM: fine detail, but only where the class is."""
    x = _batch(m, img)
    t = resolve_target(m, x, target)
    cam = grad_cam(m, x, t, layer, upsample)
    gb = guided_backprop(m, x, t)
    prod = gb.raw * cam.map[None]
    return Attribution("guided_gradcam", t, prod.abs().amax(0), prod, dict(cam.info))


# ============================================================== occlusion
def occlusion(m: ModelHandle, img, target: int | str | None = None, patch: int = 4, stride: int = 2,
              fill: float = 0.0, batch_size: int = 64, progress: Callable[[float], None] | None = None) -> Attribution:
    """Occlusion sensitivity: the drop of the class score (logit) when a square patch is filled with ``fill``.

    Each pixel gets the mean drop over the patches that cover it (Captum's convention, so the
    result equals ``captum.attr.Occlusion`` with the same window and stride). Patches are run
    as batches on the device, taking the model's lock per batch.

    Args:
        patch: side of the square patch in input pixels.
        stride: step between patch positions; ``stride > patch`` leaves pixels never covered (0).
        fill: the value in normalised input space; 0 is the data set's mean colour (grey).
        progress: called with the fraction done after each batch.
    """
    x = _batch(m, img)
    _, c, h, w = x.shape
    if not (1 <= patch <= min(h, w)) or stride < 1:
        raise AttributionError(f"patch {patch} / stride {stride}: need 1 <= patch <= {min(h, w)} and stride >= 1")
    t = resolve_target(m, x, target)
    ys = list(range(0, h - patch + 1, stride))
    xs = list(range(0, w - patch + 1, stride))
    pos = torch.tensor([(y, xx) for y in ys for xx in xs], device=x.device)
    base = m.logits(x)[0, t]
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    total = torch.zeros(h, w, device=x.device)
    count = torch.zeros(h, w, device=x.device)
    for i in range(0, len(pos), batch_size):
        p = pos[i:i + batch_size]
        rows = (ar_h[None] >= p[:, :1]) & (ar_h[None] < p[:, :1] + patch)  # b, h
        cols = (ar_w[None] >= p[:, 1:]) & (ar_w[None] < p[:, 1:] + patch)  # b, w
        mask = (rows[:, :, None] & cols[:, None, :]).float()  # b, h, w
        xo = x * (1 - mask[:, None]) + fill * mask[:, None]
        drop = base - m.logits(xo)[:, t]
        total += (drop[:, None, None] * mask).sum(0)
        count += mask.sum(0)
        if progress is not None:
            progress(min(1.0, (i + len(p)) / len(pos)))
    att = torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))
    return Attribution("occlusion", t, att, None, {"patch": patch, "stride": stride, "positions": len(pos),
                                                   "base_score": float(base)})


# ============================================================== deconvnet, DeepLIFT, GradientSHAP
def _deconv_relu_backward(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp(min=0)


class _DeconvReLU(torch.autograd.Function):
    """ReLU forward; backward passes the positive part of the incoming gradient, ignoring the forward mask
    (Zeiler and Fergus's deconvnet, as Captum's ``Deconvolution``)."""

    @staticmethod
    def forward(ctx, inp):
        return inp.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return _deconv_relu_backward(grad)


def deconv_relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU forward, deconvnet backward (a plain function, so a traced graph can call it)."""
    return _DeconvReLU.apply(x)


def deconvnet(m: ModelHandle, img, target: int | str | None = None) -> Attribution:
    """Zeiler-Fergus deconvnet: the class score sent back with every ``nn.ReLU`` rectifying the *signal*
    (not gated by the forward pass), max |value| over colour channels.

    Examples::

        >>> deconvnet(m, img).raw.shape
        torch.Size([1, 28, 28])
    """
    x = _batch(m, img)
    t = resolve_target(m, x, target)
    c = capture(m.module, x, (), logits=True, grad_of=lambda c: _score(c.logits, t), grad_input=True,
                replace={nn.ReLU: deconv_relu})
    g = c.input_grad
    return Attribution("deconvnet", t, g[0].abs().amax(0), g[0])


def _black(m: ModelHandle, x: torch.Tensor) -> torch.Tensor:
    """The all-black image in normalised space."""
    mean = torch.tensor(m.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(m.std, device=x.device).view(1, -1, 1, 1)
    return ((0 - mean) / std).expand_as(x).clone()


def deeplift(m: ModelHandle, img, target: int | str | None = None) -> Attribution:
    """DeepLIFT (Shrikumar et al., 2017; Captum's Rescale rule) from a black image; signed, summed over channels.

    Captum's DeepLift hooks the model's non-linearities, so it runs on the capture engine's private
    copy of the model (its hook twin, one call at a time), never on the shared model.
    ``info["delta"]``: the summation-to-delta error (attributions sum to ``score(x) - score(black)``).
    """
    from captum.attr import DeepLift

    from cnnviz.core.capture import hook_twin

    x = _batch(m, img)
    t = resolve_target(m, x, target)
    twin, lock = hook_twin(m.module)
    with lock, torch.inference_mode(False), torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(hooks|require gradients)", category=UserWarning)
        attr, delta = DeepLift(twin).attribute(x.clone(), _black(m, x), target=t, return_convergence_delta=True)
    a = attr[0].detach()
    return Attribution("deeplift", t, a.sum(0), a, {"delta": float(delta.abs().sum())})


def gradient_shap(m: ModelHandle, img, target: int | str | None = None, samples: int = 16, noise: float = 0.1,
                  seed: int = 0) -> Attribution:
    """GradientSHAP (Lundberg and Lee, 2017; Captum): expected gradients x (input - baseline) over random
    points between the image (with noise) and a baseline drawn from {black, mean colour}; signed, summed over
    channels.

    Args:
        samples: random points (one batch).
        noise: standard deviation of the noise added to the input (normalised units).
        seed: Captum draws from torch's and NumPy's global generators; they are seeded with ``seed`` and
            restored afterwards, so a rerun shows the same map.
    """
    import numpy as np
    from captum.attr import GradientShap

    x = _batch(m, img)
    t = resolve_target(m, x, target)
    bases = torch.cat([_black(m, x), torch.zeros_like(x)])
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


def _cam_method(kind: str) -> Callable[..., Attribution]:
    """A CAM of :mod:`cnnviz.methods.cams` as a method of :data:`METHODS` (imported when first run)."""

    def run(m: ModelHandle, img, target: int | str | None = None, layer: str | None = None, **kw) -> Attribution:
        from cnnviz.methods.cams import cam

        return cam(m, img, target, kind, layer, **kw)

    run.__name__ = kind
    return run


# ============================================================== registry and sanity check
@dataclass(frozen=True)
class MethodSpec:
    key: str
    label: str
    func: Callable[..., Attribution]
    uses_layer: bool
    note: str
    signed: bool = False  # shown on a diverging scale around zero (``signed_map``)


METHODS: dict[str, MethodSpec] = {s.key: s for s in [
    MethodSpec("saliency", "Gradient saliency", saliency, False,
               "max over colour channels of |d score / d pixel|: which pixels would change the score fastest."),
    MethodSpec("smoothgrad", "SmoothGrad", smoothgrad, False,
               "saliency averaged over noisy copies of the image: less speckle, same idea."),
    MethodSpec("ig", "Integrated Gradients", integrated_gradients, False,
               "gradients summed along a path from a black image to yours; they add up to the score difference."),
    MethodSpec("gradcam", "Grad-CAM", grad_cam, True,
               "a conv layer's maps weighted by their average gradient, kept where positive: coarse, class-specific."),
    MethodSpec("guided_gradcam", "Guided Grad-CAM", guided_grad_cam, True,
               "guided backprop (only positive gradients through ReLUs) times Grad-CAM: sharp edges, "
               "only where the class is."),
    MethodSpec("occlusion", "Occlusion", occlusion, False,
               "how much the class score drops when a grey patch hides each region; model-agnostic, "
               "one forward pass per patch.", signed=True),
    MethodSpec("deconvnet", "Deconvnet", deconvnet, False,
               "Zeiler and Fergus (2014): the score sent back through the network with every ReLU rectifying the "
               "signal itself; shows patterns the class responds to, much like guided backprop."),
    MethodSpec("deeplift", "DeepLIFT", deeplift, False,
               "each pixel's share of score(x) - score(black), by comparing every unit with its value on the black "
               "image; signed (red: for the class, blue: against).", signed=True),
    MethodSpec("gradientshap", "GradientSHAP", gradient_shap, False,
               "gradients at random points between noisy copies of the image and a baseline (black or mean "
               "colour), times the difference; an estimate of SHAP values, signed.", signed=True),
    MethodSpec("gradcampp", "Grad-CAM++", _cam_method("gradcampp"), True,
               "Grad-CAM with each map weighted by its positive gradients only, pixel by pixel: better when the "
               "class appears several times."),
    MethodSpec("xgradcam", "XGrad-CAM", _cam_method("xgradcam"), True,
               "Grad-CAM with gradients weighted by the normalised activations (an axiom-based weighting)."),
    MethodSpec("layercam", "Layer-CAM", _cam_method("layercam"), True,
               "each activation weighted by its own positive gradient (no averaging): finer maps, also on early "
               "layers."),
    MethodSpec("hirescam", "HiResCAM", _cam_method("hirescam"), True,
               "activations times gradients element-wise, summed: what the layer really contributes to the score "
               "for models ending in global average pooling."),
    MethodSpec("scorecam", "Score-CAM", _cam_method("scorecam"), True,
               "no gradients: each map masks the image, and the class score of the masked image is that map's "
               "weight; one forward pass per channel, batched."),
    MethodSpec("ablationcam", "Ablation-CAM", _cam_method("ablationcam"), True,
               "no gradients: each channel is switched off in turn and the relative drop of the score is its "
               "weight; only the layers after the CAM layer run, batched."),
    MethodSpec("eigencam", "Eigen-CAM", _cam_method("eigencam"), True,
               "the first principal component of the layer's maps: no gradients and NOT class-specific (it shows "
               "what the layer responds to most)."),
]}


def attribute(m: ModelHandle, img, method: str, target: int | str | None = None, **params) -> Attribution:
    """Run one method by key (see :data:`METHODS`), passing method-specific ``params`` through.

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

    Grad-CAM methods use the last convolution; occlusion a patch of about 1/7 of the input side
    with half that stride (about 13 x 13 positions, whatever the input size).

    Examples::

        >>> default_params(load_model("lenet5-mnist"), "occlusion")
        {'patch': 4, 'stride': 2}
    """
    side = min(m.input_size[1:])
    convs = m.conv_layer_names()
    cam = {"layer": convs[-1]} if convs else {}
    return {**{k: cam for k, s in METHODS.items() if s.uses_layer},
            "ig": {"steps": 16}, "smoothgrad": {"samples": 16, "noise": 0.15},
            "occlusion": {"patch": max(2, side // 7), "stride": max(1, side // 14)}}.get(method, {})


def occlusion_positions(size: tuple[int, int], patch: int, stride: int) -> int:
    """How many patch positions (one forward pass each) :func:`occlusion` runs on an input of ``size`` (H, W).

    Examples::

        >>> occlusion_positions((28, 28), patch=4, stride=4)   # (28 - 4) // 4 + 1 = 7 a side
        49
    """
    h, w = size
    return max(0, (h - patch) // stride + 1) * max(0, (w - patch) // stride + 1)


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 with ties given their average rank (as in scipy.stats.rankdata, minus one)."""
    _, inv, counts = torch.unique(v, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return ((ends - counts.double() + ends - 1) / 2)[inv]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two maps, ties averaged (Adebayo et al. compare maps this way).

    Ties matter: Integrated Gradients is exactly zero wherever the input equals the baseline
    (the black background of a digit), for any weights.

    Examples::

        >>> rank_correlation(torch.tensor([1., 2., 3.]), torch.tensor([10., 20., 30.]))
        1.0
        >>> round(rank_correlation(torch.tensor([0., 0., 0., 1.]), torch.tensor([0., 0., 1., 0.])), 4)
        -0.3333
    """
    ra, rb = _ranks(a.flatten().float()), _ranks(b.flatten().float())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12))


def signed_map(a: Attribution) -> torch.Tensor:
    """The map to draw: signed (summed over colour channels) for signed methods (:attr:`MethodSpec.signed`:
    Integrated Gradients' raw attributions, DeepLIFT, GradientSHAP, occlusion), ``a.map`` otherwise.

    Examples::

        >>> signed_map(attribute(m, img, "deeplift")).min() < 0
        tensor(True)
    """
    if a.method == "ig" and a.raw is not None and a.raw.ndim == 3:
        return a.raw.sum(0)
    return a.map


def is_signed(method: str) -> bool:
    """Whether ``method``'s map has a meaningful sign (drawn on a diverging scale)."""
    return method == "ig" or (method in METHODS and METHODS[method].signed)
