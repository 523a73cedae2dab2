"""Any architecture without running its code: ONNX files converted to a torch.fx GraphModule.

ONNX is a protobuf graph with no code in it; onnx2torch turns it into a ``torch.fx.GraphModule``
whose layers keep the ONNX node names (``"conv1/Conv"``), which is what the capture engine, the
receptive-field tracer and the network overview work on. Nothing is unpickled.

Examples::

    >>> m = load_onnx("net.onnx", input_size=(3, 224, 224), normalisation="ImageNet", classes=1000)
    >>> m.predict(cnnviz.load_image("cat.jpg"), k=1)
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import torch

from cnnviz.core.device import pick_device
from cnnviz.core.model import ModelFileError, ModelHandle

MAX_ONNX_BYTES = 300 * 2**20  # the same limit as the app's upload size (.streamlit/config.toml, cnnviz run)
ONNX_MAGIC_HINT = "an ONNX file (.onnx, made by torch.onnx.export or another framework's exporter)"
# name -> (mean, std) per channel, for 1 or 3 channels
NORMALISATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "ImageNet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "MNIST": ((0.1307,), (0.3081,)),
    "0..1": ((0.0,), (1.0,)),
}


class OnnxError(ModelFileError):
    """An ONNX file that cannot be used (not ONNX, an op the converter lacks, a shape it cannot fix)."""


def parse_class_names(text: str | None, count: int | None = None) -> list[str]:
    """Class names from a text file's content (one per line, blank lines ignored), or ``count`` numbered ones.

    Examples::

        >>> parse_class_names("cat\\ndog\\n\\n"), parse_class_names(None, 3)
        (['cat', 'dog'], ['0', '1', '2'])
    """
    if text:
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if names:
            return names
    if count is None or count < 1:
        raise OnnxError("give the class names (a text file, one per line) or the number of classes")
    return [str(i) for i in range(int(count))]


def _channels(values: Sequence[float], c: int, what: str) -> tuple[float, ...]:
    v = tuple(float(x) for x in values)
    if len(v) == 1:
        return v * c
    if len(v) != c:
        raise OnnxError(f"{what} has {len(v)} values but the input has {c} channels; give 1 or {c}")
    return v


def load_onnx(src: str | Path | bytes, input_size: Sequence[int], *, mean: Sequence[float] | None = None,
              std: Sequence[float] | None = None, normalisation: str | None = None,
              classes: Sequence[str] | int | None = None, name: str | None = None,
              device: str | torch.device | None = None) -> ModelHandle:
    """An ONNX file (path or bytes) as a :class:`ModelHandle`.

    Args:
        src: the file or its bytes (at most :data:`MAX_ONNX_BYTES`).
        input_size: ``(C, H, W)`` the network expects; a dynamic input shape is fixed to it.
        mean, std: per-channel normalisation (1 or C values), or ``normalisation`` instead:
            a name of :data:`NORMALISATIONS` (``"ImageNet"``, ``"MNIST"``, ``"0..1"``).
        classes: class names, or their number (names ``"0"``, ``"1"``, ...); default: the output size.
        name: what the model is called on the page (default the file name).
        device: where to run (default the best present).

    Raises:
        OnnxError: the file is too large, not ONNX, uses an op onnx2torch cannot convert, or does not
            run at ``input_size`` (the message says which).
    """
    try:
        import onnx
        from onnx2torch import convert
    except ImportError as e:  # pragma: no cover - both are dependencies of the package
        raise OnnxError(f"ONNX support needs the onnx and onnx2torch packages ({e}); pip install onnx onnx2torch") from e
    label = name or (Path(src).name if not isinstance(src, (bytes, bytearray)) else "model.onnx")
    if not isinstance(src, (bytes, bytearray)):
        size = Path(src).stat().st_size
        if size > MAX_ONNX_BYTES:  # refused before it is read
            raise OnnxError(f"{label} is {size / 2**20:.0f} MiB; the limit is {MAX_ONNX_BYTES / 2**20:.0f} MiB")
        src = Path(src).read_bytes()
    data = bytes(src)
    if len(data) > MAX_ONNX_BYTES:
        raise OnnxError(f"{label} is {len(data) / 2**20:.0f} MiB; the limit is {MAX_ONNX_BYTES / 2**20:.0f} MiB")
    if not data:
        raise OnnxError(f"{label} is empty")
    c, h, w = (int(v) for v in input_size)
    if min(c, h, w) < 1 or c not in (1, 3):
        raise OnnxError(f"input size {tuple(input_size)}: expected (C, H, W) with C = 1 (grayscale) or 3 (RGB)")
    try:
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto)
    except Exception as e:  # protobuf DecodeError, ValidationError: not an ONNX model
        raise OnnxError(f"{label} is not {ONNX_MAGIC_HINT}: {str(e).splitlines()[0][:200]}") from None
    _check_input(proto, label, (c, h, w))
    try:
        module = convert(proto)
    except NotImplementedError as e:
        raise OnnxError(f"{label} uses an operation onnx2torch cannot convert: {str(e)[:300]}. Export with another "
                        "opset (torch.onnx.export(..., opset_version=17)) or simplify the model (onnxsim)") from None
    except Exception as e:
        raise OnnxError(f"{label} could not be converted to PyTorch: {type(e).__name__}: {str(e)[:300]}") from None
    if normalisation is not None:
        if normalisation not in NORMALISATIONS:
            raise OnnxError(f"normalisation {normalisation!r}: expected one of {', '.join(NORMALISATIONS)}")
        mean, std = NORMALISATIONS[normalisation]
    mean_c = _channels(mean if mean is not None else (0.0,), c, "mean")
    std_c = _channels(std if std is not None else (1.0,), c, "std")
    if any(s <= 0 for s in std_c):
        raise OnnxError("std must be positive")
    dev = torch.device(device) if device is not None else pick_device()
    module = module.to(dev).eval()
    try:
        with torch.inference_mode():
            out = module(torch.zeros(1, c, h, w, device=dev))
    except Exception as e:
        raise OnnxError(f"{label} does not run on a {c}x{h}x{w} input: {type(e).__name__}: {str(e)[:200]}. "
                        "Give the input size the model was exported for") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise OnnxError(f"{label} outputs {type(out).__name__} {tuple(getattr(out, 'shape', ()))}; cnnviz needs "
                        "one [N, classes] tensor of class scores")
    n_out = int(out.shape[1])
    names = parse_class_names(None, n_out) if classes is None else (
        parse_class_names(None, classes) if isinstance(classes, int) else list(classes))
    if len(names) != n_out:
        raise OnnxError(f"{len(names)} class names given, but the model has {n_out} outputs")
    digest = hashlib.sha1(data).hexdigest()[:12]
    card = {"title": f"{label} (ONNX)", "data": "your data", "test_accuracy": None, "weights_digest": digest,
            "weights_file": label, "format": "ONNX, converted with onnx2torch"}
    resize = round(h / 0.875) if c == 3 and h >= 64 else None  # photos: resize the shorter side, then centre-crop
    return ModelHandle(label, module, dev, names, (c, h, w), mean_c, std_c, "onnx", resize, True, "onnx", None, card)


def _check_input(proto, label: str, size: tuple[int, int, int]) -> None:
    """One image input of rank 4 whose fixed dimensions agree with ``size`` (dynamic ones are fixed to it)."""
    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise OnnxError(f"{label} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); cnnviz needs one "
                        "image input [N, C, H, W]")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise OnnxError(f"{label}'s input {inputs[0].name!r} has rank {len(dims)}; cnnviz needs [N, C, H, W]")
    fixed = [d.dim_value if d.HasField("dim_value") else None for d in dims[1:]]
    for got, want, what in zip(fixed, size, ("channels", "height", "width")):
        if got is not None and got != want:
            raise OnnxError(f"{label} expects {got} input {what}, not {want}: set the input size to "
                            f"{tuple(v if v is not None else s for v, s in zip(fixed, size))}")
