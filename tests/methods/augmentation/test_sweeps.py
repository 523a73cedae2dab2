"""cnnviz.methods.augmentation.sweeps: one forward pass per sweep, the clean row, rotation, light, 6 -> 9."""
import numpy as np
import pytest
import torch

from cnnviz.methods.augmentation import (
    LabelFlip,
    RotationScaleGrid,
    Sweep,
    brightness_sweep,
    contrast_sweep,
    image_tensor,
    rotate_until,
    rotation_scale_grid,
    rotation_sweep,
    sweep_pass,
)


def _batch_sizes(model, work):
    sizes = []
    handle = model.module.register_forward_pre_hook(lambda _m, inp: sizes.append(inp[0].shape[0]))
    try:
        return work(), sizes
    finally:
        handle.remove()


def test_sweep_pass_runs_the_clean_image_and_its_copies_in_one_pass(lenet, six):
    x0 = image_tensor(lenet, six)
    copies = torch.stack([x0.flip(-1), x0 * 3])
    p, sizes = _batch_sizes(lenet, lambda: sweep_pass(lenet, x0, copies))
    assert sizes == [3], "the clean image and both copies in one forward pass"
    assert torch.equal(p.images[0], x0) and torch.equal(p.images[2], (x0 * 3).clamp(0, 1))  # copies clipped to 0..1
    plain = torch.softmax(lenet.logits(lenet.preprocess(six)), 1)[0]
    torch.testing.assert_close(p.probs[0], plain)
    assert p.reference == int(plain.argmax()) and p.outputs is None
    s = p.as_sweep("t", [1.0, 2.0], lenet.classes)
    assert s.values == [1.0, 2.0] and s.probs.shape == (2, 10) and torch.equal(s.images[0], x0.flip(-1).cpu())
    assert p.as_sweep("t", [0.0, 1.0, 2.0], lenet.classes, with_clean=True).probs.shape == (3, 10)


def test_sweep_pass_captures_a_layer_in_the_same_pass(lenet, six):
    x0 = image_tensor(lenet, six)
    p = sweep_pass(lenet, x0, x0[None], layer="features.0#1")
    want = lenet.activations(lenet.normalize(torch.stack([x0, x0])), ["features.0"])["features.0"]
    torch.testing.assert_close(p.outputs, want)


def test_rotation_at_zero_degrees_equals_plain_prediction(lenet, six):
    plain = torch.softmax(lenet.logits(lenet.preprocess(six)), 1)[0].cpu()
    grid = rotation_scale_grid(lenet, six, angles=[0, 90], scales=[1.0, 0.6])
    assert torch.allclose(grid.probs[0, 0], plain, atol=1e-6)
    assert grid.labels()[0][0] == lenet.predict(six, 1)[0][0]
    sweep = rotation_sweep(lenet, six, [0.0, 45.0])
    assert torch.allclose(sweep.probs[0], plain, atol=1e-6)


def test_brightness_sweep_scales_pixels(lenet, six):
    s = brightness_sweep(lenet, six, [1.0, 2.0])
    x = image_tensor(lenet, six).cpu()
    assert torch.allclose(s.images[0], x) and torch.allclose(s.images[1], (2 * x).clamp(0, 1))
    assert s.labels[0] == lenet.predict(six, 1)[0][0]
    c = contrast_sweep(lenet, six, [0.0])
    assert torch.allclose(c.images[0], torch.full_like(x, float(x.mean())), atol=1e-5)  # contrast 0: flat mean grey


def test_sweep_properties_by_hand():
    s = Sweep("shift", [0.0, 1.0], torch.tensor([[0.6, 0.4], [0.3, 0.7]]), ["a", "b"], 0)
    assert s.labels == ["a", "b"] and s.confidences == pytest.approx([0.6, 0.7])
    assert s.reference_probs == pytest.approx([0.6, 0.3]) and s.probs_of("b") == pytest.approx([0.4, 0.7])


def test_six_rotated_is_read_as_nine(lenet, six, tiny_pool):
    f = rotate_until(lenet, six, "6", "9")
    assert f.sweep.labels[f.sweep.values.index(0.0)] == "6"
    assert f.flip_angle is not None and 90 <= abs(f.flip_angle) <= 180
    assert f.sweep.labels[f.sweep.values.index(f.flip_angle)] == "9"
    assert f.first_change is not None and abs(f.first_change) <= abs(f.flip_angle)
    with pytest.raises(ValueError, match="digit model"):
        rotate_until(tiny_pool, torch.zeros(1, 8, 8))


def test_rotation_grid_cells_and_kept_by_hand():
    probs = torch.tensor([[[0.7, 0.3], [0.4, 0.6]], [[0.9, 0.1], [0.2, 0.8]]])  # 2 scales x 2 angles x 2 classes
    g = RotationScaleGrid([0.0, 90.0], [1.0, 0.5], probs, ["cat", "dog"], 0)
    assert g.cells() == [["cat (70%)", "dog (60%)"], ["cat (90%)", "dog (80%)"]]
    assert g.kept() == [[True, False], [True, False]]
    assert np.allclose(g.reference_probs(), [[0.7, 0.4], [0.9, 0.2]])


def test_label_flip_view_indices_by_hand():
    values = [float(a) for a in range(-180, 181, 45)]
    probs = torch.tensor([[0.1, 0.9] if abs(a) >= 135 else [0.9, 0.1] for a in values])
    flip = LabelFlip(Sweep("angle", values, probs, ["6", "9"], 0), "6", "9", -135.0, -135.0)
    # upright, -45, -90, the flip at -135 and 180, in that order
    assert [values[i] for i in flip.view_indices()] == [0.0, -45.0, -90.0, -135.0, 180.0]
    never = LabelFlip(flip.sweep, "6", "9", None, None)
    assert [values[i] for i in never.view_indices()] == [0.0, -45.0, -90.0, 180.0]
