"""The views of /kernels: each one alone as a slide, and the layer picked in one view read by the others."""
import html

import pytest

from cnnviz.ui import view
from cnnviz.ui.nav import page_views

from .apptest import open_page, texts

_open = open_page


_texts = texts


@pytest.mark.parametrize("vid", page_views("kernels"))
def test_every_view_is_a_slide_with_its_figure(vid):
    at = _open("kernels.py", present="1", view=vid)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, _texts(at.error)
    assert f"cnnviz-slide-title'>{html.escape(view.get(vid).title)}</h2>" in _texts(at.markdown)
    figures = sum(len(at.main.get(kind)) for kind in ("plotly_chart", "image", "arrow_data_frame"))
    assert figures >= 1, vid
    # only this view is drawn: no other view's heading, no page title
    assert not at.title and not at.header


def test_the_layer_picked_for_the_learned_filters_is_read_below():
    at = _open("kernels.py")
    assert any("one scale for its 1 channel." in c.value for c in at.caption)  # features.0: one input channel
    at.selectbox(key="qp:kn_layer").set_value("features.3").run()
    assert not at.exception
    assert any("one scale for its 6 channels." in c.value for c in at.caption)  # the one-filter view followed
    assert at.query_params.get("kn_layer") in ("features.3", ["features.3"])
