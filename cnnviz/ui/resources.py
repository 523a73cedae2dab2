"""Models and data shared by every browser session (st.cache_resource)."""
from __future__ import annotations

import streamlit as st

from cnnviz.core.model import ModelHandle, load_model


@st.cache_resource(show_spinner="Loading model…", max_entries=6)
def shared_model(name: str, untrained: bool = False) -> ModelHandle:
    """One instance per (name, untrained) for the whole server."""
    return load_model(name, untrained=untrained)


@st.cache_resource(show_spinner="Loading your weights…", max_entries=3)
def shared_uploaded_model(architecture: str, num_classes: int, data: bytes, filename: str) -> ModelHandle:
    return load_model(architecture, weights=data, weights_name=filename, num_classes=num_classes)


def shared_untrained_twin(m: ModelHandle) -> ModelHandle:
    """The untrained twin of a loaded model (same architecture, seeded random weights): built once per shared
    handle and kept on it, so a zoo model, uploaded weights, an ONNX file and a notebook model all have one."""
    return m.untrained()
