"""The pixel domain the augmentations work in: float images in 0..1 at the size the model sees, on its device.

Normalisation with the model's mean/std is :meth:`ModelHandle.normalize` (the one normalisation of cnnviz),
applied last, so an image that no transform changed gives the probabilities of ``m.predict``.

Examples::

    >>> x = image_tensor(m, load_image("assets/samples/digit-6.png"))   # [1, 28, 28] in 0..1
    >>> predict_pixels(m, x[None]).argmax(1)
"""
from __future__ import annotations

import numpy as np
import torch

from cnnviz.core.images import ImageSource
from cnnviz.core.model import ModelHandle


def image_tensor(model: ModelHandle, image: ImageSource | torch.Tensor) -> torch.Tensor:
    """The image as the model sees it, before normalising: float ``[C, H, W]`` in 0..1 on the model's device.

    A tensor is taken as already prepared (``[C, H, W]`` in 0..1) and only moved to the device.
    """
    if isinstance(image, torch.Tensor):
        t = image.to(model.device)
        return (t[0] if t.ndim == 4 else t).float()
    arr = np.asarray(model.prepare_image(image), dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).to(model.device)
    t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
    return t.float().div_(255)


def normalize(model: ModelHandle, x: torch.Tensor) -> torch.Tensor:
    """Pixel-domain images (0..1) to the model's normalised input: ``model.normalize(x)``.

    Kept for code written against this module; new code calls :meth:`ModelHandle.normalize`.
    """
    return model.normalize(x)


def predict_pixels(model: ModelHandle, x: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities ``[N, classes]`` for pixel-domain images ``[N, C, H, W]``, one forward pass per 256."""
    return model.predict_batch(model.normalize(x.to(model.device)))


def to_arrays(x: torch.Tensor) -> list[np.ndarray]:
    """Pixel-domain images ``[N, C, H, W]`` to uint8 arrays (HxW or HxWx3) for display; one copy to the CPU."""
    arr = (x.detach().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [a[..., 0] if a.shape[2] == 1 else a for a in arr]
