"""cnnviz: see inside convolutional neural networks.  Run: streamlit run app.py

The entry: page config, the page navigation (a menu per section in the top bar), the sidebar (model,
image, the link to this view) and the page itself, a list of views (``pages/``, ``cnnviz.ui.page``).
"""
# Plotly's validators import pandas lazily, from whichever thread draws a figure first. On a fresh server a view's
# background job and the script thread did so at once, and one of them got the half-imported module
# ("partially initialized module 'pandas' has no attribute 'Series'"). Imported here, before any view runs.
import pandas  # noqa: F401
import streamlit as st

from cnnviz.core.device import apply_thread_policy
from cnnviz.ui import deck_builder, presenter, state
from cnnviz.ui.nav import sections
from cnnviz.ui.sidebar import share_link, sidebar

try:  # the server-wide thread policy, once per process, before any model runs (the sidebar shows it)
    apply_thread_policy()
except ValueError:  # a malformed CNNVIZ_THREADS / CNNVIZ_REPLICAS: the sidebar's device line says which
    pass
st.set_page_config(page_title="cnnviz", page_icon=":material/blur_on:", layout="wide")

state.begin_run()
pages = {head: [st.Page(str(p.path), title=p.title, icon=p.icon, url_path=p.url_path, default=(p.url_path == ""))
                for p in group] for head, group in sections().items()}
# top: the four sections are menus in the header, so the sidebar starts with the model and the image
page = st.navigation(pages, position="top")
sidebar()  # model and image first
link = st.sidebar.container()  # the link to this view, written once the page has run
presenter.begin(page.url_path)  # ?present=1: presenter view (sidebar toggle, CSS)
page.run()
state.end_run()  # notices as toasts; unknown link parameters dropped (with a notice), stale ones silently
share_link(link)
deck_builder.panel()  # lecture decks: "Add this view to the deck", under the link
