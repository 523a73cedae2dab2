"""The model a session trained on the Training page, as the sidebar's model choice, and files it exported.

"Use this model on every page" keeps a frozen :class:`ModelHandle` (built the way ``load_model`` builds
one) in this session's state and selects it in the sidebar; other sessions never see it. A safetensors
file downloaded from the Training page carries its card, so "Your own weights" loads it back with the
same architecture, classes and normalisation, whatever architecture is selected there.
"""
from __future__ import annotations

import streamlit as st

from cnnviz.core.model import ModelHandle
from cnnviz.errors import CnnvizError
from cnnviz.methods.training import card_of, load_trained

SESSION_MODEL = "session"
_KEY = "_session_model"


def handle() -> ModelHandle | None:
    """This session's trained model, if it chose one."""
    return st.session_state.get(_KEY)


def options() -> list[str]:
    """The sidebar's extra model option (only while this session has a trained model)."""
    return [SESSION_MODEL] if handle() is not None else []


def label() -> str | None:
    h = handle()
    return None if h is None else f"Trained in this session: {h.card.get('title', h.name)}"


def picked(container) -> ModelHandle:
    """This session's trained model, with its settings and accuracy under the model choice.

    Raises:
        CnnvizError: this session has no trained model (a link to it opened in another session).
    """
    h = handle()
    if h is None:
        raise CnnvizError("this session has no model trained on the Training page (a trained model stays in "
                          "the session that trained it); train one there and click 'Use this model on every page'")
    acc = h.card.get("test_accuracy")
    container.caption(f"Trained on the Training page in this session{f' ({acc:.1%} test accuracy)' if acc else ''}: "
                      f"{h.card.get('settings', '')}")
    return h


def use(h: ModelHandle) -> None:
    """Make ``h`` this session's model on every page (a button's on_click: it runs before the rerun)."""
    st.session_state[_KEY] = h
    st.session_state["qp:model"] = SESSION_MODEL


def has_card(data: bytes) -> bool:
    return card_of(data) is not None


@st.cache_resource(show_spinner="Loading your trained model…", max_entries=3)
def _shared_trained(data: bytes, filename: str) -> ModelHandle:
    return load_trained(data, filename=filename)


def load_upload(data: bytes, filename: str, container) -> ModelHandle:
    """A Training-page download loaded back (shared by the server), with its settings under the model choice.

    Raises:
        CnnvizError: the file's card or weights do not fit (the sidebar shows the message).
    """
    h = _shared_trained(data, filename)
    container.caption(f"Trained in cnnviz: {h.card.get('settings', '')}")
    return h
