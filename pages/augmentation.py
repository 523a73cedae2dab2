"""Augmentation effects: transforms of the input, what they do to the prediction, invariance sweeps."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnviz.core.images import load_image
from cnnviz.errors import CnnvizError
from cnnviz.figures import augmentation as fa
from cnnviz.methods import augmentation as A
from cnnviz.ui import state, widgets
from cnnviz.ui.sidebar import current, sample_names, sample_path

ctx = current()
m = ctx.model
target = A.Target.of(m)

st.title("Augmentation effects")
st.markdown(
    "Data augmentation trains a network on randomly transformed copies of each image (flipped, rotated, "
    "shifted, recoloured, blurred, partly erased, mixed with another image, noisy) so that it learns to "
    "ignore those changes. A CNN is **not** invariant to them by construction: convolution is equivariant "
    "to shifts only up to the stride, and nothing in it makes it ignore rotation, scale or lighting. "
    "Build a pipeline below, see random samples with the model's answer on each, and sweep one "
    "transformation at a time to see how far the model's invariance really goes."
)
widgets.untrained_badge(m)


@st.cache_data(max_entries=64, show_spinner=False)
def _cached(method: str, model_key: str, image_key: str, args: tuple, kwargs: tuple, _model, _image):
    """``A.<method>(model, image, *args, **kwargs)``; the model and image are keyed by their keys, not hashed."""
    return getattr(A, method)(_model, _image, *args, **dict(kwargs))


def _compute(spinner: str, method: str, *args, image=None, image_key: str | None = None, **kwargs):
    """A cached method call; a model or image it cannot handle gives a message, not a stack trace."""
    try:
        with st.spinner(spinner):
            return _cached(method, m.key, image_key or ctx.image_key, args, tuple(kwargs.items()), m,
                           ctx.image if image is None else image)
    except (ValueError, RuntimeError, KeyError) as e:  # ValueError includes every CnnvizError
        st.error(f"This view cannot be computed for {m.name} on this image: {e}", icon=":material/error:")
        return None


# ------------------------------------------------------------------------------------ pipeline
st.header("Random samples through a pipeline", divider="gray")
keys = state.multiselect("Transforms, applied in the order chosen", "au_t", list(A.TRANSFORMS),
                         default=["rotate", "erase", "noise"], format_func=lambda k: A.transform_label(k, target),
                         help="The catalogue follows the lecture: geometric, colour, kernel filters, random erasing, "
                              "mixing images, noise injection.")


def _param_widget(p: A.Param, wkey: str):
    """One control from the transform table's parameter row (choice, range or number)."""
    label = p.label or p.name
    if p.kind == "choice":
        return state.select(label, wkey, list(p.options), p.default, radio=True, horizontal=True, help=p.help)
    if p.kind == "range":
        return state.range_slider(label, wkey, p.low, p.high, tuple(p.default), step=p.step, help=p.help)
    return state.slider(label, wkey, p.low, p.high, p.default, step=p.step, help=p.help)


pipeline: list[A.Step] = []
cols = st.columns(min(3, len(keys))) if keys else []
for i, key in enumerate(keys):
    spec = A.TRANSFORMS[key]
    with cols[i % len(cols)].container(border=True):
        st.markdown(f"**{spec.name}** · {A.GROUPS[spec.group]}")
        st.caption(spec.help + (f" {spec.note}" if spec.note else ""))
        values = {p.name: _param_widget(p, f"au_{key}_{p.name}") for p in spec.params}
        try:
            pipeline.append(A.step(key, **values))
        except CnnvizError as e:
            widgets.show_error(CnnvizError(f"{spec.name}: {e}"))
for note in A.check_pipeline(pipeline, target):
    st.info(note, icon=":material/info:")

mixing = any(s.spec.mixing for s in pipeline)
c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
n = state.select("Samples", "au_n", [8, 16, 32, 64], 16, container=c1)
seed = state.number("Seed", "au_seed", 0, 99_999, 0, container=c2,
                    help="The same seed reproduces the same samples (and link).")
c3.write("")
c3.button("New draw", icon=":material/casino:", on_click=st.session_state.__setitem__,
          args=("qp:au_seed", (seed + 1) % 100_000))
second, second_name = None, None
if mixing:
    names = sample_names(m)
    second_name = state.select("Second image for mixing", "au_mix", names, names[1] if len(names) > 1 else names[0],
                               container=c4, help="MixUp and CutMix blend the input with this image, and blend the "
                                                  "labels too.")
    second = load_image(sample_path(second_name).read_bytes())

b = _compute("Augmenting and predicting…", "sample_batch", tuple(pipeline), n=n, seed=seed, second_image=second,
             image_key=f"{ctx.image_key}|{second_name}")
if b is not None:
    clean, arrays, mixed = b.classes[b.clean_index], b.arrays(), b.mixed_labels()
    legend = "green: same class, red: changed" if pipeline else "no transforms: every sample is the clean image"
    st.markdown(f"The clean image is read as **{clean}**; **{round(b.kept_fraction * n)} of the {n} samples keep that "
                f"prediction** ({legend}).")
    ncol = 8 if min(m.input_size[1:]) <= 64 else 4  # photos (and long ImageNet names) need wider tiles
    for j, (arr, label, conf) in enumerate(zip(arrays, b.labels, b.confidences)):
        if j % ncol == 0:
            row = st.columns(ncol)
        with row[j % ncol]:
            widgets.show_image(arr, min_side=112, width="stretch")
            st.markdown(f":{'green' if label == clean else 'red'}[**{label}**] {conf:.0%}"
                        + (f"  \nlabel {A.mixed_label_text(mixed[j])}" if mixed is not None else ""))
    if b.mix_labels is not None:
        st.caption(A.mixing_note(b))

with st.expander("The torchvision code for this pipeline", expanded=True, icon=":material/code:"):
    st.code(A.pipeline_code(pipeline, m), language="python")
widgets.what_to_notice(
    "Transforms that keep the object recognisable can still change the answer: the model was trained on (almost) "
    "unaugmented images. A transform belongs in training only if it keeps the label; its strength is a trade-off "
    "between variety and destroying the evidence (erase too much, and no one could tell the class).")

# ------------------------------------------------------------------------------------ sweeps
st.header("Invariance sweeps", divider="gray")
st.markdown("Each sweep changes one thing at a time and runs all the transformed images through the model in one "
            "batched forward pass. The curves follow the probability of the class the model gives the clean image.")
tab_rot, tab_shift, tab_light = st.tabs(["Rotation × scale", "Shift (aliasing)", "Brightness and contrast"])
with tab_rot:
    step = state.select("Angle step (degrees)", "au_rstep", [10, 15, 30, 45], 15, radio=True, horizontal=True)
    g = _compute("Rotating and scaling…", "rotation_scale_grid", list(range(0, 181, step)), (1.0, 0.8, 0.6))
    if g is not None:
        table = pd.DataFrame(g.cells(), index=[f"scale {s:.0%}" for s in g.scales],
                             columns=[f"{a:g}°" for a in g.angles])
        kept = pd.DataFrame(g.kept(), index=table.index, columns=table.columns)
        st.markdown(f"Top prediction and confidence for each rotation (counter-clockwise) and zoom; clean image: "
                    f"**{g.classes[g.reference]}**. Green cells keep the clean prediction.")
        colour = {True: "background-color: #d4edda", False: "background-color: #f8d7da"}
        st.dataframe(table.style.apply(lambda _: kept.map(colour.get), axis=None), width="stretch")
        widgets.show_figure(fa.rotation_figure(g), "augmentation-rotation")
        widgets.what_to_notice("Confidence usually falls within a few tens of degrees, and faster when the object is "
                               "also smaller: nothing in a CNN is rotation- or scale-invariant unless training made "
                               "it so.")

with tab_shift:
    stride_of = {name: s for name, s in A.spatial_layers(m) if s}  # cached per model by the method
    if not stride_of:
        st.info(f"{m.name} has no layer with a feature-map output whose stride can be measured.")
    else:
        half = min(m.input_size[1:]) // 2
        l1, l2, l3 = st.columns([2, 1, 1])
        layer = state.select("Layer", "au_layer", list(stride_of), list(stride_of)[-1], container=l1,
                             format_func=lambda name: f"{name} (stride {stride_of[name]})")
        kmax = state.slider("Largest shift (pixels)", "au_smax", 1, half,
                            min(half, 8 if min(m.input_size[1:]) <= 64 else 32), container=l2)
        direction = state.select("Direction", "au_sdir", list(A.SHIFT_DIRECTIONS), "right", radio=True, horizontal=True,
                                 container=l3)
        r = _compute("Shifting…", "shift_sweep", kmax, layer, direction)
        if r is not None:
            left, right = st.columns(2)
            widgets.show_figure(fa.sweep_figure(r.sweep, f"Prediction under a shift ({direction})", "shift (pixels)"),
                                "augmentation-shift-prediction", container=left)
            widgets.show_figure(fa.shift_change_figure(r), "augmentation-shift-change", container=right)
            with st.expander("Table of the shift sweep", icon=":material/table:"):
                st.dataframe(pd.DataFrame(A.shift_table(r)), hide_index=True, width="stretch")
            widgets.what_to_notice(
                f"A shift by a multiple of the layer's stride ({r.stride} pixels, dotted lines) moves the feature map "
                "by whole cells, so once that move is taken out the change nearly vanishes. Shifts in between cannot "
                "be represented on the coarser grid: the features change although the content only moved. That is "
                "aliasing from striding and pooling, and it is why a one-pixel shift can change a prediction.")

with tab_light:
    cols = st.columns(2)
    for col, name in zip(cols, ("brightness", "contrast")):
        if (sw := _compute(f"Sweeping {name}…", f"{name}_sweep")) is None:
            continue
        widgets.show_figure(fa.sweep_figure(sw, f"{name.capitalize()} factor", f"{name} factor (1 = unchanged)"),
                            f"augmentation-{name}", container=col)
        widgets.show_image(fa.strip(sw.images), caption=" · ".join(f"{v:g}" for v in sw.values), min_side=60,
                           width="stretch", container=col, download=f"augmentation-{name}-strip")
        with col.expander(f"Table of the {name} sweep", icon=":material/table:"):
            st.dataframe(pd.DataFrame(A.sweep_table(sw, "factor")), hide_index=True, width="stretch")
    widgets.what_to_notice("Brightness multiplies pixels, contrast blends with the mean grey. Normalisation removes "
                           "neither: a network trained on well-lit images meets a dark or flat image as something new.")

# ------------------------------------------------------------------------------------ 6 -> 9
st.header("Label-changing augmentation: a 6 becomes a 9", divider="gray")
if "6" in m.classes and "9" in m.classes:
    six = load_image(sample_path("digit-6").read_bytes())
    f = _compute("Rotating the 6…", "rotate_until", "6", "9", angles=range(-180, 181, 5), image=six,
                 image_key="digit-6")
    if f is not None:
        st.markdown(A.label_flip_summary(f, "The bundled handwritten 6 (`assets/samples/digit-6.png`)"))
        left, right = st.columns([3, 2])
        widgets.show_figure(fa.label_flip_figure(f), "augmentation-six-nine", container=left)
        idx = f.view_indices()
        right.write("")
        widgets.show_image(fa.strip(f.sweep.images[idx]), min_side=120, width="stretch", container=right,
                           download="augmentation-six-nine-strip")
        right.markdown("Rotation: read as  \n"
                       + " · ".join(f"{f.sweep.values[i]:g}°: **{f.sweep.labels[i]}**" for i in idx))
        widgets.what_to_notice(
            "An augmentation can change the label: rotating digits by up to 180° (or flipping them) would teach the "
            "network that a 6 and a 9 are the same class. Limit rotations for digits and text; for other data ask the "
            "same question of every transform (is a flipped shoe still a shoe? yes; is a flipped 'b' still a 'b'? no).")
else:
    st.info(f"This demo needs a model that reads digits ({m.name} has no classes '6' and '9'): pick "
            "**LeNet-5 on MNIST digits** in the sidebar.", icon=":material/info:")

# ------------------------------------------------------------------------------------ scramble
st.header("Scrambled image: the “Picasso problem”", divider="gray")
st.markdown("Cut the image into a grid of tiles and shuffle them: every local feature is still there, only their "
            "arrangement is wrong. If the model still gives the same answer, it is counting parts, not checking how "
            "they fit together.")
gmax, _ = A.scramble_limits(m)
s1, s2 = st.columns(2)
grid = state.slider("Tiles per side", "au_g", 1, gmax, min(3, gmax), container=s1)
sseed = state.number("Shuffle seed", "au_sseed", 0, 9_999, 0, container=s2)
sc = _compute("Scrambling…", "scramble_demo", grid, sseed)
if sc is not None:
    clean_name, ref = sc.clean_class, sc.reference
    a, b_, c = st.columns([1, 1, 2])
    widgets.show_image(sc.clean, caption=f"clean: {clean_name} ({float(sc.clean_probs[ref]):.0%})", min_side=180,
                       width="stretch", container=a, download="augmentation-clean")
    widgets.show_image(sc.scrambled, caption=f"{grid}×{grid} tiles: {sc.scrambled_class} "
                       f"({float(sc.scrambled_probs.max()):.0%}); "
                       f"P({clean_name}) = {float(sc.scrambled_probs[ref]):.0%}",
                       min_side=180, width="stretch", container=b_, download="augmentation-scrambled")
    widgets.show_figure(fa.scramble_figure(sc.sweep), "augmentation-scramble", container=c)
    side = min(m.input_size[1:])
    if side % grid:
        st.caption(f"{side} pixels do not split into {grid} equal tiles: the last {side % grid} row(s)/column(s) of "
                   "pixels stay in place.")
    widgets.what_to_notice(
        "With a few large tiles, big models often keep their answer: the parts are there and a CNN's late layers pool "
        "them with little regard for their layout (the Picasso problem). With many small tiles, the parts themselves "
        "are cut up and the answer goes.")
