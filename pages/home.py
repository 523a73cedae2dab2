"""Home: what cnnviz is, the loaded model's card, links into every page."""
import streamlit as st

from cnnviz.figures.common import bar_predictions
from cnnviz.methods.architecture import model_card_rows
from cnnviz.ui import widgets
from cnnviz.ui.nav import available_pages
from cnnviz.ui.sidebar import current

ctx = current()
m = ctx.model
st.title("cnnviz: see inside a convolutional network")
st.markdown(
    "A convolutional network turns an image into a prediction through a stack of filters. "
    "cnnviz opens every step of that stack: the arithmetic of a convolution, the filters the "
    "network learned, what each layer does to *your* image, which pixels decide the answer, "
    "what excites a neuron, and how the learned features organise a data set. Pick a model and "
    "an image in the sidebar; every page works on them, and every view has a link you can share."
)

st.header("Loaded model", divider="gray")
left, right = st.columns([3, 2])
with left:
    st.markdown("\n".join(f"- **{k}:** {v}" for k, v in model_card_rows(m).items()))
    if not m.trained and "weight_status" in m.card:
        st.warning(m.card["weight_status"])
with right:
    widgets.show_image(m.deprocess(m.preprocess(ctx.image)), caption=f"Input: {ctx.image_label}", min_side=200,
                       width=220, download="home-input")
    widgets.show_figure(bar_predictions(m.predict(ctx.image, k=5)), "home-predictions")

st.header("Pages", divider="gray")
cols = st.columns(3)
for i, p in enumerate(p for p in available_pages() if p.url_path):
    with cols[i % 3].container(border=True):
        st.page_link(str(p.path), label=p.title, icon=p.icon)
        st.caption(p.blurb)
