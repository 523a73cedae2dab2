"""Views of /kernels: classic kernels on the current image, the loaded model's learned filters, and the bridge
between the two (which classic kernel each learned filter is closest to), before and after training."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from cnnviz.errors import CnnvizError
from cnnviz.figures import kernels as fk
from cnnviz.figures.render import to_uint8
from cnnviz.methods import kernels as kn
from cnnviz.text import kernels as tx
from cnnviz.ui import state, widgets
from cnnviz.ui.kernel_widgets import bridge_dataframe, kernel_editor, kernel_param_controls, show_responses
from cnnviz.ui.resources import shared_untrained_twin
from cnnviz.ui.view import Frame, register

SLIDE_RESPONSE_PX = 470  # a response heat map on a slide: about as high as its column is wide


class NoConvLayers(CnnvizError):
    """The model has no Conv2d layer, so it has no learned filters."""


def _convs(m) -> list[str]:
    convs = m.conv_layer_names()
    if not convs:
        raise NoConvLayers(f"{m.title} has no Conv2d layers, so there are no learned filters to show.")
    return convs


def _layer(m) -> str:
    """The conv layer the learned-filter view shows (read by the views below it)."""
    convs = _convs(m)
    return state.peek("kn_layer", convs[0], valid=lambda n: n in convs)


def _shared_scale() -> bool:
    return state.peek("kn_shared", False, state.parse_bool)


@st.cache_data(max_entries=32, show_spinner="Ordering filters…")
def _order(_w: torch.Tensor, key: str, layer: str, how: str, k: int) -> tuple[list[int], list[int] | None]:
    return kn.filter_order(_w, how, k)


@st.cache_data(max_entries=16, show_spinner="Comparing filters with classic kernels…")
def _matches(_w: torch.Tensor, key: str, layer: str) -> list[kn.KernelMatch]:
    return kn.best_matches(_w)


@st.cache_data(max_entries=4, show_spinner="Drawing the whole layer…")
def _whole_layer(_w: torch.Tensor, key: str, layer: str, order: tuple[int, ...], shared: bool) -> np.ndarray:
    return fk.layer_picture(_w, shared, list(order), max_side=None)


def _first_layer(m) -> tuple[str, torch.Tensor]:
    first = _convs(m)[0]
    return first, kn.learned_filters(m, first)


# ====================================================================== 1. classic kernels
@register("kernels.classic", "Classic kernels on your image",
          keys=("kn_kernel", "kn_mode", "kn_pad", "kn_img", "kn_flip", "kn_k", *tx.PARAM_KEYS),
          anchors=("1-classic-kernels-on-your-image",))
def classic(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    if f.slide:  # the popover: the choices left, the kernel's parameters and its editable grid right
        c1, side = f.controls([1, 1])
        c2 = c3 = c4 = c1
    else:
        c1, c2, c3, c4 = f.controls([2, 1, 1, 1])
        side = st
    name = state.select("Kernel", "kn_kernel", list(kn.KERNELS), "sobel_x", format_func=lambda k: kn.KERNELS[k].title,
                        container=c1)
    mode = state.select("Colour", "kn_mode", ["grayscale", "per_channel"], "grayscale", container=c2, radio=True,
                        format_func=tx.COLOUR_MODES.get)
    padding = state.select("Border", "kn_pad", list(kn.PADDINGS), "reflect", container=c3, help=tx.BORDER_HELP)
    with widgets.secondary_controls(c4):
        img_size = state.slider("Image size (longer side, px)", "kn_img", 32, 256, 192, step=16,
                                help=tx.IMAGE_SIZE_HELP)
    flip = state.toggle("True convolution (flip the kernel)", "kn_flip", False, container=c1, help=tx.FLIP_HELP)
    # on a page the parameter sliders get a row of their own under the controls
    params = kernel_param_controls(name, container=side, stacked=f.slide)
    if not f.slide:
        st.caption(tx.KERNEL_DESCRIPTIONS[name])
    image = kn.image_tensor(ctx.image, size=img_size, grayscale=(mode == "grayscale"), device=m.device)
    per_channel = mode != "grayscale"
    slide_h = SLIDE_RESPONSE_PX if f.slide else None

    if name == "sobel_magnitude":
        _sobel_magnitude(f, image, mode, padding)
    else:
        preset = kn.classic_kernel(name, **params).numpy()
        if f.slide:  # the editor folds into the popover; kernel and input stacked left, the two responses right
            kernel, _ = kernel_editor(preset, (name, tuple(sorted(params.items()))), container=side)
            left, *resp_cols = st.columns([0.8, 1.3, 1.3], gap="small")
        else:
            left_e, right_k = st.columns([3, 2] if preset.shape[1] > 7 else [1, 1])
            kernel, _ = kernel_editor(preset, (name, tuple(sorted(params.items()))), container=left_e)
        shown_k = kernel[::-1, ::-1].copy() if flip else kernel
        kfig = fk.kernel_figure(shown_k, "The kernel, flipped (true convolution)" if flip else "The kernel")
        if f.slide:
            widgets.show_figure(kfig, "kn-kernel", container=left, slide_height=240)
            widgets.show_image(to_uint8(image), None, min_side=200, container=left, download="kn-input",
                               width="stretch")
        else:
            widgets.show_figure(kfig, "kn-kernel", container=right_k)
            cols = st.columns(3)
            widgets.show_image(to_uint8(image), f"Input ({'grayscale' if mode == 'grayscale' else 'RGB'}, "
                               f"{image.shape[2]}×{image.shape[1]} px)", min_side=200, container=cols[0],
                               download="kn-input", width="stretch")
            resp_cols = cols[1:]
        try:
            resp = kn.apply_kernel(image, kernel, mode, convolution=flip, padding=padding, device=m.device)
        except CnnvizError as e:
            widgets.show_error(e)
        else:
            show_responses(resp_cols, [(resp, "Response", "Response (signed: red +, blue −)", True),
                                       (resp.clamp_min(0), "After ReLU", "After ReLU: max(0, response)", False)],
                           per_channel=per_channel, slide_height=slide_h)
            st.caption(tx.response_caption(float(resp.min()), float(resp.max()),
                                           None if f.slide else m.device_description, flip))
    f.note(tx.CLASSIC_NOTE)


def _sobel_magnitude(f: Frame, image: torch.Tensor, mode: str, padding: str) -> None:
    """The classic view for the gradient magnitude: two kernels (not editable), the input, Gx, Gy and the magnitude."""
    gx, gy, mag = kn.gradient_magnitude(image, mode, padding=padding, device=f.model.device)
    if not f.slide:
        cols = st.columns(3)
        for col, k in zip(cols[:2], ("sobel_x", "sobel_y"), strict=True):
            widgets.show_figure(fk.kernel_figure(kn.classic_kernel(k).numpy(), f"G{k[-1]} kernel (Sobel {k[-1]})"),
                                f"kn-kernel-{k}", container=col)
        widgets.show_image(to_uint8(image), "Input", min_side=200, container=cols[2], download="kn-input",
                           width="stretch")
        st.info(tx.MAGNITUDE_INFO, icon=":material/info:")
    show_responses(st.columns(3), [(gx, "Gx", "Gx (signed)", True), (gy, "Gy", "Gy (signed)", True),
                                   (mag, "Magnitude", "√(Gx² + Gy²)", False)], per_channel=mode != "grayscale",
                   slide_height=SLIDE_RESPONSE_PX if f.slide else None)


# ====================================================================== 2. learned filters
@register("kernels.learned", "The filters the network learned",
          keys=("kn_layer", "kn_order", "kn_nclu", "kn_shared", "kn_f0", "kn_c0"),
          anchors=("2-the-filters-the-network-learned", "all-weights-in-one-map", "the-filters-as-heat-maps",
                   "each-filter-as-a-colour-image"))
def learned(f: Frame) -> None:
    m = f.model
    convs = _convs(m)
    first = convs[0]
    lc1, lc2, lc3, lc4, lc5 = f.controls([2, 1.4, 1.4, 1.6, 1.6])
    layer = state.select("Conv layer", "kn_layer", convs, first, container=lc1,
                         format_func=lambda n: f"{n} {tuple(kn.learned_filters(m, n).shape)}")
    w = kn.learned_filters(m, layer)
    n_f, n_c, kh, kw = w.shape
    with widgets.secondary_controls(lc2):
        order_by = state.select("Order", "kn_order", list(kn.ORDERS), "index", format_func=tx.ORDER_TITLES.get)
        n_clusters = state.slider("Clusters", "kn_nclu", 2, 16, 6) if order_by == "cluster" else 1
    shared_scale = state.toggle("One scale for all filters", "kn_shared", False, container=lc3,
                                help=tx.SHARED_SCALE_HELP)
    win = fk.map_window(w.shape)
    f0 = state.slider(f"First filter shown ({win.filters} at a time)", "kn_f0", 0, n_f - win.filters, 0,
                      container=lc4) if n_f > win.filters else 0
    c0 = state.slider(f"First input channel shown ({win.channels} at a time)", "kn_c0", 0, n_c - win.channels, 0,
                      container=lc5) if n_c > win.channels else 0
    order, labels = _order(w, m.key, layer, order_by, n_clusters)
    if not f.slide:
        st.caption(tx.describe_layer(layer, w, kn.conv_groups(m, layer), labels))

    if n_c == 3:
        if not f.slide:
            st.subheader("Each filter as a colour image")
        grid = fk.filter_pick_grid(w, shared_scale, order)

        def _pick(i: int) -> None:
            st.session_state["qp:kn_f"] = i
            state.mark_changed("kn_f")

        if f.slide:  # the colour grid is the figure of this slide: as high as the screen allows
            h, wd = grid.image.shape[:2]
            widgets.clickable_grid(grid.image, "kn_gridclick", grid.tile_at, _pick,
                                   width=int(min(1180, wd * f.figure_height / h)))
        else:
            gc1, gc2 = st.columns([3, 2])
            with gc1:
                widgets.clickable_grid(grid.image, "kn_gridclick", grid.tile_at, _pick, width="stretch")
                st.caption(tx.rgb_grid_caption(n_f, kh, kw))
            gc2.markdown(tx.ALEXNET_NOTE)
            if order_by != "index":
                gc2.caption("Tile order (filter index): " + ", ".join(map(str, order[:64]))
                            + (" …" if n_f > 64 else ""))

    if not (f.slide and n_c == 3):
        if not f.slide:
            st.subheader("All weights in one map" if n_c > 1 else "The filters as heat maps")
        shown = fk.fit_window(win, w.shape) if f.slide else win  # a slide is wide: several filters a row
        widgets.show_figure(fk.weight_map_figure(w, order, labels, shared_scale, f0, c0, shown), "kn_map")
        if not f.slide:
            st.caption(tx.weight_map_caption(w.shape, win, f0, c0, shared_scale))
    if win.full_fits and not f.slide:
        with st.expander(f"The whole layer at once ({n_f} × {n_c} tiles, a static picture)"):
            widgets.show_image(_whole_layer(w, m.key, layer, tuple(order), shared_scale), download="kn-whole-layer",
                               width="stretch")
    f.note(tx.LEARNED_NOTE)


@register("kernels.filter", "One filter, channel by channel", keys=("kn_f",), reads=("kn_layer",),
          anchors=("one-filter-channel-by-channel",))
def one_filter(f: Frame) -> None:
    m = f.model
    first, layer = _convs(m)[0], _layer(m)
    w = kn.learned_filters(m, layer)
    n_f, n_c = w.shape[:2]
    fsel = state.number("Filter", "kn_f", 0, n_f - 1, 0, step=1, container=f.controls()[0] if f.slide
                        else st.columns([1, 3])[0], help=f"0 … {n_f - 1}; or click a tile of the colour grid.")
    fig = fk.filter_channels_figure(w[fsel], rgb=n_c == 3 and layer == first and not m.grayscale)
    narrow = min(n_c, 16) <= 2 and not f.slide
    widgets.show_figure(fig, "kn-filter", container=st.columns([1, 1])[0] if narrow else st)
    st.caption(tx.filter_caption(fsel, float(w[fsel].norm()), n_c))
    f.note(tx.filter_note(layer))


# ====================================================================== 3. bridge
class KernelsTooSmall(CnnvizError):
    """The first layer's kernels are smaller than the 3x3 classic kernels."""


def _bridge(m):
    """(first layer, its filters, their best classic matches, the classic bank at their size)."""
    first, w1 = _first_layer(m)
    k1h, k1w = w1.shape[2:]
    if min(k1h, k1w) < 3:
        raise KernelsTooSmall(tx.kernels_too_small(k1h, k1w))
    return first, w1, _matches(w1, m.key, first), kn.classic_bank((k1h, k1w))


@register("kernels.bridge", "Learned vs. classic: which kernel is each filter closest to?",
          anchors=("3-learned-vs-classic-which-kernel-is-each-filter-closest-to",))
def bridge(f: Frame) -> None:
    m = f.model
    first, w1, matches, bank = _bridge(m)
    k1h, k1w = w1.shape[2:]
    if not f.slide:
        st.markdown(tx.bridge_intro(first, len(w1), k1h, k1w))
    table = fk.bridge_table(w1, matches, bank)
    tc1, tc2 = st.columns([3, 2])
    bridge_dataframe(table, container=tc1, height=f.figure_height)
    widgets.show_figure(fk.family_bar(matches), "kn-families", container=tc2)
    gab = [mt.theta for mt in matches if mt.theta is not None]
    if gab and not f.slide:
        tc2.caption(tx.gabor_orientations(gab))
    f.note(tx.BRIDGE_NOTE)


@register("kernels.apply", "Apply a learned filter like a classic kernel", keys=("kn_bf",),
          anchors=("apply-a-learned-filter-like-a-classic-kernel",))
def apply(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    first, w1, matches, bank = _bridge(m)
    best = int(fk.bridge_table(w1, matches, bank).iloc[0]["filter"])
    bf = state.number("Learned filter to apply", "kn_bf", 0, len(w1) - 1, best, step=1,
                      container=f.controls()[0] if f.slide else st.columns([1, 3])[0],
                      help=tx.APPLY_FILTER_HELP)
    mt, seen = matches[bf], m.prepare_image(ctx.image)
    a1, a2, a3 = st.columns([0.6, 1.5, 1.5] if f.slide else 3)
    widgets.show_image(np.asarray(seen), f"What {m.name} sees ({seen.width}×{seen.height})", min_side=200,
                       container=a1, download="kn-seen", width="stretch")
    try:
        learned_resp = kn.apply_learned_filter(m, first, bf, ctx.image)
        template = kn.matched_template(bank, mt).expand(w1.shape[1], -1, -1)
        classic_resp = kn.filter_response(m, template, ctx.image)
    except CnnvizError as e:
        widgets.show_error(e)
    else:
        h = SLIDE_RESPONSE_PX if f.slide else None
        widgets.show_figure(fk.response_figure(learned_resp, f"Learned filter {bf}"), "kn-learned", container=a2,
                            slide_height=h)
        widgets.show_figure(fk.response_figure(classic_resp, f"Closest classic: {'−' if mt.cosine < 0 else ''}"
                                               f"{mt.name} (cos {mt.cosine:.2f})"), "kn-classic", container=a3,
                            slide_height=h)
    if not f.slide:
        st.caption(tx.APPLY_CAPTION)
    f.note(tx.APPLY_NOTE)


# ====================================================================== 4. trained vs untrained
@register("kernels.training", "Before and after training", reads=("kn_layer", "kn_shared"),
          anchors=("4-before-and-after-training",))
def training(f: Frame) -> None:
    m = f.model
    if not m.trained:
        st.info(tx.untrained_only(m.title), icon=":material/info:")
        return
    first, layer, shared_scale = _convs(m)[0], _layer(m), _shared_scale()
    twin = shared_untrained_twin(m)
    w = kn.learned_filters(m, layer)
    for col, ww, title in zip(st.columns(2), (w, kn.learned_filters(twin, layer)),
                              ("Trained", "Untrained (same architecture, random weights)"), strict=True):
        col.markdown(f"**{title}**: `{layer}`")
        pic = fk.layer_picture(ww, shared_scale)
        if f.slide:  # both pictures as high as the screen allows under their labels and the numbers below
            h, wd = pic.shape[:2]
            width = int(min(600, wd * (f.figure_height - 110) / h))
        else:
            width = "stretch"
        widgets.show_image(pic, min_side=300, container=col, download=f"kn-{title.split()[0].lower()}", width=width)
    _, w1 = _first_layer(m)
    if min(w1.shape[2:]) >= 3:
        mean_t = kn.mean_abs_cosine(_matches(w1, m.key, first))
        mean_u = kn.mean_abs_cosine(_matches(kn.learned_filters(twin, first), twin.key, first))
        if f.slide:
            st.caption(f"Mean best |cosine| to a classic kernel ({first}): trained **{mean_t:.2f}**, untrained "
                       f"**{mean_u:.2f}**.")
        else:
            mc1, mc2 = st.columns(2)
            mc1.metric(f"Mean best |cosine| to a classic kernel, trained ({first})", f"{mean_t:.2f}",
                       f"{mean_t - mean_u:+.2f} vs untrained")
            mc2.metric("… untrained", f"{mean_u:.2f}")
            st.caption(tx.chance_partners(len(kn.classic_bank(tuple(w1.shape[2:])))))
    f.note(tx.TRAINING_NOTE)
