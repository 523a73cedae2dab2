"""The experiments that train networks: the issue's permuted-pixel test, random labels, and small runs of the
others (their shape, determinism and stop)."""
import math
import threading
from itertools import pairwise

import numpy as np
import pytest
import torch

from cnnviz.methods import why_conv as wc


@pytest.mark.slow  # four trainings on 1,000 digits: about 13-25 s on two busy cores
def test_permuted_pixels_mlp_does_not_care_lenet_loses_its_prior():
    r = wc.permuted_experiment(n_train=1000, n_test=2000, epochs=10, seed=0)
    assert r.complete
    mlp, lenet = r.accuracy["MLP"], r.accuracy["LeNet-5"]
    assert abs(mlp["permuted"] - mlp["plain"]) <= 0.02  # within 2 points
    assert lenet["plain"] - lenet["permuted"] > 0.05  # falls by more than 5
    assert lenet["plain"] > 0.9 and mlp["plain"] > 0.85


def test_permutation_moves_pixels_and_keeps_them():
    d = wc.load_digits("train", 20, seed=3)
    perm = wc.pixel_permutation(5)
    p = wc.permute(d, perm)
    assert torch.equal(p.x.flatten(1), d.x.flatten(1)[:, perm])
    inverse = np.argsort(perm)
    assert torch.equal(wc.permute(p, inverse).x, d.x)
    assert torch.equal(p.y, d.y)


def test_random_labels_are_memorised_not_generalised():
    c = wc.label_curves("mlp", n_train=300, n_test=500, epochs=30, seed=0)
    assert c.final("train", "random") > 0.9
    assert c.final("test", "random") < 0.2
    assert c.final("test", "true") > 0.7
    assert len(c.train["true"]) == len(c.test["random"]) == 30


def test_training_is_seeded():
    a, b = (wc.label_curves("mlp", n_train=100, n_test=100, epochs=2, seed=1) for _ in range(2))
    assert a.train == b.train and a.test == b.test


def test_hog_sees_edge_orientation():
    img = np.zeros((1, 28, 28), np.uint8)
    img[:, :, 14:] = 255  # a vertical edge: horizontal gradient, orientation 0°
    h = wc.hog_features(img).reshape(3, 3, 4, 9)
    assert h.shape == (3, 3, 4, 9)
    votes = h.sum(axis=(0, 1, 2))
    assert set(np.argsort(votes)[-2:]) == {0, 8}  # the two bins either side of 0° (centres at 10° and 170°)
    assert np.allclose(wc.hog_features(img // 2), wc.hog_features(img), atol=1e-3)  # contrast normalised


def test_small_handcrafted_curve_and_degradation_sweep():
    c = wc.handcrafted_curve("gabor", sizes=(50, 100), n_test=200, cnn_steps=10)
    assert c.sizes == [50, 100] and all(len(v) == 2 for v in c.accuracy.values())
    assert all(0.3 < a <= 1 for v in c.accuracy.values() for a in v)
    d = wc.degradation_sweep((1, 2), n_train=50, epochs=1, n_test=50)
    assert d.depths == [1, 2] and all(0 <= e <= 1 for v in d.train_error.values() for e in v)


def _prefix(a: list, b: list) -> bool:
    return b[:len(a)] == a


def test_partial_results_come_in_order_and_end_as_the_result():
    """Each experiment hands its result so far to ``on_partial`` as it grows; every partial extends the one before
    it, the last equals the result, and the result is the one of the same call without ``on_partial``."""
    seen = []
    r = wc.permuted_experiment(100, 200, 1, on_partial=seen.append)
    runs = [[(m, p) for m, a in s.accuracy.items() for p in a] for s in seen]
    assert runs == [[("MLP", "plain")], [("MLP", "plain"), ("MLP", "permuted")],
                    [("MLP", "plain"), ("MLP", "permuted"), ("LeNet-5", "plain")],
                    [("MLP", "plain"), ("MLP", "permuted"), ("LeNet-5", "plain"), ("LeNet-5", "permuted")]]
    assert seen[0].accuracy["MLP"]["plain"] == r.accuracy["MLP"]["plain"]  # a copy, not changed afterwards
    assert seen[-1].accuracy == r.accuracy == wc.permuted_experiment(100, 200, 1).accuracy

    seen = []
    c = wc.label_curves("mlp", 100, 100, 3, on_partial=seen.append)
    lengths = [(len(s.train["true"]), len(s.train["random"])) for s in seen]
    assert lengths == [(1, 0), (2, 0), (3, 0), (3, 1), (3, 2), (3, 3)]
    assert all(_prefix(a.train[k], b.train[k]) and _prefix(a.test[k], b.test[k])
               for a, b in pairwise(seen) for k in a.train)
    plain = wc.label_curves("mlp", 100, 100, 3)
    assert seen[-1] == c == plain

    seen = []
    h = wc.handcrafted_curve("hog", sizes=(60, 30), n_test=100, cnn_steps=5, on_partial=seen.append)
    assert [s.sizes for s in seen] == [[30], [30], [30, 60], [30, 60]]  # smallest first, the SVMs before the CNN
    assert [math.isnan(s.accuracy["cnn"][-1]) for s in seen] == [True, False, True, False]
    for s in seen:  # every number is the final one, or NaN until it is measured
        assert all(math.isnan(a) or a == h.accuracy[k][i] for k, v in s.accuracy.items() for i, a in enumerate(v))
    assert seen[-1] == h == wc.handcrafted_curve("hog", sizes=(30, 60), n_test=100, cnn_steps=5)

    seen = []
    d = wc.degradation_sweep((3, 1, 2), n_train=50, epochs=1, n_test=50, on_partial=seen.append)
    assert wc.sweep_order((3, 1, 2)) == [1, 3, 2]  # the shallowest and the deepest first
    assert [s.depths for s in seen] == [[1], [1], [1, 3], [1, 3], [1, 2, 3], [1, 2, 3]]  # in increasing depth
    newest = (1, 1, 3, 3, 2, 2)  # plain first at each depth, then residual
    assert [math.isnan(s.train_error["residual"][s.depths.index(x)])
            for s, x in zip(seen, newest, strict=True)] == [True, False] * 3
    for s in seen:  # every error is the final one at its depth, or NaN until it is measured
        at = [d.depths.index(x) for x in s.depths]
        assert all(math.isnan(e) or e == getattr(d, f)[k][at[i]]
                   for f in ("train_error", "test_error") for k, v in getattr(s, f).items() for i, e in enumerate(v))
    assert seen[-1] == d == wc.degradation_sweep((1, 2, 3), n_train=50, epochs=1, n_test=50)


def test_features_in_chunks_are_the_features_at_once():
    px = wc.load_digits("train", 30, seed=2).pixels()
    for kind in wc.FEATURES:
        assert np.array_equal(np.concatenate([wc.features(kind, px[:7]), wc.features(kind, px[7:])]),
                              wc.features(kind, px))


def test_a_stop_returns_what_was_measured():
    stop = threading.Event()
    stop.set()
    assert wc.degradation_sweep((1, 2), n_train=50, epochs=1, stop=stop).depths == []
    assert wc.permuted_experiment(100, 100, 1, stop=stop).accuracy == {}


def test_depth_net_counts_its_layers():
    net = wc.DepthNet(blocks=3, residual=True)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 * 3 + 1
    assert tuple(net(torch.zeros(2, 1, 28, 28)).shape) == (2, 10)


def test_a_digit_set_larger_than_the_split_is_said():
    with pytest.raises(wc.WhyConvError, match="has 2000 images"):
        wc.load_digits("test", 5000)
