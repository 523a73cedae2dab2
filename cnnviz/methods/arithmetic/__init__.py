"""Convolution arithmetic: output sizes, parameters, MACs, coverage, validity, the sliding window, im2col.

One source of truth for the formulas of the /arithmetic page and of the tests. The rules mirror PyTorch's
``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` and ``nn.ConvTranspose2d`` (square kernels, the same
stride/padding/dilation along both axes, ``N, C, H, W`` tensors):

    out = floor((n + 2p - d(k - 1) - 1) / s) + 1                (convolution, pooling)
    out = (n - 1)s - 2p + d(k - 1) + output_padding + 1         (transposed convolution)

One concept per module, every public name re-exported here:

- :mod:`~cnnviz.methods.arithmetic.sizes`: output sizes along one axis and the rows no window reads;
- :mod:`~cnnviz.methods.arithmetic.counts`: parameters and MACs;
- :mod:`~cnnviz.methods.arithmetic.layer_spec`: :class:`LayerSpec`, one layer, and :func:`problems`, why PyTorch
  would refuse its settings;
- :mod:`~cnnviz.methods.arithmetic.shape_check`: the layer run in PyTorch beside the formula;
- :mod:`~cnnviz.methods.arithmetic.sliding_window`: the padded grid and every kernel position;
- :mod:`~cnnviz.methods.arithmetic.demo`: the animation's input and kernel (digit, random, typed);
- :mod:`~cnnviz.methods.arithmetic.im2col`: a convolution as one matrix product;
- :mod:`~cnnviz.methods.arithmetic.quiz`: a typed stack of layers, evaluated layer by layer;
- :mod:`~cnnviz.methods.arithmetic.special_cases`: the numbers of the 1×1, dilated, grouped and pooling examples.

The page's words (formulas in LaTeX, notes, presets, the quiz's answers) are in :mod:`cnnviz.text.arithmetic`.

Examples::

    >>> conv_output_size(32, 5)
    28
    >>> LayerSpec("conv", 32, 32, 3, 20, kernel=5).params().total
    1520
"""
from __future__ import annotations

from cnnviz.methods.arithmetic.counts import (
    ParamCount,
    conv_macs,
    conv_params,
    human,
    linear_params,
    transposed_macs,
    transposed_params,
)
from cnnviz.methods.arithmetic.demo import (
    DEMO_MAX_SIDE,
    INPUT_SOURCES,
    KERNEL_KINDS,
    DemoLayer,
    MatrixError,
    demo_input,
    demo_kernel,
    demo_layer,
    digit_values,
    identity_kernel_text,
    parse_matrix,
)
from cnnviz.methods.arithmetic.im2col import Im2colExample, conv2d_im2col, im2col, im2col_example
from cnnviz.methods.arithmetic.layer_spec import MODE_TITLES, MODES, LayerSpec, Problem, layer_from_controls, problems
from cnnviz.methods.arithmetic.quiz import StackError, StackLayer, StackRow, evaluate_stack, parse_shape, parse_stack
from cnnviz.methods.arithmetic.shape_check import ShapeCheck, check_shape, pytorch_check
from cnnviz.methods.arithmetic.sizes import (
    Padding,
    SettingsError,
    conv_output_size,
    pool_output_size,
    resolve_padding,
    same_padding,
    transposed_output_size,
    uncovered,
)
from cnnviz.methods.arithmetic.sliding_window import (
    CELL_INPUT,
    CELL_INSERTED,
    CELL_OVERHANG,
    CELL_PAD,
    PaddedGrid,
    WindowStep,
    padded_grid,
    sliding_windows,
)
from cnnviz.methods.arithmetic.special_cases import (
    SPECIAL_CASES,
    DilatedLayer,
    GroupedCost,
    PoolExample,
    bottleneck_params,
    default_case,
    dilation_sweep,
    grouped_channels,
    grouped_costs,
    grouped_layer,
    one_by_one_layer,
    pool_example,
)

__all__ = [
    # sizes
    "Padding", "SettingsError", "same_padding", "resolve_padding", "conv_output_size", "transposed_output_size",
    "pool_output_size", "uncovered",
    # counts
    "ParamCount", "conv_params", "transposed_params", "linear_params", "conv_macs", "transposed_macs", "human",
    # one layer
    "MODES", "MODE_TITLES", "Problem", "LayerSpec", "problems", "layer_from_controls",
    "ShapeCheck", "check_shape", "pytorch_check",
    # the sliding window and its worked example
    "CELL_INPUT", "CELL_PAD", "CELL_INSERTED", "CELL_OVERHANG", "PaddedGrid", "WindowStep", "padded_grid",
    "sliding_windows",
    "INPUT_SOURCES", "KERNEL_KINDS", "DEMO_MAX_SIDE", "MatrixError", "parse_matrix", "identity_kernel_text",
    "digit_values", "demo_input", "demo_kernel", "DemoLayer", "demo_layer",
    # im2col
    "im2col", "conv2d_im2col", "Im2colExample", "im2col_example",
    # the quiz
    "StackError", "StackLayer", "StackRow", "parse_stack", "parse_shape", "evaluate_stack",
    # special cases
    "SPECIAL_CASES", "default_case", "one_by_one_layer", "bottleneck_params", "DilatedLayer", "dilation_sweep",
    "grouped_channels", "GroupedCost", "grouped_layer", "grouped_costs", "PoolExample", "pool_example",
]
