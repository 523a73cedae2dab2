"""The only Streamlit-aware code: views, pages, the sidebar, URL state, widgets, presenter view, decks.

The entry script is the top-level ``app.py``; its pages live in ``pages/``, one file per page named
after its URL path (``pages/receptive-field.py`` serves ``/receptive-field``: Streamlit's first request
on a fresh server looks a page up by file name), each a list of views (``cnnviz.ui.views``).
"""
