"""The only Streamlit-aware code: sidebar, image input, URL state, figure helpers."""


def _leave_legacy_pages_mode() -> None:
    """Make a deep link to a page work on a fresh server.

    Streamlit starts in its old multipage mode when a ``pages/`` folder sits beside the main
    script, and then runs ``pages/<x>.py`` alone (no sidebar, no navigation) for the first
    session that opens ``/<x>`` directly, until some run of app.py calls ``st.navigation``.
    The first import of this package inside a script run switches that mode off and reruns,
    so app.py runs and routes to the requested page.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - other Streamlit layouts
        return
    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        import streamlit as st

        st.rerun()


_leave_legacy_pages_mode()
