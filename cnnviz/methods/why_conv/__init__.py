"""Why convolutions work: the experiments of /why-convolutions, one concept per module, re-exported here.

* :mod:`~cnnviz.methods.why_conv.data`: a few hundred bundled digits as tensors, the seeded training loop,
  the MLP, accuracy, :class:`WhyConvError`;
* :mod:`~cnnviz.methods.why_conv.params`: dense vs locally connected vs convolutional parameter counts;
* :mod:`~cnnviz.methods.why_conv.permuted`: an MLP and LeNet-5 on plain and on pixel-permuted digits;
* :mod:`~cnnviz.methods.why_conv.handcrafted`: HOG / Gabor features + a linear SVM against a CNN, by data size;
* :mod:`~cnnviz.methods.why_conv.cells`: Hubel & Wiesel's simple (Gabor) and complex (max-pooled) cells;
* :mod:`~cnnviz.methods.why_conv.gradients`: σ and σ', gradients through a deep plain network at initialisation;
* :mod:`~cnnviz.methods.why_conv.degradation`: plain vs residual networks against depth;
* :mod:`~cnnviz.methods.why_conv.random_labels`: fitting random labels (Zhang et al. 2016);
* :mod:`~cnnviz.methods.why_conv.auxiliary`: GoogLeNet's auxiliary classifier and the gradient of early layers.

The four that train networks (permuted, handcrafted, degradation, random labels) take ``progress`` and ``stop``
(:mod:`cnnviz.core.runtime`) and an optional ``on_partial(result_so_far)``, called with a copy of the result as
it grows (after each run, size, depth or epoch), so a view can draw the chart before the experiment ends.

Every function returns data (numbers, arrays, small dataclasses); the words are in :mod:`cnnviz.text.why_conv`,
the charts in :mod:`cnnviz.figures.why_conv`.

Examples::

    >>> from cnnviz.methods.why_conv import layer_params
    >>> layer_params(32, 32, 3, units=1).dense_per_unit
    3072
"""
from __future__ import annotations

from cnnviz.methods.why_conv.auxiliary import AUX_WEIGHT, AuxiliaryResult, auxiliary_gradients
from cnnviz.methods.why_conv.cells import (
    CellTuning,
    bar_stimulus,
    cell_tuning,
    complex_response,
    gabor_cell,
    response_map,
    simple_response,
)
from cnnviz.methods.why_conv.data import MLP, Digits, WhyConvError, accuracy, build, fit, load_digits, seeded
from cnnviz.methods.why_conv.degradation import DEPTHS, DegradationSweep, DepthNet, degradation_sweep, sweep_order
from cnnviz.methods.why_conv.gradients import (
    ACTIVATIONS,
    SIGMOID_SLOPE_MAX,
    DeepMLP,
    InitGradients,
    depth_bound,
    init_gradients,
    layer_grad_norms,
    sigmoid_curves,
)
from cnnviz.methods.why_conv.handcrafted import (
    FEATURES,
    SIZES,
    SMALL_SIZES,
    HandcraftedCurve,
    cnn_accuracy,
    cnn_epochs,
    features,
    gabor_bank,
    gabor_features,
    handcrafted_curve,
    hog_features,
    svm_accuracy,
)
from cnnviz.methods.why_conv.params import SIDES, LayerParams, layer_params, params_by_side
from cnnviz.methods.why_conv.permuted import (
    MODELS,
    PermutedResult,
    permute,
    permuted_experiment,
    pixel_permutation,
)
from cnnviz.methods.why_conv.random_labels import NETWORK_TITLES, NETWORKS, LabelCurves, label_curves, random_labels

__all__ = [
    "ACTIVATIONS", "AUX_WEIGHT", "DEPTHS", "FEATURES", "MLP", "MODELS", "NETWORKS", "NETWORK_TITLES", "SIDES",
    "SIGMOID_SLOPE_MAX", "SIZES", "SMALL_SIZES", "AuxiliaryResult", "CellTuning", "DeepMLP", "DegradationSweep",
    "DepthNet", "Digits", "HandcraftedCurve", "InitGradients", "LabelCurves", "LayerParams", "PermutedResult",
    "WhyConvError", "accuracy", "auxiliary_gradients", "bar_stimulus", "build", "cell_tuning", "cnn_accuracy",
    "cnn_epochs", "complex_response", "degradation_sweep", "depth_bound", "features", "fit", "gabor_bank",
    "gabor_cell", "gabor_features", "handcrafted_curve", "hog_features", "init_gradients", "label_curves",
    "layer_grad_norms", "layer_params", "load_digits", "params_by_side", "permute", "permuted_experiment",
    "pixel_permutation", "random_labels", "response_map", "seeded", "sigmoid_curves", "simple_response",
    "svm_accuracy", "sweep_order",
]
