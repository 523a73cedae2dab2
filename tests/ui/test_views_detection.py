"""The views of /detection: each one alone as a slide, with its chart; the Faster R-CNN view says so plainly when
the bundled digit-detector is not on this machine, and the other views work without it."""
import base64
import html
import io

import numpy as np
import pytest
from PIL import Image

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


def test_the_canvas_is_sent_as_a_crisp_png_in_its_own_pixel_coordinates():
    """The image trace carries a PNG enlarged by a whole factor with nearest neighbour; decoded and sampled at
    each canvas pixel's centre it gives back the canvas, and pixel (i, j) is centred on x = j, y = i."""
    canvas = np.random.default_rng(0).integers(0, 256, (40, 64), dtype=np.uint8)
    trace = fd.canvas_figure(canvas, []).data[0]
    png = Image.open(io.BytesIO(base64.b64decode(trace.source.split(",", 1)[1])))
    f = png.size[1] // 40
    assert png.size == (64 * f, 40 * f) and min(png.size) >= 512
    back = np.asarray(png.convert("L"))[f // 2::f, f // 2::f]
    np.testing.assert_array_equal(back, canvas)
    centre_of = lambda k: trace.x0 + (k * f + (f - 1) / 2) * trace.dx  # noqa: E731 (sub-pixels of pixel k)
    assert abs(centre_of(0)) < 1e-9 and abs(centre_of(63) - 63) < 1e-9 and abs(trace.y0 - trace.x0) < 1e-12
