"""cnnviz.methods.augmentation: the transform table, seeded samples, sweeps, scrambling (hand-worked values)."""
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnviz.core.images import load_image
from cnnviz.core.model import ModelHandle
from cnnviz.methods import augmentation as A

from ..conftest import SAMPLES


@pytest.fixture(scope="module")
def six():
    return load_image(SAMPLES / "digit-6.png")


def _tiny_pool_model() -> ModelHandle:
    """1x8x8 input -> 2x2 average pool (stride 2) -> linear: every number can be worked out by hand."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return ModelHandle("tiny", net, torch.device("cpu"), ["a", "b", "c"], (1, 8, 8), (0.0,), (1.0,), "tiny")


# ------------------------------------------------------------------ the table


@pytest.mark.parametrize("key", list(A.TRANSFORMS))
def test_every_table_entry_builds_a_transform_with_defaults_in_limits(key):
    spec = A.TRANSFORMS[key]
    assert spec.group in A.GROUPS and spec.name and spec.help
    for p in spec.params:
        assert p.label and p.help, f"{key}.{p.name} needs a label and a help text for its control"
        assert (p.kind == "choice") == bool(p.options)
        assert p.validate(p.default) == (tuple(p.default) if p.kind == "range" else p.default)
        if p.kind in ("float", "int", "range"):
            assert p.low <= (p.default[0] if p.kind == "range" else p.default) <= p.high
    for target, shape in ((A.Target(1, 28, 28, 10), (1, 28, 28)), (A.Target(3, 32, 32, 1000), (3, 32, 32))):
        t = A.build_transform(A.step(key), target)
        x = torch.rand(*shape)
        if spec.mixing:
            imgs, labels = t(torch.stack([x, torch.rand(*shape)]), torch.tensor([0, 1]))
            assert imgs.shape == (2, *shape) and labels.shape == (2, target.num_classes)
        else:
            assert t(x).shape == shape
        assert A.step_code(A.step(key), target).startswith("v2.")


@pytest.mark.parametrize("end", ["low", "high"])
def test_every_transform_runs_at_its_limits_on_a_28px_image(end):
    t = A.Target(1, 28, 28, 10)
    for key, spec in A.TRANSFORMS.items():
        values = {}
        for p in spec.params:
            if p.kind == "choice":
                values[p.name] = p.options[0 if end == "low" else -1]
            elif p.kind == "range":
                values[p.name] = (p.low, p.low) if end == "low" else (p.high, p.high)
            else:
                v = p.low if end == "low" else p.high
                values[p.name] = (v if v % 2 else v - 1) if p.odd else v
        tr = A.build_transform(A.step(key, **values), t)
        if spec.mixing:
            out = tr(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))[0]
        else:
            out = tr(torch.rand(1, 28, 28))
        assert out.shape[-2:] == (28, 28), key


def test_step_rejects_values_outside_limits_with_the_range():
    with pytest.raises(ValueError, match=r"\[0.0, 180.0\]"):
        A.step("rotate", degrees=200)
    with pytest.raises(ValueError, match="odd"):
        A.step("blur", kernel=4)
    with pytest.raises(ValueError, match="no parameter"):
        A.step("hflip", angle=3)
    with pytest.raises(KeyError, match="known"):
        A.step("nope")


def test_horizontal_flip_by_hand_and_twice_is_identity():
    t = A.build_transform(A.step("hflip", p=1.0), A.Target(1, 1, 3, 10))
    x = torch.tensor([[[1.0, 2.0, 3.0]]])
    assert t(x).tolist() == [[[3.0, 2.0, 1.0]]]
    y = torch.rand(3, 9, 7)
    assert torch.equal(t(t(y)), y)


# ------------------------------------------------------------------ samples


def test_seeded_pipeline_gives_identical_samples_and_leaves_global_rng(lenet, six):
    pipe = (A.step("rotate", degrees=40), A.step("erase"), A.step("noise", sigma=0.2), A.step("elastic"))
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = A.sample_batch(lenet, six, pipe, n=6, seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after), "sample_batch must not disturb the global random state"
    b = A.sample_batch(lenet, six, pipe, n=6, seed=7)
    c = A.sample_batch(lenet, six, pipe, n=6, seed=8)
    assert torch.equal(a.images, b.images) and torch.equal(a.probs, b.probs)
    assert not torch.equal(a.images, c.images)
    # each sample has its own draw
    assert all(not torch.equal(a.images[0], a.images[i]) for i in range(1, 6))


def test_empty_pipeline_equals_plain_prediction_in_one_batched_pass(lenet, six):
    sizes = []
    handle = lenet.module.register_forward_pre_hook(lambda _m, inp: sizes.append(inp[0].shape[0]))
    try:
        b = A.sample_batch(lenet, six, [], n=5, seed=0)
    finally:
        handle.remove()
    assert sizes == [6], "the clean image and all samples in one forward pass"
    label, p = lenet.predict(six, k=1)[0]
    assert b.labels == [label] * 5
    assert np.allclose(b.confidences, p, atol=1e-6)
    assert b.kept_fraction == 1.0


def test_pipeline_with_deterministic_steps_matches_torch_ops(resnet18_untrained):
    m = resnet18_untrained
    # a pixel-domain tensor is taken as the prepared image (no resize 256 / crop 224)
    img = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    b = A.sample_batch(m, x, [A.step("hflip", p=1.0), A.step("channel", channel="green")], n=2, seed=0)
    expect = x.flip(-1) * torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1)
    assert torch.allclose(b.images[0].cpu(), expect, atol=1e-6)
    assert b.images.shape == (2, 3, 224, 224) and b.probs.shape == (2, 1000)


def test_generated_code_builds_the_same_transform(resnet18_untrained):
    pipe = [A.step("hflip", p=1.0), A.step("channel", channel="red"), A.step("rotate", degrees=0.0)]
    code = A.pipeline_code(pipe, resnet18_untrained)
    ns: dict = {}
    exec(compile(code, "<pipeline>", "exec"), ns)
    arr = np.random.default_rng(1).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    x = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    ours = A.sample_batch(resnet18_untrained, x, pipe, n=1, seed=0).images[0].cpu()
    theirs = ns["augment"](img)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert "v2.Normalize(mean=[0.485, 0.456, 0.406]" in code


def test_mixup_mixes_images_and_labels_with_the_same_weight(lenet, six):
    three = load_image(SAMPLES / "digit-3.png")
    b = A.sample_batch(lenet, six, [A.step("mixup")], n=4, seed=0, second_image=three, labels=(6, 3))
    x6, x3 = A.image_tensor(lenet, six), A.image_tensor(lenet, three)
    assert torch.allclose(b.mixed.sum(1), torch.ones(4))
    for img, soft in zip(b.images, b.mixed):
        lam6, lam3 = float(soft[6]), float(soft[3])
        assert math.isclose(lam6 + lam3, 1.0, abs_tol=1e-6)
        assert torch.allclose(img, lam6 * x6 + lam3 * x3, atol=1e-5)
    assert {c for pairs in b.mixed_labels() for c, _ in pairs} <= {"6", "3"}
    with pytest.raises(ValueError, match="second_image"):
        A.sample_batch(lenet, six, [A.step("cutmix")], n=2)


@pytest.mark.parametrize("key", [k for k in A.TRANSFORMS if any(p.neutral is not None for p in A.TRANSFORMS[k].params)])
def test_neutral_values_really_leave_the_image_unchanged(key):
    spec = A.TRANSFORMS[key]
    s = A.step(key, **{p.name: p.neutral for p in spec.params if p.neutral is not None and p.name != "p"} or {"p": 0.0})
    notes = A.check_pipeline([s], A.Target(3, 32, 32, 10))
    assert len(notes) == 1 and spec.name in notes[0] and "No effect" in notes[0]
    x = torch.rand(3, 32, 32)
    torch.manual_seed(0)
    assert torch.allclose(A.build_transform(s, A.Target(3, 32, 32, 10))(x), x, atol=1e-6)


def test_elastic_sigma_is_limited_to_what_fits_the_image():
    # 28 px: kernel int(8 * sigma + 1) must keep its half-width below 28, so sigma <= 54 / 8 = 6.75
    t = A.Target(1, 28, 28, 10)
    assert A.elastic_sigma_limit(t) == 6.75
    s = A.step("elastic", sigma=15.0)
    assert A.build_transform(s, t)(torch.rand(1, 28, 28)).shape == (1, 28, 28)
    assert any("sigma 6.75 is used" in n for n in A.check_pipeline([s], t))
    assert "sigma=6.75" in A.step_code(s, t)


def test_rgb_only_transforms_are_explained_on_a_grayscale_model(lenet):
    notes = A.check_pipeline([A.step("hue"), A.step("hflip")], A.Target.of(lenet))
    assert len(notes) == 1 and "Hue" in notes[0] and "RGB" in notes[0]
    assert A.check_pipeline([A.step("hue")], A.Target(3, 224, 224, 1000)) == []


# ------------------------------------------------------------------ sweeps


def test_rotation_at_zero_degrees_equals_plain_prediction(lenet, six):
    plain = torch.softmax(lenet.logits(lenet.preprocess(six)), 1)[0].cpu()
    grid = A.rotation_scale_grid(lenet, six, angles=[0, 90], scales=[1.0, 0.6])
    assert torch.allclose(grid.probs[0, 0], plain, atol=1e-6)
    assert grid.labels()[0][0] == lenet.predict(six, 1)[0][0]
    sweep = A.rotation_sweep(lenet, six, [0.0, 45.0])
    assert torch.allclose(sweep.probs[0], plain, atol=1e-6)


def test_rotation_by_90_is_counter_clockwise_like_rot90():
    x = torch.rand(1, 9, 9)
    r = A.rotate_scale(x, [90, -90, 180, 0])
    assert torch.allclose(r[0], torch.rot90(x, 1, dims=(1, 2)), atol=1e-5)
    assert torch.allclose(r[1], torch.rot90(x, -1, dims=(1, 2)), atol=1e-5)
    assert torch.allclose(r[2], torch.rot90(x, 2, dims=(1, 2)), atol=1e-5)
    assert torch.allclose(r[3], x, atol=1e-5)


def test_batched_rotation_matches_torchvision_affine_inside_the_image():
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as TF

    x = torch.rand(3, 20, 30)  # not square: the map must work in pixel units
    ours = A.rotate_scale(x, [30.0, 0.0], [0.9, 0.5])
    for got, (a, s) in zip(ours, [(30.0, 0.9), (0.0, 0.5)]):
        ref = TF.affine(x, angle=-a, translate=[0, 0], scale=s, shear=[0.0, 0.0],
                        interpolation=v2.InterpolationMode.BILINEAR, fill=0.0)
        diff = (got - ref).abs()
        # identical inside; torchvision blends the fill differently on the rotated border pixels only
        assert float(diff.mean()) < 0.01 and float(diff[:, 8:12, 12:18].max()) < 1e-5


def test_brightness_sweep_scales_pixels(lenet, six):
    s = A.brightness_sweep(lenet, six, [1.0, 2.0])
    x = A.image_tensor(lenet, six).cpu()
    assert torch.allclose(s.images[0], x) and torch.allclose(s.images[1], (2 * x).clamp(0, 1))
    assert s.labels[0] == lenet.predict(six, 1)[0][0]
    c = A.contrast_sweep(lenet, six, [0.0])
    assert torch.allclose(c.images[0], torch.full_like(x, float(x.mean())), atol=1e-5)  # contrast 0: flat mean grey


def test_shift_image_by_hand():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert torch.equal(A.shift_image(x, 0, 0), x)
    assert A.shift_image(x, 0, 1).tolist() == [[0, 1, 2], [0, 4, 5]]
    assert A.shift_image(x, 1, -1).tolist() == [[0, 0, 0], [2, 3, 0]]


def test_shift_by_zero_is_identity(lenet, six):
    s = A.shift_sweep(lenet, six, max_shift=3, layer="features.0")
    plain = torch.softmax(lenet.logits(lenet.preprocess(six)), 1)[0].cpu()
    assert torch.allclose(s.sweep.probs[0], plain, atol=1e-6)
    assert s.change[0] == 0.0 and s.aligned_change[0] == 0.0
    assert s.stride == 1


def test_shift_aliasing_on_a_pooling_model_by_hand():
    m = _tiny_pool_model()
    assert A.layer_strides(m) == {"0": 2}
    x = torch.zeros(1, 8, 8)
    x[0, 3, 2] = 1.0  # falls in pooled cell (1, 1) as 0.25
    s = A.shift_sweep(m, x, max_shift=3, layer="0")
    # shift 1: pixel at x=3, still cell (1, 1): no change. shift 2: cell (1, 2): raw sqrt(2), aligned 0.
    # shift 3: cell (1, 2) again, but round(3/2) = 2 cells of alignment overshoots: aligned sqrt(2).
    assert np.allclose(s.change, [0, 0, math.sqrt(2), math.sqrt(2)], atol=1e-6)
    assert np.allclose(s.aligned_change, [0, 0, 0, math.sqrt(2)], atol=1e-6)


def test_layer_strides_of_lenet(lenet):
    strides = A.layer_strides(lenet)
    # conv(pad 2) keeps 28, pool halves, conv 5x5 keeps the jump, pool halves again
    assert [strides[n] for n in ("features.0", "features.2", "features.3", "features.5")] == [1, 2, 2, 4]


def test_six_rotated_is_read_as_nine(lenet, six):
    f = A.rotate_until(lenet, six, "6", "9")
    assert f.sweep.labels[f.sweep.values.index(0.0)] == "6"
    assert f.flip_angle is not None and 90 <= abs(f.flip_angle) <= 180
    assert f.sweep.labels[f.sweep.values.index(f.flip_angle)] == "9"
    assert f.first_change is not None and abs(f.first_change) <= abs(f.flip_angle)
    with pytest.raises(ValueError, match="digit model"):
        A.rotate_until(_tiny_pool_model(), torch.zeros(1, 8, 8))


# ------------------------------------------------------------------ scrambling


def test_scramble_one_tile_is_identity_and_tiles_are_permuted():
    x = torch.arange(16.0).view(1, 4, 4)
    assert torch.equal(A.scramble(x, 1), x)
    y = A.scramble(x, 2, seed=0)
    tiles = lambda t: sorted(t[0, i:i + 2, j:j + 2].flatten().tolist() for i in (0, 2) for j in (0, 2))
    assert tiles(y) == tiles(x) and not torch.equal(y, x)
    assert torch.equal(A.scramble(x, 2, seed=0), y)
    # 5x5 with a 2x2 grid: tiles of 2x2, the last row and column stay in place
    z = torch.arange(25.0).view(1, 5, 5)
    w = A.scramble(z, 2, seed=3)
    assert torch.equal(w[0, 4], z[0, 4]) and torch.equal(w[0, :, 4], z[0, :, 4])
    with pytest.raises(ValueError, match="at most"):
        A.scramble(z, 6)


def test_scramble_sweep_one_tile_keeps_the_prediction(lenet, six):
    s = A.scramble_sweep(lenet, six, grids=(1, 4), shuffles=3)
    p = lenet.predict(six, 1)[0][1]
    assert np.allclose(s.probs[0].tolist(), [p] * 3, atol=1e-6) and s.kept[0] == 1.0
    assert s.tiles == [1, 16]


# ------------------------------------------------------------------ what the page shows


def test_user_errors_are_cnnviz_errors_that_name_the_fix():
    from cnnviz.errors import CnnvizError

    with pytest.raises(CnnvizError, match=r"\[0.0, 180.0\]"):
        A.step("rotate", degrees=200)
    with pytest.raises(A.AugmentationError, match="use at most 4 tiles"):
        A.scramble(torch.zeros(1, 4, 4), 5)
    assert A.transform_label("rotate", A.Target(1, 28, 28, 10)) == "Geometric: Rotation"
    rgb_only = [k for k, s in A.TRANSFORMS.items() if s.needs_rgb]
    assert rgb_only and A.transform_label(rgb_only[0], A.Target(1, 28, 28, 10)).endswith("(RGB only)")
    assert not A.transform_label(rgb_only[0], A.Target(3, 32, 32, 10)).endswith("(RGB only)")


def test_rotation_grid_cells_and_kept_by_hand():
    probs = torch.tensor([[[0.7, 0.3], [0.4, 0.6]], [[0.9, 0.1], [0.2, 0.8]]])  # 2 scales x 2 angles x 2 classes
    g = A.RotationScaleGrid([0.0, 90.0], [1.0, 0.5], probs, ["cat", "dog"], 0)
    assert g.cells() == [["cat (70%)", "dog (60%)"], ["cat (90%)", "dog (80%)"]]
    assert g.kept() == [[True, False], [True, False]]


def test_sweep_and_shift_tables_by_hand():
    s = A.Sweep("shift", [0.0, 1.0, 2.0], torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.55, 0.45]]), ["a", "b"], 0)
    rows = A.sweep_table(s)
    assert rows[1] == {"shift": 1.0, "top class": "b", "confidence": "70.0%", "P(a)": "30.0%"}
    sh = A.ShiftSweep(s, "conv1", 2, [0.0, 0.5, 0.25], [0.0, 0.5, 0.01])
    t = A.shift_table(sh)
    assert [r["shift (px)"] for r in t] == [0, 1, 2]
    assert t[2]["change of conv1"] == "0.250" and t[2]["change after alignment"] == "0.010"
    assert A.shift_table(A.ShiftSweep(s, "fc", None, [0.0, 0.1, 0.2], None))[0]["change after alignment"] == "—"


def test_label_flip_views_and_summary():
    values = [float(a) for a in range(-180, 181, 45)]
    probs = torch.tensor([[0.1, 0.9] if abs(a) >= 135 else [0.9, 0.1] for a in values])
    flip = A.LabelFlip(A.Sweep("angle", values, probs, ["6", "9"], 0), "6", "9", -135.0, -135.0)
    # upright, -45, -90, the flip at -135 and 180, in that order
    assert [values[i] for i in flip.view_indices()] == [0.0, -45.0, -90.0, -135.0, 180.0]
    assert "rotated by **-135°** (clockwise)" in A.label_flip_summary(flip, "The 6")
    never = A.LabelFlip(flip.sweep, "6", "9", None, None)
    assert "never reads the rotated 6 as a 9" in A.label_flip_summary(never)
    assert [values[i] for i in never.view_indices()] == [0.0, -45.0, -90.0, 180.0]


def test_mixing_note_and_soft_label_text():
    b = A.AugmentedBatch(torch.zeros(1, 1, 2, 2), torch.tensor([[0.5, 0.5]]), ["6", "3"], 0,
                         torch.tensor([[0.7, 0.3]]), (0, 1))
    assert A.mixed_label_text(b.mixed_labels()[0]) == "0.70·6 + 0.30·3"
    assert "6 and 3." in A.mixing_note(b) and "Both are the same class" not in A.mixing_note(b)
    same = A.AugmentedBatch(b.images, b.probs, b.classes, 0, b.mixed, (1, 1))
    assert "Both are the same class" in A.mixing_note(same)
    assert A.mixing_note(A.AugmentedBatch(b.images, b.probs, b.classes, 0)) is None


def test_scramble_demo_matches_its_parts(lenet, six):
    grid_max, shuffles = A.scramble_limits(lenet)
    assert (grid_max, shuffles) == (7, 8)  # 28 // 4 tiles per side at most, 8 shuffles on a small model
    d = A.scramble_demo(lenet, six, 3, seed=5, max_grid=3, shuffles=2)
    x0 = A.image_tensor(lenet, six)
    np.testing.assert_array_equal(d.scrambled, A.to_arrays(A.scramble(x0, 3, 5)[None])[0])
    np.testing.assert_array_equal(d.clean, A.to_arrays(x0[None])[0])
    want = A.predict_pixels(lenet, torch.stack([x0, A.scramble(x0, 3, 5)])).cpu()
    torch.testing.assert_close(d.clean_probs, want[0])
    torch.testing.assert_close(d.scrambled_probs, want[1])
    assert d.clean_class == lenet.predict(six, 1)[0][0]
    assert d.sweep.tiles == [1, 4, 9] and d.sweep.probs.shape == (3, 2)
