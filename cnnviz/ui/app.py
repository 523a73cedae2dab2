"""cnnviz: see inside convolutional neural networks.  Run: streamlit run app.py"""
import streamlit as st

from cnnviz.core.device import apply_thread_policy
from cnnviz.ui import presenter, state
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
# expanded: every page stays in view (collapsed, Streamlit hides all but ten behind "View more")
page = st.navigation(pages, position="sidebar", expanded=True)
presenter.begin(page.url_path)  # ?present=1: presenter view (sidebar toggle, CSS)
sidebar()
page.run()
state.end_run()  # notices as toasts; unknown link parameters dropped (with a notice), stale ones silently
share_link()
