"""cnnviz: see inside convolutional neural networks.

Every figure of the app is one call away in a notebook::

    >>> import cnnviz
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> img = cnnviz.load_image("assets/samples/digit-7.png")
    >>> m.predict(img, k=1)[0][0]
    '7'
    >>> cam = cnnviz.grad_cam(m, img)                 # attribution
    >>> cnnviz.receptive_fields(m)["features.3"].size # (14, 14)
    (14, 14)

The core (models, images, data, arithmetic, receptive fields) is imported eagerly; the
heavier topic modules (attribution, embeddings, synthesis, ...) load on first use.
"""
from __future__ import annotations

import importlib

from cnnviz.core.datasets import load_dataset
from cnnviz.core.device import describe_device, pick_device
from cnnviz.core.images import MAX_PIXELS, MAX_UPLOAD_BYTES, ImageError, load_image
from cnnviz.core.model import LayerInfo, ModelFileError, ModelHandle, load_model, read_state_dict, wrap
from cnnviz.core.zoo import BUNDLED, DEFAULT_MODEL, ZOO, model_names, weight_status
from cnnviz.errors import CnnvizError
from cnnviz.methods.arithmetic import conv_output_size
from cnnviz.methods.receptive_field import (
    ReceptiveField,
    ReceptiveFieldError,
    effective_receptive_field,
    receptive_fields,
)

# name -> submodule that defines it (loaded lazily on first attribute access)
_LAZY = {
    # activations and attribution
    "layer_maps": "activations", "render_channel_grid": "figures.activations", "depth_strip": "figures.activations",
    "channel_stats": "activations", "activation_after": "activations", "strongest_maps": "activations",
    "attribute": "attribution", "saliency": "attribution", "smoothgrad": "attribution",
    "integrated_gradients": "attribution", "grad_cam": "attribution", "guided_grad_cam": "attribution",
    "occlusion": "attribution", "LayerGradients": "attribution",
    # kernels
    "classic_kernel": "kernels", "apply_kernel": "kernels", "learned_filters": "kernels",
    "filter_grid_rgb": "figures.kernels", "weight_map": "figures.kernels", "best_matches": "kernels",
    "similarity_to_classic": "kernels", "cluster_filters": "kernels",
    # maximally activating inputs
    "build_index": "maximal", "top_patches": "maximal", "channel_grid": "figures.maximal",
    "synthesize": "synthesis", "render_channels": "synthesis", "render_diverse": "synthesis",
    # embeddings
    "extract_features": "embeddings", "extract_layers": "embeddings", "embed": "embeddings",
    "snap_to_grid": "embeddings", "nearest_neighbours": "embeddings", "knn_accuracy": "embeddings",
    "compare_layers": "embeddings",
    # augmentation
    "sample_batch": "augmentation", "pipeline_code": "augmentation", "rotation_scale_grid": "augmentation",
    "shift_sweep": "augmentation", "brightness_sweep": "augmentation", "contrast_sweep": "augmentation",
    "rotate_until": "augmentation", "scramble_sweep": "augmentation", "TRANSFORMS": "augmentation",
    # architecture
    "layer_table": "architecture",
    # object detection
    "detect": "detection", "Detection": "detection",
    # serving the app on your own model
    "show": "show",
}
_SUBMODULES = {
    "core": "core", "methods": "methods", "figures": "figures", "bench": "bench", "errors": "errors",
    "activations": "methods.activations", "attribution": "methods.attribution", "kernels": "methods.kernels",
    "maximal": "methods.maximal", "synthesis": "methods.synthesis", "embeddings": "methods.embeddings",
    "augmentation": "methods.augmentation", "architecture": "methods.architecture",
    "arithmetic": "methods.arithmetic", "receptive_field": "methods.receptive_field",
    "training": "methods.training", "capture": "core.capture", "model": "core.model", "zoo": "core.zoo",
    "datasets": "core.datasets", "images": "core.images", "render": "figures.render", "show": "ui.show",
    "onnx_import": "core.onnx_import", "detection": "methods.detection",
}


def __getattr__(name: str):
    if name in _LAZY:
        where = _LAZY[name]  # a _SUBMODULES key, or a dotted module path such as "figures.kernels"
        value = getattr(importlib.import_module(f".{_SUBMODULES.get(where, where)}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{_SUBMODULES[name]}", __name__)
    raise AttributeError(f"module 'cnnviz' has no attribute {name!r}. Hint: dir(cnnviz) lists the public names")


def __dir__() -> list[str]:
    """The public names and the submodules, for tab completion (``dir(cnnviz)``)."""
    return sorted(set(__all__) | set(_SUBMODULES))


__all__ = [
    "CnnvizError", "describe_device", "pick_device", "ImageError", "load_image", "MAX_PIXELS", "MAX_UPLOAD_BYTES",
    "LayerInfo", "ModelFileError", "ModelHandle", "load_model", "read_state_dict", "wrap", "load_dataset",
    "BUNDLED", "ZOO", "DEFAULT_MODEL", "model_names", "weight_status", "conv_output_size",
    "ReceptiveField", "ReceptiveFieldError", "receptive_fields", "effective_receptive_field",
    *_LAZY,
]
