"""Feature visualisation by optimisation: images synthesized to excite a neuron, channel, layer or class.

The method of Olah, Mordvintsev and Schubert, "Feature Visualization" (Distill, 2017), done live
for any model and many objectives at once:

* the image is parameterised by a scaled Fourier spectrum (low frequencies dominate, so the
  optimiser does not fill the image with high-frequency noise) and, for RGB, a decorrelated
  colour space; a sigmoid keeps pixels in 0..1;
* at every step each batch slot gets its own random pad / jitter / scale / rotation (one
  ``affine_grid`` per sample), so only features robust to small transforms survive;
* Adam follows the gradient of the objective w.r.t. the parameterisation;
* a batch slot per objective: 32 channels of a layer are rendered in one optimisation;
* an optional diversity term pushes slots that share an objective apart (cosine similarity of
  a lower layer's activations), giving several different images of one channel.

``naive=True`` optimises plain pixels with no transforms: the noisy, adversarial-looking result
shows students why the regularisation matters.

Examples::

    >>> m = load_model("small-vgg-fashion")
    >>> res = render_channels(m, "features.7", range(8), steps=256)
    >>> res.images.shape
    torch.Size([8, 1, 28, 28])
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch.nn import functional as F

from cnnviz.core.capture import capture, split_key
from cnnviz.core.model import ModelHandle
from cnnviz.core.runtime import StopFlag, stopped
from cnnviz.errors import CnnvizError, LayerError

KINDS = ("neuron", "channel", "layer", "logit", "prob")
KIND_TITLES = {
    "neuron": "Neuron  layer[x, y, z]: one unit of a channel",
    "channel": "Channel  layer[:, :, z]: mean of a whole feature map",
    "layer": "Layer / DeepDream: sum of squares of a whole layer",
    "logit": "Class logit (before softmax)",
    "prob": "Class probability (after softmax)",
}

class SynthesisError(CnnvizError):
    """An objective or setting that cannot be optimised (the message says what to change)."""


class ObjectiveIndexError(SynthesisError, IndexError):
    """A channel or class number outside the layer or the model's classes (also an ``IndexError``)."""


# Lucid's colour correlation of ImageNet (square root of the covariance, by SVD), normalised.
_COLOR_SQRT = np.asarray([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR_CORRELATION = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


@dataclass(frozen=True)
class Objective:
    """What one image should excite.

    Attributes:
        kind: ``"neuron"``, ``"channel"``, ``"layer"`` (DeepDream), ``"logit"`` or ``"prob"``.
        layer: the layer name for the first three kinds.
        index: channel (neuron, channel) or class (logit, prob).
        y, x: the neuron's position in the channel's map; default its centre.
        sign: +1 to maximise, -1 to minimise (``-objective`` flips it).
    """

    kind: str
    layer: str | None = None
    index: int | None = None
    y: int | None = None
    x: int | None = None
    sign: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SynthesisError(f"unknown objective kind {self.kind!r}; use one of {KINDS}")
        if self.kind in ("neuron", "channel", "layer") and not self.layer:
            raise SynthesisError(f"a {self.kind} objective needs a layer name (see m.conv_layer_names())")
        if self.kind in ("neuron", "channel", "logit", "prob") and self.index is None:
            raise SynthesisError(f"a {self.kind} objective needs an index (the channel or class number)")

    def __neg__(self) -> Objective:
        return replace(self, sign=-self.sign)

    def label(self, classes: Sequence[str] | None = None) -> str:
        """A short human description, e.g. ``"-channel features.3[:, :, 5]"``."""
        s = "-" if self.sign < 0 else ""
        if self.kind == "neuron":
            pos = "centre" if self.y is None else f"{self.x}, {self.y}"
            return f"{s}neuron {self.layer}[{pos}, {self.index}]"
        if self.kind == "channel":
            return f"{s}channel {self.layer}[:, :, {self.index}]"
        if self.kind == "layer":
            return f"{s}DeepDream {self.layer}"
        name = classes[self.index] if classes is not None and self.index < len(classes) else str(self.index)
        return f"{s}{'logit' if self.kind == 'logit' else 'P'}({name})"

    def short(self, classes: Sequence[str] | None = None) -> str:
        """A caption under an image, e.g. ``"−ch 5"``, ``"ch 5 @(3,4)"``, ``"P cat"``."""
        s = "−" if self.sign < 0 else ""
        if self.kind == "channel":
            return f"{s}ch {self.index}"
        if self.kind == "neuron":
            return f"{s}ch {self.index} @({self.y},{self.x})"
        if self.kind == "layer":
            return f"{s}DeepDream"
        name = classes[self.index] if classes is not None and self.index < len(classes) else str(self.index)
        return f"{s}{'logit' if self.kind == 'logit' else 'P'} {name}"


def neuron(layer: str, channel: int, y: int | None = None, x: int | None = None) -> Objective:
    """The unit at (``y``, ``x``) (default the centre) of ``channel`` of ``layer``."""
    return Objective("neuron", layer, channel, y, x)


def channel(layer: str, index: int) -> Objective:
    """The mean of the whole feature map ``index`` of ``layer``."""
    return Objective("channel", layer, index)


def deepdream(layer: str) -> Objective:
    """The mean of squares of every activation of ``layer`` (DeepDream)."""
    return Objective("layer", layer)


def class_logit(index: int) -> Objective:
    return Objective("logit", None, index)


def class_probability(index: int) -> Objective:
    return Objective("prob", None, index)


def make_objectives(kind: str, layer: str | None = None, indices: Sequence[int] = (), y: int | None = None,
                    x: int | None = None, negative: bool = False, variants: int = 1) -> list[Objective]:
    """The batch slots for one request: an objective of ``kind`` per index (channels, or classes for
    ``"logit"``/``"prob"``; one DeepDream for ``"layer"``), flipped if ``negative``, each ``variants`` times.

    Examples::

        >>> [o.short() for o in make_objectives("channel", "features.3", [0, 1], negative=True, variants=2)]
        ['−ch 0', '−ch 0', '−ch 1', '−ch 1']
    """
    if kind == "layer":
        objs = [deepdream(layer)]
    elif kind in ("logit", "prob"):
        objs = [class_logit(c) if kind == "logit" else class_probability(c) for c in indices]
    elif kind in ("neuron", "channel"):
        objs = [neuron(layer, c, y, x) if kind == "neuron" else channel(layer, c) for c in indices]
    else:
        raise SynthesisError(f"unknown objective kind {kind!r}; use one of {KINDS}")
    if not objs:
        what = "class" if kind in ("logit", "prob") else "channel"
        raise SynthesisError(f"no {kind} objective: pick at least one {what}")
    return [-o if negative else o for o in objs for _ in range(max(1, variants))]


# --------------------------------------------------------------------------- parameterisation
def _freqs(h: int, w: int) -> np.ndarray:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


class ImageParam:
    """A batch of images ``[N, C, H, W]`` in 0..1 as a function of trainable tensors.

    Args:
        fourier: scaled Fourier spectrum (spectrum amplitude ~ 1/frequency) instead of pixels.
        decorrelate: for 3 channels, optimise in a decorrelated colour space.
        sd: standard deviation of the random start.
        generator: seeds the start (on the CPU, so every device starts from the same image).
    """

    def __init__(self, n: int, channels: int, h: int, w: int, device: torch.device, fourier: bool = True,
                 decorrelate: bool = True, sd: float = 0.01, decay_power: float = 1.0,
                 generator: torch.Generator | None = None):
        self.shape = (n, channels, h, w)
        self.fourier = fourier
        self.decorrelate = decorrelate and channels == 3
        if fourier:
            freqs = _freqs(h, w)
            init = torch.randn((n, channels, *freqs.shape, 2), generator=generator) * sd
            scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** decay_power
            self.scale = torch.tensor(scale, dtype=torch.float32, device=device)[None, None, ..., None]
        else:
            init = torch.randn(self.shape, generator=generator) * sd
        self.raw = init.to(device).requires_grad_(True)
        self.color = torch.tensor(COLOR_CORRELATION, device=device)

    @property
    def params(self) -> list[torch.Tensor]:
        return [self.raw]

    def __call__(self) -> torch.Tensor:
        n, c, h, w = self.shape
        if self.fourier:
            spec = torch.view_as_complex((self.scale * self.raw).contiguous())
            img = torch.fft.irfftn(spec, s=(h, w), norm="ortho") / 4.0
        else:
            img = self.raw
        if self.decorrelate:
            img = torch.einsum("nchw,dc->ndhw", img, self.color)
        return torch.sigmoid(img)


def random_transforms(x: torch.Tensor, generator: torch.Generator | None = None, pad: float = 12 / 224,
                      jitter: float = 12 / 224, scale: tuple[float, float] = (0.9, 1.1),
                      degrees: float = 10.0) -> torch.Tensor:
    """Each image of ``x`` (values 0..1) with its own random pad, jitter, scale and rotation.

    One per-sample ``affine_grid`` + ``grid_sample``: the output keeps the input size (so models
    with a fixed-size classifier still work); zooming out shows a mid-grey border, like Lucid's
    constant 0.5 padding.

    Args:
        pad: padding as a fraction of the image side (Lucid: 12 px of 224).
        jitter: largest translation, as a fraction of the side (Lucid: 8 + 4 px of 224).
        scale: range of the random scale factor.
        degrees: largest rotation either way.
    """
    n = x.shape[0]
    r = torch.rand(n, 4, generator=generator)
    s = scale[0] + (scale[1] - scale[0]) * r[:, 0]
    zoom = (1 + 2 * pad) / s
    ang = (r[:, 1] * 2 - 1) * math.radians(degrees)
    t = (r[:, 2:] * 2 - 1) * (2 * jitter)  # normalised units: the image spans 2
    cos, sin = torch.cos(ang) * zoom, torch.sin(ang) * zoom
    theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5


# --------------------------------------------------------------------------- evaluating objectives
def _forward_capture(model: ModelHandle, x: torch.Tensor, layers: set[str], need_logits: bool):
    """Run the model on ``x`` (which requires grad) through the capture engine: ({layer: output}, logits or None).

    Layers after the last needed one are not run unless the logits are needed.
    """
    mods = dict(model.module.named_modules())
    missing = [n for n in layers if split_key(n)[0] not in mods]
    if missing:
        raise LayerError(f"layer(s) {missing} not in model {model.name}. Hint: m.conv_layer_names() lists them")
    rec = capture(model.module, x, sorted(layers), logits=need_logits)
    return rec.outputs, rec.logits


@dataclass
class _Plan:
    """Objectives grouped for vectorised evaluation: (kind, layer) -> slot indices and their indices."""

    groups: list[tuple[str, str | None, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]
    signs: torch.Tensor
    layers: set[str]
    need_logits: bool


def _plan(objectives: Sequence[Objective], device: torch.device) -> _Plan:
    by: dict[tuple[str, str | None], list[int]] = {}
    for i, o in enumerate(objectives):
        by.setdefault((o.kind, o.layer), []).append(i)
    groups = []
    for (kind, layer), slots in by.items():
        idx = [objectives[i].index or 0 for i in slots]
        ys = [-1 if objectives[i].y is None else objectives[i].y for i in slots]
        xs = [-1 if objectives[i].x is None else objectives[i].x for i in slots]
        groups.append((kind, layer, *(torch.tensor(v, device=device, dtype=torch.long) for v in (slots, idx, ys, xs))))
    signs = torch.tensor([o.sign for o in objectives], device=device)
    layers = {o.layer for o in objectives if o.layer}
    need_logits = any(o.kind in ("logit", "prob") for o in objectives)
    return _Plan(groups, signs, layers, need_logits)


def _values(plan: _Plan, acts: dict[str, torch.Tensor], logits: torch.Tensor | None, n: int) -> torch.Tensor:
    """The objective value of every slot (before its sign), differentiable."""
    vals = torch.zeros(n, device=plan.signs.device)
    for kind, layer, slots, idx, ys, xs in plan.groups:
        if kind in ("logit", "prob"):
            out = logits[slots]
            if out.ndim != 2:
                raise SynthesisError(f"the model's output has shape {tuple(logits.shape)}; class objectives need "
                                     "[N, classes]: pick a channel objective")
            if int(idx.max()) >= out.shape[1]:
                raise ObjectiveIndexError(f"class {int(idx.max())} out of range: the model has {out.shape[1]} classes")
            out = out if kind == "logit" else torch.softmax(out, dim=1)
            v = out.gather(1, idx.view(-1, 1))[:, 0]
        else:
            a = acts[layer][slots]
            if a.ndim != 4:
                raise SynthesisError(f"layer {layer} gives outputs of shape {tuple(a.shape[1:])}; neuron, channel and "
                                 "layer objectives need a convolutional [C, H, W] map")
            if kind == "layer":
                v = a.pow(2).mean(dim=(1, 2, 3))
            else:
                if int(idx.max()) >= a.shape[1]:
                    raise ObjectiveIndexError(f"channel {int(idx.max())} out of range: layer {layer} has "
                                              f"{a.shape[1]} channels")
                maps = a[torch.arange(len(slots), device=a.device), idx]  # [S, H, W]
                if kind == "channel":
                    v = maps.mean(dim=(1, 2))
                else:
                    h, w = maps.shape[1:]
                    yy = torch.where(ys < 0, torch.full_like(ys, h // 2), ys).clamp(0, h - 1)
                    xx = torch.where(xs < 0, torch.full_like(xs, w // 2), xs).clamp(0, w - 1)
                    v = maps[torch.arange(len(slots), device=a.device), yy, xx]
        vals = vals.index_put((slots,), v.float())
    return vals


def evaluate(model: ModelHandle, objectives: Sequence[Objective], images01: torch.Tensor) -> torch.Tensor:
    """Each objective's value (sign included) on the matching image (values 0..1, ``[N, C, H, W]``).

    Examples::

        >>> evaluate(m, [channel("features.0", 3)], torch.rand(1, 1, 28, 28)).shape
        torch.Size([1])
    """
    if len(objectives) != len(images01):
        raise SynthesisError(f"{len(objectives)} objectives for {len(images01)} images: give one objective per image")
    plan = _plan(objectives, model.device)
    with torch.no_grad():
        acts, logits = _forward_capture(model, model.normalize(images01.to(model.device).float()), plan.layers,
                                        plan.need_logits)
        return (_values(plan, acts, logits, len(objectives)) * plan.signs).cpu()


def _diversity(acts: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of each slot's activations with the other slots of its group: [N].

    The whole activation tensor is compared (not Lucid's Gram matrices): on small images the
    layout of a feature, not only its texture, is what makes two images different.
    """
    n = acts.shape[0]
    g = F.normalize(acts.reshape(n, -1).float(), dim=1)
    sim = g @ g.t()
    same = (groups.view(-1, 1) == groups.view(1, -1)) & ~torch.eye(n, dtype=torch.bool, device=acts.device)
    return (sim * same).sum(1) / same.sum(1).clamp_min(1)


def default_diversity_layer(model: ModelHandle, objective: Objective) -> str:
    """The conv layer before the objective's layer (lower features differ more visibly); the
    objective's own layer when it is the first; the last conv layer for class objectives."""
    convs = model.conv_layer_names()
    if objective.layer is None:
        return convs[-1] if convs else model.layer_names()[-1]
    if objective.layer in convs and convs.index(objective.layer) > 0:
        return convs[convs.index(objective.layer) - 1]
    return objective.layer


# --------------------------------------------------------------------------- the optimisation
@dataclass
class SynthesisProgress:
    """Handed to the progress callback: the images so far (0..1, CPU) and the objective values."""

    step: int
    steps: int
    images: torch.Tensor
    values: torch.Tensor


@dataclass
class SynthesisResult:
    """Synthesized images (0..1, ``[N, C, H, W]``, CPU), their objectives and values.

    ``values`` are measured on the final images without transforms; ``start_values`` on the
    random starting images, for comparison.
    """

    images: torch.Tensor
    objectives: list[Objective]
    values: torch.Tensor
    start_values: torch.Tensor
    steps_done: int
    stopped: bool
    seconds: float
    naive: bool
    history: list[float] = field(default_factory=list)  # mean value per reported step

    def uint8(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 ``[H, W]`` or ``[H, W, 3]`` for display."""
        arr = (self.images[i].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        return arr[..., 0] if arr.shape[2] == 1 else arr

    def summary(self, device: str = "") -> str:
        """One caption line: steps, time, batch, and how far the objective rose from the random start.

        Examples::

            >>> res.summary("CPU")
            '48 steps in 8.4 s on CPU, 6 images in one batch. Objective (...): mean 1.78, up from -0.42 ...'
        """
        gain = float((self.values - self.start_values).mean())
        n = len(self.objectives)
        return (f"{self.steps_done} steps in {self.seconds:.1f} s{' on ' + device if device else ''}, {n} image"
                f"{'s' if n > 1 else ''} in one batch. Objective (on the final image, without transforms): mean "
                f"{float(self.values.mean()):.2f}, {'up' if gain >= 0 else 'DOWN'} from "
                f"{float(self.start_values.mean()):.2f} at the random start ({gain:+.2f})."
                + ("" if gain > 0 else " Try more steps."))


def synthesize(model: ModelHandle, objectives: Sequence[Objective], steps: int = 256, lr: float = 0.05,
               naive: bool = False, diversity: float = 0.0, diversity_layer: str | None = None,
               size: tuple[int, int] | None = None, seed: int = 0,
               progress: Callable[[SynthesisProgress], None] | None = None, every: int = 16,
               stop: StopFlag = None) -> SynthesisResult:
    """Optimise one image per objective, all in one batch, to maximise each objective.

    Args:
        model: any model; it runs on its own device.
        objectives: one per batch slot (use :func:`channel`, :func:`neuron`, :func:`deepdream`,
            :func:`class_logit`, :func:`class_probability`, and ``-obj`` to minimise).
        steps: Adam steps (256-512 give Distill-quality images).
        lr: Adam learning rate.
        naive: plain pixels, no transforms (to show why the regularisers matter).
        diversity: weight of the diversity term between slots that share an objective (0 = off).
            It is scaled by the mean objective magnitude, so 0.5-2 are sensible on every model.
        diversity_layer: the layer whose activations are compared between slots; default
            :func:`default_diversity_layer` of the first objective.
        size: image (height, width); default the model's input size. Only fully convolutional
            models accept another size.
        seed: seeds the start and the transforms.
        progress: called with the starting images (step 0), every ``every`` steps and at the end, with a
            :class:`SynthesisProgress`.
        stop: a ``threading.Event`` or a function returning True to stop early
            (:data:`cnnviz.core.runtime.StopFlag`).

    Examples::

        >>> res = synthesize(m, [channel("features.3", 5), -channel("features.3", 5)], steps=128)
        >>> bool(res.values[0] > res.start_values[0])
        True
    """
    objectives = list(objectives)
    if not objectives:
        raise SynthesisError("no objectives: give at least one, e.g. [channel('features.0', 0)]")
    if steps < 1:
        raise SynthesisError(f"steps must be at least 1, got {steps}")
    c, h, w = model.input_size
    if size is not None:
        h, w = size
    dev = model.device
    gen = torch.Generator().manual_seed(seed)
    param = ImageParam(len(objectives), c, h, w, dev, fourier=not naive, decorrelate=not naive, generator=gen)
    plan = _plan(objectives, dev)
    div_layer = None
    groups = None
    if diversity > 0 and len(objectives) > 1:
        keys = {}
        groups = torch.tensor([keys.setdefault((o.kind, o.layer, o.index, o.y, o.x, o.sign), len(keys))
                               for o in objectives], device=dev)
        div_layer = diversity_layer or default_diversity_layer(model, objectives[0])
    layers = plan.layers | ({div_layer} if div_layer else set())
    opt = torch.optim.Adam(param.params, lr=lr)
    t0 = time.perf_counter()
    with torch.no_grad():
        start_images = param().detach()
    try:
        start_values = evaluate(model, objectives, start_images)
    except RuntimeError as e:  # the first forward pass: a size the model's classifier cannot take
        raise SynthesisError(f"{model.name} cannot run on {h}×{w} images ({e}); use its input size "
                             f"{model.input_size[1]}×{model.input_size[2]}") from e
    history: list[float] = []
    done, halted = 0, False
    if progress is not None:  # the starting noise at once: a page shows images from the first moment
        progress(SynthesisProgress(0, steps, start_images.cpu(), start_values.detach().cpu()))
    for step in range(1, steps + 1):
        if stopped(stop):
            halted = True
            break
        x01 = param()
        if not naive:
            x01 = random_transforms(x01, gen)
        acts, logits = _forward_capture(model, model.normalize(x01), layers, plan.need_logits)
        vals = _values(plan, acts, logits, len(objectives)) * plan.signs
        loss = -vals.sum()
        if div_layer is not None:
            scale = vals.detach().abs().mean().clamp_min(1e-3)
            loss = loss + diversity * scale * _diversity(acts[div_layer], groups).sum()
        grads = torch.autograd.grad(loss, param.params)
        for p, g in zip(param.params, grads, strict=True):
            p.grad = g
        opt.step()
        done = step
        if progress is not None and (step % every == 0 or step == steps):
            history.append(float(vals.detach().mean()))
            with torch.no_grad():
                progress(SynthesisProgress(step, steps, param().detach().cpu(), vals.detach().cpu()))
    with torch.no_grad():
        final = param().detach()
    values = evaluate(model, objectives, final)
    return SynthesisResult(final.cpu(), objectives, values, start_values, done, halted,
                           time.perf_counter() - t0, naive, history)


def render_channels(model: ModelHandle, layer: str, channels: Iterable[int], steps: int = 256, neurons: bool = False,
                    negative: bool = False, **kw) -> SynthesisResult:
    """One image per channel of ``layer`` (channel or centre-neuron objectives), in one batch.

    Examples::

        >>> render_channels(m, "features.0", range(6), steps=64).images.shape[0]
        6
    """
    make = neuron if neurons else channel
    objs = [make(layer, int(ch)) for ch in channels]
    return synthesize(model, [-o for o in objs] if negative else objs, steps=steps, **kw)


def render_diverse(model: ModelHandle, objective: Objective, n: int = 4, steps: int = 256, diversity: float = 1.0,
                   **kw) -> SynthesisResult:
    """``n`` different images for one objective, pushed apart by the diversity term."""
    return synthesize(model, [objective] * n, steps=steps, diversity=diversity, **kw)


__all__ = ["SynthesisError", "ObjectiveIndexError", "make_objectives", "Objective", "neuron", "channel", "deepdream",
           "class_logit", "class_probability", "ImageParam", "random_transforms", "evaluate", "synthesize",
           "render_channels", "render_diverse", "SynthesisProgress", "SynthesisResult", "KINDS", "KIND_TITLES",
           "default_diversity_layer"]
