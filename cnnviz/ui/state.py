"""Widgets mirrored in the URL query string, so every view reopens from a link.

Each widget reads its initial value from ``st.query_params[key]`` (validated; a bad value is
ignored with a notice) and writes its current value back. Values equal to the default are
left out of the URL to keep links short.

    value = state.slider("Kernel size", "k", 1, 11, 3)

Streamlit 1.67 clears the query string when the user switches pages (sidebar navigation or
``st.page_link``); the sidebar's widgets write the shared keys (model, image) back in the same
run, and each page's controls are remembered for the session, so returning to a page restores
its last view (and its link). Keys of a control that is not shown in this run (another page's,
or one hidden by the current mode) are dropped from the URL silently; keys no widget in this
session ever used are dropped with a notice.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

USED = "_qp_used"
_NOTICES = "_qp_notices"
USED_RUN = "_qp_run"
MEMORY = "_qp_memory"  # key -> last value of a bound control, kept across page switches
_KNOWN = "_qp_known"  # every key bound in this session
# keys owned by the shell (sidebar) rather than by a page
GLOBAL_KEYS = {"model", "img", "untrained", "src"}
CHANGED = "_view_changed"  # URL keys whose control changed since the last run (views read it)


def mark_changed(key: str) -> None:
    """Every bound control's ``on_change``: remember that ``key`` changed, so the view it sits in can tell
    whether another view of the page reads it (then the whole page reruns: ``cnnviz.ui.view``)."""
    st.session_state.setdefault(CHANGED, set()).add(key)


def _on_change(key: str, kw: dict) -> dict:
    if "on_change" not in kw:
        kw = {**kw, "on_change": mark_changed, "args": (key,)}
    return kw


def begin_run() -> None:
    """Called once at the top of every app run: forget which keys this run used."""
    st.session_state[USED] = set()
    st.session_state[USED_RUN] = st.session_state.get(USED_RUN, 0) + 1
    st.session_state.setdefault(_NOTICES, [])


def notice(msg: str) -> None:
    notes = st.session_state.setdefault(_NOTICES, [])
    if msg not in notes:
        notes.append(msg)


def pop_notices() -> list[str]:
    notes = st.session_state.get(_NOTICES, [])
    st.session_state[_NOTICES] = []
    return notes


def unknown_keys() -> list[str]:
    """URL keys that no control in this session has ever used (typos, links from other apps)."""
    known = st.session_state.get(USED, set()) | st.session_state.get(_KNOWN, set()) | GLOBAL_KEYS
    return [k for k in st.query_params.keys() if k not in known]


def stale_keys() -> list[str]:
    """URL keys of controls this session knows but that this run did not show."""
    used = st.session_state.get(USED, set()) | GLOBAL_KEYS
    known = st.session_state.get(_KNOWN, set())
    return [k for k in st.query_params.keys() if k not in used and k in known]


def end_run() -> None:
    """Called once at the end of every app run: show notices, drop unknown and stale URL keys."""
    for msg in pop_notices():
        st.toast(msg, icon=":material/info:")
    unknown = unknown_keys()
    if unknown:
        shown = ", ".join(f"{k}={st.query_params.get(k)!r}"[:60] for k in unknown[:8])
        st.toast(f"Ignored link parameter(s) this view does not use: {shown}", icon=":material/info:")
    for k in unknown + stale_keys():
        del st.query_params[k]


def _mark_used(key: str) -> None:
    st.session_state[USED] = st.session_state.get(USED, set()) | {key}
    st.session_state[_KNOWN] = st.session_state.get(_KNOWN, set()) | {key}


def _initial(key: str, default: Any, parse: Callable[[str], Any], valid: Callable[[Any], bool]) -> Any:
    raw = st.query_params.get(key)
    if raw is None:
        return default
    try:
        v = parse(raw)
        if valid(v):
            return v
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        pass
    notice(f"Ignored link parameter {key}={raw[:40]!r}: not a valid value here; using {default!r}.")
    del st.query_params[key]
    return default


def _bind(key: str, default: Any, parse, valid, render: Callable[[str, Any], Any], to_str=str) -> Any:
    wkey = f"qp:{key}"
    _mark_used(key)
    memory = st.session_state.setdefault(MEMORY, {})
    if wkey not in st.session_state:
        if key not in st.query_params and key in memory and _safe_valid(valid, memory[key]):
            st.session_state[wkey] = memory[key]  # back on this page after a page switch
        else:
            st.session_state[wkey] = _initial(key, default, parse, valid)
    elif not _safe_valid(valid, st.session_state[wkey]):
        st.session_state[wkey] = default
    value = render(wkey, st.session_state[wkey])
    memory[key] = value
    if value == default:
        if key in st.query_params:
            del st.query_params[key]
    else:
        s = to_str(value)
        if st.query_params.get(key) != s:
            st.query_params[key] = s
    return value


def _safe_valid(valid: Callable[[Any], bool], v: Any) -> bool:
    try:
        return bool(valid(v))
    except (TypeError, ValueError):
        return False


def parse_bool(s: str) -> bool:
    """A URL flag: ``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else is a ValueError."""
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(s)




def _num(kind):
    return int if kind is int else float


def slider(label: str, key: str, min_value, max_value, value, step=None, container=st, **kw):
    """``st.slider`` for a number (int or float) mirrored in the URL."""
    kw = _on_change(key, kw)
    kind = int if all(isinstance(v, int) for v in (min_value, max_value, value)) else float
    parse = _num(kind)
    return _bind(key, value, parse, lambda v: isinstance(v, (int, float)) and min_value <= v <= max_value,
                 lambda k, _v: container.slider(label, min_value, max_value, step=step, key=k, **kw))


def range_slider(label: str, key: str, min_value, max_value, value: tuple, step=None, container=st, **kw):
    kw = _on_change(key, kw)
    kind = int if all(isinstance(v, int) for v in (min_value, max_value, *value)) else float
    return _bind(key, tuple(value), lambda s: tuple(_num(kind)(p) for p in s.split(",")),
                 lambda v: isinstance(v, tuple) and len(v) == 2 and min_value <= v[0] <= v[1] <= max_value,
                 lambda k, _v: container.slider(label, min_value, max_value, step=step, key=k, **kw),
                 to_str=lambda v: ",".join(str(p) for p in v))


def number(label: str, key: str, min_value, max_value, value, step=None, container=st, **kw):
    kw = _on_change(key, kw)
    kind = int if all(isinstance(v, int) for v in (min_value, max_value, value)) else float
    return _bind(key, value, _num(kind), lambda v: isinstance(v, (int, float)) and min_value <= v <= max_value,
                 lambda k, _v: container.number_input(label, min_value, max_value, step=step, key=k, **kw))


def select(label: str, key: str, options: Sequence, default=None, format_func=str, container=st,
           radio: bool = False, **kw):
    """``st.selectbox`` (or ``st.radio``) over ``options`` mirrored in the URL by the option's ``str``."""
    kw = _on_change(key, kw)
    options, by_str, default = _options(options, default, label)

    def parse(s):
        if s not in by_str:
            raise ValueError(s)
        return by_str[s]

    widget = container.radio if radio else container.selectbox
    return _bind(key, default, parse, lambda v: v in options,
                 lambda k, _v: widget(label, options, format_func=format_func, key=k, **kw))


def choice(params: Mapping[str, str], key: str, options: Sequence, default=None):
    """The option of ``options`` that a link's query ``params`` name under ``key`` (by its ``str``, as
    :func:`select` writes it), else ``default``: what a select would show for that link, read without drawing it.

    Examples::

        >>> choice({"wc_pn": "2000"}, "wc_pn", [500, 1000, 2000], 1000), choice({}, "wc_pn", [500, 1000], 1000)
        (2000, 1000)
    """
    _, by_str, default = _options(options, default)
    return by_str.get(params.get(key, ""), default)


def _options(options: Sequence, default, label: str = "") -> tuple[list, dict[str, Any], Any]:
    """A select's options as a list, by their ``str`` (the URL's form), and its default (the first option when
    ``default`` is not one of them)."""
    options = list(options)
    if not options:
        raise ValueError(f"select {label!r} has no options")
    return options, {str(o): o for o in options}, options[0] if default is None or default not in options else default


def multiselect(label: str, key: str, options: Sequence, default: Sequence = (), format_func=str, container=st, **kw):
    kw = _on_change(key, kw)
    options = list(options)
    by_str = {str(o): o for o in options}
    default = [d for d in default if d in options]

    def parse(s):
        unknown = [p for p in s.split(",") if p and p not in by_str]
        if unknown:
            raise ValueError(f"unknown option(s) {unknown}")
        return [by_str[p] for p in s.split(",") if p]

    return _bind(key, list(default), parse, lambda v: isinstance(v, list) and all(x in options for x in v),
                 lambda k, _v: container.multiselect(label, options, format_func=format_func, key=k, **kw),
                 to_str=lambda v: ",".join(str(x) for x in v))


def toggle(label: str, key: str, default: bool = False, container=st, **kw) -> bool:
    kw = _on_change(key, kw)
    return _bind(key, default, parse_bool, lambda v: isinstance(v, bool),
                 lambda k, _v: container.toggle(label, key=k, **kw), to_str=lambda v: "1" if v else "0")


def text(label: str, key: str, default: str = "", container=st, max_chars: int = 500, **kw) -> str:
    kw = _on_change(key, kw)
    return _bind(key, default, str, lambda v: isinstance(v, str) and len(v) <= max_chars,
                 lambda k, _v: container.text_input(label, key=k, max_chars=max_chars, **kw))


def get_param(key: str, default: Any, parse: Callable[[str], Any] = str,
              valid: Callable[[Any], bool] | None = None) -> Any:
    """Read a plain (non-widget) value from the URL, e.g. a clicked channel.

    Args:
        key: the URL key (prefixed by the page, e.g. ``"ac_ch"``).
        default: returned when the key is absent or invalid.
        parse: turns the URL string into a value; raising ValueError/TypeError marks it invalid.
        valid: optional check of the parsed value (e.g. ``lambda c: 0 <= c < channels``).

    Examples::

        >>> channel = state.get_param("ac_ch", 0, int, valid=lambda c: 0 <= c < 64)
    """
    _mark_used(key)
    raw = st.query_params.get(key)
    if raw is None:
        return default
    try:
        v = parse(raw)
        if valid is None or valid(v):
            return v
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        pass
    notice(f"Ignored link parameter {key}={raw[:40]!r}: not a valid value here.")
    del st.query_params[key]
    return default


def set_param(key: str, value: Any, default: Any = None) -> None:
    """Write a plain value into the URL (removed when it equals ``default``)."""
    _mark_used(key)
    if value is None or value == default:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)


def peek(key: str, default: Any, parse: Callable[[str], Any] = str,
         valid: Callable[[Any], bool] | None = None) -> Any:
    """The current value of a control another view owns, without drawing it.

    In this order: the control's value in this session (drawn earlier in this run, or in an earlier run),
    its remembered value, the URL, ``default``. The key counts as used, so a slide that shows only the
    reading view keeps it in its link.

    Examples::

        >>> layer = state.peek("ac_layer", convs[0], valid=lambda n: n in convs)
    """
    _mark_used(key)
    ok = (lambda v: True) if valid is None else valid
    for source in (st.session_state.get(f"qp:{key}", _MISSING), st.session_state.get(MEMORY, {}).get(key, _MISSING)):
        if source is not _MISSING and _safe_valid(ok, source):
            return source
    raw = st.query_params.get(key)
    if raw is not None:
        try:
            v = parse(raw)
            if _safe_valid(ok, v):
                return v
        except (ValueError, TypeError, KeyError, IndexError, OverflowError):
            pass
    return default


_MISSING = object()
