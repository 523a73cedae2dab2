"""cnnviz.text.augmentation: the page's words around the augmentation results (numbers worked out by hand)."""
import pytest
import torch

from cnnviz.methods.augmentation import (
    TRANSFORMS,
    AugmentedBatch,
    LabelFlip,
    ShiftSweep,
    Sweep,
    Target,
    check_pipeline,
    step,
)
from cnnviz.text import augmentation as txt


def test_every_transform_has_its_help_and_nothing_else_does():
    assert set(txt.TRANSFORM_HELP) == set(TRANSFORMS) and all(txt.TRANSFORM_HELP.values())
    assert set(txt.TRANSFORM_NOTES) <= set(TRANSFORMS)
    assert txt.transform_caption("vflip") == txt.TRANSFORM_HELP["vflip"] + " " + txt.TRANSFORM_NOTES["vflip"]
    assert txt.transform_caption("rotate") == "Rotate about the centre; corners fill with black."


def test_transform_labels_mark_colour_transforms_on_a_gray_model():
    assert txt.transform_label("rotate", Target(1, 28, 28, 10)) == "Geometric: Rotation"
    rgb_only = [k for k, s in TRANSFORMS.items() if s.needs_rgb]
    assert rgb_only and txt.transform_label(rgb_only[0], Target(1, 28, 28, 10)).endswith("(RGB only)")
    assert not txt.transform_label(rgb_only[0], Target(3, 32, 32, 10)).endswith("(RGB only)")


@pytest.mark.parametrize("key", [k for k in TRANSFORMS if any(p.neutral is not None for p in TRANSFORMS[k].params)])
def test_a_neutral_step_is_named_in_one_no_effect_note(key):
    spec = TRANSFORMS[key]
    s = step(key, **{p.name: p.neutral for p in spec.params if p.neutral is not None and p.name != "p"} or {"p": 0.0})
    t = Target(3, 32, 32, 10)
    notes = txt.pipeline_notes(check_pipeline([s], t), t)
    assert len(notes) == 1 and spec.name in notes[0] and "No effect" in notes[0]


def test_pipeline_notes_by_hand():
    t = Target(1, 28, 28, 10)
    pipe = [step("mixup"), step("hflip", p=0.0), step("persp", distortion=0.0), step("cutmix"), step("hue"),
            step("elastic", sigma=15.0)]
    notes = txt.pipeline_notes(check_pipeline(pipe, t), t)
    assert notes == [
        "Only one mixing step (MixUp or CutMix) is used per pipeline; the later ones are ignored.",
        "No effect with these settings: Horizontal flip (probability 0: never applied); Perspective (distortion = 0). "
        "Raise the value to see the transform.",
        "Elastic: sigma 15 needs a smoothing kernel wider than this 28x28 image; sigma 6.75 is used instead.",
        "Hue: this model sees one grayscale channel, and these transforms act on colour (hue, saturation and channels "
        "need red, green and blue), so they leave the image unchanged. Pick an RGB model (e.g. ResNet-18) in the "
        "sidebar to see them work.",
    ]
    assert txt.pipeline_notes([], t) == []


def test_rgb_only_transforms_are_explained_on_a_grayscale_model(lenet):
    t = Target.of(lenet)
    notes = txt.pipeline_notes(check_pipeline([step("hue"), step("hflip")], t), t)
    assert len(notes) == 1 and "Hue" in notes[0] and "RGB" in notes[0]


def test_sweep_and_shift_tables_by_hand():
    s = Sweep("shift", [0.0, 1.0, 2.0], torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.55, 0.45]]), ["a", "b"], 0)
    rows = txt.sweep_table(s)
    assert rows[1] == {"shift": 1.0, "top class": "b", "confidence": "70.0%", "P(a)": "30.0%"}
    assert txt.sweep_table(s, "factor")[0] == {"factor": 0.0, "top class": "a", "confidence": "60.0%", "P(a)": "60.0%"}
    sh = ShiftSweep(s, "conv1", 2, [0.0, 0.5, 0.25], [0.0, 0.5, 0.01])
    t = txt.shift_table(sh)
    assert [r["shift (px)"] for r in t] == [0, 1, 2]
    assert t[2]["change of conv1"] == "0.250" and t[2]["change after alignment"] == "0.010"
    assert txt.shift_table(ShiftSweep(s, "fc", None, [0.0, 0.1, 0.2], None))[0]["change after alignment"] == "—"


def test_label_flip_summary_and_reading():
    values = [float(a) for a in range(-180, 181, 45)]
    probs = torch.tensor([[0.1, 0.9] if abs(a) >= 135 else [0.9, 0.1] for a in values])
    flip = LabelFlip(Sweep("angle", values, probs, ["6", "9"], 0), "6", "9", -135.0, -135.0)
    assert "rotated by **-135°** (clockwise)" in txt.label_flip_summary(flip, "The 6")
    assert txt.label_flip_summary(flip, "The 6").endswith("it stops being a 6 already at -135°.")
    never = LabelFlip(flip.sweep, "6", "9", None, None)
    assert "never reads the rotated 6 as a 9" in txt.label_flip_summary(never)
    assert txt.rotation_reading(flip, [4, 0]) == "Rotation: read as  \n0°: **6** · -180°: **9**"


def test_mixing_note_and_soft_label_text():
    b = AugmentedBatch(torch.zeros(1, 1, 2, 2), torch.tensor([[0.5, 0.5]]), ["6", "3"], 0,
                       torch.tensor([[0.7, 0.3]]), (0, 1))
    assert txt.mixed_label_text(b.mixed_labels()[0]) == "0.70·6 + 0.30·3"
    assert "6 and 3." in txt.mixing_note(b) and "Both are the same class" not in txt.mixing_note(b)
    same = AugmentedBatch(b.images, b.probs, b.classes, 0, b.mixed, (1, 1))
    assert "Both are the same class" in txt.mixing_note(same)
    assert txt.mixing_note(AugmentedBatch(b.images, b.probs, b.classes, 0)) is None


def test_page_sentences_carry_their_numbers():
    assert txt.samples_summary("7", 6, 8, True) == ("The clean image is read as **7**; **6 of the 8 samples keep that "
                                                    "prediction** (green: same class, red: changed).")
    assert "every sample is the clean image" in txt.samples_summary("7", 8, 8, False)
    assert "stride (4 pixels, dotted lines)" in txt.shift_note(4)
    assert "**cat**" in txt.rotation_caption("cat")
    assert "fashion-model has no classes '6' and '9'" in txt.needs_digits("fashion-model")
    assert txt.scramble_margin(28, 7) is None
    assert txt.scramble_margin(28, 3) == ("28 pixels do not split into 3 equal tiles: the last 1 row(s)/column(s) of "
                                          "pixels stay in place.")
