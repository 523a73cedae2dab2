"""Random samples: ``n`` seeded draws of a pipeline on one image, and the model's answer on each.

Examples::

    >>> m = load_model("lenet5-mnist")
    >>> pipe = (step("rotate", degrees=30), step("noise", sigma=0.1))
    >>> batch = sample_batch(m, load_image("assets/samples/digit-6.png"), pipe, n=8, seed=0)
    >>> batch.labels[:3], batch.confidences[:3]
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from cnnviz.core.images import ImageSource
from cnnviz.core.model import ModelHandle
from cnnviz.methods.augmentation.errors import AugmentationError
from cnnviz.methods.augmentation.pipeline import Pipeline, build_transform
from cnnviz.methods.augmentation.pixels import image_tensor, predict_pixels, to_arrays
from cnnviz.methods.augmentation.transforms import Target

MAX_SAMPLES = 256

# v2 transforms draw from the global generator: one seeded section at a time, so sessions do not interleave
_RNG_LOCK = threading.Lock()


def _rng_devices(device: torch.device) -> list[int]:
    if device.type == "cuda":
        return [device.index if device.index is not None else torch.cuda.current_device()]
    return []


@dataclass
class AugmentedBatch:
    """N augmented samples of one image and the model's answer on each.

    Attributes:
        images: pixel-domain samples ``[N, C, H, W]`` (0..1) on the model's device.
        probs: softmax probabilities ``[N, classes]`` on the model's device.
        classes: the model's class names.
        clean_index: the model's top class on the unaugmented image.
        mixed: soft labels ``[N, classes]`` when the pipeline mixes images, else None.
        mix_labels: the two class indices that were mixed (image, partner), else None.
    """

    images: torch.Tensor
    probs: torch.Tensor
    classes: list[str]
    clean_index: int
    mixed: torch.Tensor | None = None
    mix_labels: tuple[int, int] | None = None

    @property
    def top_indices(self) -> list[int]:
        return self.probs.argmax(1).tolist()

    @property
    def labels(self) -> list[str]:
        return [self.classes[i] for i in self.top_indices]

    @property
    def confidences(self) -> list[float]:
        return self.probs.max(1).values.tolist()

    @property
    def kept_fraction(self) -> float:
        """Fraction of samples whose top class is the clean image's top class."""
        return float((self.probs.argmax(1) == self.clean_index).float().mean())

    def mixed_labels(self, k: int = 2) -> list[list[tuple[str, float]]] | None:
        """The ``k`` largest components of each sample's soft label, e.g. ``[("6", 0.7), ("3", 0.3)]``."""
        if self.mixed is None:
            return None
        top = self.mixed.topk(min(k, self.mixed.shape[1]), dim=1)
        return [[(self.classes[i], float(p)) for p, i in zip(ps, ix, strict=True) if p > 1e-4]
                for ps, ix in zip(top.values.tolist(), top.indices.tolist(), strict=True)]

    def arrays(self) -> list[np.ndarray]:
        return to_arrays(self.images)


def apply_pipeline(transforms: list[v2.Transform], steps: Pipeline, a: torch.Tensor, b: torch.Tensor | None,
                   labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One draw of the built ``transforms`` (of ``steps``) on image ``a``: the sample and its soft label (or None).

    ``b`` is the partner of a mixing step (MixUp/CutMix); only the first mixing step is applied.
    """
    soft = None
    mixed_once = False
    for t, s in zip(transforms, steps, strict=True):
        if s.spec.mixing:
            if mixed_once:
                continue
            # v2.MixUp/CutMix pair image i with image i-1 of the batch: [a, b] -> a mixed with b
            imgs, lab = t(torch.stack([a, b]), labels)
            a, soft, mixed_once = imgs[0], lab[0], True
        else:
            a = t(a)
            if b is not None and not mixed_once:
                b = t(b)  # the partner gets its own draw of the per-image transforms, as in a training batch
    return a, soft


def _mix_partner(model: ModelHandle, x0: torch.Tensor, second_image: ImageSource | torch.Tensor | None,
                 labels: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The partner image of a mixing pipeline and the class indices ``[image, partner]`` of the mixed label."""
    if second_image is None:
        raise AugmentationError("the pipeline mixes images (MixUp/CutMix) but no second_image was given; "
                                "pass the partner image")
    x1 = image_tensor(model, second_image)
    if labels is None:
        # the mixed label needs the classes of both clean images before mixing: the model's own answer
        labels = tuple(predict_pixels(model, torch.stack([x0, x1])).argmax(1).tolist())
    return x1, torch.tensor(list(labels), dtype=torch.int64, device=model.device)


def sample_batch(model: ModelHandle, image: ImageSource | torch.Tensor, pipeline: Pipeline, n: int = 16, seed: int = 0,
                 second_image: ImageSource | torch.Tensor | None = None,
                 labels: tuple[int, int] | None = None) -> AugmentedBatch:
    """``n`` random augmentations of ``image``, each with its own draw, and the model's prediction on each.

    The draws are reproducible: the same ``seed`` gives the same samples, and the global random state
    is left as it was. The samples run through the model in one batched forward pass on its device.

    Args:
        model: the model.
        image: the input (any image source, or a pixel-domain tensor ``[C, H, W]``).
        pipeline: the steps, applied in order.
        n: how many samples (1..256).
        seed: seed of the random draws.
        second_image: the partner image for MixUp/CutMix (required when the pipeline mixes).
        labels: class indices of ``image`` and ``second_image`` for the mixed label; default the model's
            top class on each clean image.

    Examples::

        >>> b = sample_batch(m, img, [step("rotate", degrees=45)], n=16, seed=1)
        >>> len(b.labels), b.images.shape
    """
    if not 1 <= n <= MAX_SAMPLES:
        raise AugmentationError(f"n must be between 1 and {MAX_SAMPLES} samples, got {n}")
    target = Target.of(model)
    x0 = image_tensor(model, image)
    steps = list(pipeline)
    mixing = any(s.spec.mixing for s in steps)
    x1, lab = _mix_partner(model, x0, second_image, labels) if mixing else (None, None)
    transforms = [build_transform(s, target) for s in steps]
    outs, softs = [], []
    # seeded inside fork_rng, so the global random state is restored afterwards
    with _RNG_LOCK, torch.random.fork_rng(devices=_rng_devices(model.device)):
        torch.manual_seed(seed)
        for _ in range(n):
            a, soft = apply_pipeline(transforms, steps, x0, x1, lab)
            if a.shape[-2:] != (target.height, target.width):
                a = TF.resize(a, [target.height, target.width], antialias=True)
            outs.append(a.clamp(0, 1))
            softs.append(soft)
    # the clean image rides along: one forward pass for clean + all samples
    probs = predict_pixels(model, torch.stack([x0, *outs]))
    mixed = torch.stack(softs).to(probs.device) if mixing else None
    pair = tuple(int(v) for v in lab.tolist()) if lab is not None else None
    return AugmentedBatch(torch.stack(outs), probs[1:], list(model.classes), int(probs[0].argmax()), mixed, pair)
