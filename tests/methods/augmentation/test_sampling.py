"""cnnviz.methods.augmentation.sampling: seeded samples, one batched forward pass, MixUp's labels."""
import math

import numpy as np
import pytest
import torch

from cnnviz.methods.augmentation import AugmentedBatch, image_tensor, sample_batch, step


def test_seeded_pipeline_gives_identical_samples_and_leaves_global_rng(lenet, six):
    pipe = (step("rotate", degrees=40), step("erase"), step("noise", sigma=0.2), step("elastic"))
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = sample_batch(lenet, six, pipe, n=6, seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after), "sample_batch must not disturb the global random state"
    b = sample_batch(lenet, six, pipe, n=6, seed=7)
    c = sample_batch(lenet, six, pipe, n=6, seed=8)
    assert torch.equal(a.images, b.images) and torch.equal(a.probs, b.probs)
    assert not torch.equal(a.images, c.images)
    # each sample has its own draw
    assert all(not torch.equal(a.images[0], a.images[i]) for i in range(1, 6))


def test_empty_pipeline_equals_plain_prediction_in_one_batched_pass(lenet, six):
    sizes = []
    handle = lenet.module.register_forward_pre_hook(lambda _m, inp: sizes.append(inp[0].shape[0]))
    try:
        b = sample_batch(lenet, six, [], n=5, seed=0)
    finally:
        handle.remove()
    assert sizes == [6], "the clean image and all samples in one forward pass"
    label, p = lenet.predict(six, k=1)[0]
    assert b.labels == [label] * 5
    assert np.allclose(b.confidences, p, atol=1e-6)
    assert b.kept_fraction == 1.0


def test_sample_count_is_checked(lenet, six):
    with pytest.raises(ValueError, match="between 1 and 256"):
        sample_batch(lenet, six, [], n=0)


def test_pipeline_with_deterministic_steps_matches_torch_ops(resnet18_untrained):
    m = resnet18_untrained
    # a pixel-domain tensor is taken as the prepared image (no resize 256 / crop 224)
    img = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    b = sample_batch(m, x, [step("hflip", p=1.0), step("channel", channel="green")], n=2, seed=0)
    expect = x.flip(-1) * torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1)
    assert torch.allclose(b.images[0].cpu(), expect, atol=1e-6)
    assert b.images.shape == (2, 3, 224, 224) and b.probs.shape == (2, 1000)


def test_mixup_mixes_images_and_labels_with_the_same_weight(lenet, six, three):
    b = sample_batch(lenet, six, [step("mixup")], n=4, seed=0, second_image=three, labels=(6, 3))
    x6, x3 = image_tensor(lenet, six), image_tensor(lenet, three)
    assert torch.allclose(b.mixed.sum(1), torch.ones(4))
    for img, soft in zip(b.images, b.mixed, strict=True):
        lam6, lam3 = float(soft[6]), float(soft[3])
        assert math.isclose(lam6 + lam3, 1.0, abs_tol=1e-6)
        assert torch.allclose(img, lam6 * x6 + lam3 * x3, atol=1e-5)
    assert {c for pairs in b.mixed_labels() for c, _ in pairs} <= {"6", "3"}
    assert b.mix_labels == (6, 3)
    with pytest.raises(ValueError, match="second_image"):
        sample_batch(lenet, six, [step("cutmix")], n=2)


def test_mixed_labels_default_to_the_models_own_answers(lenet, six, three):
    b = sample_batch(lenet, six, [step("mixup")], n=2, seed=0, second_image=three)
    assert b.mix_labels == (lenet.classes.index(lenet.predict(six, 1)[0][0]),
                            lenet.classes.index(lenet.predict(three, 1)[0][0]))


def test_batch_properties_by_hand():
    probs = torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])
    b = AugmentedBatch(torch.zeros(3, 1, 2, 2), probs, ["6", "3"], 0, torch.tensor([[0.7, 0.3], [1.0, 0.0],
                                                                                     [0.25, 0.75]]), (0, 1))
    assert b.labels == ["6", "3", "6"] and b.top_indices == [0, 1, 0]
    assert np.allclose(b.confidences, [0.6, 0.7, 0.8]) and math.isclose(b.kept_fraction, 2 / 3, rel_tol=1e-6)
    mixed = b.mixed_labels()
    assert [[c for c, _ in pair] for pair in mixed] == [["6", "3"], ["6"], ["3", "6"]]  # a zero weight is left out
    assert np.allclose([p for _, p in mixed[2]], [0.75, 0.25])
    assert AugmentedBatch(b.images, b.probs, b.classes, 0).mixed_labels() is None
