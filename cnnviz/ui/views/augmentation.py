"""Views of /augmentation: random samples through a pipeline, invariance sweeps (rotation × scale, shift, brightness
and contrast), label-changing augmentation (a 6 becomes a 9), the scrambled image (the Picasso problem)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnviz.core.images import load_image
from cnnviz.errors import CnnvizError
from cnnviz.figures import augmentation as fa
from cnnviz.methods import augmentation as A
from cnnviz.text import augmentation as txt
from cnnviz.ui import state, widgets
from cnnviz.ui.resources import shared_figure
from cnnviz.ui.sidebar import sample_names, sample_path
from cnnviz.ui.view import Frame, register

# the URL key of every transform parameter: au_<transform>_<parameter>
PARAM_KEYS = tuple(f"au_{key}_{p.name}" for key, spec in A.TRANSFORMS.items() for p in spec.params)


class NotComputable(CnnvizError):
    """The model or the image does not allow this view."""


@st.cache_data(max_entries=64, show_spinner=False)
def _cached(method: str, model_key: str, image_key: str, args: tuple, kwargs: tuple, _model, _image):
    """``A.<method>(model, image, *args, **kwargs)``; the model and image are keyed by their keys, not hashed."""
    return getattr(A, method)(_model, _image, *args, **dict(kwargs))


def _compute(f: Frame, spinner: str, method: str, *args, image=None, image_key: str | None = None, **kwargs):
    """A cached method call (server-wide); a model or image it cannot handle raises a message, not a stack trace."""
    m, ctx = f.model, f.ctx
    try:
        with st.spinner(spinner):
            return _cached(method, m.key, image_key or ctx.image_key, args, tuple(kwargs.items()), m,
                           ctx.image if image is None else image)
    except (ValueError, RuntimeError, KeyError) as e:  # ValueError includes every CnnvizError
        raise NotComputable(f"This view cannot be computed for {m.name} on this image: {e}") from e


@shared_figure(max_entries=64)
def _shared(draw: str, key: tuple, extra: tuple, _result):
    """``fa.<draw>(result, *extra)``, built once per computed result (``key``: how :func:`_compute` cached it)."""
    return getattr(fa, draw)(_result, *extra)


def _figure(f: Frame, draw: str, result, method: str, *args, extra: tuple = (), image_key: str | None = None,
            **kwargs):
    """The figure ``fa.<draw>`` of a result of ``_compute(f, ..., method, *args, **kwargs)``, shared by the server."""
    key = (method, f.model.key, image_key or f.ctx.image_key, args, tuple(kwargs.items()))
    return _shared(draw, key, extra, result)


# ------------------------------------------------------------------------------------ pipeline
def _param_widget(p: A.Param, wkey: str):
    """One control from the transform table's parameter row (choice, range or number)."""
    label = p.label or p.name
    if p.kind == "choice":
        return state.select(label, wkey, list(p.options), p.default, radio=True, horizontal=True, help=p.help)
    if p.kind == "range":
        return state.range_slider(label, wkey, p.low, p.high, tuple(p.default), step=p.step, help=p.help)
    return state.slider(label, wkey, p.low, p.high, p.default, step=p.step, help=p.help)


def _new_draw(seed: int) -> None:
    st.session_state["qp:au_seed"] = (seed + 1) % 100_000
    state.mark_changed("au_seed")


def _pipeline_controls(f: Frame, top, target: A.Target) -> list[A.Step]:
    """The transform picker and one bordered box of controls per chosen transform: the pipeline they set."""
    keys = state.multiselect("Transforms, applied in the order chosen", "au_t", list(A.TRANSFORMS),
                             default=["rotate", "erase", "noise"], format_func=lambda k: txt.transform_label(k, target),
                             container=top, help=txt.CATALOGUE_HELP)
    pipeline: list[A.Step] = []
    cols = top.columns(min(3, len(keys))) if keys else []
    for i, key in enumerate(keys):
        spec = A.TRANSFORMS[key]
        with cols[i % len(cols)].container(border=True):
            st.markdown(f"**{spec.name}** · {A.GROUPS[spec.group]}")
            if not f.slide:
                st.caption(txt.transform_caption(key))
            values = {p.name: _param_widget(p, f"au_{key}_{p.name}") for p in spec.params}
            try:
                pipeline.append(A.step(key, **values))
            except CnnvizError as e:
                widgets.show_error(CnnvizError(f"{spec.name}: {e}"))
    if not f.slide:
        for note in txt.pipeline_notes(A.check_pipeline(pipeline, target), target):
            st.info(note, icon=":material/info:")
    return pipeline


def _samples_slide(b: A.AugmentedBatch, n: int, kept: int) -> None:
    """One picture as large as the screen allows: a green frame keeps the clean answer, red changed it."""
    clean, mixed = b.classes[b.clean_index], b.mixed_labels()
    labels = [f"{label} {conf:.0%}" + "".join(f"\n{p:.2f}·{c}" for c, p in (mixed[j] if mixed is not None else ()))
              for j, (label, conf) in enumerate(zip(b.labels, b.confidences, strict=True))]  # soft label: a line each
    ok = [label == clean for label in b.labels]
    lines = max(label.count("\n") + 1 for label in labels)
    # the summary beside the picture or above it, whichever leaves the larger picture
    arrays = b.arrays()
    grids = [fa.sample_grid(arrays, labels, ok, *fa.sample_grid_shape(n, w, h, font_size=16, lines=lines),
                            font_size=16) for w, h in ((910, 555), (1200, 525))]
    beside = grids[0].shape[0] * grids[0].shape[1] >= grids[1].shape[0] * grids[1].shape[1]
    if beside:
        pic, side = st.columns([3.4, 1], vertical_alignment="center")
        side.metric("Keep the clean answer", f"{kept} of {n}")
        side.markdown(f"Clean image: **{clean}**  \n:green[green frame]: kept; :red[red]: changed")
    else:
        st.markdown(f"Clean image: **{clean}** · **{kept} of {n}** samples keep it"
                    + (" · soft labels under the samples" if mixed is not None else ""))
        pic = st.container()
    grid = grids[0] if beside else grids[1]
    widgets.show_image(grid, min_side=1, width="content", container=pic, download="augmentation-samples")


def _samples_page(m, b: A.AugmentedBatch, pipeline: list[A.Step], n: int, kept: int) -> None:
    """The samples as a grid of images with their labels, and the torchvision code of the pipeline."""
    clean, mixed = b.classes[b.clean_index], b.mixed_labels()
    st.markdown(txt.samples_summary(clean, kept, n, bool(pipeline)))
    ncol = 8 if min(m.input_size[1:]) <= 64 else 4  # photos (and long ImageNet names) need wider tiles
    for j, (arr, label, conf) in enumerate(zip(b.arrays(), b.labels, b.confidences, strict=True)):
        if j % ncol == 0:
            row = st.columns(ncol)
        with row[j % ncol]:
            widgets.show_image(arr, min_side=112, width="stretch")
            st.markdown(f":{'green' if label == clean else 'red'}[**{label}**] {conf:.0%}"
                        + (f"  \nlabel {txt.mixed_label_text(mixed[j])}" if mixed is not None else ""))
    if b.mix_labels is not None:
        st.caption(txt.mixing_note(b))
    with st.expander("The torchvision code for this pipeline", expanded=True, icon=":material/code:"):
        st.code(A.pipeline_code(pipeline, m), language="python")


@register("augmentation.samples", "Random samples through a pipeline",
          keys=("au_t", *PARAM_KEYS, "au_n", "au_seed", "au_mix"), anchors=("random-samples-through-a-pipeline",))
def samples(f: Frame) -> None:
    m = f.model
    top = f.controls()[0]
    pipeline = _pipeline_controls(f, top, A.Target.of(m))
    c1, c2, c3, c4 = top.columns([1, 1, 1, 2])
    n = state.select("Samples", "au_n", [8, 16, 32, 64], 16, container=c1)
    seed = state.number("Seed", "au_seed", 0, 99_999, 0, container=c2, help=txt.SEED_HELP)
    c3.write("")
    c3.button("New draw", icon=":material/casino:", on_click=_new_draw, args=(seed,))
    second, second_name = None, None
    if any(s.spec.mixing for s in pipeline):
        names = sample_names(m)
        second_name = state.select("Second image for mixing", "au_mix", names, names[1] if len(names) > 1 else names[0],
                                   container=c4, help=txt.MIX_HELP)
        second = load_image(sample_path(second_name).read_bytes())

    b = _compute(f, "Augmenting and predicting…", "sample_batch", tuple(pipeline), n=n, seed=seed,
                 second_image=second, image_key=f"{f.ctx.image_key}|{second_name}")
    kept = round(b.kept_fraction * n)
    if f.slide:
        _samples_slide(b, n, kept)
    else:
        _samples_page(m, b, pipeline, n, kept)
    f.note(txt.SAMPLES_NOTE)


# ------------------------------------------------------------------------------------ sweeps
@register("augmentation.rotation", "Invariance sweeps: rotation × scale", keys=("au_rstep",),
          anchors=("invariance-sweeps",))
def rotation(f: Frame) -> None:
    step = state.select("Angle step (degrees)", "au_rstep", [10, 15, 30, 45], 15, radio=True, horizontal=True,
                        container=f.controls()[0])
    g = _compute(f, "Rotating and scaling…", "rotation_scale_grid", list(range(0, 181, step)), (1.0, 0.8, 0.6))
    table = pd.DataFrame(g.cells(), index=[f"scale {s:.0%}" for s in g.scales], columns=[f"{a:g}°" for a in g.angles])
    kept = pd.DataFrame(g.kept(), index=table.index, columns=table.columns)
    if not f.slide:
        st.caption(txt.SWEEP_INTRO)
        st.markdown(txt.rotation_caption(g.classes[g.reference]))
    colour = {True: "background-color: #d4edda", False: "background-color: #f8d7da"}
    st.dataframe(table.style.apply(lambda _: kept.map(colour.get), axis=None), width="stretch")
    table_px = 38 * (len(table) + 1) + 3  # the table above it on a slide, then the curves fill the rest
    widgets.show_figure(_figure(f, "rotation_figure", g, "rotation_scale_grid", list(range(0, 181, step)),
                                (1.0, 0.8, 0.6)), "augmentation-rotation",
                        slide_height=f.figure_height - table_px - 20 if f.slide else None)
    f.note(txt.ROTATION_NOTE)


@register("augmentation.shift", "Invariance sweeps: shift and aliasing", keys=("au_layer", "au_smax", "au_sdir"))
def shift(f: Frame) -> None:
    m = f.model
    stride_of = {name: s for name, s in A.layer_strides(m).items() if s}  # cached per model by the method
    if not stride_of:
        raise NotComputable(f"{m.name} has no layer with a feature-map output whose stride can be measured.")
    half = min(m.input_size[1:]) // 2
    l1, l2, l3 = f.controls([2, 1, 1])
    layer = state.select("Layer", "au_layer", list(stride_of), list(stride_of)[-1], container=l1,
                         format_func=lambda name: f"{name} (stride {stride_of[name]})")
    kmax = state.slider("Largest shift (pixels)", "au_smax", 1, half,
                        min(half, 8 if min(m.input_size[1:]) <= 64 else 32), container=l2)
    direction = state.select("Direction", "au_sdir", list(A.SHIFT_DIRECTIONS), "right", radio=True, horizontal=True,
                             container=l3)
    r = _compute(f, "Shifting…", "shift_sweep", kmax, layer, direction)
    if not f.slide:
        st.caption(txt.SWEEP_INTRO)
    left, right = st.columns(2)
    widgets.show_figure(_figure(f, "sweep_figure", r.sweep, "shift_sweep", kmax, layer, direction,
                                extra=(f"Prediction under a shift ({direction})", "shift (pixels)")),
                        "augmentation-shift-prediction", container=left)
    widgets.show_figure(_figure(f, "shift_change_figure", r, "shift_sweep", kmax, layer, direction),
                        "augmentation-shift-change", container=right)
    if not f.slide:
        with st.expander("Table of the shift sweep", icon=":material/table:"):
            st.dataframe(pd.DataFrame(txt.shift_table(r)), hide_index=True, width="stretch")
    f.note(txt.shift_note(r.stride))


@register("augmentation.light", "Invariance sweeps: brightness and contrast")
def light(f: Frame) -> None:
    if not f.slide:
        st.caption(txt.SWEEP_INTRO)
    for col, name in zip(st.columns(2), ("brightness", "contrast"), strict=True):
        sw = _compute(f, f"Sweeping {name}…", f"{name}_sweep")
        widgets.show_figure(_figure(f, "sweep_figure", sw, f"{name}_sweep",
                                    extra=(f"{name.capitalize()} factor", f"{name} factor (1 = unchanged)")),
                            f"augmentation-{name}", container=col, slide_height=400)
        widgets.show_image(fa.strip(sw.images), caption=" · ".join(f"{v:g}" for v in sw.values), min_side=60,
                           width="stretch", container=col, download=f"augmentation-{name}-strip")
        if not f.slide:
            with col.expander(f"Table of the {name} sweep", icon=":material/table:"):
                st.dataframe(pd.DataFrame(txt.sweep_table(sw, "factor")), hide_index=True, width="stretch")
    f.note(txt.LIGHT_NOTE)


# ------------------------------------------------------------------------------------ 6 -> 9
@register("augmentation.six-nine", "Label-changing augmentation: a 6 becomes a 9",
          anchors=("label-changing-augmentation-a-6-becomes-a-9",))
def six_nine(f: Frame) -> None:
    m = f.model
    if not ("6" in m.classes and "9" in m.classes):
        st.info(txt.needs_digits(m.name), icon=":material/info:")
        return
    six = load_image(sample_path("digit-6").read_bytes())
    flip = _compute(f, "Rotating the 6…", "rotate_until", "6", "9", angles=range(-180, 181, 5), image=six,
                    image_key="digit-6")
    if not f.slide:
        st.markdown(txt.label_flip_summary(flip, txt.SIX_IMAGE))
    left, right = st.columns([3, 2])
    widgets.show_figure(_figure(f, "label_flip_figure", flip, "rotate_until", "6", "9", image_key="digit-6",
                                angles=range(-180, 181, 5)), "augmentation-six-nine", container=left)
    idx = flip.view_indices()
    right.write("")
    strip = fa.strip(flip.sweep.images[idx], cols=3 if f.slide and len(idx) > 3 else None)
    widgets.show_image(strip, min_side=120, width="stretch", container=right, download="augmentation-six-nine-strip")
    right.markdown(txt.rotation_reading(flip, idx))
    f.note(txt.SIX_NINE_NOTE)


# ------------------------------------------------------------------------------------ scramble
@register("augmentation.scramble", "Scrambled image: the “Picasso problem”", keys=("au_g", "au_sseed"),
          anchors=("scrambled-image-the-picasso-problem",))
def scramble(f: Frame) -> None:
    m = f.model
    if not f.slide:
        st.markdown(txt.SCRAMBLE_INTRO)
    gmax, _ = A.scramble_limits(m)
    s1, s2 = f.controls(2)
    grid = state.slider("Tiles per side", "au_g", 1, gmax, min(3, gmax), container=s1)
    sseed = state.number("Shuffle seed", "au_sseed", 0, 9_999, 0, container=s2)
    sc = _compute(f, "Scrambling…", "scramble_demo", grid, sseed)
    clean_name, ref = sc.clean_class, sc.reference
    a, b, c = st.columns([1, 1, 1.2] if f.slide else [1, 1, 2])
    widgets.show_image(sc.clean, caption=f"clean: {clean_name} ({float(sc.clean_probs[ref]):.0%})", min_side=180,
                       width="stretch", container=a, download="augmentation-clean")
    widgets.show_image(sc.scrambled, caption=f"{grid}×{grid} tiles: {sc.scrambled_class} "
                       f"({float(sc.scrambled_probs.max()):.0%}); "
                       f"P({clean_name}) = {float(sc.scrambled_probs[ref]):.0%}",
                       min_side=180, width="stretch", container=b, download="augmentation-scrambled")
    fig = fa.scramble_figure(sc.sweep)
    if f.slide:  # a title that fits the narrower column
        fig.update_layout(title=f"P({clean_name}) against the number of tiles")
    widgets.show_figure(fig, "augmentation-scramble", container=c)
    margin = txt.scramble_margin(min(m.input_size[1:]), grid)
    if margin and not f.slide:
        st.caption(margin)
    f.note(txt.SCRAMBLE_NOTE)
