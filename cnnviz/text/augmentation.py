"""Page text of /augmentation: what each transform does, the notes under each view, and the sentences and
table rows the views build from a result of :mod:`cnnviz.methods.augmentation`.

Streamlit-free and computation-free: every function here only puts words around numbers it is given.

Examples::

    >>> mixed_label_text([("6", 0.7), ("3", 0.3)])
    '0.70·6 + 0.30·3'
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cnnviz.methods.augmentation.pipeline import (
    EXTRA_MIXING,
    NEEDS_RGB,
    NEUTRAL,
    NEVER_APPLIED,
    SIGMA_LIMITED,
    PipelineIssue,
)
from cnnviz.methods.augmentation.transforms import GROUPS, Target, transform_spec

if TYPE_CHECKING:
    from cnnviz.methods.augmentation.sampling import AugmentedBatch
    from cnnviz.methods.augmentation.shift import ShiftSweep
    from cnnviz.methods.augmentation.sweeps import LabelFlip, Sweep

# ------------------------------------------------------------------------------------ the transforms

# what each transform of the table does, one or two sentences (the caption of its controls)
TRANSFORM_HELP: dict[str, str] = {
    "hflip": "Mirror left-right. Safe for most objects; changes the meaning of text and of some digits.",
    "vflip": "Mirror top-bottom. Label-changing for digits (6 and 9) and unnatural for most photos.",
    "rotate": "Rotate about the centre; corners fill with black.",
    "translate": "Shift the image by a random offset; the uncovered border fills with black.",
    "crop": "Pad, then cut a window of the input size at a random place: a random shift by up to `padding` pixels.",
    "rcrop": "Cut a random window (random area and aspect ratio) and resize it to the input size: zoom and shift.",
    "affine": "Rotation, shift, zoom and shear in one random affine map.",
    "persp": "Move the four corners at random: the image as seen from another viewpoint.",
    "elastic": "Smoothly warp the image with a random displacement field, like handwriting wobble.",
    "bright": "Scale all pixel values: darker or brighter lighting.",
    "contrast": "Push pixels away from (or towards) the mean grey.",
    "sat": "More or less vivid colours.",
    "hue": "Shift every colour around the colour wheel (red towards yellow, ...).",
    "channel": "Keep one colour channel and zero the others: what is left when only red (or green, or blue) light "
               "counts.",
    "gray": "Drop the colour (kept as 3 equal channels): the model must not rely on colour alone.",
    "blur": "Convolve with a Gaussian kernel of random width: out-of-focus or low-resolution images.",
    "sharp": "Blend with a smoothed copy (a 3x3 kernel filter) to sharpen or soften edges.",
    "erase": "Black out a random box (Cutout): the model must use more than one part of the object.",
    "mixup": "Blend with a second image, lambda*x1 + (1-lambda)*x2; the label is blended with the same weights.",
    "cutmix": "Paste a random box of a second image; the label is mixed in proportion to the pasted area.",
    "noise": "Add independent Gaussian noise to every pixel (sensor noise), clipped to 0..1.",
}

# a caution that follows the help of a few transforms
TRANSFORM_NOTES: dict[str, str] = {
    "vflip": "Upside-down objects rarely occur in real photos; on digits, a flipped 6 is not a 6.",
}


def transform_caption(key: str) -> str:
    """What the transform does, with its caution if it has one.

    Examples::

        >>> transform_caption("rotate")
        'Rotate about the centre; corners fill with black.'
    """
    return TRANSFORM_HELP[key] + (f" {TRANSFORM_NOTES[key]}" if key in TRANSFORM_NOTES else "")


def transform_label(key: str, target: Target) -> str:
    """``"Geometric: Rotation"``, marked ``(RGB only)`` when the transform needs colour the target lacks.

    Examples::

        >>> transform_label("rotate", Target(1, 28, 28, 10))
        'Geometric: Rotation'
    """
    spec = transform_spec(key)
    return f"{GROUPS[spec.group]}: {spec.name}" + (" (RGB only)" if spec.needs_rgb and target.channels == 1 else "")


def _idle_text(issue: PipelineIssue) -> str:
    spec = issue.step.spec
    if issue.kind == NEVER_APPLIED:
        return f"{spec.name} (probability 0: never applied)"
    params = [spec.param(name) for name in issue.params]
    return f"{spec.name} (" + ", ".join(f"{p.label or p.name} = {p.neutral:g}" for p in params) + ")"


def pipeline_notes(issues: Sequence[PipelineIssue], target: Target) -> list[str]:
    """The issues of :func:`~cnnviz.methods.augmentation.check_pipeline` as plain-language notes, one per kind.

    Examples::

        >>> pipeline_notes(check_pipeline([step("rotate", degrees=0)], Target(1, 28, 28, 10)), Target(1, 28, 28, 10))
        ['No effect with these settings: Rotation (max angle (degrees) = 0). Raise the value to see the transform.']
    """
    notes = []
    if any(i.kind == EXTRA_MIXING for i in issues):
        notes.append("Only one mixing step (MixUp or CutMix) is used per pipeline; the later ones are ignored.")
    idle = [_idle_text(i) for i in issues if i.kind in (NEVER_APPLIED, NEUTRAL)]
    if idle:
        notes.append(f"No effect with these settings: {'; '.join(idle)}. Raise the value to see the transform.")
    for i in issues:
        if i.kind == SIGMA_LIMITED:
            notes.append(f"Elastic: sigma {i.step.params['sigma']:g} needs a smoothing kernel wider than this "
                         f"{target.height}x{target.width} image; sigma {i.used:g} is used instead.")
    rgb = [i.step.spec.name for i in issues if i.kind == NEEDS_RGB]
    if rgb:
        notes.append(f"{', '.join(rgb)}: this model sees one grayscale channel, and these transforms act on colour "
                     "(hue, saturation and channels need red, green and blue), so they leave the image unchanged. "
                     "Pick an RGB model (e.g. ResNet-18) in the sidebar to see them work.")
    return notes


# ------------------------------------------------------------------------------------ random samples

CATALOGUE_HELP = ("The catalogue follows the lecture: geometric, colour, kernel filters, random erasing, mixing "
                  "images, noise injection.")
SEED_HELP = "The same seed reproduces the same samples (and link)."
MIX_HELP = "MixUp and CutMix blend the input with this image, and blend the labels too."
SAMPLES_NOTE = ("Transforms that keep the object recognisable can still change the answer: the model was trained on "
                "(almost) unaugmented images. A transform belongs in training only if it keeps the label; its strength "
                "is a trade-off between variety and destroying the evidence (erase too much, and no one could tell the "
                "class).")


def samples_summary(clean: str, kept: int, n: int, any_steps: bool) -> str:
    """The sentence above the sample grid (markdown).

    Examples::

        >>> samples_summary("7", 6, 8, False)[-49:]
        '(no transforms: every sample is the clean image).'
    """
    legend = "green: same class, red: changed" if any_steps else "no transforms: every sample is the clean image"
    return f"The clean image is read as **{clean}**; **{kept} of the {n} samples keep that prediction** ({legend})."


def mixed_label_text(label: Sequence[tuple[str, float]]) -> str:
    """A soft label as ``"0.70·6 + 0.30·3"`` (weights first, as the pixels were blended).

    Examples::

        >>> mixed_label_text([("6", 0.7), ("3", 0.3)])
        '0.70·6 + 0.30·3'
    """
    return " + ".join(f"{p:.2f}·{c}" for c, p in label)


def mixing_note(batch: AugmentedBatch) -> str | None:
    """What the soft labels of a mixing pipeline mean, and a warning when both images are of one class."""
    if batch.mix_labels is None:
        return None
    a, b = (batch.classes[i] for i in batch.mix_labels)
    return (f"Mixed labels: the soft target the network would be trained on, with the same weights as the pixels. "
            f"The labels of the two clean images are the model's own predictions on them: {a} and {b}."
            + (" Both are the same class here, so mixing leaves the label unchanged: pick a second image of another "
               "class." if a == b else ""))


# ------------------------------------------------------------------------------------ sweeps

SWEEP_INTRO = ("Each sweep changes one thing at a time and runs all the transformed images through the model in one "
               "batched forward pass. The curves follow the probability of the class the model gives the clean image.")
ROTATION_NOTE = ("Confidence usually falls within a few tens of degrees, and faster when the object is also smaller: "
                 "nothing in a CNN is rotation- or scale-invariant unless training made it so.")
LIGHT_NOTE = ("Brightness multiplies pixels, contrast blends with the mean grey. Normalisation removes neither: a "
              "network trained on well-lit images meets a dark or flat image as something new.")


def rotation_caption(clean: str) -> str:
    """The sentence above the rotation x scale table (markdown)."""
    return (f"Top prediction and confidence for each rotation (counter-clockwise) and zoom; clean image: **{clean}**. "
            "Green cells keep the clean prediction.")


def shift_note(stride: int | None) -> str:
    """The note under the shift sweep, for a layer of total stride ``stride``."""
    return (f"A shift by a multiple of the layer's stride ({stride} pixels, dotted lines) moves the feature map "
            "by whole cells, so once that move is taken out the change nearly vanishes. Shifts in between cannot "
            "be represented on the coarser grid: the features change although the content only moved. That is "
            "aliasing from striding and pooling, and it is why a one-pixel shift can change a prediction.")


def sweep_table(sweep: Sweep, parameter: str | None = None) -> list[dict[str, Any]]:
    """A sweep as table rows: the value, the top class and its confidence, P(clean class).

    Examples::

        >>> s = Sweep("brightness", [0.5, 1.0], torch.tensor([[0.2, 0.8], [0.9, 0.1]]), ["a", "b"], 0)
        >>> sweep_table(s, "factor")[0]
        {'factor': 0.5, 'top class': 'b', 'confidence': '80.0%', 'P(a)': '20.0%'}
    """
    clean = sweep.classes[sweep.reference]
    rows = zip(sweep.values, sweep.labels, sweep.confidences, sweep.reference_probs, strict=True)
    return [{parameter or sweep.parameter: v, "top class": lab, "confidence": f"{c:.1%}", f"P({clean})": f"{p:.1%}"}
            for v, lab, c, p in rows]


def shift_table(s: ShiftSweep) -> list[dict[str, Any]]:
    """The shift sweep as table rows: :func:`sweep_table` plus the layer's change, raw and after alignment."""
    rows = sweep_table(s.sweep, "shift (px)")
    for i, row in enumerate(rows):
        row["shift (px)"] = int(row["shift (px)"])
        row[f"change of {s.layer}"] = f"{s.change[i]:.3f}"
        row["change after alignment"] = f"{s.aligned_change[i]:.3f}" if s.aligned_change is not None else "—"
    return rows


# ------------------------------------------------------------------------------------ 6 -> 9

SIX_IMAGE = "The bundled handwritten 6 (`assets/samples/digit-6.png`)"
SIX_NINE_NOTE = ("An augmentation can change the label: rotating digits by up to 180° (or flipping them) would teach "
                 "the network that a 6 and a 9 are the same class. Limit rotations for digits and text; for other "
                 "data ask the same question of every transform (is a flipped shoe still a shoe? yes; is a flipped "
                 "'b' still a 'b'? no).")


def needs_digits(model_name: str) -> str:
    """Why the 6-to-9 view shows nothing for ``model_name``, and what to pick instead (markdown)."""
    return (f"This demo needs a model that reads digits ({model_name} has no classes '6' and '9'): pick "
            "**LeNet-5 on MNIST digits** in the sidebar.")


def label_flip_summary(flip: LabelFlip, image_name: str = "the image") -> str:
    """Where the rotated image turns from ``source`` into ``target``, in words (markdown)."""
    if flip.flip_angle is None:
        return (f"This model never reads the rotated {flip.source} as a {flip.target}; the curves show what it reads "
                "instead.")
    way = "clockwise" if flip.flip_angle < 0 else "counter-clockwise"
    return (f"{image_name} is read as **{flip.target}** once it is rotated by **{flip.flip_angle:g}°** ({way}); it "
            f"stops being a {flip.source} already at {flip.first_change:g}°.")


def rotation_reading(flip: LabelFlip, indices: Sequence[int]) -> str:
    """What the model reads at the shown rotations, e.g. ``"Rotation: read as  \\n0°: **6** · 180°: **9**"``."""
    return "Rotation: read as  \n" + " · ".join(f"{flip.sweep.values[i]:g}°: **{flip.sweep.labels[i]}**"
                                                for i in indices)


# ------------------------------------------------------------------------------------ scramble

SCRAMBLE_INTRO = ("Cut the image into a grid of tiles and shuffle them: every local feature is still there, only "
                  "their arrangement is wrong. If the model still gives the same answer, it is counting parts, not "
                  "checking how they fit together.")
SCRAMBLE_NOTE = ("With a few large tiles, big models often keep their answer: the parts are there and a CNN's late "
                 "layers pool them with little regard for their layout (the Picasso problem). With many small tiles, "
                 "the parts themselves are cut up and the answer goes.")


def scramble_margin(side: int, grid: int) -> str | None:
    """The caption for a side that ``grid`` tiles do not split evenly (None when they do)."""
    if side % grid == 0:
        return None
    return (f"{side} pixels do not split into {grid} equal tiles: the last {side % grid} row(s)/column(s) of pixels "
            "stay in place.")
