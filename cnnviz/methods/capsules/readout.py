"""What a trained CapsNet says about one image: its digit capsules, their lengths, and the decoder's picture of a
capsule whose 16 dimensions you move.

Examples::

    >>> m = load_model("capsnet-mnist")
    >>> r = read_capsules(m, load_image("assets/samples/digit-6.png"))
    >>> r.classes[r.predicted], r.lengths.shape, r.capsules.shape
    ('6', (10,), (10, 16))
    >>> img = perturb_decode(m, r.capsules, r.predicted, {3: 0.25})   # dimension 3 moved by +0.25
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cnnviz.core.capsnet import CapsNet, capsule_lengths
from cnnviz.core.images import ImageSource
from cnnviz.core.model import ModelHandle
from cnnviz.errors import CnnvizError
from cnnviz.methods.augmentation.pixels import image_tensor

PERTURBATION = 0.25  # the paper's range for each dimension (Fig. 4: -0.25..0.25 in steps of 0.05)


class NotACapsNetError(CnnvizError):
    """The model is not a capsule network, so it has no capsules to read."""


def as_capsnet(model: ModelHandle) -> CapsNet:
    """The model's :class:`CapsNet` module.

    Raises:
        NotACapsNetError: the model is another kind of network (load ``capsnet-mnist``).
    """
    if not isinstance(model.module, CapsNet):
        raise NotACapsNetError(f"{model.title} is not a capsule network; this needs capsnet-mnist "
                               "(cnnviz.load_model('capsnet-mnist')).")
    return model.module


@dataclass(frozen=True)
class CapsuleReadout:
    """One image through a CapsNet.

    Attributes:
        pixels: the 28x28 image the network sees, floats in 0..1.
        capsules: the 10 digit capsules (10, 16).
        lengths: their lengths (10,): the probability that each digit is present.
        predicted: the longest capsule's class index.
        reconstruction: the decoder's image (28x28, 0..1) from the predicted capsule alone.
        classes: the class names.
    """

    pixels: np.ndarray
    capsules: np.ndarray
    lengths: np.ndarray
    predicted: int
    reconstruction: np.ndarray
    classes: list[str]


@torch.no_grad()
def read_capsules(model: ModelHandle, image: ImageSource | torch.Tensor) -> CapsuleReadout:
    """The digit capsules, their lengths and the reconstruction of ``image`` (a picture or a [1, 28, 28] tensor
    of pixels in 0..1)."""
    net = as_capsnet(model)
    pixels = image_tensor(model, image)
    v = net.capsules(model.normalize(pixels[None]))
    lengths = capsule_lengths(v)[0]
    predicted = int(lengths.argmax())
    recon = net.decode(v, predicted)[0, 0]
    return CapsuleReadout(pixels[0].cpu().numpy(), v[0].cpu().numpy(), lengths.cpu().numpy(), predicted,
                          recon.cpu().numpy(), list(model.classes))


@torch.no_grad()
def perturb_decode(model: ModelHandle, capsules: np.ndarray | torch.Tensor, label: int,
                   deltas: Mapping[int, float] | Sequence[float]) -> np.ndarray:
    """The decoder's image (28x28, 0..1) from capsule ``label`` with ``deltas`` added to its dimensions (a list of
    16, or {dimension: delta}); every other capsule is masked, as in training."""
    net = as_capsnet(model)
    v = torch.as_tensor(np.asarray(capsules), dtype=torch.float32, device=model.device).clone()[None]
    items = deltas.items() if isinstance(deltas, Mapping) else enumerate(deltas)
    for d, delta in items:
        v[0, label, int(d)] += float(delta)
    return net.decode(v, label)[0, 0].cpu().numpy()


@torch.no_grad()
def dimension_sweep(model: ModelHandle, capsules: np.ndarray, label: int, dimension: int,
                    values: Sequence[float] = tuple(np.round(np.linspace(-PERTURBATION, PERTURBATION, 11), 2))
                    ) -> np.ndarray:
    """One row of the paper's Fig. 4: the reconstruction as ``dimension`` is moved through ``values``,
    (len(values), 28, 28)."""
    return np.stack([perturb_decode(model, capsules, label, {dimension: v}) for v in values])
