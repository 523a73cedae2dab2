"""The bundled digit-detector: precision and recall at IoU 0.5 with the right label on held-out canvases of
bundled test digits at sizes it was not trained on (it trained on 96-160 px), detect() on odd sizes, errors,
the RPN's insides, and a tiny training run that gives the same weights twice."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import cnnviz
from cnnviz.errors import CnnvizError
from cnnviz.methods.detection import (
    Detection,
    box_iou,
    detect,
    load_detector,
    make_canvas,
    make_canvases,
    match,
    precision_recall,
    rpn_view,
)
from cnnviz.methods.detection.training import main as train_main

SEED = 77  # not the card's evaluation seed: fresh held-out canvases


@pytest.fixture(scope="module")
def model():
    return load_detector("cpu")


@pytest.mark.parametrize(("size", "count", "n_objects"), [(64, 100, (1, 3)), (240, 8, (3, 7))])
def test_precision_and_recall_on_unseen_sizes(model, size, count, n_objects):
    canvases = make_canvases(count, size, n_objects, "mnist", "test", seed=SEED)
    pr = precision_recall(model, canvases)
    assert pr.objects >= count
    assert pr.precision >= 0.9 and pr.recall >= 0.9, (size, pr)


def test_match_by_hand():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    dets = [Detection((0, 0, 10, 9), 3, 0.6),  # IoU 0.9 with box 0, right digit
            Detection((1, 0, 10, 10), 3, 0.9),  # better score: it takes box 0 first
            Detection((20, 0, 30, 10), 5, 0.8)]  # right place, wrong digit
    assert match(dets, truth, [3, 4]) == [None, 0, None]


def test_detect_on_a_56px_and_a_300x200_canvas(model):
    small = make_canvas(56, n_objects=1, seed=3)
    found = detect(model, small.image)
    assert found and found[0].label == small.labels[0] and found[0].name == str(small.labels[0])
    assert box_iou(torch.tensor([found[0].box]), torch.from_numpy(small.boxes)).item() >= 0.5
    wide = make_canvas((200, 300), n_objects=5, seed=4)
    found = detect("digit-detector", wide.image)
    right = sum(j is not None for j in match(found, wide.boxes, wide.labels))
    assert len(wide.labels) == 5 and right >= 4 and len(found) <= 6  # about 94% right per digit at this size
    assert all(0 <= d.box[0] < d.box[2] <= 300 and 0 <= d.box[1] < d.box[3] <= 200 for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    assert cnnviz.detect is detect and cnnviz.Detection is Detection


def test_too_small_or_corrupt_input(model):
    with pytest.raises(CnnvizError, match="at least 56 px"):
        detect(model, np.zeros((55, 120), np.uint8))
    with pytest.raises(CnnvizError):
        detect(model, b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(CnnvizError):
        detect("no-such-detector", np.zeros((64, 64), np.uint8))


def test_rpn_view(model):
    c = make_canvas((100, 130), n_objects=3, seed=5)
    anchors, objectness, proposals, scores = rpn_view(model, c.image, top_n=20)
    rows, cols = 128 // 4, 160 // 4  # the canvas padded to multiples of 32, at stride 4
    assert anchors.shape == (rows * cols * 9, 4) and objectness.shape == (rows * cols * 9,)
    assert ((objectness >= 0) & (objectness <= 1)).all()
    assert proposals.shape == (20, 4) and scores.shape == (20,)
    assert (proposals[:, 2] <= 130).all() and (proposals[:, 3] <= 100).all()
    best = box_iou(torch.from_numpy(c.boxes), proposals).amax(1)
    assert (best >= 0.5).all()  # every digit has a good proposal


def test_training_is_reproducible(tmp_path):
    cards = [train_main(["--limit", "1", "--epochs", "1", "--seed", "3", "--out-dir", str(tmp_path / d)])
             for d in "ab"]
    a, b = (load_file(str(tmp_path / d / "digit-detector.safetensors")) for d in "ab")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    card = json.loads((tmp_path / "a" / "digit-detector.json").read_text())
    assert card["seed"] == 3 and card["parameters"] == cards[1]["parameters"] > 0
    assert {"command", "train_seconds", "held_out", "train_canvases"} <= card.keys()
