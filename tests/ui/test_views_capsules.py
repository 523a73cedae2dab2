"""The views of /capsules, each alone as a slide, and the pages that read capsnet-mnist like any other model."""
import html

import pytest

from cnnviz.ui import view
from cnnviz.ui.nav import page_views

from .apptest import open_page, texts


@pytest.mark.parametrize("vid", page_views("capsules"))
def test_every_view_is_a_slide_with_its_figure(vid):
    at = open_page("capsules.py", present="1", view=vid)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)
    assert f"cnnviz-slide-title'>{html.escape(view.get(vid).title)}</h2>" in texts(at.markdown)
    assert len(at.get("plotly_chart")) >= 1, vid


def test_the_page_lists_its_six_views():
    assert page_views("capsules") == ("capsules.squash", "capsules.routing", "capsules.lengths",
                                      "capsules.dimensions", "capsules.robustness", "capsules.pooling")


def test_a_moved_dimension_is_read_from_the_link():
    at = open_page("capsules.py", present="1", view="capsules.dimensions", cp_d3="0.25")
    assert not at.exception, [e.value for e in at.exception]
    assert "dim 3 +0.25" in str(at.get("plotly_chart")[0].proto.spec)


@pytest.mark.parametrize("page", ["activations", "attribution"])
def test_capsnet_opens_on_the_other_pages(page):
    at = open_page(f"{page}.py", model="capsnet-mnist")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)


def test_the_robustness_view_drawn_again_takes_its_measurements_from_the_cache():
    """The second draw (another slide, another session) reads the server-wide result; a progress bar drawn by a
    cached function would fail to replay there (seen in the browser: CacheReplayClosureError)."""
    at = open_page("capsules.py", present="1", view="capsules.robustness")
    assert not at.exception
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) >= 1
