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
from cnnviz.ui import state, widgets
from cnnviz.ui.kernel_widgets import bridge_dataframe, kernel_editor, kernel_param_controls, show_responses
from cnnviz.ui.resources import shared_untrained_twin
from cnnviz.ui.view import Frame, register

# every URL key a classic kernel's parameter sliders may own (one slider per parameter of the kernel shown)
PARAM_KEYS = tuple(dict.fromkeys(p.key for name in kn.KERNELS for p in kn.kernel_params(name)))
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
    return state.peek("kn_shared", False, state._parse_bool)


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
          keys=("kn_kernel", "kn_mode", "kn_pad", "kn_img", "kn_flip", "kn_k", *PARAM_KEYS),
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
                        format_func=lambda s: {"grayscale": "Grayscale", "per_channel": "Per channel (R, G, B)"}[s])
    padding = state.select("Border", "kn_pad", list(kn.PADDINGS), "reflect", container=c3,
                           help="What the kernel sees beyond the image border: a mirror of the image, zeros, the edge "
                                "pixel repeated, or nothing ('valid': the output shrinks by kernel size − 1).")
    with widgets.secondary_controls(c4):
        img_size = state.slider("Image size (longer side, px)", "kn_img", 32, 256, 192, step=16,
                                help="The image is resized for this demo; the network sees the sidebar's small picture.")
    flip = state.toggle("True convolution (flip the kernel)", "kn_flip", False, container=c1,
                        help="PyTorch's conv2d (used here and in every CNN) computes a cross-correlation: the kernel is "
                             "NOT flipped. Switch this on to flip it in both axes first, which gives the convolution of "
                             "signal processing. Symmetric kernels do not change; Sobel and Prewitt change sign.")
    # on a page the parameter sliders get a row of their own under the controls
    params = kernel_param_controls(name, container=side, stacked=f.slide)
    if not f.slide:
        st.caption(kn.KERNELS[name].description)
    image = kn.image_tensor(ctx.image, size=img_size, grayscale=(mode == "grayscale"), device=m.device)
    per_channel = mode != "grayscale"
    slide_h = SLIDE_RESPONSE_PX if f.slide else None

    if name == "sobel_magnitude":
        gx, gy, mag = kn.gradient_magnitude(image, mode, padding=padding, device=m.device)
        if not f.slide:
            cols = st.columns(3)
            for col, k in zip(cols, ("sobel_x", "sobel_y")):
                widgets.show_figure(fk.kernel_figure(kn.classic_kernel(k).numpy(), f"G{k[-1]} kernel (Sobel {k[-1]})"),
                                    f"kn-kernel-{k}", container=col)
            widgets.show_image(to_uint8(image), "Input", min_side=200, container=cols[2], download="kn-input",
                               width="stretch")
            st.info("The magnitude combines two kernels non-linearly, so there is no single grid to edit: choose Sobel "
                    "x or Sobel y to edit one of them.", icon=":material/info:")
        show_responses(st.columns(3), [(gx, "Gx", "Gx (signed)", True), (gy, "Gy", "Gy (signed)", True),
                                       (mag, "Magnitude", "√(Gx² + Gy²)", False)], per_channel=per_channel,
                       slide_height=slide_h)
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
            widgets.show_image(to_uint8(image), None, min_side=200, container=left, download="kn-input", width="stretch")
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
            st.caption(f"Response range {float(resp.min()):.3g} … {float(resp.max()):.3g}" + (
                "." if f.slide else f"; computed with `torch.nn.functional.conv2d` on {m.device_description} as a "
                + ("true convolution (kernel flipped)." if flip
                   else "cross-correlation (kernel not flipped), as in every CNN layer.")))
    f.note(
        "- **Edge kernels sum to 0**: on a flat area the positive and negative weights cancel, so only changes respond. "
        "Their response is *signed*: Sobel x is positive where the image gets brighter to the right and negative where "
        "it gets darker.\n"
        "- **ReLU keeps one sign only**: after max(0, ·) a Sobel x kernel reports dark-to-bright edges and forgets "
        "bright-to-dark ones. That is why a network needs both a kernel and its negative to see both kinds of edge.\n"
        "- **Correlation vs. convolution**: flip the kernel with the toggle: the Gaussian does not change, Sobel changes "
        "sign. A CNN does not care, since it learns the kernel either way.\n"
        "- **Gabor**: turn θ and watch stripes of that orientation light up; λ selects how fine the stripes must be.")


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
        order_by = state.select("Order", "kn_order", list(kn.ORDERS), "index", format_func=kn.ORDERS.get)
        n_clusters = state.slider("Clusters", "kn_nclu", 2, 16, 6) if order_by == "cluster" else 1
    shared_scale = state.toggle("One scale for all filters", "kn_shared", False, container=lc3,
                                help="Off: each filter stretched to its own range (shows shapes). On: one range for the "
                                     "whole layer (shows which filters are strong and which are nearly zero).")
    win = fk.map_window(w.shape)
    f0 = state.slider(f"First filter shown ({win.filters} at a time)", "kn_f0", 0, n_f - win.filters, 0,
                      container=lc4) if n_f > win.filters else 0
    c0 = state.slider(f"First input channel shown ({win.channels} at a time)", "kn_c0", 0, n_c - win.channels, 0,
                      container=lc5) if n_c > win.channels else 0
    order, labels = _order(w, m.key, layer, order_by, n_clusters)
    if not f.slide:
        st.caption(kn.describe_layer(layer, w, dict(m.module.named_modules())[layer].groups, labels))

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
                st.caption(f"{n_f} filters of {kh}×{kw}×3, read row by row in the order chosen above; each weight's R, "
                           "G, B values are shown as a colour (grey = 0 when one scale is used). **Click a filter** to "
                           "see its channels below.")
            gc2.markdown(
                "This is the picture of Krizhevsky et al. (AlexNet, 2012, fig. 3) and Zeiler & Fergus (2014): the first "
                "layer of a trained network holds oriented edges, stripes of several frequencies and colour blobs. An "
                "untrained one holds coloured noise. Each tile is what the filter responds to most: the image patch "
                "that *looks like* it.")
            if order_by != "index":
                gc2.caption("Tile order (filter index): " + ", ".join(map(str, order[:64])) + (" …" if n_f > 64 else ""))

    if not (f.slide and n_c == 3):
        if not f.slide:
            st.subheader("All weights in one map" if n_c > 1 else "The filters as heat maps")
        shown = fk.fit_window(win, w.shape) if f.slide else win  # a slide is wide: several filters a row
        widgets.show_figure(fk.weight_map_figure(w, order, labels, shared_scale, f0, c0, shown), "kn_map")
        if not f.slide:
            st.caption(fk.weight_map_caption(w.shape, win, f0, c0, shared_scale))
    if win.full_fits and not f.slide:
        with st.expander(f"The whole layer at once ({n_f} × {n_c} tiles, a static picture)"):
            widgets.show_image(_whole_layer(w, m.key, layer, tuple(order), shared_scale), download="kn-whole-layer",
                               width="stretch")
    f.note(
        "- A trained first layer of an ImageNet model shows **oriented edges, stripes and colour blobs**; an untrained "
        "one shows noise.\n"
        "- **Sort by norm**: a few filters carry most of the weight; with one shared scale the weak ones fade to grey.\n"
        "- **Cluster**: filters that differ only in strength, or are near copies, end up next to each other.\n"
        "- Deeper layers mix channels: their kernels are small (often 3×3) and look like noise one by one; their "
        "meaning is in the combination, which the Activation and Maximal-input pages show better.")


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
    st.caption(f"Filter {fsel}: norm {float(w[fsel].norm()):.3f}; red = positive, blue = negative weights, one scale "
               f"for its {n_c} channel{'s' if n_c > 1 else ''}"
               + (f" (first 16 of {n_c} shown; the map above shows all)." if n_c > 16 else "."))
    f.note(f"- One filter of `{layer}` has one small kernel per input channel; the filter's output is the sum of all "
           "of them, each slid over its own input map.\n"
           "- On the first layer of a colour model the three kernels are the filter's R, G and B parts.")


# ====================================================================== 3. bridge
class KernelsTooSmall(CnnvizError):
    """The first layer's kernels are smaller than the 3x3 classic kernels."""


def _bridge(m):
    """(first layer, its filters, their best classic matches, the classic bank at their size)."""
    first, w1 = _first_layer(m)
    k1h, k1w = w1.shape[2:]
    if min(k1h, k1w) < 3:
        raise KernelsTooSmall(f"The first layer's kernels are {k1h}×{k1w}: too small to compare with 3×3 classic "
                              "kernels.")
    return first, w1, _matches(w1, m.key, first), kn.classic_bank((k1h, k1w))


@register("kernels.bridge", "Learned vs. classic: which kernel is each filter closest to?",
          anchors=("3-learned-vs-classic-which-kernel-is-each-filter-closest-to",))
def bridge(f: Frame) -> None:
    m = f.model
    first, w1, matches, bank = _bridge(m)
    k1h, k1w = w1.shape[2:]
    if not f.slide:
        st.markdown(
            f"For each filter of the first layer `{first}` ({len(w1)} filters of {k1h}×{k1w}), the **cosine "
            f"similarity** to a bank of classic kernels resized to {k1h}×{k1w} (Sobel, Prewitt, Laplacian, blurs, "
            "Gabors at 12 orientations, 2 wavelengths, 2 phases). Cosine 1 means the same pattern up to a scale; −1 the "
            "negated pattern (the same detector for the opposite contrast); 0 nothing in common. A grey kernel is "
            "compared with the same pattern on every input channel, so a pure colour filter (red minus green) scores "
            "near 0: its **colour share** tells you so.")
    table = fk.bridge_table(w1, matches, bank)
    tc1, tc2 = st.columns([3, 2])
    bridge_dataframe(table, container=tc1, height=f.figure_height)
    widgets.show_figure(fk.family_bar(matches), "kn-families", container=tc2)
    gab = [mt.theta for mt in matches if mt.theta is not None]
    if gab and not f.slide:
        tc2.caption("Gabor orientations found: " + ", ".join(f"{int(t)}°×{gab.count(t)}" for t in sorted(set(gab))))
    f.note("- The bridge table turns *\"the network learned edge detectors\"* into a number per filter you can check.\n"
           "- A negative cosine is the same detector for the opposite contrast (dark-to-bright instead of "
           "bright-to-dark).")


@register("kernels.apply", "Apply a learned filter like a classic kernel", keys=("kn_bf",),
          anchors=("apply-a-learned-filter-like-a-classic-kernel",))
def apply(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    first, w1, matches, bank = _bridge(m)
    best = int(fk.bridge_table(w1, matches, bank).iloc[0]["filter"])
    bf = state.number("Learned filter to apply", "kn_bf", 0, len(w1) - 1, best, step=1,
                      container=f.controls()[0] if f.slide else st.columns([1, 3])[0],
                      help="Default: the filter closest to a classic kernel.")
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
        st.caption("Both slid with stride 1 over the normalised image exactly as the first layer sees it (the learned "
                   "one with its bias; the classic one on every input channel alike, the same template the cosine was "
                   "measured against). Similar patterns of red and blue mean the learned filter does the classic "
                   "kernel's job.")
    f.note("- Similar patterns of red and blue mean the learned filter does the classic kernel's job.\n"
           "- Try a filter with a low |cosine| in the table above: its response matches no classic kernel.")


# ====================================================================== 4. trained vs untrained
@register("kernels.training", "Before and after training", reads=("kn_layer", "kn_shared"),
          anchors=("4-before-and-after-training",))
def training(f: Frame) -> None:
    m = f.model
    if not m.trained:
        st.info(f"{m.title} has random weights only (no trained weights on this machine), so there is nothing to "
                "compare with. Choose LeNet-5 or the small VGG in the sidebar to see trained next to random filters.",
                icon=":material/info:")
        return
    first, layer, shared_scale = _convs(m)[0], _layer(m), _shared_scale()
    twin = shared_untrained_twin(m)
    w = kn.learned_filters(m, layer)
    for col, ww, title in zip(st.columns(2), (w, kn.learned_filters(twin, layer)),
                              ("Trained", "Untrained (same architecture, random weights)")):
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
            st.caption(f"With {len(kn.classic_bank(tuple(w1.shape[2:])))} kernels in the bank even random filters find "
                       "a partner by chance; the difference between the two numbers is what training added.")
    f.note("- Training turns noise into structure: smooth blobs and oriented edges on the left, salt and pepper on "
           "the right.\n"
           "- Even random filters find a classic partner by chance; the gap between the two mean cosines is what "
           "training added.")
