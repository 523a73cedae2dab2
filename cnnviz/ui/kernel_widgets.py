"""Widgets of the Filter kernels page: a classic kernel's parameter sliders, the editable kernel grid, and the
placement of responses and of the learned-vs-classic table.

The sliders and the grid are mirrored in the URL (the sliders by their own keys, the edited grid
as ``kn_k``), so a lecturer's link reopens the same kernel.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from cnnviz.errors import CnnvizError
from cnnviz.figures import kernels as fk
from cnnviz.methods import kernels as kn
from cnnviz.text import kernels as tx
from cnnviz.ui import state, widgets


def kernel_param_controls(name: str, container=st, stacked: bool = False) -> dict:
    """One slider (or radio) per parameter of classic kernel ``name``, side by side; their values by keyword.

    Args:
        container: where they go.
        stacked: one under the other in ``container`` (a narrow place: a slide's controls popover) instead of
            side by side in columns.

    Examples::

        >>> params = kernel_param_controls("gaussian")   # {"size": 5, "sigma": 1.0} by default
    """
    specs = tx.kernel_params(name)
    params: dict = {}
    places = [container] * len(specs) if stacked else container.columns(max(1, len(specs))) if specs else []
    for col, p in zip(places, specs, strict=True):
        if p.choices:
            labels = dict(p.choices)
            params[p.name] = state.select(p.label, p.key, list(labels), p.default, container=col, radio=True,
                                          horizontal=True, format_func=labels.get)
        else:
            params[p.name] = state.slider(p.label, p.key, p.lo, p.hi, p.default, step=p.step, container=col,
                                          help=p.help)
    return params


def kernel_editor(preset: np.ndarray, preset_id: tuple, container=st) -> tuple[np.ndarray, bool]:
    """An editable grid of the kernel's numbers, starting from ``preset`` (or the link's ``kn_k``).

    Args:
        preset: the classic kernel chosen above.
        preset_id: what identifies the preset (name and parameters); a new one restarts the grid from it.
        container: where the grid, its reset button and its caption go.

    Returns:
        (the kernel as typed, float64 with empty cells as 0; whether it differs from the preset).
    """
    if st.session_state.get("kn_sig") != preset_id:  # a new preset (or the first run): start the grid from it
        base = preset
        url_k = state.get_param("kn_k", None, kn.parse_kernel)
        if "kn_sig" not in st.session_state and url_k is not None:
            try:
                base = kn.kernel_from_values(url_k, preset.shape)
            except CnnvizError as e:
                state.notice(f"Ignored link parameter kn_k: {e}.")
        st.session_state.update(kn_sig=preset_id, kn_base=base, kn_ver=st.session_state.get("kn_ver", 0) + 1)
    container.markdown(tx.EDITOR_TITLE)
    n_cols = st.session_state["kn_base"].shape[1]
    edited = container.data_editor(
        pd.DataFrame(st.session_state["kn_base"].astype(float), columns=[str(j) for j in range(n_cols)]),
        key=f"kn_editor_{st.session_state['kn_ver']}", hide_index=False, num_rows="fixed",
        column_config={str(j): st.column_config.NumberColumn(str(j), format="%.3f", width="small")
                       for j in range(n_cols)})
    if container.button("Reset to the preset", key="kn_reset"):
        st.session_state.update(kn_base=preset, kn_ver=st.session_state["kn_ver"] + 1)
        state.set_param("kn_k", None)
        st.rerun()
    kernel = edited.to_numpy(dtype=float)
    if not np.isfinite(kernel).all():
        container.warning("Empty cells count as 0: type a number in every cell.")
        kernel = np.nan_to_num(kernel, nan=0.0, posinf=0.0, neginf=0.0)
    changed = not np.allclose(kernel, preset)
    state.set_param("kn_k", kn.format_kernel(kernel) if changed else None)
    container.caption(f"{kernel.shape[0]}×{kernel.shape[1]} kernel{' (edited)' if changed else ''}; "
                      f"{tx.kernel_sum_note(kernel)}.")
    return kernel, changed


def show_responses(columns, maps: list[tuple[torch.Tensor, str, str, bool]], per_channel: bool,
                   slide_height: int | None = None) -> None:
    """Kernel responses side by side: a heat map of one channel, or an RGB picture of three.

    Args:
        columns: one Streamlit container per response.
        maps: ``(response [C, H, W], short name, heat-map title, signed)``; the short name also names
            the figure (``kn-<short>``) and starts the per-channel caption.
        per_channel: the responses have 3 channels (shown as colour pictures).
        slide_height: the heat maps' height on a slide (default: the whole figure area).
    """
    for col, (r, short, title, signed) in zip(columns, maps, strict=True):
        slug = "kn-" + short.lower().replace(" ", "-")
        if per_channel:
            caption = f"{short}, per channel ({'signed: mid-grey' if signed else 'black'} = 0)"
            widgets.show_image(fk.rgb_response(r, signed), caption, min_side=200, container=col, download=slug,
                               width="stretch")
        else:
            widgets.show_figure(fk.response_figure(r[0], title, signed), slug, container=col,
                                slide_height=slide_height)


def bridge_dataframe(table, container=st, height: int | None = None) -> None:
    """The learned-vs-classic table (:func:`cnnviz.figures.kernels.bridge_table`) with its pictures and bars.

    Args:
        height: its height in px (default: up to 460, less for a short table).
    """
    container.dataframe(table, hide_index=True, height=height or min(460, 40 + 35 * len(table)), column_config={
        "learned": st.column_config.ImageColumn("learned filter"),
        "closest classic": st.column_config.ImageColumn("closest classic"),
        "|cosine|": st.column_config.ProgressColumn("|cosine|", min_value=0.0, max_value=1.0, format="%.2f"),
        "colour share": st.column_config.NumberColumn(format="%.2f")})
