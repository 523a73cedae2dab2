"""Views of Home: the loaded model (its card, the input, the predictions) and the links into every page."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnviz.figures.common import bar_predictions
from cnnviz.methods.architecture import model_card_rows
from cnnviz.ui import widgets
from cnnviz.ui.nav import available_pages
from cnnviz.ui.view import Frame, register

SLIDE_CARD = ("Model", "Parameters", "Input", "Test accuracy")  # the card's rows a slide keeps, in one line


@register("home.model", "Loaded model", anchors=("loaded-model",))
def model(f: Frame) -> None:
    ctx, m = f.ctx, f.model
    rows = model_card_rows(m)
    seen = ctx.seen()
    preds = bar_predictions(m.predict(ctx.image, k=5))
    if f.slide:  # the card in one line; the input and the predictions as large as the screen allows
        st.markdown(" · ".join(f"**{k}:** {rows[k]}" for k in SLIDE_CARD if k in rows))
        left, right = st.columns([1, 1])
        widgets.show_image(seen, caption=f"Input: {ctx.image_label}", container=left, width="stretch",
                           download="home-input")
        widgets.show_figure(preds, "home-predictions", container=right, slide_height=f.figure_height - 50)
    else:
        left, right = st.columns([3, 2])
        with left:
            st.markdown("\n".join(f"- **{k}:** {v}" for k, v in rows.items()))
            if not m.trained and "weight_status" in m.card:
                st.warning(m.card["weight_status"])
        with right:
            widgets.show_image(seen, caption=f"Input: {ctx.image_label}", min_side=200, width=220,
                               download="home-input")
            widgets.show_figure(preds, "home-predictions")
    f.note("- Every page works on this model and this image: change them in the sidebar.\n"
           "- Each view has a link you can share; *Lecture deck* in the sidebar collects views into a lecture.")


@register("home.pages", "Pages", anchors=("pages",))
def pages(f: Frame) -> None:
    listed = [p for p in available_pages() if p.url_path]
    if f.slide:  # a table of contents: one row per page, its link, what it shows
        table = pd.DataFrame({"section": [p.section for p in listed],
                              "page": [f"/{p.url_path}#{p.title}" for p in listed],
                              "what it shows": [p.blurb for p in listed]})
        st.dataframe(table, hide_index=True, width="stretch", height=f.figure_height, column_config={
            "page": st.column_config.LinkColumn("page", display_text=r"#(.*)$", width="medium"),
            "what it shows": st.column_config.TextColumn(width="large")})
        return
    cols = st.columns(3)
    for i, p in enumerate(listed):
        with cols[i % 3].container(border=True):
            st.page_link(str(p.path), label=p.title, icon=p.icon)
            st.caption(p.blurb)
