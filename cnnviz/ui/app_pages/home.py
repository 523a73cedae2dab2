"""Home: what cnnviz is, the loaded model's card, links into every page."""
import streamlit as st

from cnnviz.figures.common import bar_predictions
from cnnviz.ui.widgets import show_image
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
    card = m.card
    acc = card.get("test_accuracy")
    rows = {
        "Model": m.title,
        "Architecture": m.architecture,
        "Parameters": f"{m.num_parameters:,}",
        "Input": f"{m.input_size[0]}×{m.input_size[1]}×{m.input_size[2]} ({'grayscale' if m.grayscale else 'RGB'})",
        "Trained on": card.get("data", "—") + (f" ({card['train_images']:,} images, {card['epochs']} epochs)" if "train_images" in card else ""),
        "Test accuracy": (f"{acc:.2%}" + (f" on {card['test_images']:,} bundled test images" if "test_images" in card else " (ImageNet top-1, from torchvision)")) if acc else "— (untrained or unknown)",
        "Classes": f"{len(m.classes)}: " + ", ".join(m.classes[:10]) + (" …" if len(m.classes) > 10 else ""),
        "Device": m.device_description,
        "Weights": "random (untrained)" if not m.trained else ("bundled, trained by cnnviz" if m.source == "bundled" else "loaded from file"),
    }
    if "command" in card:
        rows["Reproduce"] = f"`{card['command']}`"
    st.markdown("\n".join(f"- **{k}:** {v}" for k, v in rows.items()))
    if not m.trained and "weight_status" in card:
        st.warning(card["weight_status"])
with right:
    show_image(m.deprocess(m.preprocess(ctx.image)), caption=f"Input: {ctx.image_label}", min_side=200, width=220)
    st.plotly_chart(bar_predictions(m.predict(ctx.image, k=5)), width="stretch")

st.header("Pages", divider="gray")
cols = st.columns(3)
for i, p in enumerate(p for p in available_pages() if p.url_path):
    with cols[i % 3].container(border=True):
        st.page_link(str(p.path), label=p.title, icon=p.icon)
        st.caption(p.blurb)
