"""A trained model's filters: reading a conv layer's weights, ordering and grouping them, and sliding one
over an image exactly as the network does.

Examples::

    >>> m = load_model("lenet5-mnist")
    >>> w = learned_filters(m, first_conv_layer(m))
    >>> w.shape, conv_groups(m, "features.0")
    (torch.Size([6, 1, 5, 5]), 1)
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from cnnviz.errors import LayerError
from cnnviz.methods.kernels.errors import FilterIndexError, KernelError, NotAConvError

# ------------------------------------------------------------------ a layer's filters

def _module(model) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def _conv(model, layer: str) -> nn.Conv2d:
    mods = dict(_module(model).named_modules())
    if layer not in mods:
        raise LayerError(f"layer {layer!r} is not in the model. Hint: m.conv_layer_names() lists the conv layers")
    mod = mods[layer]
    if not isinstance(mod, nn.Conv2d):
        raise NotAConvError(f"layer {layer!r} is a {type(mod).__name__}, not a Conv2d; "
                            "pick one of m.conv_layer_names()")
    return mod


def learned_filters(model, layer: str) -> torch.Tensor:
    """The weight tensor [out_channels, in_channels / groups, kh, kw] of a Conv2d layer, detached, on its device.

    Args:
        model: a :class:`~cnnviz.core.model.ModelHandle` or an ``nn.Module``.
        layer: the layer's name, as in ``m.conv_layer_names()``.

    Examples::

        >>> learned_filters(load_model("lenet5-mnist"), "features.0").shape
        torch.Size([6, 1, 5, 5])
    """
    return _conv(model, layer).weight.detach()


def conv_groups(model, layer: str) -> int:
    """The ``groups`` of a Conv2d layer: 1 for an ordinary convolution, the channel count for a depthwise one."""
    return int(_conv(model, layer).groups)


def first_conv_layer(model) -> str:
    """The name of the first Conv2d (the one that looks at pixels)."""
    for name, mod in _module(model).named_modules():
        if isinstance(mod, nn.Conv2d):
            return name
    raise KernelError("the model has no Conv2d layer, so it has no filters to show; pick a convolutional model")


def filter_norms(weights: torch.Tensor) -> torch.Tensor:
    """L2 norm of each filter (over all its input channels and taps): [out_channels]."""
    return weights.flatten(1).norm(dim=1)


def sort_by_norm(weights: torch.Tensor, descending: bool = True) -> torch.Tensor:
    """Filter indices ordered by norm (strongest first by default)."""
    return torch.argsort(filter_norms(weights), descending=descending, stable=True)


def cluster_filters(weights: torch.Tensor, n_clusters: int = 8) -> tuple[torch.Tensor, np.ndarray]:
    """Group similar filters: agglomerative (Ward) clustering of the unit-normalised weight vectors.

    On unit vectors the Euclidean distance is ``√(2 - 2 cos)``, so this groups filters by the
    cosine similarity of their patterns, whatever their strength.

    Returns:
        (order, labels): filter indices grouped by cluster (largest cluster first, strongest
        filter first within a cluster), and each filter's cluster label (0 = largest).

    Examples::

        >>> w = torch.cat([torch.ones(3, 1, 2, 2), -torch.ones(2, 1, 2, 2)])
        >>> cluster_filters(w, 2)[1].tolist()
        [0, 0, 0, 1, 1]
    """
    from sklearn.cluster import AgglomerativeClustering

    n = len(weights)
    k = max(1, min(int(n_clusters), n))
    flat = weights.flatten(1).float()
    unit = (flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)).cpu().numpy()
    if k > 1 and n > 1:
        raw = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(unit)
    else:
        raw = np.zeros(n, int)
    sizes = np.bincount(raw, minlength=k)
    rank = np.empty(k, int)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    labels = rank[raw]
    norms = filter_norms(weights).cpu().numpy()
    order = np.lexsort((-norms, labels))
    return torch.as_tensor(order, dtype=torch.long), labels


ORDERS = ("index", "norm", "cluster")  # as stored, by norm (strongest first), clustered (similar together)


def filter_order(weights: torch.Tensor, how: str = "index", n_clusters: int = 6) -> tuple[list[int], list[int] | None]:
    """Display order of a layer's filters, and their cluster labels when ``how == "cluster"``.

    Args:
        weights: [N, C, kh, kw].
        how: one of :data:`ORDERS`: ``"index"`` (as stored), ``"norm"`` (:func:`sort_by_norm`) or
            ``"cluster"`` (:func:`cluster_filters` into ``n_clusters`` groups).

    Examples::

        >>> filter_order(torch.stack([torch.ones(1, 1, 1), 3 * torch.ones(1, 1, 1)]), "norm")
        ([1, 0], None)
    """
    if how not in ORDERS:
        raise KernelError(f"order {how!r} is not one of {', '.join(ORDERS)}")
    if how == "norm":
        return sort_by_norm(weights).tolist(), None
    if how == "cluster":
        order, labels = cluster_filters(weights, n_clusters)
        return order.tolist(), labels.tolist()
    return list(range(len(weights))), None


# ------------------------------------------------------------------ one filter on an image

def filter_response(model, weight: torch.Tensor, img: Image.Image,
                    bias: torch.Tensor | float | None = None) -> torch.Tensor:
    """Slide one filter [C, kh, kw] (C = the model's input channels) over the image as the network sees it: [H, W].

    The image is prepared and normalised exactly as for the network (``model.preprocess``) and
    zero-padded to keep its size (zero is the data set's mean colour after normalising); stride 1.

    Examples::

        >>> template = classic_kernel("sobel_x").expand(3, 3, 3)   # Sobel x on R, G and B alike
        >>> filter_response(m, template, img).shape
        torch.Size([224, 224])
    """
    x = model.preprocess(img)
    w = weight.to(x.device, torch.float32)
    if w.ndim != 3 or w.shape[0] != x.shape[1]:
        raise KernelError(f"the filter must be [{x.shape[1]}, kh, kw] for this model's {x.shape[1]}-channel input, "
                         f"got {tuple(weight.shape)}; only the first conv layer looks at pixels")
    kh, kw = w.shape[1:]
    b = None if bias is None else torch.as_tensor(bias, dtype=torch.float32, device=x.device).reshape(1)
    with torch.inference_mode():
        xp = F.pad(x, ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2))
        return F.conv2d(xp, w[None], b)[0, 0]


def apply_learned_filter(model, layer: str, index: int, img: Image.Image, bias: bool = True) -> torch.Tensor:
    """One first-layer filter slid over the image as the network sees it (stride 1, size kept): [H, W].

    The image is prepared and normalised exactly as for the network (``model.preprocess``),
    then cross-correlated with filter ``index`` summed over its input channels, plus its bias.
    The layer's own stride is ignored so the map has the image's resolution.

    Examples::

        >>> apply_learned_filter(m, "features.0", 0, img).shape
        torch.Size([28, 28])
    """
    w = learned_filters(model, layer)
    if not 0 <= index < len(w):
        raise FilterIndexError(f"filter {index} does not exist: layer {layer!r} has {len(w)} filters (0..{len(w) - 1})")
    mod = _conv(model, layer)
    if w.shape[1] != model.input_size[0]:
        raise KernelError(f"layer {layer!r} takes {w.shape[1]} input channels, the image has {model.input_size[0]}: "
                         "only the first conv layer looks at pixels; pick it")
    b = mod.bias[index] if bias and mod.bias is not None else None
    return filter_response(model, w[index], img, b)


__all__ = ["learned_filters", "first_conv_layer", "conv_groups", "filter_norms", "sort_by_norm", "cluster_filters",
           "ORDERS", "filter_order", "filter_response", "apply_learned_filter"]
