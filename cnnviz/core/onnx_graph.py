"""ONNX graphs as today's exporters write them, made ready for conversion to PyTorch.

``torch.onnx.export`` on current PyTorch writes opset 18 or newer (the TorchScript exporter writes 20), and
the default exporter (``dynamo=True``) stores the weights beside the graph, in ``net.onnx.data``. The
converter (onnx2torch 1.5.15, last released 2024-08) knows the operators up to opset 17. This module
bridges the two, on the graph itself, before conversion:

* **External data**: the tensors whose bytes live in another file are filled in from that file's bytes
  (:func:`attach_external_data`), looked up by name in what the caller gives, never by opening a path the
  file names (so an upload cannot point at ``/etc/passwd``).
* **Plumbing folded**: ``Constant`` nodes become initializers and ``Identity`` nodes are bypassed, so the
  layer list is the network's layers, not the exporter's bookkeeping (:func:`fold_plumbing`).
* **Opset down to 17** (:func:`lower_opset`): for every node whose operator changed after opset 17, either
  the change only widened the types (float8, int4, bfloat16: nothing a float32 CNN uses) and the node is
  valid at 17 as it is, or it is rewritten to its opset-17 form (``Reduce*`` 18 take their axes as an
  input, 17 as an attribute). What cannot be lowered (a ``Resize`` with antialiasing, a ``Pad`` over
  chosen axes) is named with its operator, opset and node.

``onnx.version_converter`` was tried for the last step and is not used: on torchvision ResNet-18,
MobileNetV3-Small and EfficientNet-B0 exported by torch 2.14 it either leaves an attribute opset 17 does
not know (``noop_with_empty_axes`` on ``ReduceMean``) or loses initializers (onnx 1.23).

Examples::

    >>> proto = onnx.load("net.onnx", load_external_data=False)
    >>> attach_external_data(proto, {"net.onnx.data": open("net.onnx.data", "rb").read()}, "net.onnx")
    >>> normalise(proto, "net.onnx")          # fold_plumbing, Reshape's allowzero, lower_opset
    {'folded': 0, 'reshape_allowzero': 1, 'lowered': 1}
"""
from __future__ import annotations

from collections.abc import Mapping

from cnnviz.errors import CnnvizError

TARGET_OPSET = 17  # the newest opset onnx2torch 1.5.15 converts every CNN operator of
# Operators whose versions after 17 only add element types (float8, int4, bfloat16, ...) or attributes
# whose default keeps the old meaning (checked in _ADDED_ATTRIBUTES): valid at opset 17 unchanged.
TYPES_ONLY = frozenset({
    "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast", "CastLike", "Ceil",
    "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "Div", "Dropout", "Elu",
    "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "Gemm", "GlobalAveragePool",
    "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish", "Identity", "InstanceNormalization",
    "LRN", "LeakyRelu", "Less", "LessOrEqual", "Log", "MatMul", "Max", "MaxPool", "Min", "Mul", "Neg", "Not",
    "Or", "Pow", "PRelu", "Reciprocal", "Relu", "Reshape", "Selu", "Shape", "Sigmoid", "Sin", "Size", "Slice",
    "Softmax", "Softplus", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Tile", "Transpose", "Unsqueeze", "Where",
})
# Attributes added after 17 to an operator above, with the value that keeps the opset-17 meaning
# (None: any value is fine for float32 inputs).
_ADDED_ATTRIBUTES = {
    ("Cast", "saturate"): None, ("CastLike", "saturate"): None,  # float8 only
    ("AveragePool", "dilations"): "ones",
}
# Reduce* 18 (ReduceMax/Min again at 20, for bool): ``axes`` moved from an attribute to an input.
REDUCE_AXES_INPUT = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})


class OnnxGraphError(CnnvizError):
    """A graph that cannot be prepared for conversion (its weights missing, an operator that cannot be lowered)."""


def default_opset(proto) -> int:
    """The version of the default (``ai.onnx``) operator set the model imports."""
    for o in proto.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return 1


def _tensors(graph):
    """Every tensor of a graph: its initializers and the tensors in node attributes, subgraphs included."""
    from onnx import AttributeProto

    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            if a.type == AttributeProto.TENSOR:
                yield a.t
            elif a.type == AttributeProto.TENSORS:
                yield from a.tensors
            elif a.type == AttributeProto.GRAPH:
                yield from _tensors(a.g)
            elif a.type == AttributeProto.GRAPHS:
                for g in a.graphs:
                    yield from _tensors(g)


def _external(t) -> bool:
    from onnx import TensorProto

    return t.HasField("data_location") and t.data_location == TensorProto.EXTERNAL


def external_locations(proto) -> list[str]:
    """The file names the model's external tensors point at, in first-seen order (``[]``: one self-contained file)."""
    seen: dict[str, None] = {}
    for t in _tensors(proto.graph):
        if _external(t):
            info = {e.key: e.value for e in t.external_data}
            seen.setdefault(info.get("location", ""), None)
    return list(seen)


def attach_external_data(proto, files: Mapping[str, bytes], label: str) -> None:
    """Fill every external tensor of ``proto`` from ``files`` (file name -> bytes), in place.

    Raises:
        OnnxGraphError: a file the model names is not in ``files`` (the message names it), or a tensor's
            offset and length run past the file's end.
    """
    from onnx import TensorProto

    by_name = {external_name(k): v for k, v in files.items()}
    missing = [loc for loc in external_locations(proto) if external_name(loc) not in by_name]
    if missing:
        raise OnnxGraphError(
            f"{label} keeps its weights in a separate file, {', '.join(repr(m) for m in missing)}, which did not come "
            f"with it. torch.onnx.export writes both files side by side: give both (upload the two files together, "
            f"or one .zip holding both), or keep them in one folder when loading from a path")
    for t in _tensors(proto.graph):
        if not _external(t):
            continue
        info = {e.key: e.value for e in t.external_data}
        blob = by_name[external_name(info.get("location", ""))]
        offset = int(info.get("offset", 0) or 0)
        length = int(info["length"]) if info.get("length") else len(blob) - offset
        if offset < 0 or length < 0 or offset + length > len(blob):
            raise OnnxGraphError(f"{label}: tensor {t.name!r} lies at bytes {offset}..{offset + length} of "
                                 f"{info.get('location')!r}, which has {len(blob)} bytes: the two files do not belong "
                                 "together (export them again, together)")
        t.raw_data = blob[offset:offset + length]
        del t.external_data[:]
        t.data_location = TensorProto.DEFAULT


def external_name(name: str) -> str:
    """The last path component, either separator: external locations are names beside the model."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def fold_plumbing(proto) -> int:
    """Turn ``Constant`` nodes into initializers and bypass ``Identity`` nodes, in place; returns how many went.

    An Identity whose output is a graph output is kept (the output's name is part of the model's interface).
    """
    from onnx import helper, numpy_helper

    graph = proto.graph
    outputs = {o.name for o in graph.output}
    keep, folded, rename = [], 0, {}
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.output) == 1:
            tensor = _constant_tensor(node, helper, numpy_helper)
            if tensor is not None:
                tensor.name = node.output[0]
                graph.initializer.append(tensor)
                folded += 1
                continue
        if (node.op_type == "Identity" and node.domain in ("", "ai.onnx") and len(node.input) == 1
                and node.output[0] not in outputs):
            rename[node.output[0]] = node.input[0]
            folded += 1
            continue
        keep.append(node)
    if folded:
        del graph.node[:]
        graph.node.extend(keep)
        for vi in list(graph.value_info):  # shapes of names that no longer exist would confuse shape inference
            if vi.name in rename:
                graph.value_info.remove(vi)
    return folded


def _constant_tensor(node, helper, numpy_helper):
    import numpy as np

    if len(node.attribute) != 1:
        return None
    attr = node.attribute[0]
    value = helper.get_attribute_value(attr)
    if attr.name == "value":
        t = type(value)()
        t.CopyFrom(value)
        return t
    arrays = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64, "value_ints": np.int64}
    if attr.name in arrays:
        return numpy_helper.from_array(np.asarray(value, dtype=arrays[attr.name]))
    return None  # sparse or string constants: left to the converter


def normalise(proto, label: str) -> dict[str, int]:
    """Everything this module does to a graph before conversion, in place: plumbing folded, ``Reshape``'s
    ``allowzero`` dropped where the shape has no zero (the dynamo exporter sets it on every Reshape; the
    converter refuses it), the opset lowered. Returns how many nodes each step changed."""
    folded = fold_plumbing(proto)
    consts = {t.name: t for t in proto.graph.initializer}
    reshapes = sum(_reshape_allowzero(node, consts) for node in proto.graph.node)
    batch = free_batch(proto)
    return {"folded": folded, "reshape_allowzero": reshapes, "batch_free": batch,
            "lowered": lower_opset(proto, label)}


def free_batch(proto) -> int:
    """Let a graph exported for one image take a batch, in place; returns how many Reshapes changed.

    The default exporter, given ``torch.zeros(1, C, H, W)``, fixes the batch at 1: the input's first
    dimension is 1 and a flatten before the classifier becomes ``Reshape(x, [1, 512])``. Every page runs
    batches (the maximal index, embeddings, faithfulness), so the input's batch is made symbolic and a
    constant Reshape target that starts with that 1 (and has no -1) starts with -1 instead. The loader
    checks the result: a batch of two must give what two single images give.
    """
    from onnx import numpy_helper

    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        return 0
    dims = inputs[0].type.tensor_type.shape.dim
    if not len(dims) or not dims[0].HasField("dim_value") or dims[0].dim_value != 1:
        return 0
    dims[0].dim_param = "batch"
    consts = {t.name: t for t in proto.graph.initializer}
    changed = 0
    for node in proto.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in consts:
            continue
        shape = numpy_helper.to_array(consts[node.input[1]]).copy()
        if shape.ndim != 1 or len(shape) < 2 or shape[0] != 1 or (shape == -1).any():
            continue
        shape[0] = -1
        fresh = numpy_helper.from_array(shape, name=f"{node.input[1]}__batch")
        proto.graph.initializer.append(fresh)
        node.input[1] = fresh.name
        changed += 1
    return changed


def _reshape_allowzero(node, consts) -> int:
    from onnx import numpy_helper

    if node.op_type != "Reshape" or not _attr(node, "allowzero") or len(node.input) < 2:
        return 0
    shape = consts.get(node.input[1])
    if shape is None or (numpy_helper.to_array(shape) == 0).any():
        return 0  # a zero that must stay zero, or a shape known only at run time: left for the converter to name
    _drop_attr(node, "allowzero")
    return 1


def lower_opset(proto, label: str, target: int = TARGET_OPSET) -> int:
    """Rewrite ``proto`` to opset ``target`` in place, where its operators allow; returns how many nodes changed.

    Raises:
        OnnxGraphError: a node whose operator changed meaning after ``target`` in a way the graph uses; the
            message names the operator, its opset and the node.
    """
    from onnx import defs

    opset = default_opset(proto)
    if opset <= target:
        return 0
    consts = {t.name: t for t in proto.graph.initializer}
    changed = 0
    for node in proto.graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            since = defs.get_schema(node.op_type, max_inclusive_version=opset, domain="").since_version
        except defs.SchemaError:  # an operator ONNX itself does not define: the converter names it
            continue
        if since <= target:
            continue
        if node.op_type in REDUCE_AXES_INPUT:
            changed += _reduce_axes_to_attribute(node, consts, label, since)
        elif node.op_type == "Pad":
            _check_pad(node, label, since)
        elif node.op_type == "Resize":
            _check_resize(node, label, since)
        elif node.op_type == "Split":
            changed += _split_num_outputs(node)
        elif node.op_type in TYPES_ONLY:
            _check_added_attributes(node, label, since)
        else:
            raise unconvertible(node, since, label, "it changed after opset 17 and cnnviz has no rewrite for it")
    for o in proto.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = target
    return changed


def unconvertible(node, version: int, label: str, why: str) -> OnnxGraphError:
    """The message for a node that cannot be converted: operator, opset version, node name, and a way on."""
    return OnnxGraphError(
        f"{label}: the {node.op_type} operator (opset {version}) of node {node.name or node.output[0]!r} cannot be "
        f"converted: {why}. Ways on: export the model so that layer becomes common operators (torch.onnx.export(model, "
        "x, 'net.onnx') on current PyTorch, after replacing the layer), or load the PyTorch module itself in a "
        "notebook with cnnviz.wrap(model) (no export needed)")


def _attr(node, name: str):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return None


def _drop_attr(node, name: str) -> None:
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)


def _reduce_axes_to_attribute(node, consts, label: str, since: int) -> int:
    from onnx import helper, numpy_helper

    noop = _attr(node, "noop_with_empty_axes") or 0
    _drop_attr(node, "noop_with_empty_axes")
    axes_name = node.input[1] if len(node.input) > 1 and node.input[1] else None
    if axes_name is None:
        if noop:  # no axes and "do nothing": the identity
            node.op_type = "Identity"
            node.attribute.clear()
        return 1
    if axes_name not in consts:
        raise unconvertible(node, since, label, "its axes are computed at run time, not a constant")
    axes = [int(a) for a in numpy_helper.to_array(consts[axes_name]).reshape(-1)]
    del node.input[1:]
    if axes:
        node.attribute.append(helper.make_attribute("axes", axes))
    elif noop:
        node.op_type = "Identity"
        node.attribute.clear()
    return 1


def _check_pad(node, label: str, since: int) -> None:
    if len(node.input) > 3 and node.input[3]:
        raise unconvertible(node, since, label, "it pads chosen axes only (the axes input of opset 18)")
    mode = _attr(node, "mode")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode not in (None, "constant", "reflect", "edge"):
        raise unconvertible(node, since, label, f"its mode {mode!r} is newer than opset 17")


def _check_resize(node, label: str, since: int) -> None:
    if _attr(node, "antialias"):
        raise unconvertible(node, since, label, "it resizes with antialiasing (opset 18)")
    if _attr(node, "axes") is not None:
        raise unconvertible(node, since, label, "it resizes chosen axes only (opset 18)")
    policy = _attr(node, "keep_aspect_ratio_policy")
    if policy not in (None, b"stretch", "stretch"):
        raise unconvertible(node, since, label, f"its keep_aspect_ratio_policy {policy!r} is newer than opset 17")
    mode = _attr(node, "coordinate_transformation_mode")
    if mode in (b"half_pixel_symmetric", "half_pixel_symmetric"):
        raise unconvertible(node, since, label, "its half_pixel_symmetric coordinates are newer than opset 17")
    for name in ("antialias", "axes", "keep_aspect_ratio_policy"):
        _drop_attr(node, name)


def _split_num_outputs(node) -> int:
    """Split 18's ``num_outputs`` is what opset 13 does by default (equal parts, one per output)."""
    if _attr(node, "num_outputs") is None:
        return 0
    _drop_attr(node, "num_outputs")
    return 1


def _check_added_attributes(node, label: str, since: int) -> None:
    for a in node.attribute:
        rule = _ADDED_ATTRIBUTES.get((node.op_type, a.name), "absent")
        if rule == "absent" or rule is None:
            continue
        if any(int(v) != 1 for v in _attr(node, a.name)):  # rule "ones"
            raise unconvertible(node, since, label, f"its {a.name} are newer than opset 17")
    for (op, name), rule in _ADDED_ATTRIBUTES.items():
        if op == node.op_type and rule == "ones":
            _drop_attr(node, name)  # all ones: what opset 17 does without it
