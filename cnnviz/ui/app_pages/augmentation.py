"""Augmentation effects: transforms of the input, what they do to the prediction, invariance sweeps."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from cnnviz.methods import augmentation as A
from cnnviz.core.images import load_image
from cnnviz.figures.render import tile_grid, to_uint8
from cnnviz.ui import state
from cnnviz.figures.common import FONT
from cnnviz.ui.widgets import show_image, untrained_badge
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
untrained_badge(m)


COLOURS = ["#4C78A8", "#F58518", "#E45756", "#54A24B", "#B279A2"]


def _fig(title: str, xtitle: str, ytitle: str, height: int = 380) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, font=FONT, height=height,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def _safe(fn, *args):
    """Run a cached computation; a model or image it cannot handle gives a message, not a stack trace."""
    try:
        return fn(*args)
    except (ValueError, RuntimeError, KeyError) as e:
        st.error(f"This view cannot be computed for {m.name} on this image: {e}")
        return None


def _strip(images, cols: int | None = None):
    """Pixel-domain images [N, C, H, W] (0..1) composed into one grid picture."""
    grid, _ = tile_grid(images, cols=cols or len(images), pad=max(1, images.shape[-1] // 28), pad_value=1.0)
    return to_uint8(grid)


# ------------------------------------------------------------------------------------ pipeline
st.header("Random samples through a pipeline", divider="gray")
gray = m.grayscale


def _label(key: str) -> str:
    spec = A.TRANSFORMS[key]
    return f"{A.GROUPS[spec.group]}: {spec.name}" + (" (RGB only)" if gray and spec.needs_rgb else "")


keys = state.multiselect("Transforms, applied in the order chosen", "au_t", list(A.TRANSFORMS),
                         default=["rotate", "erase", "noise"], format_func=_label,
                         help="The catalogue follows the lecture: geometric, colour, kernel filters, random erasing, "
                              "mixing images, noise injection.")
pipeline: list[A.Step] = []
if keys:
    cols = st.columns(min(3, len(keys)))
    for i, key in enumerate(keys):
        spec = A.TRANSFORMS[key]
        with cols[i % len(cols)].container(border=True):
            st.markdown(f"**{spec.name}** · {A.GROUPS[spec.group]}")
            st.caption(spec.help + (f" {spec.note}" if spec.note else ""))
            values = {}
            for p in spec.params:
                wkey, label = f"au_{key}_{p.name}", p.label or p.name
                if p.kind == "choice":
                    values[p.name] = state.select(label, wkey, list(p.options), p.default, radio=True, horizontal=True,
                                                  help=p.help)
                elif p.kind == "range":
                    values[p.name] = state.range_slider(label, wkey, p.low, p.high, tuple(p.default), step=p.step, help=p.help)
                else:
                    values[p.name] = state.slider(label, wkey, p.low, p.high, p.default, step=p.step, help=p.help)
            try:
                pipeline.append(A.step(key, **values))
            except ValueError as e:
                st.error(f"{spec.name}: {e}")
for note in A.check_pipeline(pipeline, target):
    st.info(note, icon=":material/info:")

mixing = any(s.spec.mixing for s in pipeline)
c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
with c1:
    n = state.select("Samples", "au_n", [8, 16, 32, 64], 16)
with c2:
    seed = state.number("Seed", "au_seed", 0, 99_999, 0, help="The same seed reproduces the same samples (and link).")
with c3:
    st.write("")
    st.button("New draw", icon=":material/casino:",
              on_click=lambda: st.session_state.__setitem__("qp:au_seed", (st.session_state.get("qp:au_seed", 0) + 1) % 100_000))
second, second_name = None, None
if mixing:
    names = sample_names(m)
    with c4:
        second_name = state.select("Second image for mixing", "au_mix", names, names[1] if len(names) > 1 else names[0],
                                   help="MixUp and CutMix blend the input with this image, and blend the labels too.")
    second = load_image(sample_path(second_name).read_bytes())


@st.cache_data(max_entries=24, show_spinner="Augmenting and predicting…")
def _samples(model_key: str, image_key: str, pipe_key: str, n: int, seed: int, mix_key: str | None,
             _model, _image, _pipeline, _second):
    b = A.sample_batch(_model, _image, _pipeline, n=n, seed=seed, second_image=_second)
    return dict(arrays=b.arrays(), labels=b.labels, conf=b.confidences, mixed=b.mixed_labels(),
                kept=b.kept_fraction, clean=b.classes[b.clean_index],
                pair=[b.classes[i] for i in b.mix_labels] if b.mix_labels else None)


try:
    res = _samples(m.key, ctx.image_key, repr(pipeline), n, seed, second_name, m, ctx.image, pipeline, second)
except (ValueError, RuntimeError) as e:
    st.error(f"The pipeline could not run on this image: {e}")
    res = None

if res is not None:
    kept = round(res["kept"] * n)
    st.markdown(f"The clean image is read as **{res['clean']}**; **{kept} of the {n} samples keep that prediction** "
                f"({'no transforms: every sample is the clean image' if not pipeline else 'green: same class, red: changed'}).")
    ncol = 8 if min(m.input_size[1:]) <= 64 else 4  # photos (and long ImageNet names) need wider tiles
    for start in range(0, len(res["arrays"]), ncol):
        row = st.columns(ncol)
        for j in range(start, min(start + ncol, len(res["arrays"]))):
            with row[j - start]:
                show_image(res["arrays"][j], min_side=112, width="stretch")
                colour = "green" if res["labels"][j] == res["clean"] else "red"
                text = f":{colour}[**{res['labels'][j]}**] {res['conf'][j]:.0%}"
                if res["mixed"] is not None:
                    text += "  \nlabel " + " + ".join(f"{p:.2f}·{c}" for c, p in res["mixed"][j])
                st.markdown(text)
    if mixing:
        a_lab, b_lab = res["pair"]
        st.caption(f"Mixed labels: the soft target the network would be trained on, with the same weights as the pixels. "
                   f"The labels of the two clean images are the model's own predictions on them: {a_lab} and {b_lab}."
                   + (" Both are the same class here, so mixing leaves the label unchanged: pick a second image of "
                      "another class." if a_lab == b_lab else ""))

with st.expander("The torchvision code for this pipeline", expanded=True, icon=":material/code:"):
    st.code(A.pipeline_code(pipeline, m), language="python")

st.markdown(
    "**What to notice.** Transforms that keep the object recognisable can still change the answer: the model "
    "was trained on (almost) unaugmented images. A transform belongs in training only if it keeps the label; "
    "its strength is a trade-off between variety and destroying the evidence (erase too much, and no one could "
    "tell the class).")

# ------------------------------------------------------------------------------------ sweeps
st.header("Invariance sweeps", divider="gray")
st.markdown("Each sweep changes one thing at a time and runs all the transformed images through the model in one "
            "batched forward pass. The curves follow the probability of the class the model gives the clean image.")


@st.cache_data(max_entries=16, show_spinner="Rotating and scaling…")
def _rot_grid(model_key: str, image_key: str, step: int, _model, _image):
    g = A.rotation_scale_grid(_model, _image, angles=list(range(0, 181, step)), scales=(1.0, 0.8, 0.6))
    return g.angles, g.scales, g.labels(), g.confidences(), g.reference_probs(), g.classes[g.reference]


@st.cache_data(max_entries=16, show_spinner="Shifting…")
def _shift(model_key: str, image_key: str, kmax: int, layer: str, direction: str, _model, _image):
    s = A.shift_sweep(_model, _image, kmax, layer, direction)
    return dict(shifts=s.sweep.values, labels=s.sweep.labels, conf=s.sweep.confidences, ref=s.sweep.reference_probs,
                clean=s.sweep.classes[s.sweep.reference], change=s.change, aligned=s.aligned_change, stride=s.stride)


@st.cache_data(max_entries=16, show_spinner="Sweeping brightness and contrast…")
def _photometric(model_key: str, image_key: str, _model, _image):
    out = {}
    for name, sweep in (("brightness", A.brightness_sweep(_model, _image)), ("contrast", A.contrast_sweep(_model, _image))):
        out[name] = dict(values=sweep.values, labels=sweep.labels, conf=sweep.confidences, ref=sweep.reference_probs,
                         clean=sweep.classes[sweep.reference], strip=_strip(sweep.images))
    return out


@st.cache_data(max_entries=4)
def _strides(model_key: str, _model):
    return A.spatial_layers(_model)


tab_rot, tab_shift, tab_light = st.tabs(["Rotation × scale", "Shift (aliasing)", "Brightness and contrast"])
with tab_rot:
    step = state.select("Angle step (degrees)", "au_rstep", [10, 15, 30, 45], 15, radio=True, horizontal=True)
    rot = _safe(_rot_grid, m.key, ctx.image_key, step, m, ctx.image)
    if rot is not None:
        angles, scales, labels, confs, refs, clean = rot
        table = pd.DataFrame([[f"{lab} ({c:.0%})" for lab, c in zip(lr, cr)] for lr, cr in zip(labels, confs)],
                             index=[f"scale {s:.0%}" for s in scales], columns=[f"{a:g}°" for a in angles])
        same = pd.DataFrame([[lab == clean for lab in lr] for lr in labels], index=table.index, columns=table.columns)
        st.markdown(f"Top prediction and confidence for each rotation (counter-clockwise) and zoom; clean image: **{clean}**. "
                    "Green cells keep the clean prediction.")
        st.dataframe(table.style.apply(lambda _: same.map(lambda ok: "background-color: #d4edda" if ok else "background-color: #f8d7da"),
                                       axis=None), width="stretch")
        fig = _fig(f"P({clean}) against rotation", "rotation (degrees)", f"P({clean})")
        for s, r, colour in zip(scales, refs, COLOURS):
            fig.add_trace(go.Scatter(x=angles, y=r, mode="lines+markers", name=f"scale {s:.0%}", line=dict(color=colour, width=3)))
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
        fig.update_xaxes(tickvals=angles[::2] if len(angles) > 10 else angles)
        st.plotly_chart(fig, width="stretch")
        st.markdown("**What to notice.** Confidence usually falls within a few tens of degrees, and faster when the "
                    "object is also smaller: nothing in a CNN is rotation- or scale-invariant unless training made it so.")

with tab_shift:
    layers = [(name, s) for name, s in _strides(m.key, m) if s]
    if not layers:
        st.info(f"{m.name} has no layer with a feature-map output whose stride can be measured.")
    else:
        stride_of = dict(layers)
        h = min(m.input_size[1:])
        l1, l2, l3 = st.columns([2, 1, 1])
        with l1:
            layer = state.select("Layer", "au_layer", list(stride_of), layers[-1][0],
                                 format_func=lambda n: f"{n} (stride {stride_of[n]})")
        with l2:
            kmax = state.slider("Largest shift (pixels)", "au_smax", 1, h // 2, min(h // 2, 8 if h <= 64 else 32))
        with l3:
            direction = state.select("Direction", "au_sdir", list(A.SHIFT_DIRECTIONS), "right", radio=True, horizontal=True)
        r = _safe(_shift, m.key, ctx.image_key, kmax, layer, direction, m, ctx.image)
        if r is not None:
            left, right = st.columns(2)
            with left:
                fig = _fig(f"Prediction under a shift ({direction})", "shift (pixels)", "probability")
                fig.add_trace(go.Scatter(x=r["shifts"], y=r["ref"], mode="lines+markers", name=f"P({r['clean']})",
                                         line=dict(color=COLOURS[0], width=3)))
                fig.add_trace(go.Scatter(x=r["shifts"], y=r["conf"], mode="markers+text", text=r["labels"], textposition="top center",
                                         name="top class (label above)", marker=dict(symbol="diamond")))
                fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
                st.plotly_chart(fig, width="stretch")
            with right:
                fig = _fig(f"Change of {layer} (stride {r['stride']})", "shift (pixels)", "relative L2 change")
                fig.add_trace(go.Scatter(x=r["shifts"], y=r["change"], mode="lines+markers", name="raw: ‖a(k) − a(0)‖ / ‖a(0)‖",
                                         line=dict(color=COLOURS[1], width=3)))
                if r["aligned"] is not None:
                    fig.add_trace(go.Scatter(x=r["shifts"], y=r["aligned"], mode="lines+markers",
                                             name=f"after moving a(0) by round(k / {r['stride']}) cells",
                                             line=dict(color=COLOURS[3], width=3)))
                for k in range(r["stride"], kmax + 1, r["stride"]):
                    fig.add_vline(x=k, line_dash="dot", line_color="gray")
                st.plotly_chart(fig, width="stretch")
            with st.expander("Table of the shift sweep", icon=":material/table:"):
                st.dataframe(pd.DataFrame({
                    "shift (px)": [int(k) for k in r["shifts"]], "top class": r["labels"],
                    "confidence": [f"{c:.1%}" for c in r["conf"]], f"P({r['clean']})": [f"{p:.1%}" for p in r["ref"]],
                    f"change of {layer}": [f"{c:.3f}" for c in r["change"]],
                    "change after alignment": [f"{c:.3f}" for c in r["aligned"]] if r["aligned"] is not None else "—",
                }), hide_index=True, width="stretch")
            st.markdown(
                f"**What to notice.** A shift by a multiple of the layer's stride ({r['stride']} pixels, dotted lines) moves "
                "the feature map by whole cells, so once that move is taken out the change nearly vanishes. Shifts in "
                "between cannot be represented on the coarser grid: the features change although the content only moved. "
                "That is aliasing from striding and pooling, and it is why a one-pixel shift can change a prediction.")

with tab_light:
    ph = _safe(_photometric, m.key, ctx.image_key, m, ctx.image) or {}
    cols = st.columns(2)
    for col, (name, d) in zip(cols, ph.items()):
        with col:
            fig = _fig(f"{name.capitalize()} factor", f"{name} factor (1 = unchanged)", "probability")
            fig.add_trace(go.Scatter(x=d["values"], y=d["ref"], mode="lines+markers", name=f"P({d['clean']})",
                                     line=dict(color=COLOURS[0], width=3)))
            fig.add_trace(go.Scatter(x=d["values"], y=d["conf"], mode="markers+text", text=d["labels"], textposition="top center",
                                     name="top class (label above)", marker=dict(symbol="diamond")))
            fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
            st.plotly_chart(fig, width="stretch")
            show_image(d["strip"], caption=" · ".join(f"{v:g}" for v in d["values"]), min_side=60, width="stretch")
            with st.expander(f"Table of the {name} sweep", icon=":material/table:"):
                st.dataframe(pd.DataFrame({"factor": d["values"], "top class": d["labels"],
                                           "confidence": [f"{c:.1%}" for c in d["conf"]],
                                           f"P({d['clean']})": [f"{p:.1%}" for p in d["ref"]]}),
                             hide_index=True, width="stretch")
    st.markdown("**What to notice.** Brightness multiplies pixels, contrast blends with the mean grey. Normalisation "
                "removes neither: a network trained on well-lit images meets a dark or flat image as something new.")

# ------------------------------------------------------------------------------------ 6 -> 9
st.header("Label-changing augmentation: a 6 becomes a 9", divider="gray")


@st.cache_data(max_entries=8, show_spinner="Rotating the 6…")
def _six_to_nine(model_key: str, _model):
    f = A.rotate_until(_model, load_image(sample_path("digit-6").read_bytes()), "6", "9", angles=range(-180, 181, 5))
    pick = [0.0, -45.0, -90.0] + ([f.flip_angle] if f.flip_angle is not None else []) + [180.0]
    idx = [f.sweep.values.index(a) for a in dict.fromkeys(pick)]
    return dict(angles=f.sweep.values, p6=f.sweep.probs_of("6"), p9=f.sweep.probs_of("9"), labels=f.sweep.labels,
                flip=f.flip_angle, first=f.first_change, strip=_strip(f.sweep.images[idx]),
                strip_caption=" · ".join(f"{f.sweep.values[i]:g}°: **{f.sweep.labels[i]}**" for i in idx))


if "6" in m.classes and "9" in m.classes:
    d = _safe(_six_to_nine, m.key, m)
    if d is not None:
        if d["flip"] is not None:
            st.markdown(f"The bundled handwritten 6 (`assets/samples/digit-6.png`) is read as **9** once it is rotated by "
                        f"**{d['flip']:g}°** ({'clockwise' if d['flip'] < 0 else 'counter-clockwise'}); it stops being a 6 "
                        f"already at {d['first']:g}°.")
        else:
            st.markdown("This model never reads the rotated 6 as a 9; the curves show what it reads instead.")
        left, right = st.columns([3, 2])
        with left:
            fig = _fig("The 6, rotated", "rotation (degrees, + = counter-clockwise)", "probability")
            fig.add_trace(go.Scatter(x=d["angles"], y=d["p6"], mode="lines", name="P(6)", line=dict(width=3, color=COLOURS[0])))
            fig.add_trace(go.Scatter(x=d["angles"], y=d["p9"], mode="lines", name="P(9)", line=dict(width=3, color=COLOURS[2])))
            if d["flip"] is not None:
                fig.add_vline(x=d["flip"], line_dash="dash", annotation_text=f"read as 9 at {d['flip']:g}°")
            fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
            st.plotly_chart(fig, width="stretch")
        with right:
            st.write("")
            show_image(d["strip"], min_side=120, width="stretch")
            st.markdown("Rotation: read as  \n" + d["strip_caption"])
        st.markdown("**What to notice.** An augmentation can change the label: rotating digits by up to 180° (or flipping "
                    "them) would teach the network that a 6 and a 9 are the same class. Limit rotations for digits and "
                    "text; for other data ask the same question of every transform (is a flipped shoe still a shoe? yes; "
                    "is a flipped 'b' still a 'b'? no).")
else:
    st.info(f"This demo needs a model that reads digits ({m.name} has no classes '6' and '9'): pick "
            "**LeNet-5 on MNIST digits** in the sidebar.", icon=":material/info:")

# ------------------------------------------------------------------------------------ scramble
st.header("Scrambled image: the “Picasso problem”", divider="gray")
st.markdown("Cut the image into a grid of tiles and shuffle them: every local feature is still there, only their "
            "arrangement is wrong. If the model still gives the same answer, it is counting parts, not checking how "
            "they fit together.")
gmax = max(2, min(8, min(m.input_size[1:]) // 4))
SHUFFLES = 8 if min(m.input_size[1:]) <= 64 else 4  # ImageNet-size models: fewer forward passes
s1, s2 = st.columns(2)
with s1:
    grid = state.slider("Tiles per side", "au_g", 1, gmax, min(3, gmax))
with s2:
    sseed = state.number("Shuffle seed", "au_sseed", 0, 9_999, 0)


@st.cache_data(max_entries=16, show_spinner="Scrambling…")
def _scramble(model_key: str, image_key: str, grid: int, sseed: int, gmax: int, _model, _image):
    x0 = A.image_tensor(_model, _image)
    x = A.scramble(x0, grid, sseed)
    probs = A.predict_pixels(_model, torch.stack([x0, x]))
    sw = A.scramble_sweep(_model, _image, grids=list(range(1, gmax + 1)), shuffles=SHUFFLES, seed=sseed)
    p0, p1 = probs[0], probs[1]
    ref = int(p0.argmax())
    return dict(clean=A.to_arrays(x0[None])[0], scrambled=A.to_arrays(x[None])[0], classes=_model.classes, ref=ref,
                p_clean=float(p0[ref]), top=_model.classes[int(p1.argmax())], p_top=float(p1.max()), p_ref=float(p1[ref]),
                tiles=sw.tiles, mean=sw.mean_probs, lo=sw.probs.min(1).values.tolist(), hi=sw.probs.max(1).values.tolist(),
                kept=sw.kept)


try:
    sc = _scramble(m.key, ctx.image_key, grid, sseed, gmax, m, ctx.image)
except ValueError as e:
    st.error(str(e))
    sc = None
if sc is not None:
    clean_name = sc["classes"][sc["ref"]]
    a, b, c = st.columns([1, 1, 2])
    with a:
        show_image(sc["clean"], caption=f"clean: {clean_name} ({sc['p_clean']:.0%})", min_side=180, width="stretch")
    with b:
        show_image(sc["scrambled"], caption=f"{grid}×{grid} tiles: {sc['top']} ({sc['p_top']:.0%}); "
                   f"P({clean_name}) = {sc['p_ref']:.0%}", min_side=180, width="stretch")
    with c:
        fig = _fig(f"How much of '{clean_name}' survives scrambling ({SHUFFLES} shuffles per grid)", "number of tiles",
                   f"P({clean_name})")
        fig.add_trace(go.Scatter(x=sc["tiles"], y=sc["hi"], mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=sc["tiles"], y=sc["lo"], mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor="rgba(76,120,168,0.25)", name="min..max over shuffles"))
        fig.add_trace(go.Scatter(x=sc["tiles"], y=sc["mean"], mode="lines+markers", name=f"mean P({clean_name})",
                                 line=dict(color="#4C78A8", width=3)))
        fig.add_trace(go.Scatter(x=sc["tiles"], y=sc["kept"], mode="lines+markers", name="shuffles still top-1",
                                 line=dict(dash="dash", color="#F58518")))
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
        fig.update_xaxes(tickvals=sc["tiles"])
        st.plotly_chart(fig, width="stretch")
    if min(m.input_size[1:]) % grid:
        st.caption(f"{min(m.input_size[1:])} pixels do not split into {grid} equal tiles: the last "
                   f"{min(m.input_size[1:]) % grid} row(s)/column(s) of pixels stay in place.")
    st.markdown("**What to notice.** With a few large tiles, big models often keep their answer: the parts are "
                "there and a CNN's late layers pool them with little regard for their layout (the Picasso problem). "
                "With many small tiles, the parts themselves are cut up and the answer goes.")
