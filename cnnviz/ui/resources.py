"""Models and data shared by every browser session (st.cache_resource)."""
from __future__ import annotations

import functools

import streamlit as st

from cnnviz.core.model import ModelHandle, load_model
from cnnviz.figures.common import FrozenFigure


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


def shared_figure(max_entries: int = 64):
    """Decorator: a function that builds a Plotly figure (or a tuple starting with one, or with None) from plain
    arguments becomes one built once per arguments for the whole server and shared read-only as a
    :class:`~cnnviz.figures.common.FrozenFigure`. Arguments named with a leading underscore are not hashed
    (Streamlit's rule): pass a model as ``(m.key, m)`` with the handle as ``_m``.

    For views that rerun with the same data: building a figure (Plotly validates every property) costs far more
    than sending it, e.g. 0.4 s for /detection's anchors figure against nothing for a cached one.

    Examples::

        >>> @shared_figure()
        ... def _canvas_figure(seed: int, size: int, height: int):
        ...     return fd.canvas_figure(...)
    """
    def wrap(build):
        @functools.wraps(build)  # Streamlit keys the cache on the wrapped function's name and source
        def frozen(*args, **kw):
            out = build(*args, **kw)
            if isinstance(out, tuple):
                return (_freeze(out[0]), *out[1:])
            return _freeze(out)

        return st.cache_resource(max_entries=max_entries, show_spinner=False)(frozen)

    return wrap


def _freeze(fig):
    return None if fig is None or isinstance(fig, FrozenFigure) else FrozenFigure(fig.to_dict())
