"""Filter kernels: classic image kernels and applying them, a model's learned filters, and the bridge between
the two (which classic kernel each learned filter is closest to).

One module per concept, all re-exported here (``from cnnviz.methods.kernels import apply_kernel`` works):

* :mod:`~cnnviz.methods.kernels.classic`: hand-made kernels (edges, blurs, sharpen, Gabor, ...), applying
  them to an image with ``F.conv2d`` (cross-correlation, or true convolution with the kernel flipped), and a
  kernel typed in by hand (parse / format);
* :mod:`~cnnviz.methods.kernels.learned`: a trained model's filters: a conv layer's weights, ordered by norm
  or clustered, and one filter slid over an image exactly as the network does;
* :mod:`~cnnviz.methods.kernels.bridge`: learned vs classic: a bank of classic kernels at the filter's size
  and the cosine similarity of each filter to each of them;
* :mod:`~cnnviz.methods.kernels.errors`: :class:`KernelError` and its kinds.

What the page says about them (kernel descriptions, the parameter sliders, captions, notes) is in
:mod:`cnnviz.text.kernels`.

Examples::

    >>> import torch
    >>> from cnnviz.methods.kernels import apply_kernel, classic_kernel
    >>> img = torch.tensor([[0., 0., 1., 1.]] * 4)     # a step edge: dark left, bright right
    >>> apply_kernel(img, classic_kernel("sobel_x"), padding="valid")[0]
    tensor([[4., 4.],
            [4., 4.]])
"""
from __future__ import annotations

from cnnviz.methods.kernels.bridge import (
    KernelMatch,
    best_matches,
    classic_bank,
    colour_share,
    family_summary,
    matched_template,
    mean_abs_cosine,
    similarity_to_classic,
)
from cnnviz.methods.kernels.classic import (
    KERNELS,
    PADDINGS,
    SIZED,
    KernelSpec,
    apply_kernel,
    box_blur,
    check_kernel_name,
    classic_kernel,
    format_kernel,
    gabor,
    gaussian,
    gradient_magnitude,
    identity,
    image_tensor,
    kernel_from_values,
    luminance,
    parse_kernel,
)
from cnnviz.methods.kernels.errors import FilterIndexError, KernelError, NotAConvError, UnknownKernelError
from cnnviz.methods.kernels.learned import (
    ORDERS,
    apply_learned_filter,
    cluster_filters,
    conv_groups,
    filter_norms,
    filter_order,
    filter_response,
    first_conv_layer,
    learned_filters,
    sort_by_norm,
)

__all__ = [
    # errors
    "KernelError", "UnknownKernelError", "NotAConvError", "FilterIndexError",
    # classic kernels and applying them
    "KernelSpec", "KERNELS", "SIZED", "check_kernel_name", "identity", "box_blur", "gaussian", "gabor",
    "classic_kernel", "image_tensor", "luminance", "PADDINGS", "apply_kernel", "gradient_magnitude",
    "parse_kernel", "kernel_from_values", "format_kernel",
    # learned filters
    "learned_filters", "first_conv_layer", "conv_groups", "filter_norms", "sort_by_norm", "cluster_filters",
    "ORDERS", "filter_order", "filter_response", "apply_learned_filter",
    # the bridge
    "KernelMatch", "classic_bank", "similarity_to_classic", "colour_share", "best_matches", "family_summary",
    "matched_template", "mean_abs_cosine",
]
