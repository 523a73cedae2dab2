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


@st.cache_resource(max_entries=6)
def shared_untrained_twin(name: str, key: str) -> ModelHandle:
    """The untrained twin of a loaded model (same architecture, seeded random weights)."""
    return shared_model(name).untrained() if "upload" not in key else load_model(name, untrained=True)
