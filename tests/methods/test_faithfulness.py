"""Faithfulness scores: deletion/insertion worked out by hand on a 4x4 linear model; Grad-CAM beats random maps."""
import math
import threading

import pytest
import torch
from torch import nn

from cnnviz.core.model import ModelHandle
from cnnviz.errors import CnnvizError
from cnnviz.methods import faithfulness as fa

W = torch.arange(1.0, 17.0)  # pixel i (raster order) has weight i + 1


def linear4(weights: torch.Tensor = W) -> ModelHandle:
    """4x4 one-channel input -> logits [w . x, 0] (no bias): the class-0 logit is a weighted pixel sum."""
    fc = nn.Linear(16, 2, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.stack([weights, torch.zeros(16)]))
    module = nn.Sequential(nn.Flatten(), fc).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return ModelHandle("linear4", module, torch.device("cpu"), ["a", "b"], (1, 4, 4), (0.0,), (1.0,), "linear4")


def sigmoid(s: float) -> float:
    return 1 / (1 + math.exp(-s))  # softmax([s, 0])[0]


ONES = torch.ones(1, 1, 4, 4)


def test_deletion_and_insertion_auc_by_hand():
    m = linear4()
    attr = W.view(4, 4)  # the true importance: pixel 16 first
    # deletion towards the mean (0): 4 pixels a step, the largest weights first
    #   logits 136, 136 - (16+15+14+13) = 78, 78 - 42 = 36, 36 - 26 = 10, 0
    dele = fa.perturbation_curve(m, ONES, attr, 0, "deletion", "mean", steps=4, score="logit")
    assert dele.fractions == [0.0, 0.25, 0.5, 0.75, 1.0] and dele.scores == [136.0, 78.0, 36.0, 10.0, 0.0]
    assert dele.auc == 0.25 * (136 / 2 + 78 + 36 + 10 + 0 / 2) == 48.0
    ins = fa.perturbation_curve(m, ONES, attr, 0, "insertion", "mean", steps=4, score="logit")
    assert ins.scores == [0.0, 58.0, 100.0, 126.0, 136.0] and ins.auc == 0.25 * (0 + 58 + 100 + 126 + 136 / 2) == 88.0
    # probabilities: softmax([s, 0])[0] = sigmoid(s)
    p = fa.perturbation_curve(m, ONES, attr, 0, "deletion", "mean", steps=4, score="prob")
    want = 0.25 * (sigmoid(136) / 2 + sigmoid(78) + sigmoid(36) + sigmoid(10) + sigmoid(0) / 2)
    assert p.auc == pytest.approx(want, abs=1e-6)
    # 3 steps of 16 pixels: round(16/3) = 5 and round(32/3) = 11 pixels; uneven trapezoids
    #   logits 136, 136 - (16+...+12) = 66, 66 - (11+...+6) = 15, 0
    un = fa.perturbation_curve(m, ONES, attr, 0, "deletion", "mean", steps=3, score="logit")
    assert un.fractions == [0.0, 5 / 16, 11 / 16, 1.0] and un.scores == [136.0, 66.0, 15.0, 0.0]
    assert un.auc == pytest.approx((5 * (136 + 66) + 6 * (66 + 15) + 5 * (15 + 0)) / 32)  # 49.09375
    # a baseline image of 0.5: each removed pixel loses half its weight
    half = fa.perturbation_curve(m, ONES, attr, 0, "deletion", torch.full_like(ONES, 0.5), steps=4, score="logit")
    assert half.scores == [136.0, 107.0, 86.0, 73.0, 68.0]
    # the reversed map deletes the least important first: a worse (higher) deletion AUC
    assert fa.perturbation_curve(m, ONES, -attr, 0, "deletion", "mean", 4, "logit").auc > dele.auc


def test_average_drop_and_increase_in_confidence_by_hand():
    m = linear4()
    x = 0.05 * ONES  # logit 0.05 * 136 = 6.8; keeping heat = w / 16 of it: 0.05 * sum(w^2) / 16 = 4.675
    drop, up = fa.confidence_change(m, x, W.view(4, 4), 0, "mean")
    assert drop == pytest.approx(100 * (sigmoid(6.8) - sigmoid(4.675)) / sigmoid(6.8), rel=1e-5) and not up
    # weights -7.5..7.5 on a white image: logit 0 (p = 1/2); the map keeps only the positive half, scaled by
    # relu(w) / 7.5: logit sum((k + 0.5)^2 for k < 8) / 7.5 = 170 / 7.5, so confidence rises and nothing drops
    m2 = linear4(W - 8.5)
    drop, up = fa.confidence_change(m2, ONES, (W - 8.5).view(4, 4), 0, "mean")
    assert drop == 0.0 and up
    # the negated map keeps the negative half instead: logit -170 / 7.5, so confidence falls from 1/2
    drop, up = fa.confidence_change(m2, ONES, (8.5 - W).view(4, 4), 0, "mean")
    assert drop == pytest.approx(100 * (0.5 - sigmoid(-170 / 7.5)) / 0.5, rel=1e-5) and not up

def test_leaderboard_flags_a_map_that_does_not_beat_random():
    m = linear4()
    lb = fa.leaderboard(m, ONES, baseline="mean", steps=8, maps={"truth": W.view(4, 4), "reversed": -W.view(4, 4)})
    assert [r.method for r in lb.rows] == ["truth", "reversed", "random"]
    truth, rev, rand = lb.rows
    assert truth.beats_random and not rev.beats_random and rand.beats_random is None
    assert truth.score == pytest.approx(truth.insertion_auc - truth.deletion_auc)
    assert truth.score > rand.score > rev.score
    assert set(lb.curves) == {"truth", "reversed", "random"} and len(lb.curves["truth"][0].scores) == 9


def _grad_cam_beats_random(m, steps: int) -> None:
    lb = fa.dataset_leaderboard(m, 100, ["gradcam"], baseline="blur", steps=steps)
    gc, rand = lb.rows
    assert lb.images == 100 and gc.method == "gradcam" and rand.method == "random"
    assert gc.score > rand.score and gc.beats_random, m.name
    assert gc.deletion_auc < rand.deletion_auc, m.name  # removing what Grad-CAM points at hurts sooner
    assert fa.dataset_leaderboard(m, 100, ["gradcam"], baseline="blur", steps=steps) is lb  # cached


def test_grad_cam_beats_random_maps_over_100_test_digits(lenet):
    _grad_cam_beats_random(lenet, 16)


@pytest.mark.slow
def test_grad_cam_beats_random_maps_over_100_fashion_images(small_vgg):
    _grad_cam_beats_random(small_vgg, 8)


def test_dataset_leaderboard_progress_stop_and_bad_input(lenet):
    stop, seen, texts = threading.Event(), [], []

    def progress(f, text):
        seen.append(f)
        texts.append(text)
        if len(seen) == 3:
            stop.set()

    lb = fa.dataset_leaderboard(lenet, 10, ["saliency"], baseline="mean", progress=progress, stop=stop, group=1)
    assert lb.stopped and lb.images == 3 and seen == [0.1, 0.2, pytest.approx(0.3)]
    assert texts == ["1 of 10 images", "2 of 10 images", "3 of 10 images"]
    again = fa.dataset_leaderboard(lenet, 10, ["saliency"], baseline="mean", stop=lambda: False)
    assert not again.stopped and again.images == 10 and again is not lb  # a stopped run is not cached
    with pytest.raises(CnnvizError, match="blur"):
        fa.baseline_image(ONES, "noise")
    with pytest.raises(CnnvizError, match="deletion"):
        fa.perturbation_curve(linear4(), ONES, W.view(4, 4), 0, "middle")
    with pytest.raises(CnnvizError, match="logit"):
        fa.perturbation_curve(linear4(), ONES, W.view(4, 4), 0, score="auc")
