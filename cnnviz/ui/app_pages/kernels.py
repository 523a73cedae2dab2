"""Filter kernels: classic kernels on the current image, the loaded model's learned filters, and the bridge."""
from __future__ import annotations

import base64
import io
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image
from plotly.subplots import make_subplots
from streamlit_image_coordinates import streamlit_image_coordinates

from cnnviz.methods import kernels as kn
from cnnviz.figures.render import colormap, normalize_maps, to_uint8
from cnnviz.ui import state
from cnnviz.figures.common import FONT, enlarge, heatmap
from cnnviz.ui.widgets import show_image
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model
dev = m.device

st.title("Filter kernels")
st.markdown(
    "A **kernel** (or filter) is a small table of weights. Slid over an image, at every position it "
    "multiplies the patch under it by its weights and adds the products up: the answer is large where the "
    "patch *looks like* the kernel. A Sobel kernel looks like a dark-to-bright step, so it finds edges; a "
    "Gaussian looks like a soft blob, so it averages. A convolutional network does exactly this, but it "
    "*learns* its kernels from data, and its first layer ends up with edge, colour and stripe detectors of "
    "its own. Below: classic kernels on your image, then the filters of the loaded model, then a "
    "measurement of how close the two are."
)

# ====================================================================== 1. classic kernels
st.header("1. Classic kernels on your image", divider="gray")

c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
name = state.select("Kernel", "kn_kernel", list(kn.KERNELS), "sobel_x", format_func=lambda k: kn.KERNELS[k].title, container=c1)
spec = kn.KERNELS[name]
mode = state.select("Colour", "kn_mode", ["grayscale", "per_channel"], "grayscale", container=c2, radio=True,
                    format_func=lambda s: {"grayscale": "Grayscale", "per_channel": "Per channel (R, G, B)"}[s])
padding = state.select("Border", "kn_pad", list(kn.PADDINGS), "reflect", container=c3,
                       help="What the kernel sees beyond the image border: a mirror of the image, zeros, the edge pixel "
                            "repeated, or nothing ('valid': the output shrinks by kernel size − 1).")
img_size = state.slider("Image size (longer side, px)", "kn_img", 32, 256, 192, step=16, container=c4,
                        help="The image is resized for this demo; the network itself sees the small picture in the sidebar.")
flip = state.toggle("True convolution (flip the kernel)", "kn_flip", False,
                    help="PyTorch's conv2d (used here and in every CNN) computes a cross-correlation: the kernel is NOT "
                         "flipped. Switch this on to flip it in both axes first, which gives the convolution of signal "
                         "processing. Symmetric kernels do not change; Sobel and Prewitt change sign.")

params: dict = {}
if spec.params:
    pc = st.columns(len(spec.params))
    for col, p in zip(pc, spec.params):
        if p == "size":
            # one URL key per kernel family, so switching kernel does not carry an unsuitable size along
            key, default = {"gabor": ("kn_gn", 11), "gaussian": ("kn_sn", 5)}.get(name, ("kn_n", 3))
            params["size"] = state.slider("Size (n × n)", key, 1, 15, default, container=col)
        elif p == "sigma":
            params["sigma"] = state.slider("σ (px)", "kn_sigma", 0.3, 5.0, 1.0, step=0.1, container=col)
        elif p == "theta":
            params["theta"] = state.slider("Orientation θ (°)", "kn_theta", 0, 180, 0, step=15, container=col,
                                           help="Direction across the stripes; 0° = vertical stripes, which answer vertical edges.")
        elif p == "wavelength":
            params["wavelength"] = state.slider("Wavelength λ (px)", "kn_lambda", 2.0, 20.0, 6.0, step=0.5, container=col)
        elif p == "gabor_sigma":
            params["gabor_sigma"] = state.slider("Window σ (px)", "kn_gsigma", 0.5, 8.0, 3.0, step=0.5, container=col)
        elif p == "gamma":
            params["gamma"] = state.slider("Aspect γ", "kn_gamma", 0.2, 1.0, 0.5, step=0.1, container=col)
        elif p == "phase":
            params["phase"] = state.select("Phase ψ", "kn_phase", [0, 90], 0, container=col, radio=True, horizontal=True,
                                           format_func=lambda v: "0° (line)" if v == 0 else "90° (edge)")
st.caption(spec.description)

image = kn.image_tensor(ctx.image, size=img_size, grayscale=(mode == "grayscale"), device=dev)


def kernel_figure(k: np.ndarray, title: str) -> go.Figure:
    """The kernel as a diverging heat map with its numbers written in the cells."""
    n = max(k.shape)
    fmt = (lambda v: f"{v:.3g}") if n <= 7 else (lambda v: f"{v:.2g}")
    fig = heatmap(k, title=title, colorscale="RdBu_r", zmid=0, height=360,
                  hover="row %{y}, col %{x}: %{z:.4f}<extra></extra>")
    fig.update_traces(text=[[fmt(v) for v in row] for row in k], texttemplate="%{text}",
                      textfont=dict(size=max(9, 18 - n)))
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(dtick=1)
    return fig


def response_figure(r: torch.Tensor, title: str, signed: bool = True) -> go.Figure:
    z = r.detach().float().cpu().numpy()
    m_abs = float(np.abs(z).max()) or 1.0
    fig = heatmap(z, title=title, colorscale="RdBu_r" if signed else "Viridis", zmid=0 if signed else None, height=380,
                  hover="y %{y}, x %{x}: %{z:.3f}<extra></extra>")
    if signed:
        fig.update_traces(zmin=-m_abs, zmax=m_abs)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig


def rgb_response(r: torch.Tensor, signed: bool) -> np.ndarray:
    """[3, H, W] per-channel response to an RGB picture: signed → 0 is mid-grey; after ReLU → 0 is black."""
    mx = r.abs().amax().clamp_min(1e-12)
    return to_uint8((r / mx + 1) / 2 if signed else r.clamp_min(0) / mx)


def _parse_kernel(s: str) -> list[float]:
    vals = [float(v) for v in s.split(",")]
    if not vals or any(not math.isfinite(v) for v in vals):
        raise ValueError(s)
    return vals


if name == "sobel_magnitude":
    gx, gy, mag = kn.gradient_magnitude(image, mode, padding=padding, device=dev)
    cols = st.columns(3)
    cols[0].plotly_chart(kernel_figure(kn.classic_kernel("sobel_x").numpy(), "Gx kernel (Sobel x)"), width="stretch")
    cols[1].plotly_chart(kernel_figure(kn.classic_kernel("sobel_y").numpy(), "Gy kernel (Sobel y)"), width="stretch")
    with cols[2]:
        show_image(to_uint8(image), caption="Input", min_side=200, width="stretch")
    st.info("The magnitude combines two kernels non-linearly, so there is no single grid to edit: choose "
            "Sobel x or Sobel y to edit one of them.", icon=":material/info:")
    cols = st.columns(3)
    if mode == "grayscale":
        cols[0].plotly_chart(response_figure(gx[0], "Gx (signed)"), width="stretch")
        cols[1].plotly_chart(response_figure(gy[0], "Gy (signed)"), width="stretch")
        cols[2].plotly_chart(response_figure(mag[0], "√(Gx² + Gy²)", signed=False), width="stretch")
    else:
        for col, r, t, s in ((cols[0], gx, "Gx (signed)", True), (cols[1], gy, "Gy (signed)", True), (cols[2], mag, "magnitude", False)):
            with col:
                show_image(rgb_response(r, s), caption=f"{t}, per channel", min_side=200, width="stretch")
else:
    preset = kn.classic_kernel(name, **params).numpy()
    sig = (name, tuple(sorted(params.items())))
    url_k = state.get_param("kn_k", None, _parse_kernel)
    if st.session_state.get("kn_sig") != sig:
        base = preset
        if "kn_sig" not in st.session_state and url_k is not None:
            if len(url_k) == preset.size:
                base = np.asarray(url_k, dtype=np.float32).reshape(preset.shape)
            else:
                state.notice(f"Ignored link parameter kn_k: it has {len(url_k)} numbers, the {preset.shape[0]}×{preset.shape[1]} kernel needs {preset.size}.")
        st.session_state["kn_sig"] = sig
        st.session_state["kn_base"] = base
        st.session_state["kn_ver"] = st.session_state.get("kn_ver", 0) + 1
    left, right = st.columns([3, 2] if preset.shape[1] > 7 else [1, 1])
    with left:
        st.markdown("**Edit the kernel** (type a number in any cell; the response updates live)")
        n_rows, n_cols = st.session_state["kn_base"].shape
        df = pd.DataFrame(st.session_state["kn_base"].astype(float), columns=[str(j) for j in range(n_cols)])
        edited = st.data_editor(
            df, key=f"kn_editor_{st.session_state['kn_ver']}", hide_index=False, num_rows="fixed",
            column_config={str(j): st.column_config.NumberColumn(str(j), format="%.3f", width="small") for j in range(n_cols)})
        if st.button("Reset to the preset", key="kn_reset"):
            st.session_state["kn_base"] = preset
            st.session_state["kn_ver"] += 1
            state.set_param("kn_k", None)
            st.rerun()
        kernel = edited.to_numpy(dtype=float)
        if not np.isfinite(kernel).all():
            st.warning("Empty cells count as 0: type a number in every cell.")
            kernel = np.nan_to_num(kernel, nan=0.0, posinf=0.0, neginf=0.0)
        edited_flag = not np.allclose(kernel, preset)
        state.set_param("kn_k", ",".join(f"{v:.4g}" for v in kernel.ravel()) if edited_flag else None)
        s = float(kernel.sum())
        note = ("sums to 1: flat areas keep their brightness" if abs(s - 1) < 1e-3 else
                "sums to 0: flat areas give 0, only changes respond" if abs(s) < 1e-3 else
                f"sums to {s:.3g}: flat areas are multiplied by {s:.3g}")
        st.caption(f"{kernel.shape[0]}×{kernel.shape[1]} kernel{' (edited)' if edited_flag else ''}; {note}.")
    with right:
        shown_k, k_title = (kernel[::-1, ::-1].copy(), "The kernel, flipped (true convolution)") if flip else (kernel, "The kernel")
        st.plotly_chart(kernel_figure(shown_k, k_title), width="stretch")

    try:
        resp = kn.apply_kernel(image, kernel, mode, convolution=flip, padding=padding, device=dev)
    except ValueError as e:
        st.error(f"The kernel cannot be applied: {e}")
        resp = None
    cols = st.columns(3)
    with cols[0]:
        show_image(to_uint8(image), caption=f"Input ({'grayscale' if mode == 'grayscale' else 'RGB'}, "
                   f"{image.shape[2]}×{image.shape[1]} px)", min_side=200, width="stretch")
    if resp is None:
        pass
    elif mode == "grayscale":
        cols[1].plotly_chart(response_figure(resp[0], "Response (signed: red +, blue −)"), width="stretch")
        cols[2].plotly_chart(response_figure(resp[0].clamp_min(0), "After ReLU: max(0, response)", signed=False), width="stretch")
    else:
        with cols[1]:
            show_image(rgb_response(resp, True), caption="Response per channel (signed: mid-grey = 0)", min_side=200, width="stretch")
        with cols[2]:
            show_image(rgb_response(resp, False), caption="After ReLU per channel (black = 0)", min_side=200, width="stretch")
    if resp is not None:
        st.caption(f"Response range {float(resp.min()):.3g} … {float(resp.max()):.3g}; computed with `torch.nn.functional.conv2d` "
                   f"on {m.device_description} as a {'true convolution (kernel flipped)' if flip else 'cross-correlation (kernel not flipped), as in every CNN layer'}.")

with st.container(border=True):
    st.markdown(
        "**What to notice**\n\n"
        "- **Edge kernels sum to 0**: on a flat area the positive and negative weights cancel, so only changes respond. "
        "Their response is *signed*: Sobel x is positive where the image gets brighter to the right and negative where it gets darker.\n"
        "- **ReLU keeps one sign only**: after max(0, ·) a Sobel x kernel reports dark-to-bright edges and forgets bright-to-dark ones. "
        "That is why a network needs both a kernel and its negative to see both kinds of edge.\n"
        "- **Correlation vs. convolution**: flip the kernel with the toggle: the Gaussian does not change, Sobel changes sign. "
        "A CNN does not care, since it learns the kernel either way.\n"
        "- **Gabor**: turn θ and watch stripes of that orientation light up; λ selects how fine the stripes must be."
    )

# ====================================================================== 2. learned filters
st.header("2. The filters the network learned", divider="gray")
convs = m.conv_layer_names()
if not convs:
    st.warning(f"{m.title} has no Conv2d layers, so there are no learned filters to show.")
    st.stop()
first = convs[0]
lc1, lc2, lc3, lc4 = st.columns([2, 1.4, 1, 1.4])
layer = state.select("Conv layer", "kn_layer", convs, first, container=lc1,
                     format_func=lambda n: f"{n} {tuple(kn.learned_filters(m, n).shape)}")
w = kn.learned_filters(m, layer)
n_f, n_c, kh, kw = w.shape
order_by = state.select("Order", "kn_order", ["index", "norm", "cluster"], "index", container=lc2,
                        format_func=lambda s: {"index": "as stored", "norm": "by norm (strongest first)", "cluster": "clustered (similar together)"}[s])
n_clusters = 1
if order_by == "cluster":
    n_clusters = state.slider("Clusters", "kn_nclu", 2, 16, 6, container=lc3)
shared_scale = state.toggle("One scale for all filters", "kn_shared", False, container=lc4,
                            help="Off: each filter stretched to its own range (shows shapes). On: one range for the "
                                 "whole layer (shows which filters are strong and which are nearly zero).")


@st.cache_data(max_entries=32, show_spinner="Clustering filters…")
def _cluster(_w: torch.Tensor, key: str, layer: str, k: int) -> tuple[list[int], list[int]]:
    order, labels = kn.cluster_filters(_w, k)
    return order.tolist(), labels.tolist()


labels = None
if order_by == "norm":
    order = kn.sort_by_norm(w).tolist()
elif order_by == "cluster":
    order, labels = _cluster(w, m.key, layer, n_clusters)
else:
    order = list(range(n_f))
if not m.trained:
    st.warning("These weights are **random** (untrained model): expect noise, not edges. Compare with a trained model "
               "(LeNet-5 or the small VGG in the sidebar).", icon=":material/warning:")
groups = dict(m.module.named_modules())[layer].groups
group_note = ("" if groups == 1 else
              f"Grouped convolution ({groups} groups): each filter sees only {n_c} of the layer's {n_c * groups} input channels"
              + (" (depthwise: filter f sees channel f). " if n_c == 1 else ", the channels of its own group. "))
st.caption(f"Layer `{layer}`: {n_f} filters × {n_c} input channel{'s' if n_c > 1 else ''} × {kh}×{kw} = {w.numel():,} weights. "
           + group_note
           + (f"Clusters (sizes): {', '.join(str(c) for c in np.bincount(labels))}." if labels is not None else ""))



def _on_grid_click() -> None:
    """A click on the RGB filter grid selects that filter for the channel-by-channel view."""
    click, info = st.session_state.get("kn_gridclick"), st.session_state.get("_kn_grid")
    if not click or not info:
        return
    layout, tile_order, nat_h, nat_w = info
    i = layout.tile_at(click["y"] * nat_h / max(1, click["height"]), click["x"] * nat_w / max(1, click["width"]))
    if i is not None:
        st.session_state["qp:kn_f"] = int(tile_order[i])


if n_c == 3:
    st.subheader("Each filter as a colour image")
    grid, layout = kn.filter_grid_rgb(w, "shared" if shared_scale else "per", order=order, cols=min(16, max(1, math.ceil(math.sqrt(n_f)))))
    arr = to_uint8(grid)
    scale = max(1, 640 // arr.shape[1])
    gc1, gc2 = st.columns([3, 2])
    st.session_state["_kn_grid"] = (layout, list(order), arr.shape[0], arr.shape[1])
    with gc1:
        streamlit_image_coordinates(np.repeat(np.repeat(arr, scale, 0), scale, 1), key="kn_gridclick",
                                    on_click=_on_grid_click, cursor="pointer", width="stretch")
        st.caption(f"{n_f} filters of {kh}×{kw}×3, read row by row in the order chosen above; each weight's R, G, B "
                   "values are shown as a colour (grey = 0 when one scale is used). **Click a filter** to see its "
                   "channels below.")
    with gc2:
        st.markdown(
            "This is the picture of Krizhevsky et al. (AlexNet, 2012, fig. 3) and Zeiler & Fergus (2014): the first layer of a trained "
            "network holds oriented edges, stripes of several frequencies and colour blobs. An untrained one holds coloured noise. "
            "Each tile is what the filter responds to most: the image patch that *looks like* the tile.")
        if order_by != "index":
            st.caption("Tile order (filter index): " + ", ".join(str(i) for i in order[:64]) + (" …" if n_f > 64 else ""))

# the concatenated map: rows = filters, columns = input channels
st.subheader("All weights in one map" if n_c > 1 else "The filters as heat maps")
max_cells = 250_000
tile_px = (kh + 1) * (kw + 1) if kh * kw > 1 else 1
max_tiles = max(1, max_cells // tile_px)
point = kh * kw == 1  # 1x1 kernels: one pixel per weight, so a larger window fits
win_c = min(n_c, 256 if point else 64)
win_f = min(n_f, max(1, max_tiles // max(1, win_c)), 512 if point else 64 if n_c > 8 else 128)
f0 = c0 = 0
if n_f > win_f or n_c > win_c:
    wc1, wc2 = st.columns(2)
    f0 = state.slider(f"First filter shown ({win_f} at a time)", "kn_f0", 0, n_f - win_f, 0, step=1, container=wc1)
    c0 = state.slider(f"First input channel shown ({win_c} at a time)", "kn_c0", 0, n_c - win_c, 0, step=1, container=wc2) if n_c > win_c else 0
per_row = max(1, round(math.sqrt(win_f / win_c))) if 1 < n_c <= 8 else 1  # few channels: several filters per row
map_pad = 0 if kh * kw == 1 else 1  # 1x1 kernels: the map is simply the filters x channels weight matrix
fm = kn.weight_map(w, order=order, scale="raw" if shared_scale else "per_filter", max_filters=win_f, filter_start=f0,
                   max_channels=win_c if n_c > 1 else None, channel_start=c0, filters_per_row=per_row, pad=map_pad)
fa, ca = fm.index_arrays()
z = fm.z.cpu().numpy()
zm = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
custom = [fa, ca]
hover = "filter %{customdata[0]}, input channel %{customdata[1]}<br>weight %{z:.4f}"
if labels is not None:  # clustered: name the cluster too
    custom.append(np.where(fa >= 0, np.asarray(labels)[np.clip(fa, 0, None)], -1))
    hover += "<br>cluster %{customdata[2]}"
hm = go.Figure(go.Heatmap(z=z, customdata=np.stack(custom, -1), colorscale="Greys_r", zmin=-zm, zmax=zm,
                          hovertemplate=hover + "<extra></extra>",
                          colorbar=dict(title="weight" if shared_scale else "weight / max|w|")))
hm.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False, showticklabels=False)
hm.update_xaxes(showgrid=False, constrain="domain", showticklabels=False)
rows_px = z.shape[0]
hm.update_layout(margin=dict(l=10, r=10, t=10, b=10), font=FONT, height=int(min(900, max(320, rows_px * (700 / max(z.shape))))))
st.plotly_chart(hm, width="stretch", key="kn_map")
if n_c == 1:
    layout_note = f"{n_f} filters, row by row. "
elif per_row == 1:
    layout_note = (f"Rows: filters {f0}…{f0 + min(win_f, n_f - f0) - 1} of the chosen order; "
                   f"columns: input channels {c0}…{c0 + win_c - 1}. ")
else:
    layout_note = f"{per_row} filters per row, each a run of its {n_c} input-channel tiles, in the chosen order. "
st.caption(layout_note + "Hover a tile to read which filter and channel it is. Black = most negative, white = most positive, "
           "mid-grey = 0" + ("" if shared_scale else "; each filter stretched to its own largest |weight|") + ".")
if (n_f > win_f or n_c > win_c) and n_f * n_c * tile_px <= 4_500_000:
    @st.cache_data(max_entries=4, show_spinner="Drawing the whole layer…")
    def _full_map(_w: torch.Tensor, key: str, layer: str, order: tuple[int, ...], scale: str) -> np.ndarray:
        return kn.weight_map(_w, order=list(order), scale=scale, pad=0 if _w.shape[2] * _w.shape[3] == 1 else 1).to_image("gray")

    with st.expander(f"The whole layer at once ({n_f} × {n_c} tiles, a static picture)"):
        st.image(_full_map(w, m.key, layer, tuple(order), "raw" if shared_scale else "per_filter"), width="stretch")

# one filter, channel by channel
st.subheader("One filter, channel by channel")
fsel = state.number("Filter", "kn_f", 0, n_f - 1, 0, step=1)
wf = w[fsel].float().cpu().numpy()
show_c = min(n_c, 16)
ncol = min(show_c, 8)
nrow = math.ceil(show_c / ncol)
ch_names = ["R", "G", "B"] if n_c == 3 and layer == first and not m.grayscale else [f"channel {i}" for i in range(show_c)]
sub = make_subplots(rows=nrow, cols=ncol, subplot_titles=ch_names[:show_c], horizontal_spacing=0.02, vertical_spacing=0.08)
vmax = float(np.abs(wf).max()) or 1.0
for i in range(show_c):
    text = [[f"{v:.2f}" for v in row] for row in wf[i]] if kh <= 7 else None
    sub.add_trace(go.Heatmap(z=wf[i], zmin=-vmax, zmax=vmax, colorscale="RdBu_r", showscale=(i == 0), text=text,
                             texttemplate="%{text}" if text else None,
                             hovertemplate=f"{ch_names[i]}" + ", row %{y}, col %{x}: %{z:.4f}<extra></extra>"),
                  row=i // ncol + 1, col=i % ncol + 1)
sub.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor=None)
sub.update_xaxes(showticklabels=False)
sub.update_layout(height=60 + nrow * min(340, 1100 // ncol + 20), margin=dict(l=10, r=10, t=40, b=10), font=FONT)
(st.columns([1, 1])[0] if ncol <= 2 else st.container()).plotly_chart(sub, width="stretch")
st.caption(f"Filter {fsel}: norm {float(w[fsel].norm()):.3f}; red = positive, blue = negative weights, one scale for its {n_c} channel{'s' if n_c > 1 else ''}"
           + (f" (first {show_c} of {n_c} shown; the map above shows all)." if n_c > show_c else "."))

# ====================================================================== 3. bridge
st.header("3. Learned vs. classic: which kernel is each filter closest to?", divider="gray")
w1 = kn.learned_filters(m, first)
k1h, k1w = w1.shape[2:]
if min(k1h, k1w) < 3:
    st.info(f"The first layer's kernels are {k1h}×{k1w}: too small to compare with 3×3 classic kernels.")
else:
    st.markdown(
        f"For each filter of the first layer `{first}` ({len(w1)} filters of {k1h}×{k1w}), the **cosine similarity** to a bank of "
        f"classic kernels resized to {k1h}×{k1w} (Sobel, Prewitt, Laplacian, blurs, Gabors at 12 orientations, 2 wavelengths, "
        "2 phases). Cosine 1 means the same pattern up to a scale; −1 the negated pattern (the same detector for the opposite "
        "contrast); 0 nothing in common. A grey kernel is compared with the same pattern on every input channel, so a pure colour "
        "filter (red minus green) scores near 0: its **colour share** tells you so.")

    @st.cache_data(max_entries=16, show_spinner="Comparing filters with classic kernels…")
    def _matches(_w: torch.Tensor, key: str, layer: str) -> list[dict]:
        return [vars(mt) for mt in kn.best_matches(_w)]

    matches = _matches(w1, m.key, first)
    bank = kn.classic_bank((k1h, k1w))
    rgb1 = w1.shape[1] == 3
    tiles = normalize_maps(w1, "per") if rgb1 else None

    def _data_url(arr: np.ndarray) -> str:
        buf = io.BytesIO()
        Image.fromarray(enlarge(arr, 44)).save(buf, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    def _signed_tile(k: torch.Tensor) -> np.ndarray:
        mx = k.abs().amax().clamp_min(1e-12)
        return to_uint8(colormap((k / mx + 1) / 2, "rdbu"))

    rows = []
    for mt in matches:
        f = mt["filter"]
        tile = to_uint8(tiles[f]) if rgb1 else _signed_tile(w1[f, 0].float())
        ref = bank[mt["name"]] * (1 if mt["cosine"] >= 0 else -1)
        rows.append({"filter": f, "learned": _data_url(tile), "closest classic": _data_url(_signed_tile(ref)),
                     "kernel": ("−" if mt["cosine"] < 0 else "") + mt["name"], "family": mt["family"],
                     "|cosine|": abs(mt["cosine"]), "colour share": mt["colour_share"]})
    table = pd.DataFrame(rows).sort_values("|cosine|", ascending=False)
    tc1, tc2 = st.columns([3, 2])
    with tc1:
        if not rgb1:
            table = table.drop(columns=["colour share"])
        st.dataframe(table, hide_index=True, height=min(460, 40 + 35 * len(table)), column_config={
            "learned": st.column_config.ImageColumn("learned filter"),
            "closest classic": st.column_config.ImageColumn("closest classic"),
            "|cosine|": st.column_config.ProgressColumn("|cosine|", min_value=0.0, max_value=1.0, format="%.2f"),
            **({"colour share": st.column_config.NumberColumn(format="%.2f")} if rgb1 else {})})
    with tc2:
        fam = table.groupby("family")["|cosine|"].agg(["count", "mean"]).reset_index().sort_values("count", ascending=False)
        bar = go.Figure(go.Bar(x=fam["family"], y=fam["count"], text=[f"|cos| {v:.2f}" for v in fam["mean"]],
                               textposition="outside", textangle=0, cliponaxis=False, marker_color="#4C78A8"))
        bar.update_layout(title="Closest family, per filter (mean |cos|)", yaxis_title="filters", margin=dict(l=10, r=10, t=60, b=10),
                          height=320, font=FONT)
        st.plotly_chart(bar, width="stretch")
        gab = [mt["theta"] for mt in matches if mt["theta"] is not None]
        if gab:
            st.caption("Gabor orientations found: " + ", ".join(f"{int(t)}°×{gab.count(t)}" for t in sorted(set(gab))))

    st.subheader("Apply a learned filter like a classic kernel")
    bf = state.number("Learned filter to apply", "kn_bf", 0, len(w1) - 1, int(table.iloc[0]["filter"]), step=1)
    mt = matches[bf]
    seen = m.prepare_image(ctx.image)
    learned_resp = kn.apply_learned_filter(m, first, bf, ctx.image)
    ref = bank[mt["name"]] * (1 if mt["cosine"] >= 0 else -1)
    classic_resp = kn.filter_response(m, ref.expand(w1.shape[1], -1, -1), ctx.image)
    a1, a2, a3 = st.columns(3)
    with a1:
        show_image(np.asarray(seen), caption=f"What {m.name} sees ({seen.width}×{seen.height})", min_side=200, width="stretch")
    a2.plotly_chart(response_figure(learned_resp, f"Learned filter {bf}"), width="stretch")
    a3.plotly_chart(response_figure(classic_resp, f"Closest classic: {'−' if mt['cosine'] < 0 else ''}{mt['name']} (cos {mt['cosine']:.2f})"), width="stretch")
    st.caption("Both slid with stride 1 over the normalised image exactly as the first layer sees it (the learned one with its "
               "bias; the classic one on every input channel alike, the same template the cosine was measured against). "
               "Similar patterns of red and blue mean the learned filter does the classic kernel's job.")

# ====================================================================== 4. trained vs untrained
st.header("4. Before and after training", divider="gray")
if not m.trained:
    st.info(f"{m.title} has random weights only (no trained weights on this machine), so there is nothing to compare with. "
            "Choose LeNet-5 or the small VGG in the sidebar to see trained next to random filters.", icon=":material/info:")
else:
    twin = m.untrained()
    wt = kn.learned_filters(twin, layer)
    u1, u2 = st.columns(2)
    for col, handle, ww, title in ((u1, m, w, "Trained"), (u2, twin, wt, "Untrained (same architecture, random weights)")):
        with col:
            st.markdown(f"**{title}**: `{layer}`")
            if n_c == 3:
                g, _ = kn.filter_grid_rgb(ww, "shared" if shared_scale else "per", cols=min(16, max(1, math.ceil(math.sqrt(n_f)))))
                img_arr = to_uint8(g)
            else:
                img_arr = kn.weight_map(ww, scale="raw" if shared_scale else "per_filter",
                                        max_filters=min(n_f, 64), max_channels=min(n_c, 64) if n_c > 1 else None).to_image("gray")
            show_image(img_arr, min_side=300, width="stretch")
    if min(k1h, k1w) >= 3:
        mean_t = float(np.mean([abs(x.cosine) for x in kn.best_matches(w1)]))
        mean_u = float(np.mean([abs(x.cosine) for x in kn.best_matches(kn.learned_filters(twin, first))]))
        mc1, mc2 = st.columns(2)
        mc1.metric(f"Mean best |cosine| to a classic kernel, trained ({first})", f"{mean_t:.2f}", f"{mean_t - mean_u:+.2f} vs untrained")
        mc2.metric("… untrained", f"{mean_u:.2f}")
        st.caption(f"With {len(bank)} kernels in the bank even random filters find a partner by chance; the difference "
                   "between the two numbers is what training added.")

with st.container(border=True):
    st.markdown(
        "**What to notice**\n\n"
        "- A trained first layer of an ImageNet model shows **oriented edges, stripes and colour blobs**; an untrained one shows noise.\n"
        "- **Sort by norm**: a few filters carry most of the weight; with one shared scale the weak ones fade to grey.\n"
        "- **Cluster**: filters that differ only in strength, or are near copies, end up next to each other.\n"
        "- Deeper layers mix channels: their kernels are small (often 3×3) and look like noise one by one; their meaning "
        "is in the combination, which the Activation and Maximal-input pages show better.\n"
        "- The bridge table turns *\"the network learned edge detectors\"* into a number per filter you can check."
    )
