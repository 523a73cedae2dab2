"""Gradient saliency and SmoothGrad, worked out by hand on the tiny model."""
import torch

from cnnviz.methods.attribution.gradients import saliency, smoothgrad

from .conftest import X


def test_saliency_by_hand(tiny):
    # d y0 / d x = (1*1 + 1*2) / 4 * mask = 0.75 * mask;  d y1 / d x = (0*1 - 1*2) / 4 * mask = -0.5 * mask
    s0 = saliency(tiny, X, 0)
    assert torch.allclose(s0.map, torch.tensor([[0.75, 0.0], [0.75, 0.0]]))
    s1 = saliency(tiny, X, "neg")
    assert torch.allclose(s1.raw, torch.tensor([[[-0.5, 0.0], [-0.5, 0.0]]]))
    assert torch.allclose(s1.map, torch.tensor([[0.5, 0.0], [0.5, 0.0]]))


def test_smoothgrad_without_noise_is_saliency(tiny):
    assert torch.allclose(smoothgrad(tiny, X, 0, samples=3, noise=0.0).map, saliency(tiny, X, 0).map)


def test_smoothgrad_by_hand(tiny):
    # class 1: |d y1 / d x| = 0.5 where the noisy pixel is positive (the ReLU lets it through), else 0;
    # noise sigma = 0.3 * (max - min of X) = 0.3 * 7, drawn as SmoothGrad draws it (seeded generator)
    noise = 0.3 * 7 * torch.randn((6, 1, 2, 2), generator=torch.Generator().manual_seed(5))
    want = (0.5 * (X + noise > 0).float()).mean(0)  # [1, 2, 2]
    a = smoothgrad(tiny, X, 1, samples=6, noise=0.3, seed=5)
    assert torch.allclose(a.raw, want) and torch.allclose(a.map, want[0])
    assert not torch.equal(a.map, saliency(tiny, X, 1).map)  # the noise crossed the ReLU's 0 on some copies
    assert torch.equal(smoothgrad(tiny, X, 1, samples=6, noise=0.3, seed=5).map, a.map)  # reproducible
    assert a.info == {"samples": 6, "noise": 0.3}
