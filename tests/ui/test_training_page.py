"""The /training views under AppTest: every experiment renders with a figure before any run, a full server
says so instead of queueing, and a finished run of this server is shown to a new session at once."""
import threading

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.methods.training_runs import RUNS

VIEWS = ["training.live", "training.vanishing", "training.overfitting", "training.transfer"]


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))  # no transfer curve cached by an earlier run


def _page(**params) -> AppTest:
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=120).run()
    at.switch_page("pages/training.py")
    for k, v in params.items():  # after the switch (a page switch clears the query string)
        at.query_params[k] = v
    return at.run()


@pytest.mark.parametrize("view", VIEWS)
def test_each_experiment_renders(view):
    at = _page(view=view)
    assert not at.exception, [e.value for e in at.exception]
    assert any(b.label == "Start" for b in at.button)
    assert any("Press **Start** to train." in i.value for i in at.info)
    # a figure of what will appear, before any run (the view is never a bare button)
    assert len(at.main.get("plotly_chart")) >= 1
    assert len(at.main.get("image")) >= 1 or view == "training.vanishing"
    assert sum(b.label == "Start" for b in at.button) == 1  # the one view the link names


def test_vanishing_view_shows_the_fresh_networks_gradients():
    at = _page(view="training.vanishing")
    ratios = next(c.value for c in at.caption if "first/last layer gradient" in c.value)
    assert "plain sigmoid" in ratios and "e-1" in ratios  # 10⁻¹⁸-ish before any training step


def test_old_experiment_links_open_the_page_quietly():
    at = _page(tr_mode="vanishing")
    assert not at.exception, [e.value for e in at.exception]
    assert sum(b.label == "Start" for b in at.button) == 4  # every experiment is on the page
    assert not any("tr_mode" in t.value for t in at.toast)
    assert "tr_mode" not in at.query_params


def test_full_server_gives_a_clear_message(monkeypatch):
    monkeypatch.setenv("CNNVIZ_MAX_TRAINING_RUNS", "1")
    release = threading.Event()
    blocker = RUNS.start("train", "another session's run", lambda run, stop: release.wait(60))
    try:
        at = _page()
        next(b for b in at.button if b.label == "Start").click()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("the limit is 1" in e.value and "CNNVIZ_MAX_TRAINING_RUNS" in e.value for e in at.error)
    finally:
        release.set()
        blocker.wait(10)


def test_a_finished_run_is_shown_to_the_next_session_at_once():
    settings = dict(view="training.live", tr_n="100", tr_ep="1", tr_bs="64", tr_seed="7")
    at = _page(**settings)
    next(b for b in at.button if b.label == "Start").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    run = RUNS.get(at.session_state["_training_runs"]["live"])
    assert run is not None and run.wait(120) and run.status == "done"
    fresh = _page(**settings)  # another session, the same settings: the run's curves without a click
    assert not fresh.exception, [e.value for e in fresh.exception]
    assert any("**Finished**" in c.value for c in fresh.caption)
    assert not any("Press **Start** to train." in i.value for i in fresh.info)
    assert any(m.label == "Test accuracy" for m in fresh.metric)
    assert not any(b.label == "Stop" for b in fresh.button)  # not this session's run: it cannot stop it
    other = _page(**dict(settings, tr_seed="8"))  # other settings: the preview again
    assert any("Press **Start** to train." in i.value for i in other.info)
