"""Capsule networks: squash and routing against values worked out by hand, the margin loss by hand, the bundled
capsnet-mnist's accuracy read from the model itself, and the training command reproducing its weights."""
import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import cnnviz
from cnnviz.core.capture import capture
from cnnviz.core.datasets import load_dataset
from cnnviz.methods import capsules as C
from cnnviz.methods.capsules import training
from cnnviz.methods.capsules.robustness import accuracy_on, mnist_test_digits


def test_squash_by_hand():
    # s = (3, 4): |s|^2 = 25, |v| = 25 / 26, direction (3, 4) / 5 -> v = (15/26, 20/26) = (0.576923, 0.769231)
    # s = (1, 0): |s|^2 = 1, |v| = 1/2 -> v = (0.5, 0); s = 0 stays 0 (and is finite)
    s = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    v = C.squash(s)
    assert torch.allclose(v, torch.tensor([[15 / 26, 20 / 26], [0.5, 0.0], [0.0, 0.0]]), atol=1e-6)
    # dim=0: the same vectors stored as columns
    assert torch.allclose(C.squash(s.T, dim=0), v.T, atol=1e-6)
    s0 = torch.zeros(2, requires_grad=True)
    C.squash(s0).sum().backward()
    assert torch.isfinite(s0.grad).all()


# Two input capsules i, two output capsules j, dimension 2:
#   u_hat[1 -> 1] = (1, 0)   u_hat[1 -> 2] = (0, 1)
#   u_hat[2 -> 1] = (1, 0)   u_hat[2 -> 2] = (1, 0)
U_HAT = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]]])  # (batch 1, in 2, out 2, dim 2)


def test_dynamic_routing_by_hand_one_iteration():
    # b = 0 -> c = softmax over the 2 outputs = 1/2 everywhere
    # s_1 = 1/2 (1,0) + 1/2 (1,0) = (1, 0)         -> v_1 = 1/(1+1) (1,0) = (0.5, 0)
    # s_2 = 1/2 (0,1) + 1/2 (1,0) = (0.5, 0.5)     |s_2|^2 = 0.5 -> |v_2| = 0.5/1.5 = 1/3
    #                                               v_2 = (1/3)(0.5,0.5)/0.707107 = (0.235702, 0.235702)
    v, c = C.dynamic_routing(U_HAT, iterations=1)
    assert torch.allclose(c, torch.full((1, 2, 2), 0.5))
    assert torch.allclose(v, torch.tensor([[[0.5, 0.0], [0.235702, 0.235702]]]), atol=1e-6)


def test_dynamic_routing_by_hand_two_iterations():
    # agreements after iteration 1: u_hat_ij . v_j
    #   a_11 = (1,0).(0.5,0) = 0.5   a_12 = (0,1).(0.235702,0.235702) = 0.235702
    #   a_21 = 0.5                   a_22 = (1,0).(0.235702,0.235702) = 0.235702
    # b_i = (0.5, 0.235702) for both inputs; c_i1 = 1 / (1 + e^-(0.5 - 0.235702)) = 1 / (1 + e^-0.264298)
    #   e^-0.264298 = 0.767767 -> c_i1 = 0.565685, c_i2 = 0.434315
    # s_1 = 2 x 0.565685 (1,0) = (1.131371, 0), |s_1|^2 = 1.28 -> |v_1| = 1.28 / 2.28 = 0.561404
    # s_2 = 0.434315 ((0,1) + (1,0)) = (0.434315, 0.434315), |s_2|^2 = 0.377259 -> |v_2| = 0.377259 / 1.377259
    #   = 0.273920 -> v_2 = 0.273920 (0.707107, 0.707107) = (0.193691, 0.193691)
    v, c = C.dynamic_routing(U_HAT, iterations=2)
    assert torch.allclose(c, torch.tensor([[[0.565685, 0.434315], [0.565685, 0.434315]]]), atol=1e-5)
    assert torch.allclose(v, torch.tensor([[[0.561404, 0.0], [0.193691, 0.193691]]]), atol=1e-5)
    # every iteration kept: the first is the one-iteration result, b starts at zero
    steps = C.routing_steps(U_HAT, 2)
    assert len(steps) == 2 and torch.equal(steps[0].logits, torch.zeros(1, 2, 2))
    assert torch.allclose(steps[0].agreement, torch.tensor([[[0.5, 0.235702], [0.5, 0.235702]]]), atol=1e-6)
    assert torch.allclose(steps[1].logits, steps[0].agreement)


def test_routing_shapes_and_coupling_sums_to_one_over_outputs():
    u_hat = torch.randn(3, 7, 4, 5, generator=torch.Generator().manual_seed(0))
    v, c = C.dynamic_routing(u_hat, iterations=3)
    assert v.shape == (3, 4, 5) and c.shape == (3, 7, 4)
    assert torch.allclose(c.sum(dim=2), torch.ones(3, 7), atol=1e-6)
    assert bool((v.norm(dim=-1) < 1).all())
    with pytest.raises(ValueError):
        C.dynamic_routing(u_hat, iterations=0)


def test_margin_loss_by_hand():
    # row 1, label 0, lengths (0.95, 0.3, 0.05): present max(0, 0.9 - 0.95)^2 = 0; absent 0.5 (0.3 - 0.1)^2 = 0.02,
    #   0.05 < 0.1 -> 0; total 0.02
    # row 2, label 1, lengths (0.5, 0.2, 0.6): present (0.9 - 0.2)^2 = 0.49; absent 0.5 (0.5 - 0.1)^2 = 0.08 and
    #   0.5 (0.6 - 0.1)^2 = 0.125; total 0.695.  Mean over the batch: (0.02 + 0.695) / 2 = 0.3575
    lengths = torch.tensor([[0.95, 0.3, 0.05], [0.5, 0.2, 0.6]])
    assert math.isclose(float(C.margin_loss(lengths, torch.tensor([0, 1]))), 0.3575, rel_tol=1e-6)
    # the reconstruction term: sum of squares per image, batch mean; 0.0005 of it is added
    rec, pix = torch.full((2, 1, 28, 28), 0.5), torch.zeros(2, 1, 28, 28)
    assert math.isclose(float(C.reconstruction_loss(rec, pix)), 784 * 0.25)
    total = C.capsnet_loss(lengths, torch.tensor([0, 1]), rec, pix)
    assert math.isclose(float(total), 0.3575 + 0.0005 * 196, rel_tol=1e-6)


def test_toy_routing_moves_agreeing_parts_to_their_whole():
    toy = C.toy_routing("agree", parts=5, wholes=3, spread=5, iterations=4)
    first, last = toy.coupling(1), toy.coupling(4)
    assert np.allclose(first, 1 / 3) and np.allclose(last.sum(1), 1)
    assert (last[:, 0] > 0.5).all() and toy.lengths(4).argmax() == 0
    split = C.toy_routing("split", parts=6, wholes=3, spread=5, iterations=4)
    assert (split.coupling(4)[:3].argmax(1) == 0).all() and (split.coupling(4)[3:].argmax(1) == 1).all()
    with pytest.raises(C.ToySettingsError):
        C.toy_routing("maybe")


@pytest.fixture(scope="module")
def caps():
    return cnnviz.load_model("capsnet-mnist")


@pytest.mark.slow  # 2,000 digits through CapsNet: about 10-25 s on 2 cores
def test_bundled_capsnet_reads_the_test_digits(caps):
    ds = load_dataset("mnist", "test")
    x = torch.from_numpy(np.asarray(ds.images, np.float32) / 255).unsqueeze(1)
    with torch.inference_mode():
        probs = caps.predict_batch(caps.normalize(x))
    acc = float((probs.argmax(1) == torch.tensor(ds.labels)).float().mean())
    assert len(ds.labels) == 2000 and acc >= 0.985, acc
    # forward is the logit of the capsule length: sigmoid gives the lengths back, the argmax is the longest capsule
    net = C.as_capsnet(caps)
    with torch.inference_mode():
        xb = caps.normalize(x[:8])
        assert torch.allclose(torch.sigmoid(net(xb)), net.lengths(xb), atol=1e-5)
    # traced by the capture engine like any model: the digit capsules are a layer
    out = capture(net, xb, ["digits"]).outputs["digits"]
    assert torch.allclose(out, net.capsules(xb), atol=1e-6)


def test_readout_and_decoder(caps):
    ds = load_dataset("mnist", "test")
    x = torch.from_numpy(np.asarray(ds.images[:1], np.float32) / 255)
    r = C.read_capsules(caps, x)
    assert r.capsules.shape == (10, 16) and r.predicted == int(ds.labels[0])
    assert np.allclose(np.linalg.norm(r.capsules, axis=1), r.lengths, atol=1e-4)
    assert np.allclose(C.perturb_decode(caps, r.capsules, r.predicted, [0.0] * 16), r.reconstruction, atol=1e-6)
    moved = C.perturb_decode(caps, r.capsules, r.predicted, {0: 0.25})
    assert np.abs(moved - r.reconstruction).max() > 1e-3
    with pytest.raises(C.NotACapsNetError):
        C.read_capsules(cnnviz.load_model("lenet5-mnist"), x)


def test_robustness_and_pooling_on_real_digits(caps):
    lenet = cnnviz.load_model("lenet5-mnist")
    r = C.robustness(caps, lenet, "shift", n=40, values=(0, 6))
    x, y = mnist_test_digits(40)
    assert r.accuracy["capsnet-mnist"][0] == accuracy_on(caps, x, y)
    assert all(0 <= a <= 1 for accs in r.accuracy.values() for a in accs) and r.examples.shape == (2, 28, 28)
    p = C.pooling_critique(caps, lenet, x[0], grids=(1, 3))
    assert p.pooled_similarity[0] == pytest.approx(1, abs=1e-5)
    assert p.capsule_agreement[0] == pytest.approx(1, abs=1e-5) and p.label == int(y[0])


def test_training_reproduces_its_weights(tmp_path):
    cards = []
    for run in ("a", "b"):
        cards.append(training.main(["--limit", "128", "--test-limit", "64", "--epochs", "1", "--out-dir",
                                    str(tmp_path / run)]))
    a = load_file(str(tmp_path / "a" / "capsnet-mnist.safetensors"))
    b = load_file(str(tmp_path / "b" / "capsnet-mnist.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    lenet_card = json.loads((training.MODELS_DIR / "lenet5-mnist.json").read_text())
    assert set(lenet_card) <= set(cards[0]) and cards[0]["routing_iterations"] == 3
    assert cards[0]["train_images"] == 128 and cards[0]["test_images"] == 64


def test_training_reports_progress_and_stops():
    said = []
    training.train_capsnet(epochs=2, limit=64, test_limit=32, batch_size=32, progress=lambda f, t: said.append((f, t)))
    assert [f for f, _ in said] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # 2 batches of 32 in each of 2 epochs
    assert said[2][1].startswith("epoch 2/2, batch 1/2, loss ")
    said.clear()
    stop = lambda: len(said) >= 1  # noqa: E731
    out = training.train_capsnet(epochs=2, limit=64, test_limit=32, batch_size=32,
                                 progress=lambda f, t: said.append((f, t)), stop=stop)
    assert len(said) == 1 and out.losses == []  # stopped before the second batch of the first epoch
