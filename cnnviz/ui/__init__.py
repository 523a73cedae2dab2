"""The only Streamlit-aware code: sidebar, image input, URL state, figure helpers."""
