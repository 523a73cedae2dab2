"""The sanity check's rank correlation: by hand, against SciPy, and on a trained vs a random network."""
import pytest
import torch

import cnnviz
from cnnviz.methods.attribution.cams import grad_cam
from cnnviz.methods.attribution.sanity import rank_correlation

from ...conftest import SAMPLES


def test_rank_correlation_by_hand_and_against_scipy():
    from scipy.stats import spearmanr

    assert rank_correlation(torch.tensor([1.0, 2, 3]), torch.tensor([3.0, 2, 1])) == pytest.approx(-1.0)
    # ties get their average rank: ranks (1, 1, 1, 3) and (1, 1, 3, 1), centred on 1.5 -> -1 / 3
    assert rank_correlation(torch.tensor([0.0, 0, 0, 1]), torch.tensor([0.0, 0, 1, 0])) == pytest.approx(-1 / 3)
    u, v = torch.tensor([0.0, 0, 2, 2, 5, 1]), torch.tensor([1.0, 0, 0, 3, 3, 3])
    assert rank_correlation(u, v) == pytest.approx(spearmanr(u.numpy(), v.numpy()).statistic)


def test_sanity_check_untrained_map_differs(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    twin = lenet.untrained()
    a, b = grad_cam(lenet, img, 7), grad_cam(twin, img, 7)
    assert rank_correlation(a.map, a.map) == pytest.approx(1.0)
    assert rank_correlation(a.map, b.map) < 0.9
