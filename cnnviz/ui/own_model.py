"""The sidebar's "Your own model (ONNX)" and the model handed over by ``cnnviz.show``."""
from __future__ import annotations

import hashlib

import streamlit as st

from cnnviz.core.model import ModelHandle
from cnnviz.core.onnx_import import (
    MAX_ONNX_BYTES,
    NORMALISATIONS,
    OnnxError,
    load_onnx,
    onnx_files,
    parse_class_names,
)
from cnnviz.ui.show import shown_model_spec

ONNX_MODEL = "onnx"
SHOWN_MODEL = "shown"


@st.cache_resource(show_spinner="Converting your ONNX model…", max_entries=3)
def shared_onnx_model(digest: str, filename: str, input_size: tuple[int, int, int], normalisation: str,
                      classes: tuple[str, ...], _data: bytes, _external: dict[str, bytes] | None = None) -> ModelHandle:
    """One converted model per (files, settings) for the whole server (no classes: one per output, "0", "1", ...).

    ``digest`` names the files' content (the cache key: hundreds of MiB are not hashed again on every rerun);
    ``_external``: the files the graph keeps its weights in (``net.onnx.data``)."""
    return load_onnx(_data, input_size, normalisation=normalisation, classes=list(classes) or None, name=filename,
                     external=_external)


def _upload(ups) -> tuple[str, str, bytes, dict[str, bytes]]:
    """(digest, graph name, graph, external files) of the uploader's files: sorted and hashed once per upload
    (kept in the session under the uploads' ids), not on every rerun."""
    ids = tuple(u.file_id for u in ups)
    seen = st.session_state.get("_onnx_upload")
    if seen is not None and seen[0] == ids:
        return seen[1]
    name, graph, external = onnx_files({u.name: u.getvalue() for u in ups})
    h = hashlib.sha1(graph)
    for k in sorted(external):
        h.update(k.encode())
        h.update(external[k])
    out = (h.hexdigest(), name, graph, external)
    st.session_state["_onnx_upload"] = (ids, out)
    return out


@st.cache_resource(show_spinner="Loading the model from your notebook…", max_entries=1)
def shown_model(path: str, name: str, input_size: tuple[int, ...], mean: tuple[float, ...], std: tuple[float, ...],
                classes: tuple[str, ...]) -> ModelHandle:
    return load_onnx(path, input_size, mean=mean, std=std, classes=list(classes), name=name)


def shown() -> ModelHandle | None:
    """The ``cnnviz.show()`` model of this server, if it was started that way."""
    spec = shown_model_spec()
    if spec is None:
        return None
    return shown_model(spec["path"], spec["name"], tuple(spec["input_size"]), tuple(spec["mean"]), tuple(spec["std"]),
                       tuple(spec["classes"]))


def shown_label() -> str | None:
    spec = shown_model_spec()
    return None if spec is None else f"{spec['name']} (from your notebook)"


def onnx_picker(sb) -> ModelHandle | None:
    """Upload an ONNX file with its input size, normalisation and classes; None until files are given.

    Raises:
        OnnxError: a bad file (too large, not ONNX, not convertible, the wrong size; the message names the
            problem). The sidebar shows it and keeps the previous model.
    """
    c = sb.radio("Input channels", (1, 3), index=1, horizontal=True, key="onnx_c",
                 format_func=lambda v: "1 (grayscale)" if v == 1 else "3 (RGB)")
    cols = sb.columns(2)
    h = cols[0].number_input("Height", 8, 1024, 224 if c == 3 else 28, key="onnx_h")
    w = cols[1].number_input("Width", 8, 1024, 224 if c == 3 else 28, key="onnx_w")
    norm = sb.selectbox("Normalisation (mean, std)", list(NORMALISATIONS), index=0 if c == 3 else 1, key="onnx_norm",
                        help="What the model was trained with: ImageNet statistics, MNIST's, or plain 0..1 pixels.")
    names_file = sb.file_uploader("Class names (text, one per line; optional)", type=["txt"], key="onnx_classes")
    count = sb.number_input("…or the number of classes (0: the model's output size)", 0, 100_000, 0, key="onnx_n")
    ups = sb.file_uploader(f"ONNX model: the .onnx with its .data file, or one .zip of both (up to "
                           f"{MAX_ONNX_BYTES // 2**20} MiB)", type=["onnx", "data", "zip"], key="onnx_file",
                           accept_multiple_files=True,
                           help="torch.onnx.export(model, (x,), 'net.onnx') writes net.onnx and net.onnx.data: "
                                "select both.")
    if not ups:
        return None
    total = sum(u.size for u in ups)
    if total > MAX_ONNX_BYTES:  # refused before it is read
        raise OnnxError(f"{', '.join(u.name for u in ups)}: {total / 2**20:.0f} MiB in all; the limit is "
                        f"{MAX_ONNX_BYTES // 2**20} MiB.")
    text = names_file.getvalue().decode("utf-8", errors="replace") if names_file is not None else None
    classes = tuple(parse_class_names(text, int(count))) if text or count else ()
    digest, name, graph, external = _upload(ups)
    return shared_onnx_model(digest, name, (int(c), int(h), int(w)), norm, classes, graph, external)
