"""Page text of /capsules: the introduction, control labels, captions and the "what to notice" notes of its views.

Streamlit-free and computation-free: :mod:`cnnviz.methods.capsules` returns the numbers, :mod:`cnnviz.ui.views.capsules`
puts these words beside them.

Examples::

    >>> SCENARIO_TITLES["split"]
    'split: two groups of parts, two wholes'
"""
from __future__ import annotations

from collections.abc import Sequence

INTRO = (
    "A **capsule** is a group of neurons whose output is a *vector*: its **length** says how likely an entity "
    "(a stroke, a digit) is present, its **direction** encodes the entity's pose (position, thickness, slant). "
    "Sabour, Frosst & Hinton (2017) stack a convolution, **PrimaryCaps** (a convolution read as 8-D capsules) and "
    "**DigitCaps** (one 16-D capsule per digit). Each primary capsule *predicts* each digit capsule through a "
    "learned matrix, and **routing by agreement** sends it where the predictions agree, instead of max pooling's "
    "fixed choice. The bundled **capsnet-mnist** was trained here on the 8,000 bundled digits with the paper's "
    "margin loss and reconstruction decoder, and the other pages read it like any model (its receptive "
    "fields stop at the capsules)."
)
CAPSNET_NOTE = ("These views use the bundled **capsnet-mnist** (loaded once for the server), whatever model the "
                "sidebar has: only a capsule network has capsules to show.")

SQUASH_NOTE = (
    "The squashing function $v = \\frac{|s|^2}{1+|s|^2}\\frac{s}{|s|}$ keeps the vector's direction and maps its "
    "length into [0, 1): short vectors shrink to almost nothing (|s| = 0.5 gives 0.2), long ones saturate just "
    "below 1 (|s| = 3 gives 0.9). Unlike a sigmoid, length 0 stays 0: no evidence, no entity. Unlike a ReLU, "
    "the output is bounded, so a length can be read as a probability."
)

SCENARIO_TITLES = {
    "agree": "agree: every part predicts whole 1 alike",
    "split": "split: two groups of parts, two wholes",
    "disagree": "disagree: every prediction points its own way",
}
SPREAD_HELP = "How much the agreeing parts' predictions scatter (degrees): 0 is perfect agreement."
ITERATION_HELP = "Routing iteration to show: iteration 1 is plain averaging (every c = 1 / wholes)."


def routing_note(lengths_first: Sequence[float], lengths_last: Sequence[float], iterations: int) -> str:
    """The routing view's note, with the output lengths of the first and the last iteration."""
    first = ", ".join(f"{v:.2f}" for v in lengths_first)
    last = ", ".join(f"{v:.2f}" for v in lengths_last)
    return (
        "Each part i predicts every whole j's pose (û_ij, thin arrows). Iteration 1 couples every part to every "
        "whole equally; each later iteration raises c_ij by the agreement û_ij · v_j, softmaxed over the wholes, "
        "so a part moves towards the whole whose output its prediction agrees with. Agreeing predictions add up "
        "to a long output vector; scattered ones cancel. Output lengths, iteration 1: "
        f"{first}; iteration {iterations}: {last}."
    )


LENGTHS_NOTE = (
    "Each digit capsule's length is the network's belief that this digit is present; the lengths do **not** sum "
    "to 1 (two digits could both be there). Training pushed the true digit's capsule above m+ = 0.9 and every "
    "other below m- = 0.1 (the margin loss, λ = 0.5 for the absent ones). The page's predictions (and every other "
    "page) use the logit of the length, log(|v| / (1 − |v|)), softmaxed."
)

DIMENSIONS_NOTE = (
    "The decoder redraws the digit from its 16-D capsule alone (all other capsules masked, as in training). "
    "Moving one dimension by ±0.25 (the paper's range) changes one aspect of the drawing: stroke width, slant, "
    "scale, a local part. The dimensions were never told what to encode; the reconstruction loss made the "
    "capsule carry the pose."
)
DIMENSION_LABEL = "dim {d}"

ROBUSTNESS_NOTE_HEAD = (
    "Both networks were trained on the same 8,000 digits with the same ±2 px shifts and never saw a rotated, far "
    "shifted or scrambled digit. Measured on the first {n} bundled test digits: "
)


def robustness_note(results) -> str:
    """The robustness view's note: the measured accuracies at the strongest setting of each distortion."""
    parts = []
    for r in results:
        bits = ", ".join(f"{name} {acc[-1]:.0%}" for name, acc in r.accuracy.items())
        parts.append(f"{r.kind} {r.values[-1]:g} {r.unit}: {bits}")
    return (ROBUSTNESS_NOTE_HEAD.format(n=results[0].n if results else 0) + "; ".join(parts) + ". "
            "Capsules were proposed to generalise to new viewpoints; on these digits the numbers say how much "
            "of that a small CapsNet shows, whichever way they come out. Scrambled tiles keep every stroke but "
            "not the digit: a classifier that stays confident there is reading parts, not wholes.")


def pooling_note(grids: Sequence[int], pooled: Sequence[float], cnn_prob: Sequence[float],
                 length: Sequence[float], label: str) -> str:
    """The pooling view's note with the measured numbers at the largest grid."""
    g = grids[-1]
    return (
        "Hinton's critique: max pooling keeps *whether* a feature is present and throws away *where*, so a "
        "pooled representation cannot tell a digit from its parts rearranged. With the tiles shuffled "
        f"{g}x{g}, the CNN's globally max-pooled last-layer features are still {pooled[-1]:.2f} similar (cosine) to "
        f"the digit's, the CNN gives {label} {cnn_prob[-1]:.0%}, and the CapsNet's capsule {label} has length "
        f"{length[-1]:.2f} (was {length[0]:.2f}). LeNet-5 pools locally (2x2 twice) and keeps a coarse 5x5 map, so "
        "it is not fully blind to arrangement either: the numbers are what these two networks do, not a proof."
    )
