"""Views: the registry, and a control inside one view reruns that view alone (Streamlit AppTest)."""
import dataclasses
import subprocess
import sys
from collections import Counter
from unittest import mock

import pytest
from streamlit.runtime.scriptrunner import RerunData
from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState
from streamlit.testing.v1 import AppTest, local_script_runner

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.ui import view
from cnnviz.ui.nav import available_pages, declared


def test_every_page_of_views_lists_registered_views_of_its_own():
    views = view.all_views()
    for spec in available_pages():
        page = declared(spec.url_path)
        if page is None:
            continue
        assert page.views, spec.url_path
        for vid in page.views:
            assert vid in views, f"{spec.file} lists {vid!r}, which is not registered"
            assert views[vid].page == spec.url_path, f"{vid} is listed on /{spec.url_path}"
        assert len(set(page.views)) == len(page.views)


def test_registry_rejects_bad_and_duplicate_ids():
    with pytest.raises(ValueError):
        view.register("Activations channels", "x")
    view.all_views()
    with pytest.raises(ValueError):
        view.register("activations.channels", "again")(lambda f: None)


def test_a_view_is_found_by_importing_its_page_alone():
    """A fresh server's first request imports the views of the page it shows, not every page's (their imports
    cost seconds); the ids of every page map to their modules, so a deck's view ids all resolve."""
    code = ("import sys; from cnnviz.ui import view; v = view.get('receptive-field.unit'); "
            "print(v.id, sorted(m for m in sys.modules if m.startswith('cnnviz.ui.views.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "receptive-field.unit"
    assert " ".join(out[1:]) == "['cnnviz.ui.views.receptive_field']"
    for vid, v in view.all_views().items():
        assert view.get(vid) is v and v.draw.__module__.endswith(vid.split(".")[0].replace("-", "_"))
    assert view.get("nopage.view") is None and view.get("kernels.nothing") is None


def test_view_keys_are_owned_once_per_page():
    views = view.all_views()
    for spec in available_pages():
        page = declared(spec.url_path)
        owned = Counter(k for vid in (page.views if page else ()) for k in views[vid].keys)
        assert [k for k, n in owned.items() if n > 1] == [], spec.url_path


class _Recorder:
    """Wraps every view's draw: counts its runs and notes the fragment it runs in."""

    def __init__(self):
        self.runs: Counter = Counter()
        self.fragment: dict[str, str] = {}

    def wrap(self, v: view.View) -> view.View:
        def draw(frame, _inner=v.draw, _id=v.id):
            self.runs[_id] += 1
            self.fragment[_id] = ThreadState.get().fragment_id
            return _inner(frame)

        return dataclasses.replace(v, draw=draw)


def _fragment_rerun(at: AppTest, fragment_id: str) -> None:
    """Rerun ``at`` as the browser does after a widget change inside a fragment: only that fragment.

    AppTest has no fragment reruns of its own: every run it starts is a full run. Its script runner is
    given the rerun requests the browser would send (``fragment_id`` set)."""
    def rerun_data(**kw):
        return RerunData(**kw, fragment_id=fragment_id)

    with mock.patch.object(local_script_runner, "RerunData", rerun_data):
        at.run()


def _recorded(monkeypatch, page_file: str) -> tuple[_Recorder, AppTest]:
    """The app opened on ``page_file`` with every view's runs counted."""
    rec = _Recorder()
    for vid, v in list(view.all_views().items()):
        monkeypatch.setitem(view.VIEWS, vid, rec.wrap(v))
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=240).run()
    at.switch_page(page_file).run()
    assert not at.exception
    return rec, at


def test_a_control_inside_one_view_reruns_that_view_alone(monkeypatch):
    rec, at = _recorded(monkeypatch, "pages/activations.py")
    page = declared("activations").views
    assert all(rec.runs[v] == 1 for v in page), rec.runs
    before = Counter(rec.runs)

    # the depth strip's slider: only the depth view runs again, and its figure follows the new value
    with mock.patch("cnnviz.figures.activations.render_channel_grid") as grid_figure:
        at.slider(key="qp:ac_sk").set_value(2)
        _fragment_rerun(at, rec.fragment["activations.depth"])
    assert not at.exception
    assert rec.runs["activations.depth"] == before["activations.depth"] + 1
    assert {v: rec.runs[v] - before[v] for v in page if v != "activations.depth"} == {
        v: 0 for v in page if v != "activations.depth"}
    grid_figure.assert_not_called()  # the channel grid's figure was not drawn again
    assert at.query_params.get("ac_sk") in ("2", ["2"])
    assert any("2 strongest channel(s)" in c.value for c in at.caption)


def test_a_control_another_view_reads_reruns_the_page(monkeypatch):
    rec, at = _recorded(monkeypatch, "pages/activations.py")
    before = Counter(rec.runs)
    # the layer picked in the channel grid is read by "one channel" and "compare": the page reruns
    layers = at.selectbox(key="qp:ac_layer").options
    at.selectbox(key="qp:ac_layer").select_index(len(layers) - 1)
    _fragment_rerun(at, rec.fragment["activations.channels"])
    assert not at.exception
    for v in ("activations.channel", "activations.compare", "activations.predictions"):
        assert rec.runs[v] == before[v] + 1, (v, rec.runs)


def test_network_thumbnails_rerun_the_graph_alone_and_a_node_pick_the_page(monkeypatch):
    """The node and unit views read the graph view's node, detail and folding, not its thumbnail count."""
    rec, at = _recorded(monkeypatch, "pages/network.py")
    page = declared("network").views
    before = Counter(rec.runs)
    at.slider(key="qp:nw_k").set_value(3)
    _fragment_rerun(at, rec.fragment["network.graph"])
    assert not at.exception
    assert {v: rec.runs[v] - before[v] for v in page} == {v: int(v == "network.graph") for v in page}
    assert at.query_params.get("nw_k") in ("3", ["3"])

    before = Counter(rec.runs)
    nodes = at.selectbox(key="qp:nw_node").options
    at.selectbox(key="qp:nw_node").select_index(len(nodes) - 2)
    _fragment_rerun(at, rec.fragment["network.graph"])
    assert not at.exception
    assert all(rec.runs[v] == before[v] + 1 for v in page), rec.runs
