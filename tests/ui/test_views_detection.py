"""The views of /detection: each one alone as a slide, with its chart; the Faster R-CNN view says so plainly when
the bundled digit-detector is not on this machine, and the other views work without it."""
import html

import pytest

from cnnviz.methods.detection.detector import WEIGHTS
from cnnviz.ui import view
from cnnviz.ui.nav import page_views

from .apptest import open_page, texts

NEEDS_DETECTOR = {"detection.faster"}


@pytest.mark.parametrize("vid", page_views("detection"))
def test_every_view_is_a_slide_with_its_figure(vid):
    at = open_page("detection.py", present="1", view=vid)
    assert not at.exception, [e.value for e in at.exception]
    assert f"cnnviz-slide-title'>{html.escape(view.get(vid).title)}</h2>" in texts(at.markdown)
    if vid in NEEDS_DETECTOR and not WEIGHTS.is_file():
        assert "digit-detector is not on this machine" in texts(at.error)
        return
    assert not at.error, texts(at.error)
    assert len(at.get("plotly_chart")) >= 1, vid


def test_the_page_lists_every_view():
    assert page_views("detection") == ("detection.canvas", "detection.proposals", "detection.rcnn", "detection.nms",
                                       "detection.fast", "detection.faster", "detection.timing")
