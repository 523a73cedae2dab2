"""The views of /receptive-field: each one alone as a slide, the layer read from the first view, the ladder of
fields the last view draws."""
import html

import pytest

import cnnviz
from cnnviz.methods.receptive_field import receptive_fields
from cnnviz.ui import view
from cnnviz.ui.nav import page_views
from cnnviz.ui.views.receptive_field import _ladder

from .apptest import chart_titles, open_page, texts

_open = open_page


_texts = texts


_chart_titles = chart_titles


@pytest.mark.parametrize("vid", page_views("receptive-field"))
def test_every_view_is_a_slide_with_its_figure(vid):
    at = _open("receptive-field.py", present="1", view=vid)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, _texts(at.error)
    assert f"cnnviz-slide-title'>{html.escape(view.get(vid).title)}</h2>" in _texts(at.markdown)
    assert len(at.get("plotly_chart")) >= 1, vid  # every view has a chart, the recurrence and "why" included
    assert not at.title and not at.header


def test_a_slide_of_one_unit_reads_the_layer_from_its_link():
    at = _open("receptive-field.py", present="1", view="receptive-field.unit", rf_layer="features.0", rf_row="0",
               rf_col="0")
    assert not at.exception
    assert "Field of unit (0, 0) of features.0" in _chart_titles(at)
    assert at.query_params.get("rf_layer") in ("features.0", ["features.0"])  # kept in the slide's link


def test_ladder_has_growing_fields_up_to_the_chosen_layer():
    fields = receptive_fields(cnnviz.load_model("lenet5-mnist"))
    assert [f.name for f in _ladder(fields, "features.3")] == ["features.0", "features.2", "features.3"]
    assert [f.name for f in _ladder(fields, "features.4")][-1] == "features.4"  # same field as features.3: renamed
    sizes = [f.size[0] for f in _ladder(fields, "features.5")]
    assert sizes == sorted(set(sizes))
