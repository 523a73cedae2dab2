"""cnnviz.methods.augmentation.transforms: the table's rows build transforms, at their defaults and their limits."""
import pytest
import torch

from cnnviz.methods.augmentation import (
    GROUPS,
    TRANSFORMS,
    Param,
    Target,
    UnknownTransformError,
    build_transform,
    step,
    step_code,
    transform_spec,
)


@pytest.mark.parametrize("key", list(TRANSFORMS))
def test_every_table_entry_builds_a_transform_with_defaults_in_limits(key):
    spec = TRANSFORMS[key]
    assert spec.group in GROUPS and spec.name and spec.key == key
    for p in spec.params:
        assert p.label and p.help, f"{key}.{p.name} needs a label and a help text for its control"
        assert (p.kind == "choice") == bool(p.options)
        assert p.validate(p.default) == (tuple(p.default) if p.kind == "range" else p.default)
        if p.kind in ("float", "int", "range"):
            assert p.low <= (p.default[0] if p.kind == "range" else p.default) <= p.high
    for target, shape in ((Target(1, 28, 28, 10), (1, 28, 28)), (Target(3, 32, 32, 1000), (3, 32, 32))):
        t = build_transform(step(key), target)
        x = torch.rand(*shape)
        if spec.mixing:
            imgs, labels = t(torch.stack([x, torch.rand(*shape)]), torch.tensor([0, 1]))
            assert imgs.shape == (2, *shape) and labels.shape == (2, target.num_classes)
        else:
            assert t(x).shape == shape
        assert step_code(step(key), target).startswith("v2.")


@pytest.mark.parametrize("end", ["low", "high"])
def test_every_transform_runs_at_its_limits_on_a_28px_image(end):
    t = Target(1, 28, 28, 10)
    for key, spec in TRANSFORMS.items():
        values = {}
        for p in spec.params:
            if p.kind == "choice":
                values[p.name] = p.options[0 if end == "low" else -1]
            elif p.kind == "range":
                values[p.name] = (p.low, p.low) if end == "low" else (p.high, p.high)
            else:
                v = p.low if end == "low" else p.high
                values[p.name] = (v if v % 2 else v - 1) if p.odd else v
        tr = build_transform(step(key, **values), t)
        if spec.mixing:
            out = tr(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))[0]
        else:
            out = tr(torch.rand(1, 28, 28))
        assert out.shape[-2:] == (28, 28), key


def test_param_validation_by_hand():
    k = Param("k", "int", 3, 1, 9, 2, odd=True)
    assert k.validate(5) == 5
    with pytest.raises(ValueError, match="odd.*got 6; use 7"):
        k.validate(6)
    with pytest.raises(ValueError, match="whole number"):
        k.validate(2.5)
    r = Param("r", "range", (0.1, 0.2), 0.0, 1.0)
    assert r.validate([0.3, 0.4]) == (0.3, 0.4)
    with pytest.raises(ValueError, match="low <= high"):
        r.validate((0.5, 0.4))


def test_unknown_keys_are_key_errors_that_list_the_known_ones():
    with pytest.raises(KeyError, match="known: hflip, vflip"):
        transform_spec("nope")
    with pytest.raises(UnknownTransformError, match=r"it has \['degrees'\]"):
        TRANSFORMS["rotate"].param("angle")
    assert str(UnknownTransformError("plain")) == "plain"  # not quoted as a KeyError would be


def test_target_carries_the_models_statistics(lenet):
    t = Target.of(lenet)
    assert (t.channels, t.height, t.width, t.num_classes) == (1, 28, 28, 10)
    assert t.stats == (tuple(lenet.mean), tuple(lenet.std))
    # made by hand: ImageNet's statistics for RGB, 0.5 for one channel
    assert Target(3, 224, 224, 1000).stats == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert Target(1, 28, 28, 10).stats == ((0.5,), (0.5,))
