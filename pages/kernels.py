"""Filter kernels: classic kernels on the current image, the loaded model's learned filters, and the bridge."""
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
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model
st.title("Filter kernels")
st.markdown(
    "A **kernel** (or filter) is a small table of weights. Slid over an image, at every position it multiplies the "
    "patch under it by its weights and adds the products up: the answer is large where the patch *looks like* the "
    "kernel. A Sobel kernel looks like a dark-to-bright step, so it finds edges; a Gaussian looks like a soft blob, "
    "so it averages. A convolutional network does exactly this, but it *learns* its kernels from data, and its first "
    "layer ends up with edge, colour and stripe detectors of its own. Below: classic kernels on your image, then the "
    "filters of the loaded model, then a measurement of how close the two are.")

# ====================================================================== 1. classic kernels
st.header("1. Classic kernels on your image", divider="gray")
c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
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
flip = state.toggle("True convolution (flip the kernel)", "kn_flip", False,
                    help="PyTorch's conv2d (used here and in every CNN) computes a cross-correlation: the kernel is "
                         "NOT flipped. Switch this on to flip it in both axes first, which gives the convolution of "
                         "signal processing. Symmetric kernels do not change; Sobel and Prewitt change sign.")
params = kernel_param_controls(name)
st.caption(kn.KERNELS[name].description)
image = kn.image_tensor(ctx.image, size=img_size, grayscale=(mode == "grayscale"), device=m.device)


if name == "sobel_magnitude":
    gx, gy, mag = kn.gradient_magnitude(image, mode, padding=padding, device=m.device)
    cols = st.columns(3)
    for col, k in zip(cols, ("sobel_x", "sobel_y")):
        widgets.show_figure(fk.kernel_figure(kn.classic_kernel(k).numpy(), f"G{k[-1]} kernel (Sobel {k[-1]})"),
                            f"kn-kernel-{k}", container=col)
    widgets.show_image(to_uint8(image), "Input", min_side=200, container=cols[2], download="kn-input", width="stretch")
    st.info("The magnitude combines two kernels non-linearly, so there is no single grid to edit: choose Sobel x or "
            "Sobel y to edit one of them.", icon=":material/info:")
    show_responses(st.columns(3), [(gx, "Gx", "Gx (signed)", True), (gy, "Gy", "Gy (signed)", True),
                                   (mag, "Magnitude", "√(Gx² + Gy²)", False)], per_channel=mode != "grayscale")
else:
    preset = kn.classic_kernel(name, **params).numpy()
    left, right = st.columns([3, 2] if preset.shape[1] > 7 else [1, 1])
    kernel, _ = kernel_editor(preset, (name, tuple(sorted(params.items()))), container=left)
    shown_k = kernel[::-1, ::-1].copy() if flip else kernel
    widgets.show_figure(fk.kernel_figure(shown_k, "The kernel, flipped (true convolution)" if flip else "The kernel"),
                        "kn-kernel", container=right)
    cols = st.columns(3)
    widgets.show_image(to_uint8(image), f"Input ({'grayscale' if mode == 'grayscale' else 'RGB'}, {image.shape[2]}×"
                       f"{image.shape[1]} px)", min_side=200, container=cols[0], download="kn-input", width="stretch")
    try:
        resp = kn.apply_kernel(image, kernel, mode, convolution=flip, padding=padding, device=m.device)
    except CnnvizError as e:
        widgets.show_error(e)
    else:
        show_responses(cols[1:], [(resp, "Response", "Response (signed: red +, blue −)", True),
                                  (resp.clamp_min(0), "After ReLU", "After ReLU: max(0, response)", False)],
                       per_channel=mode != "grayscale")
        st.caption(f"Response range {float(resp.min()):.3g} … {float(resp.max()):.3g}; computed with `torch.nn."
                   f"functional.conv2d` on {m.device_description} as a " + ("true convolution (kernel flipped)." if flip
                   else "cross-correlation (kernel not flipped), as in every CNN layer."))
widgets.what_to_notice(
    "- **Edge kernels sum to 0**: on a flat area the positive and negative weights cancel, so only changes respond. "
    "Their response is *signed*: Sobel x is positive where the image gets brighter to the right and negative where "
    "it gets darker.\n"
    "- **ReLU keeps one sign only**: after max(0, ·) a Sobel x kernel reports dark-to-bright edges and forgets "
    "bright-to-dark ones. That is why a network needs both a kernel and its negative to see both kinds of edge.\n"
    "- **Correlation vs. convolution**: flip the kernel with the toggle: the Gaussian does not change, Sobel changes "
    "sign. A CNN does not care, since it learns the kernel either way.\n"
    "- **Gabor**: turn θ and watch stripes of that orientation light up; λ selects how fine the stripes must be.")

# ====================================================================== 2. learned filters
st.header("2. The filters the network learned", divider="gray")
convs = m.conv_layer_names()
if not convs:
    st.warning(f"{m.title} has no Conv2d layers, so there are no learned filters to show.")
    st.stop()
first = convs[0]
lc1, lc2, lc3 = st.columns([2, 1.4, 1.4])
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


@st.cache_data(max_entries=32, show_spinner="Ordering filters…")
def _order(_w: torch.Tensor, key: str, layer: str, how: str, k: int) -> tuple[list[int], list[int] | None]:
    return kn.filter_order(_w, how, k)


order, labels = _order(w, m.key, layer, order_by, n_clusters)
widgets.untrained_badge(m)
st.caption(kn.describe_layer(layer, w, dict(m.module.named_modules())[layer].groups, labels))
if n_c == 3:
    st.subheader("Each filter as a colour image")
    grid = fk.filter_pick_grid(w, shared_scale, order)
    gc1, gc2 = st.columns([3, 2])
    with gc1:
        widgets.clickable_grid(grid.image, "kn_gridclick", grid.tile_at,
                               lambda f: st.session_state.__setitem__("qp:kn_f", f), width="stretch")
        st.caption(f"{n_f} filters of {kh}×{kw}×3, read row by row in the order chosen above; each weight's R, G, B "
                   "values are shown as a colour (grey = 0 when one scale is used). **Click a filter** to see its "
                   "channels below.")
    gc2.markdown(
        "This is the picture of Krizhevsky et al. (AlexNet, 2012, fig. 3) and Zeiler & Fergus (2014): the first layer "
        "of a trained network holds oriented edges, stripes of several frequencies and colour blobs. An untrained one "
        "holds coloured noise. Each tile is what the filter responds to most: the image patch that *looks like* it.")
    if order_by != "index":
        gc2.caption("Tile order (filter index): " + ", ".join(map(str, order[:64])) + (" …" if n_f > 64 else ""))

st.subheader("All weights in one map" if n_c > 1 else "The filters as heat maps")
win = fk.map_window(w.shape)
wc1, wc2 = st.columns(2)
f0 = state.slider(f"First filter shown ({win.filters} at a time)", "kn_f0", 0, n_f - win.filters, 0,
                  container=wc1) if n_f > win.filters else 0
c0 = state.slider(f"First input channel shown ({win.channels} at a time)", "kn_c0", 0, n_c - win.channels, 0,
                  container=wc2) if n_c > win.channels else 0
widgets.show_figure(fk.weight_map_figure(w, order, labels, shared_scale, f0, c0, win), "kn_map")
st.caption(fk.weight_map_caption(w.shape, win, f0, c0, shared_scale))
if win.full_fits:
    @st.cache_data(max_entries=4, show_spinner="Drawing the whole layer…")
    def _whole_layer(_w: torch.Tensor, key: str, layer: str, order: tuple[int, ...], shared: bool) -> np.ndarray:
        return fk.layer_picture(_w, shared, list(order), max_side=None)

    with st.expander(f"The whole layer at once ({n_f} × {n_c} tiles, a static picture)"):
        widgets.show_image(_whole_layer(w, m.key, layer, tuple(order), shared_scale), download="kn-whole-layer",
                           width="stretch")

st.subheader("One filter, channel by channel")
fsel = state.number("Filter", "kn_f", 0, n_f - 1, 0, step=1)
fig = fk.filter_channels_figure(w[fsel], rgb=n_c == 3 and layer == first and not m.grayscale)
widgets.show_figure(fig, "kn-filter", container=st.columns([1, 1])[0] if min(n_c, 16) <= 2 else st)
st.caption(f"Filter {fsel}: norm {float(w[fsel].norm()):.3f}; red = positive, blue = negative weights, one scale for "
           f"its {n_c} channel{'s' if n_c > 1 else ''}"
           + (f" (first 16 of {n_c} shown; the map above shows all)." if n_c > 16 else "."))

# ====================================================================== 3. bridge
st.header("3. Learned vs. classic: which kernel is each filter closest to?", divider="gray")
w1 = kn.learned_filters(m, first)
k1h, k1w = w1.shape[2:]


@st.cache_data(max_entries=16, show_spinner="Comparing filters with classic kernels…")
def _matches(_w: torch.Tensor, key: str, layer: str) -> list[kn.KernelMatch]:
    return kn.best_matches(_w)


if min(k1h, k1w) < 3:
    st.info(f"The first layer's kernels are {k1h}×{k1w}: too small to compare with 3×3 classic kernels.")
else:
    st.markdown(
        f"For each filter of the first layer `{first}` ({len(w1)} filters of {k1h}×{k1w}), the **cosine similarity** "
        f"to a bank of classic kernels resized to {k1h}×{k1w} (Sobel, Prewitt, Laplacian, blurs, Gabors at 12 "
        "orientations, 2 wavelengths, 2 phases). Cosine 1 means the same pattern up to a scale; −1 the negated pattern "
        "(the same detector for the opposite contrast); 0 nothing in common. A grey kernel is compared with the same "
        "pattern on every input channel, so a pure colour filter (red minus green) scores near 0: its **colour share** "
        "tells you so.")
    matches = _matches(w1, m.key, first)
    bank = kn.classic_bank((k1h, k1w))
    table = fk.bridge_table(w1, matches, bank)
    tc1, tc2 = st.columns([3, 2])
    bridge_dataframe(table, container=tc1)
    widgets.show_figure(fk.family_bar(matches), "kn-families", container=tc2)
    gab = [mt.theta for mt in matches if mt.theta is not None]
    if gab:
        tc2.caption("Gabor orientations found: " + ", ".join(f"{int(t)}°×{gab.count(t)}" for t in sorted(set(gab))))

    st.subheader("Apply a learned filter like a classic kernel")
    bf = state.number("Learned filter to apply", "kn_bf", 0, len(w1) - 1, int(table.iloc[0]["filter"]), step=1)
    mt, seen = matches[bf], m.prepare_image(ctx.image)
    a1, a2, a3 = st.columns(3)
    widgets.show_image(np.asarray(seen), f"What {m.name} sees ({seen.width}×{seen.height})", min_side=200,
                       container=a1, download="kn-seen", width="stretch")
    try:
        learned_resp = kn.apply_learned_filter(m, first, bf, ctx.image)
        template = kn.matched_template(bank, mt).expand(w1.shape[1], -1, -1)
        classic_resp = kn.filter_response(m, template, ctx.image)
    except CnnvizError as e:
        widgets.show_error(e)
    else:
        widgets.show_figure(fk.response_figure(learned_resp, f"Learned filter {bf}"), "kn-learned", container=a2)
        widgets.show_figure(fk.response_figure(classic_resp, f"Closest classic: {'−' if mt.cosine < 0 else ''}"
                                               f"{mt.name} (cos {mt.cosine:.2f})"), "kn-classic", container=a3)
    st.caption("Both slid with stride 1 over the normalised image exactly as the first layer sees it (the learned one "
               "with its bias; the classic one on every input channel alike, the same template the cosine was "
               "measured against). Similar patterns of red and blue mean the learned filter does the classic "
               "kernel's job.")

# ====================================================================== 4. trained vs untrained
st.header("4. Before and after training", divider="gray")
if not m.trained:
    st.info(f"{m.title} has random weights only (no trained weights on this machine), so there is nothing to compare "
            "with. Choose LeNet-5 or the small VGG in the sidebar to see trained next to random filters.",
            icon=":material/info:")
else:
    twin = shared_untrained_twin(m)
    w1_u = kn.learned_filters(twin, first)
    for col, ww, title in zip(st.columns(2), (w, kn.learned_filters(twin, layer)),
                              ("Trained", "Untrained (same architecture, random weights)")):
        col.markdown(f"**{title}**: `{layer}`")
        widgets.show_image(fk.layer_picture(ww, shared_scale), min_side=300, container=col,
                           download=f"kn-{title.split()[0].lower()}", width="stretch")
    if min(k1h, k1w) >= 3:
        mean_t, mean_u = kn.mean_abs_cosine(matches), kn.mean_abs_cosine(_matches(w1_u, twin.key, first))
        mc1, mc2 = st.columns(2)
        mc1.metric(f"Mean best |cosine| to a classic kernel, trained ({first})", f"{mean_t:.2f}",
                   f"{mean_t - mean_u:+.2f} vs untrained")
        mc2.metric("… untrained", f"{mean_u:.2f}")
        st.caption(f"With {len(kn.classic_bank((k1h, k1w)))} kernels in the bank even random filters find a partner "
                   "by chance; the difference between the two numbers is what training added.")
widgets.what_to_notice(
    "- A trained first layer of an ImageNet model shows **oriented edges, stripes and colour blobs**; an untrained "
    "one shows noise.\n"
    "- **Sort by norm**: a few filters carry most of the weight; with one shared scale the weak ones fade to grey.\n"
    "- **Cluster**: filters that differ only in strength, or are near copies, end up next to each other.\n"
    "- Deeper layers mix channels: their kernels are small (often 3×3) and look like noise one by one; their meaning "
    "is in the combination, which the Activation and Maximal-input pages show better.\n"
    "- The bridge table turns *\"the network learned edge detectors\"* into a number per filter you can check.")
