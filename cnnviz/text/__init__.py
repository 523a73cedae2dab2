"""Page text: explanations, presets, notes and LaTeX that the views show, one module per page.

Streamlit-free and computation-free: ``methods/`` return data, the views (``ui/views/``) put these words
beside it. Kept apart so a method's module holds only its concept and its numbers.
"""
