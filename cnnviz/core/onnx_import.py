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
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from cnnviz.core import onnx_graph as og
from cnnviz.core.device import pick_device
from cnnviz.core.handle import ModelHandle
from cnnviz.core.weights import ModelFileError
from cnnviz.errors import foreign

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
              device: str | torch.device | None = None, external: Mapping[str, bytes] | None = None) -> ModelHandle:
    """An ONNX file (path or bytes) as a :class:`ModelHandle`.

    What current exporters write loads: opsets 13-21 and beyond are lowered to what the converter knows,
    weights stored beside the graph (``net.onnx.data``, the default of ``torch.onnx.export``) are read, and
    the exporter's ``Constant``/``Identity`` plumbing is folded away (:mod:`cnnviz.core.onnx_graph`).

    Args:
        src: the file or its bytes (at most :data:`MAX_ONNX_BYTES`, with its external data).
        input_size: ``(C, H, W)`` the network expects; a dynamic input shape is fixed to it.
        mean, std: per-channel normalisation (1 or C values), or ``normalisation`` instead:
            a name of :data:`NORMALISATIONS` (``"ImageNet"``, ``"MNIST"``, ``"0..1"``).
        classes: class names, or their number (names ``"0"``, ``"1"``, ...); default: the output size.
        name: what the model is called on the page (default the file name).
        device: where to run (default the best present).
        external: for bytes, the files its weights live in (file name -> bytes, e.g. ``{"net.onnx.data": ...}``);
            for a path, the files it names are read from beside it.

    Raises:
        OnnxError: the file is too large, not ONNX, misses its external data, uses an operator that cannot
            be converted (named with its opset and node), or does not run at ``input_size``.
    """
    try:
        import onnx
        from onnx2torch import convert
    except ImportError as e:  # pragma: no cover - both are dependencies of the package
        raise OnnxError(f"ONNX support needs the onnx and onnx2torch packages ({e}); "
                        "pip install onnx onnx2torch") from e
    label = name or (Path(src).name if not isinstance(src, (bytes, bytearray)) else "model.onnx")
    folder = None
    if not isinstance(src, (bytes, bytearray)):
        size = Path(src).stat().st_size
        if size > MAX_ONNX_BYTES:  # refused before it is read
            raise OnnxError(f"{label} is {size / 2**20:.0f} MiB; the limit is {MAX_ONNX_BYTES / 2**20:.0f} MiB")
        folder = Path(src).resolve().parent
        src = Path(src).read_bytes()
    data = bytes(src)
    if len(data) > MAX_ONNX_BYTES:
        raise OnnxError(f"{label} is {len(data) / 2**20:.0f} MiB; the limit is {MAX_ONNX_BYTES / 2**20:.0f} MiB")
    if not data:
        raise OnnxError(f"{label} is empty")
    c, h, w = (int(v) for v in input_size)
    if min(c, h, w) < 1 or c not in (1, 3):
        raise OnnxError(f"input size {tuple(input_size)}: expected (C, H, W) with C = 1 (grayscale) or 3 (RGB)")
    proto = _parse(onnx, data, label)
    files = dict(external or {})
    if folder is not None:
        files.update(_beside(folder, og.external_locations(proto), len(data), label))
    if sum(len(b) for b in files.values()) + len(data) > MAX_ONNX_BYTES:
        total = sum(len(b) for b in files.values()) + len(data)
        raise OnnxError(f"{label} and its weights are {total / 2**20:.0f} MiB; the limit is "
                        f"{MAX_ONNX_BYTES / 2**20:.0f} MiB")
    try:
        og.attach_external_data(proto, files, label)
        onnx.checker.check_model(proto)
    except og.OnnxGraphError as e:
        raise OnnxError(str(e)) from None
    except onnx.checker.ValidationError as e:  # a real ONNX graph the checker refuses
        raise OnnxError(f"{label} is an ONNX file, but the ONNX checker refuses it: {str(e).splitlines()[0][:300]}. "
                        "Export it again with torch.onnx.export(model, x, 'net.onnx')") from None
    _check_input(proto, label, (c, h, w))
    module = _convert(convert, proto, label)
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
    out = _check_runs(module, label, (c, h, w), dev)
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


def onnx_files(files: Mapping[str, bytes]) -> tuple[str, bytes, dict[str, bytes]]:
    """Which upload is the graph and which are its weights: ``(graph name, graph bytes, {data name: bytes})``.

    ``files`` are what came in (file name -> bytes, in the order given): one ``.onnx``, with its ``.data``
    file(s) beside it, or one ``.zip`` holding them. Of several ``.onnx`` files the last one given is the
    graph (an uploader keeps earlier uploads in its list); the other files are offered as its external
    data, which it takes by the names it stores. A zip is read by its table of contents first: members that are
    not files, or more than :data:`MAX_ONNX_BYTES` unpacked in all, are refused before anything is unpacked.

    Raises:
        OnnxError: no ``.onnx`` among them, a zip that is not one, or one too large.
    """
    import io
    import zipfile

    flat: dict[str, bytes] = {}
    for name, data in files.items():
        if name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    members = [i for i in z.infolist() if not i.is_dir()]
                    if sum(i.file_size for i in members) > MAX_ONNX_BYTES:
                        raise OnnxError(f"{name} unpacks to more than {MAX_ONNX_BYTES // 2**20} MiB")
                    for i in members:
                        base = og.external_name(i.filename)
                        if base and not base.startswith("."):
                            flat[base] = z.read(i)
            except zipfile.BadZipFile:
                raise OnnxError(f"{name} is not a zip file") from None
        else:
            flat[og.external_name(name)] = data
    graphs = [n for n in flat if n.lower().endswith(".onnx")]
    if not graphs:
        raise OnnxError(f"No .onnx file among {', '.join(flat) or 'the files given'}: give the model's .onnx, with "
                        "its .data file if it has one")
    graph = graphs[-1]
    return graph, flat[graph], {n: b for n, b in flat.items() if n != graph}


def _parse(onnx, data: bytes, label: str):
    """The bytes as a ModelProto; what does not parse as one, or has no graph, is not ONNX."""
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load_from_string(data)
    except DecodeError as e:
        raise OnnxError(f"{label} is not {ONNX_MAGIC_HINT}: {str(e).splitlines()[0][:200]}") from None
    if proto.ir_version < 1 or not proto.HasField("graph") or not len(proto.graph.node):
        raise OnnxError(f"{label} is not {ONNX_MAGIC_HINT}: it holds no ONNX graph")
    return proto


def _beside(folder: Path, locations: list[str], used: int, label: str) -> dict[str, bytes]:
    """The external data files a model names, read from its own folder (a bare file name only; nothing is
    followed out of the folder). Missing ones are left out: :func:`onnx_graph.attach_external_data` names them."""
    out = {}
    for loc in locations:
        path = folder / og.external_name(loc)
        if path.is_file():
            size = path.stat().st_size
            if used + size > MAX_ONNX_BYTES:  # refused before it is read
                raise OnnxError(f"{label} and its weights ({path.name}) are {(used + size) / 2**20:.0f} MiB; the limit "
                                f"is {MAX_ONNX_BYTES / 2**20:.0f} MiB")
            out[path.name] = path.read_bytes()
            used += size
    return out


def _convert(convert, proto, label: str) -> torch.nn.Module:
    """Plumbing folded, the opset lowered, every node checked against the converter, then converted."""
    from onnx import defs
    from onnx2torch.node_converters import get_converter

    try:
        og.normalise(proto, label)
    except og.OnnxGraphError as e:
        raise OnnxError(str(e)) from None
    opsets = {o.domain: o.version for o in proto.opset_import}
    for node in proto.graph.node:
        version = opsets.get(node.domain, 1) if node.domain else og.default_opset(proto)
        try:
            get_converter(node.op_type, version, node.domain or defs.ONNX_DOMAIN)
        except NotImplementedError:
            try:
                version = defs.get_schema(node.op_type, max_inclusive_version=version, domain=node.domain).since_version
            except defs.SchemaError:  # not an ONNX operator at all (a custom domain)
                pass
            raise OnnxError(str(og.unconvertible(node, version, label, "onnx2torch has no converter for it"))) from None
    with foreign(OnnxError, f"{label} could not be converted to PyTorch ({{why}})"):  # said as the file's problem
        try:
            return convert(proto)
        except NotImplementedError as e:
            raise OnnxError(f"{label} uses an operation onnx2torch cannot convert: {str(e)[:300]}") from None


def _check_runs(module: torch.nn.Module, label: str, size: tuple[int, int, int], dev: torch.device) -> torch.Tensor:
    """One image gives ``[1, classes]``, and a batch of two gives what the two images give alone."""
    c, h, w = size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, c, h, w, generator=g).to(dev)
    with foreign(OnnxError, f"{label} does not run on a {c}x{h}x{w} input ({{why}}). Give the input size the model "
                 "was exported for"), torch.inference_mode():  # whatever the graph raises at a wrong size
        out = module(x[:1])
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise OnnxError(f"{label} outputs {type(out).__name__} {tuple(getattr(out, 'shape', ()))}; cnnviz needs "
                        "one [N, classes] tensor of class scores")
    one_only = (f"{label} runs one image at a time only (its batch size is fixed at 1), and cnnviz runs batches. "
                "Export it with a free batch: torch.onnx.export(model, (x,), 'net.onnx', "
                "dynamic_shapes=({0: torch.export.Dim('batch')},))")
    # a graph fixed to batch 1 fails in its own way (reshape, broadcast), or gives other numbers: one message
    with foreign(OnnxError, one_only), torch.inference_mode():
        both, second = module(x), module(x[1:])
    if both.shape != (2, out.shape[1]) or not torch.allclose(both, torch.cat([out, second]), atol=1e-4, rtol=1e-3):
        raise OnnxError(one_only)
    return out


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
    for got, want, what in zip(fixed, size, ("channels", "height", "width"), strict=True):  # rank 4: three each
        if got is not None and got != want:
            raise OnnxError(f"{label} expects {got} input {what}, not {want}: set the input size to "
                            f"{tuple(v if v is not None else s for v, s in zip(fixed, size, strict=True))}")
