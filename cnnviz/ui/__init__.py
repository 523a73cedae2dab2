"""The only Streamlit-aware code: the app entry, its pages, sidebar, URL state and widgets.

The entry script is ``cnnviz/ui/app.py``; its pages live in ``cnnviz/ui/app_pages/`` (not a
``pages/`` folder beside the entry, which would put Streamlit in its legacy multipage mode
and break deep links on a fresh server).
"""
