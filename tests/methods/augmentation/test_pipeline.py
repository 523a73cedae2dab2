"""cnnviz.methods.augmentation.pipeline: steps, the transforms and code they make, and the checks of a pipeline."""
import numpy as np
import pytest
import torch
from PIL import Image

from cnnviz.errors import CnnvizError
from cnnviz.methods.augmentation import (
    TRANSFORMS,
    PipelineIssue,
    Target,
    build_transform,
    check_pipeline,
    elastic_sigma_limit,
    pipeline_code,
    sample_batch,
    step,
    step_code,
)
from cnnviz.methods.augmentation.pipeline import EXTRA_MIXING, NEEDS_RGB, NEUTRAL, NEVER_APPLIED, SIGMA_LIMITED


def test_step_rejects_values_outside_limits_with_the_range():
    with pytest.raises(ValueError, match=r"\[0.0, 180.0\]"):
        step("rotate", degrees=200)
    with pytest.raises(ValueError, match="odd"):
        step("blur", kernel=4)
    with pytest.raises(ValueError, match="no parameter"):
        step("hflip", angle=3)
    with pytest.raises(KeyError, match="known"):
        step("nope")


def test_user_errors_are_cnnviz_errors_that_name_the_fix():
    with pytest.raises(CnnvizError, match=r"\[0.0, 180.0\]"):
        step("rotate", degrees=200)
    with pytest.raises(CnnvizError, match="known"):
        step("nope")


def test_step_merges_defaults_and_is_hashable():
    s = step("affine", degrees=30)
    assert s.params == {"degrees": 30.0, "translate": 0.1, "scale": (0.8, 1.2), "shear": 10.0}
    assert hash(s) == hash(step("affine", degrees=30.0)) and s == step("affine", degrees=30.0)


def test_horizontal_flip_by_hand_and_twice_is_identity():
    t = build_transform(step("hflip", p=1.0), Target(1, 1, 3, 10))
    x = torch.tensor([[[1.0, 2.0, 3.0]]])
    assert t(x).tolist() == [[[3.0, 2.0, 1.0]]]
    y = torch.rand(3, 9, 7)
    assert torch.equal(t(t(y)), y)


def test_step_code_by_hand():
    t = Target(1, 28, 28, 10)
    assert step_code(step("rotate", degrees=20), t) == "v2.RandomRotation(degrees=20, interpolation='bilinear')"
    assert step_code(step("crop", padding=4), t) == "v2.RandomCrop(size=(28, 28), padding=4)"
    assert step_code(step("channel", channel="green"), t) == \
        "v2.Lambda(lambda x: x * torch.tensor([0., 1., 0.]).view(3, 1, 1))"


def test_generated_code_builds_the_same_transform(resnet18_untrained):
    pipe = [step("hflip", p=1.0), step("channel", channel="red"), step("rotate", degrees=0.0)]
    code = pipeline_code(pipe, resnet18_untrained)
    ns: dict = {}
    exec(compile(code, "<pipeline>", "exec"), ns)
    arr = np.random.default_rng(1).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    x = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    ours = sample_batch(resnet18_untrained, x, pipe, n=1, seed=0).images[0].cpu()
    theirs = ns["augment"](img)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert "v2.Normalize(mean=[0.485, 0.456, 0.406]" in code


def test_generated_code_normalises_with_the_targets_statistics(lenet):
    pipe = [step("rotate")]
    assert "v2.Normalize(mean=[0.1307], std=[0.3081])" in pipeline_code(pipe, lenet)
    assert pipeline_code(pipe, lenet) == pipeline_code(pipe, Target.of(lenet))
    assert "v2.Normalize(mean=[0.5], std=[0.5])" in pipeline_code(pipe, Target(1, 28, 28, 10))
    assert "v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])" in pipeline_code(pipe)


def test_generated_code_mixes_a_batch_and_comments_out_colour_on_a_gray_model():
    code = pipeline_code([step("hue"), step("mixup"), step("noise"), step("cutmix")], Target(1, 28, 28, 10))
    assert "    # v2.ColorJitter(hue=0.1),  # needs RGB" in code
    assert "mix = v2.MixUp(alpha=1, num_classes=10)" in code
    # after the mix: the noise, not the second mixing step
    assert "after_mix = v2.Compose([v2.GaussianNoise(mean=0, sigma=0.1, clip=True)])" in code


@pytest.mark.parametrize("key", [k for k in TRANSFORMS if any(p.neutral is not None for p in TRANSFORMS[k].params)])
def test_neutral_values_really_leave_the_image_unchanged(key):
    spec = TRANSFORMS[key]
    s = step(key, **{p.name: p.neutral for p in spec.params if p.neutral is not None and p.name != "p"} or {"p": 0.0})
    issues = check_pipeline([s], Target(3, 32, 32, 10))
    assert len(issues) == 1 and issues[0].step == s and issues[0].kind in (NEUTRAL, NEVER_APPLIED)
    x = torch.rand(3, 32, 32)
    torch.manual_seed(0)
    assert torch.allclose(build_transform(s, Target(3, 32, 32, 10))(x), x, atol=1e-6)


def test_check_pipeline_by_hand():
    t = Target(1, 28, 28, 10)
    pipe = [step("mixup"), step("hflip", p=0.0), step("persp", distortion=0.0), step("cutmix"), step("hue"),
            step("elastic", sigma=10.0)]
    issues = check_pipeline(pipe, t)
    assert issues == [
        PipelineIssue(EXTRA_MIXING, pipe[3]),
        PipelineIssue(NEVER_APPLIED, pipe[1]),
        PipelineIssue(NEUTRAL, pipe[2], ("distortion",)),
        PipelineIssue(SIGMA_LIMITED, pipe[5], ("sigma",), 6.75),
        PipelineIssue(NEEDS_RGB, pipe[4]),
    ]
    assert check_pipeline([step("hue"), step("rotate")], Target(3, 224, 224, 1000)) == []


def test_elastic_sigma_is_limited_to_what_fits_the_image():
    # 28 px: kernel int(8 * sigma + 1) must keep its half-width below 28, so sigma <= 54 / 8 = 6.75
    t = Target(1, 28, 28, 10)
    assert elastic_sigma_limit(t) == 6.75
    s = step("elastic", sigma=15.0)
    assert build_transform(s, t)(torch.rand(1, 28, 28)).shape == (1, 28, 28)
    assert [(i.kind, i.used) for i in check_pipeline([s], t)] == [(SIGMA_LIMITED, 6.75)]
    assert "sigma=6.75" in step_code(s, t)


def test_rgb_only_transforms_are_flagged_on_a_grayscale_model(lenet):
    issues = check_pipeline([step("hue"), step("hflip")], Target.of(lenet))
    assert [(i.kind, i.step.key) for i in issues] == [(NEEDS_RGB, "hue")]
    assert check_pipeline([step("hue")], Target(3, 224, 224, 1000)) == []
