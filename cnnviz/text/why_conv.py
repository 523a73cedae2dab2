"""Page text of /why-convolutions: the "what to notice" notes of each view, the help of its controls, and the
sentences that word a measured result.

Streamlit-free and computation-free: the numbers come from :mod:`cnnviz.methods.why_conv`, these are the words
beside them.

Examples::

    >>> from cnnviz.methods.why_conv import layer_params
    >>> params_summary(layer_params(32, 32, 3, units=1))[:46]
    'One dense unit on 32x32x3 needs 3,072 weights;'
"""
from __future__ import annotations

from cnnviz.methods.why_conv import (
    AuxiliaryResult,
    DegradationSweep,
    HandcraftedCurve,
    LabelCurves,
    LayerParams,
    PermutedResult,
)

INPUT_PRESETS = {
    "28x28x1": "28x28x1 (MNIST)",
    "32x32x3": "32x32x3 (CIFAR-10)",
    "224x224x3": "224x224x3 (ImageNet)",
    "256x256x3": "256x256x3",
    "model": "the sidebar model's input",
    "custom": "your own size",
}

# ------------------------------------------------------------------------------------------- notes
PARAMS_NOTE = (
    "- A dense unit has one weight per input value, so its count grows with the image: 3,072 on 32x32x3, "
    "196,608 on 256x256x3, and a layer of many units multiplies that.\n"
    "- **Locality** (each output looks at a small f x f window) is the first saving: the locally connected "
    "layer. **Weight sharing** (the same filter at every position) is the second: the convolution's count "
    "does not depend on the image size at all.\n"
    "- Fewer parameters means fewer examples needed to fit them: the prior that nearby pixels belong together, "
    "and that a pattern means the same thing anywhere, is built in instead of learned."
)
PERMUTED_NOTE = (
    "- One fixed shuffle of the 784 pixel positions, applied to every digit (training and test): the "
    "information is all still there, but neighbours are no longer neighbours.\n"
    "- The MLP does not care: permuting its inputs only permutes the columns of its first weight matrix, and a "
    "fresh random initialisation has no preferred order. Its two bars are equal up to noise.\n"
    "- LeNet-5's 5x5 kernels and pooling assume that nearby pixels belong together. On the shuffled digits that "
    "prior is wrong, and its accuracy falls, often below the MLP's: an inductive bias helps only when it is true of "
    "the data."
)
HANDCRAFTED_NOTE = (
    "- Before 2012 a classifier was features designed by hand (HOG: histograms of edge orientations per cell; "
    "or a fixed bank of Gabor filters) and a linear SVM on top. The CNN learns its features from the same "
    "digits.\n"
    "- With little data good handcrafted features are hard to beat: they carry knowledge no data had to "
    "teach. The learned features need examples, and keep improving as they get them.\n"
    "- Raw pixels + SVM (dotted) is what the features are there to improve on. On digits a Gabor bank is "
    "strong (it is close to what a CNN's first layer learns); on natural images at ImageNet scale the learned "
    "features won by far.\n"
    "- The default sizes (up to 1,000 digits, about 20 s) show the small-data end; with 50 … 8,000 (about a "
    "minute) LeNet-5 passes the HOG pipeline from about 4,000 digits on."
)
CELLS_NOTE = (
    "- The **simple cell** (a Gabor filter at one place, then ReLU) fires for a bar of its orientation on its "
    "receptive field (red circle) only: move the bar a few pixels and it goes quiet.\n"
    "- The **complex cell** takes the maximum of simple cells of the same orientation at nearby positions "
    "(blue square): it keeps firing wherever the bar sits inside that region, and is still tuned to orientation.\n"
    "- Hubel & Wiesel (1959-62) found both in the cat's visual cortex. A convolution layer is a sheet of simple "
    "cells (one filter, every position); max-pooling makes complex cells of them."
)
SIGMOID_NOTE = (
    "- σ'(x) = σ(x)(1 − σ(x)) is at most 0.25, at x = 0, and nearly 0 once |x| > 5 (saturation). Through n "
    "sigmoid layers backpropagation multiplies n such factors: at most 0.25ⁿ, 10⁻¹² at n = 20.\n"
    "- The weights multiply in too: at small gains the error signal vanishes on its way to layer 1, at large "
    "gains it explodes (ReLU, tanh) or the sigmoids saturate.\n"
    "- ReLU with gain √2 (He initialisation) keeps the signal about steady through depth: one reason deep "
    "networks became trainable."
)
DEGRADATION_NOTE = (
    "- Every network had the same budget. A deeper plain network could copy the shallower one and make its "
    "extra layers the identity, yet its *training* error rises with depth: not overfitting, an optimisation "
    "failure (He et al. 2015, the 20- vs 56-layer plot).\n"
    "- A residual block computes x + F(x): the identity is F = 0, easy to reach, and the gradient has a "
    "shortcut back to the early layers. The residual networks do not degrade.\n"
    "- Small networks and a short training here, so the numbers are rough; the gap is what to look at."
)
LABELS_NOTE = (
    "- Blue: true labels. Red: each training digit got a random label, fixed for the whole run.\n"
    "- Both training curves (solid) climb to about 100%: the network memorises a labelling that has no "
    "pattern at all, only more slowly.\n"
    "- The test curves (dashed) part: with random labels there was nothing to learn but the training set, so "
    "test accuracy stays at chance. Capacity to fit does not explain why networks generalise (Zhang et al. 2016)."
)
AUXILIARY_NOTE = (
    "- The main loss's error signal (red) shrinks at every sigmoid layer on its way down to layer 1.\n"
    "- GoogLeNet added small classifiers halfway (weight 0.3 in the loss): their gradient (blue) enters at the "
    "head's layer and has only half the depth left to cross, so the early layers get orders of magnitude more.\n"
    "- At test time the auxiliary heads are thrown away. Batch normalisation and residual connections later "
    "made them unnecessary."
)

# ------------------------------------------------------------------------------------------- control help
GAIN_HELP = ("Weights are drawn from N(0, gain²/fan-in): gain 1 is LeCun's initialisation, √2 ≈ 1.41 He's (for ReLU), "
             "about 4 compensates the sigmoid's slope of 0.25.")
PERMUTED_HELP = "Both networks are trained from a fresh, seeded initialisation on plain and on permuted digits."
HANDCRAFTED_HELP = "HOG: gradient-orientation histograms per 7x7 cell. Gabor: 8 fixed oriented filters, pooled."
POOL_HELP = "Half the side of the complex cell's pooling window, in pixels."


# ------------------------------------------------------------------------------------------- summaries
def params_summary(p: LayerParams) -> str:
    """One sentence with the counts of :class:`~cnnviz.methods.why_conv.LayerParams`."""
    return (f"One dense unit on {p.height}x{p.width}x{p.channels} needs {p.dense_per_unit:,} weights; "
            f"{p.units} dense units {p.dense:,} parameters, {p.units} {p.kernel}x{p.kernel} conv filters "
            f"{p.conv:,} (the locally connected layer between them: {p.local:,}).")


def permuted_summary(r: PermutedResult) -> str:
    """The measured accuracies in one sentence (runs a stop cut off are left out)."""
    parts = [f"{m}: {a['plain']:.1%} on plain digits, {a['permuted']:.1%} on permuted ones"
             for m, a in r.accuracy.items() if len(a) == 2]
    head = f"{r.n_train:,} training digits, {r.epochs} epochs, tested on {r.n_test:,}. "
    return head + ("; ".join(parts) + "." if parts else "Stopped before a network finished both runs.")


def handcrafted_summary(c: HandcraftedCurve) -> str:
    if not c.sizes:
        return "Stopped before the first training-set size was measured."
    a = c.accuracy
    return (f"At {c.sizes[0]:,} digits: features {a['features'][0]:.1%}, CNN {a['cnn'][0]:.1%}; at {c.sizes[-1]:,}: "
            f"features {a['features'][-1]:.1%}, CNN {a['cnn'][-1]:.1%} (tested on {c.n_test:,} digits).")


def degradation_summary(d: DegradationSweep) -> str:
    if not d.depths:
        return "Stopped before the first depth was measured."
    e = d.train_error
    return (f"Training error at {d.depths[0]} blocks: plain {e['plain'][0]:.1%}, residual {e['residual'][0]:.1%}; "
            f"at {d.depths[-1]} blocks: plain {e['plain'][-1]:.1%}, residual {e['residual'][-1]:.1%}.")


def labels_summary(c: LabelCurves) -> str:
    if not c.train["random"]:
        return "Stopped before the run on random labels."
    return (f"After {len(c.train['random'])} epochs on {c.n_train} digits: true labels "
            f"{c.final('train', 'true'):.0%} train / {c.final('test', 'true'):.0%} test; random labels "
            f"{c.final('train', 'random'):.0%} train / {c.final('test', 'random'):.0%} test (chance: 10%).")


def auxiliary_summary(r: AuxiliaryResult) -> str:
    return (f"Error signal at layer 1: {r.signal_without[0]:.1e} from the main loss alone, {r.signal_with[0]:.1e} "
            f"with the auxiliary head after layer {r.aux_at} ({r.boost:,.0f}x).")
