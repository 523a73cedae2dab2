"""cnnviz: see inside convolutional neural networks.

Every figure of the app is one call away in a notebook::

    >>> import cnnviz
    >>> m = cnnviz.load_model("lenet5-mnist")
    >>> m.predict(cnnviz.load_image("assets/samples/digit-7.png"), k=1)
"""
from .device import describe_device, pick_device
from .images import ImageError, load_image, MAX_PIXELS, MAX_UPLOAD_BYTES
from .model import LayerInfo, ModelFileError, ModelHandle, load_model, read_state_dict
from .datasets import load_dataset
from .zoo import BUNDLED, ZOO, DEFAULT_MODEL, model_names, weight_status

__all__ = [
    "describe_device", "pick_device", "ImageError", "load_image", "MAX_PIXELS", "MAX_UPLOAD_BYTES",
    "LayerInfo", "ModelFileError", "ModelHandle", "load_model", "read_state_dict", "load_dataset",
    "BUNDLED", "ZOO", "DEFAULT_MODEL", "model_names", "weight_status",
    "ReceptiveField", "receptive_fields",
]
from .arithmetic import conv_output_size  # noqa: E402
__all__ += ["conv_output_size"]
from .receptive_field import ReceptiveField, receptive_fields
