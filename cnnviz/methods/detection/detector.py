"""The bundled ``digit-detector``: torchvision's Faster R-CNN with a small backbone of our own.

Faster R-CNN in three parts, each a submodule of the torchvision model:

* ``backbone``: five 3x3 convolutions (two max-pools, then two dilated convolutions), one feature map
  at 1/4 of the canvas, 64 channels, each position seeing 74 pixels of the canvas;
* ``rpn``: the region proposal network: at every feature-map position 9 anchors (sizes 16, 28 and 44 px,
  height/width 1, 2 and 3, as digits are upright), each with an objectness score and a box correction;
* ``roi_heads``: RoIAlign cuts a 7x7 grid out of the feature map for each proposal, two dense layers
  classify it (background + the ten digits) and refine its box.

The transform normalises and pads but never rescales: a digit keeps its pixel size on any canvas, so
one model serves canvases of any size from 56 px up. torchvision is imported on first use only
(``import cnnviz`` stays light).

Examples::

    >>> from cnnviz.methods.detection import make_canvas
    >>> found = detect("digit-detector", make_canvas(128, seed=0).image)
    >>> [d.name for d in found]                                           # doctest: +SKIP
    ['7', '2', '1']
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnviz.core.device import pick_device
from cnnviz.core.images import load_image
from cnnviz.core.paths import MODELS_DIR
from cnnviz.core.weights import MissingWeightsError, load_state_into, read_state_dict
from cnnviz.methods.detection.errors import DetectionError
from cnnviz.methods.detection.ops import nms

NAME = "digit-detector"
WEIGHTS = MODELS_DIR / f"{NAME}.safetensors"
CLASSES = ["background"] + [str(d) for d in range(10)]  # label k > 0 is the digit k - 1
MIN_SIDE = 56
STRIDE = 4
ANCHOR_SIZES = (16, 28, 44)
ASPECT_RATIOS = (1.0, 2.0, 3.0)  # height / width
AGNOSTIC_NMS = 0.45  # detect(): of two detections overlapping more than this, whatever their digit, keep one


class DigitBackbone(nn.Sequential):
    """The feature extractor: ``[B, 1, H, W] -> [B, 64, H/4, W/4]``."""

    out_channels = 64

    def __init__(self) -> None:
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        super().__init__(
            nn.Conv2d(1, 32, 3, padding=1), relu(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), relu(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), relu(),
            nn.Conv2d(64, 64, 3, padding=2, dilation=2), relu(),
            nn.Conv2d(64, 64, 3, padding=4, dilation=4), relu(),
        )


@lru_cache(maxsize=1)
def _transform_class():
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    class NoResizeTransform(GeneralizedRCNNTransform):
        """Normalise and pad to a multiple of 32, never resize: digits keep their pixel size."""

        def resize(self, image, target=None):
            return image, target

    return NoResizeTransform


def build_detector(num_classes: int = len(CLASSES)) -> nn.Module:
    """A fresh (untrained) Faster R-CNN for grayscale canvases; ``num_classes`` counts the background."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    backbone = DigitBackbone()
    anchors = AnchorGenerator(sizes=(ANCHOR_SIZES,), aspect_ratios=(ASPECT_RATIOS,))
    roi = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    model = FasterRCNN(
        backbone, rpn_anchor_generator=anchors, box_roi_pool=roi,
        box_head=TwoMLPHead(backbone.out_channels * 7 * 7, 128), box_predictor=FastRCNNPredictor(128, num_classes),
        min_size=MIN_SIDE, max_size=4096, image_mean=[0.0], image_std=[1.0],
        rpn_pre_nms_top_n_train=1000, rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_train=300, rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128, box_batch_size_per_image=128, box_detections_per_img=50,
    )
    t = model.transform
    model.transform = _transform_class()(t.min_size, t.max_size, t.image_mean, t.image_std,
                                         size_divisible=t.size_divisible)
    return model


_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _load(device: str, path: str) -> nn.Module:
    model = build_detector()
    load_state_into(model, read_state_dict(path), f"the {NAME} (Faster R-CNN, 11 classes)")
    model.eval().requires_grad_(False)
    return model.to(device)


def load_detector(device: str | torch.device | None = None, path: str | Path | None = None) -> nn.Module:
    """The bundled detector in eval mode on ``device`` (default: the best available), shared: do not change it.

    Raises:
        MissingWeightsError: the weight file is missing (train it: ``python -m cnnviz.train digit-detector``).
    """
    path = Path(path or WEIGHTS)
    if not path.is_file():
        raise MissingWeightsError(f"{path} is missing; train it with `python -m cnnviz.train {NAME}`")
    dev = str(torch.device(device) if device is not None else pick_device())
    with _LOAD_LOCK:
        return _load(dev, str(path.resolve()))


@dataclass(frozen=True)
class Detection:
    """One object found: its box ``(x0, y0, x1, y1)`` in canvas pixels, its label (the digit), its score."""

    box: tuple[float, float, float, float]
    label: int
    score: float

    @property
    def name(self) -> str:
        """The label's name (``"7"``)."""
        return CLASSES[self.label + 1] if 0 <= self.label < len(CLASSES) - 1 else str(self.label)


def _model(model) -> nn.Module:
    if isinstance(model, str):
        if model != NAME:
            raise DetectionError(f"unknown detector {model!r}; the bundled one is {NAME!r}")
        return load_detector()
    return model


def canvas_tensor(image, device: str | torch.device = "cpu") -> torch.Tensor:
    """An image (PIL, uint8 array, path or bytes) as a ``[1, H, W]`` float tensor in [0, 1], grayscale.

    Raises:
        DetectionError: the image is under 56 px on a side (an ``ImageError`` when it is not an image at all).
    """
    if isinstance(image, torch.Tensor):
        t = image.float()
        t = t[None] if t.dim() == 2 else t
    else:
        img = load_image(image).convert("L")
        t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None]
    h, w = t.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise DetectionError(f"the image is {w}x{h} pixels; the detector needs at least {MIN_SIDE} px on each side "
                             "(digits are 20-44 px tall on its canvases). Use a larger canvas or pad the image.")
    return t.to(device)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def detect(model, image, score_threshold: float = 0.5) -> list[Detection]:
    """The digits on an image, by decreasing score.

    Args:
        model: the detector module (:func:`load_detector`, :func:`build_detector`) or ``"digit-detector"``.
        image: a PIL image, uint8 array (HxW or HxWx3), path or bytes, at least 56 px on each side; light
            digits on a dark background, as on the canvases.
        score_threshold: detections scoring less are dropped.

    Returns:
        :class:`Detection` s. Of detections overlapping with IoU above 0.45, whatever their digit, only the
        best scoring one is kept (one digit per place).

    Raises:
        DetectionError: the image is too small; ``ImageError`` (a ``CnnvizError``) for a file that is not an image.
    """
    model = _model(model)
    x = canvas_tensor(image, _device(model))
    if model.training:
        raise DetectionError("the detector is in training mode; call model.eval() first")
    with torch.inference_mode():
        out = model([x])[0]
    keep = out["scores"] >= score_threshold
    boxes, scores, labels = out["boxes"][keep].cpu(), out["scores"][keep].cpu(), out["labels"][keep].cpu()
    order = nms(boxes, scores, AGNOSTIC_NMS)
    return [Detection(tuple(float(v) for v in boxes[i].tolist()), int(labels[i]) - 1, float(scores[i]))
            for i in order.tolist()]


def rpn_view(model, image, top_n: int = 50) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inside the region proposal network, for one image.

    Returns:
        ``(anchors [A, 4], objectness [A], proposals [P, 4], proposal_scores [P])`` on the CPU: every anchor
        of the padded feature map (``A = rows * cols * 9``, in the order row, column, anchor: reshape to
        ``[rows, cols, 9, 4]``; ``rows, cols`` = the canvas padded to a multiple of 32, divided by 4), its
        objectness as a probability (sigmoid of the head's logit), and the best ``top_n`` proposals
        (anchors moved by the predicted corrections, clipped to the image, after the RPN's own NMS at IoU
        0.7) with their scores.
    """
    from torchvision.models.detection.rpn import concat_box_prediction_layers

    model = _model(model)
    x = canvas_tensor(image, _device(model))
    with torch.inference_mode():
        images, _ = model.transform([x])
        features = model.backbone(images.tensors)
        feats = [features] if isinstance(features, torch.Tensor) else list(features.values())
        rpn = model.rpn
        logits, deltas = rpn.head(feats)
        anchors = rpn.anchor_generator(images, feats)
        per_level = [int(o[0].numel()) for o in logits]
        logits, deltas = concat_box_prediction_layers(logits, deltas)
        proposals = rpn.box_coder.decode(deltas, anchors).view(1, -1, 4)
        boxes, scores = rpn.filter_proposals(proposals, logits, images.image_sizes, per_level)
    return (anchors[0].cpu(), torch.sigmoid(logits.reshape(-1)).cpu(),
            boxes[0][:top_n].cpu(), scores[0][:top_n].cpu())


__all__ = ["CLASSES", "Detection", "DigitBackbone", "build_detector", "canvas_tensor", "detect",
           "load_detector", "rpn_view"]
