"""What every attribution method shares: the result type, the error, the model input, the class explained,
and batched passes (no Streamlit here).

Every method of the package (gradients, modified backprop, CAMs, occlusion, reference methods) turns one
image into an :class:`Attribution` with these helpers, and :mod:`cnnviz.methods.faithfulness` scores maps
with them too.

Examples::

    >>> x = model_input(m, img)                 # [1, C, H, W] on the device
    >>> resolve_target(m, x, "7"), float(class_score(m.logits(x), 7)) > 0
    (7, True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from cnnviz.core.capture import capture
from cnnviz.errors import CnnvizError

if TYPE_CHECKING:
    from collections.abc import Callable

    from cnnviz.core.model import ModelHandle


class AttributionError(CnnvizError):
    """A request no attribution method can serve (a class, patch or method that does not exist); a ``ValueError``."""


@dataclass
class Attribution:
    """One attribution map for one image and one target class.

    Attributes:
        method: the method key (see :data:`cnnviz.methods.attribution.METHODS`).
        target: the class index explained.
        map: ``[H, W]`` at input resolution, on the device. Non-negative for gradient methods
            and CAMs; signed for occlusion, DeepLIFT and GradientSHAP (negative: evidence against the class).
        raw: the method's own output before reduction to ``[H, W]`` (e.g. ``[C, H, W]`` input
            gradients, or a CAM at the layer's resolution), when there is one.
        info: extra facts for the page (e.g. Integrated Gradients' convergence delta).
    """

    method: str
    target: int
    map: torch.Tensor
    raw: torch.Tensor | None = None
    info: dict = field(default_factory=dict)

    def heat(self) -> torch.Tensor:
        """The map scaled to 0..1 for display: positive evidence only, divided by its maximum.

        Examples::

            >>> Attribution("occlusion", 0, torch.tensor([[2.0, -1.0]])).heat()
            tensor([[1., 0.]])
        """
        pos = self.map.float().clamp_min(0)
        return pos / pos.max().clamp_min(1e-12)


def model_input(m: ModelHandle, img) -> torch.Tensor:
    """One image (a path's image, an array, or a normalised ``[C, H, W]`` / ``[1, C, H, W]`` tensor) as the
    detached batch ``[1, C, H, W]`` the model takes, on its device.

    Raises:
        AttributionError: ``img`` is a batch of several images.

    Examples::

        >>> model_input(m, img).shape
        torch.Size([1, 1, 28, 28])
    """
    x = m.preprocess(img)
    if x.ndim != 4 or x.shape[0] != 1:
        raise AttributionError(f"expected one image, got a batch of shape {tuple(x.shape)}; call once per image")
    return x.detach()


def resolve_target(m: ModelHandle, x: torch.Tensor, target: int | str | None = None) -> int:
    """The class index to explain: the predicted class (None), a class name (any case), or an index.

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


def class_score(logits: torch.Tensor, target: int) -> torch.Tensor:
    """The objective every gradient method differentiates: the target logit summed over the batch.

    Examples::

        >>> class_score(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), 1)
        tensor(6.)
    """
    return logits[:, target].sum()


def black_input(m: ModelHandle, x: torch.Tensor) -> torch.Tensor:
    """The all-black image in the model's normalised space, shaped like ``x`` (the reference image of
    Integrated Gradients, DeepLIFT and GradientSHAP).

    Examples::

        >>> round(float(black_input(m, x)[0, 0, 0, 0]), 4)   # (0 - 0.1307) / 0.3081 for MNIST
        -0.4242
    """
    return m.normalize(torch.zeros_like(x))


def input_gradients(m: ModelHandle, x: torch.Tensor, target: int, batch_size: int = 32,
                    replace: dict[type, Callable] | None = None) -> torch.Tensor:
    """``d score / d input`` for each image of a batch ``x``, in chunks of ``batch_size`` on the device.

    Args:
        replace: module type -> function used instead of such modules in the pass (guided backprop's ReLU);
            the capture engine applies it in its traced copy, never to the shared model.

    Examples::

        >>> input_gradients(m, x.expand(3, -1, -1, -1), 7).shape
        torch.Size([3, 1, 28, 28])
    """
    grads = [capture(m.module, chunk, (), logits=True, grad_of=lambda c: class_score(c.logits, target),
                     grad_input=True, replace=replace).input_grad
             for chunk in x.split(batch_size)]
    return torch.cat(grads)


def batched_logits(m: ModelHandle, xs: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The logits of a large batch ``xs``, run in chunks of ``batch_size`` (no gradients, on the device).

    Examples::

        >>> batched_logits(m, x.expand(600, -1, -1, -1)).shape   # three passes of at most 256
        torch.Size([600, 10])
    """
    return torch.cat([m.logits(chunk) for chunk in xs.split(batch_size)])


__all__ = ["Attribution", "AttributionError", "model_input", "resolve_target", "class_score", "black_input",
           "input_gradients", "batched_logits"]
