"""cnnviz: see inside convolutional neural networks.  Run: streamlit run app.py"""
import streamlit as st

from cnnviz.ui import presenter, state
from cnnviz.ui.nav import available_pages
from cnnviz.ui.sidebar import share_link, sidebar

st.set_page_config(page_title="cnnviz", page_icon=":material/blur_on:", layout="wide")

state.begin_run()
pages = [st.Page(str(p.path), title=p.title, icon=p.icon, url_path=p.url_path, default=(p.url_path == ""))
         for p in available_pages()]
page = st.navigation(pages, position="sidebar")
presenter.begin(page.url_path)  # ?present=1: presenter view (sidebar toggle, CSS)
sidebar()
page.run()
state.end_run()  # notices as toasts; unknown link parameters dropped (with a notice), stale ones silently
share_link()
