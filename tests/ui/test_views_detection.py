"""The views of /detection: each one alone as a slide, with its chart; the Faster R-CNN view says so plainly when
the bundled digit-detector is not on this machine, and the other views work without it."""
import html

import numpy as np
import pytest

from cnnviz.figures import detection as fd
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


def test_boxes_are_one_line_trace_with_nan_gaps():
    """Each box is its four corners closed, then a NaN (plotly.js breaks a line there, as at a null); pixel edges
    sit half a pixel before a box's first pixel and after its last."""
    fig = fd.canvas_figure(np.zeros((32, 32), np.uint8), [fd.BoxSet(np.array([[2., 3., 10., 12.], [0., 0., 4., 4.]]))])
    xs, ys = np.asarray(fig.data[1].x, float), np.asarray(fig.data[1].y, float)
    np.testing.assert_array_equal(xs[:5], [1.5, 9.5, 9.5, 1.5, 1.5])
    np.testing.assert_array_equal(ys[:5], [2.5, 2.5, 11.5, 11.5, 2.5])
    assert np.isnan(xs[5]) and np.isnan(ys[5]) and np.isnan(xs[11]) and len(xs) == 12
    np.testing.assert_array_equal(xs[6:11], [-0.5, 3.5, 3.5, -0.5, -0.5])
