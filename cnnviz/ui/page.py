"""A page: a title, a short introduction and an ordered list of views.

Each file in ``pages/`` declares one ``Page`` and shows it when Streamlit runs the file::

    PAGE = Page("activations", intro="Every convolutional layer ...",
                views=("activations.predictions", "activations.channels", ...))

    if __name__ == "__main__":
        PAGE.show()

Importing the file (the deck player, the tests) gives the declaration without drawing anything.

``?view=<id>`` on a page shows that one view; with ``?present=1`` it is a slide (``view.draw_slide``).
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field

import streamlit as st

from cnnviz.ui import presenter, state, view
from cnnviz.ui.nav import PAGES, PageSpec


@dataclass(frozen=True)
class Page:
    """One page of the app.

    Attributes:
        path: its URL path (``""`` for Home), the row of ``nav.PAGES`` that gives its title and icon.
        intro: one paragraph on the concept (Markdown).
        views: the ids of its views, top to bottom.
        heading: the page's title on the page, when it differs from its name in the navigation.
    """

    path: str
    intro: str = ""
    views: tuple[str, ...] = field(default_factory=tuple)
    heading: str = ""

    @property
    def spec(self) -> PageSpec:
        return next(p for p in PAGES if p.url_path == self.path)

    def show(self) -> None:
        """Draw the page (or the one view ``?view=`` names)."""
        from cnnviz.ui import widgets

        if legacy_lookup():
            return
        from cnnviz.ui.sidebar import current

        ctx = current()
        one = state.get_param("view", "", str, valid=lambda v: v in self.views)
        if one and presenter.is_on():
            view.draw_slide(one)
            return
        if one:
            view.begin_page([one])
            st.page_link(str(self.spec.path), label=f"{self.spec.title}: every view", icon=":material/arrow_back:")
            view.run_view(one)
            return
        st.title(self.heading or self.spec.title)
        if self.intro:
            st.markdown(self.intro)
        widgets.untrained_badge(ctx.model)
        view.begin_page(self.views)
        for vid in self.views:
            view.run_view(vid)


def legacy_lookup() -> bool:
    """On a fresh server, Streamlit looks the first request's page up in ``pages/`` by file name and runs
    that file instead of ``app.py`` (its v1 multipage mode, kept until some run calls ``st.navigation``).
    Then the page file runs the app's entry itself: ``app.py`` calls ``st.navigation``, which ends that
    mode for the whole server, and runs this page again in its shell. Returns whether it did."""
    from streamlit.runtime.pages_manager import PagesManager

    if not PagesManager.uses_pages_directory:
        return False
    from cnnviz.core.paths import APP_SCRIPT

    code = compile(APP_SCRIPT.read_text(encoding="utf-8"), str(APP_SCRIPT), "exec")
    module = types.ModuleType("__main__")
    module.__dict__["__file__"] = str(APP_SCRIPT)
    exec(code, module.__dict__)  # noqa: S102 - the app's own entry, as Streamlit runs it
    return True
