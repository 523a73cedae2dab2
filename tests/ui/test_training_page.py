"""The /training page under AppTest: every experiment renders, and a full server says so instead of queueing."""
import threading

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.methods.training_runs import RUNS


def _page(**params) -> AppTest:
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/training.py")
    return at.run()


@pytest.mark.parametrize("mode", ["live", "vanishing", "overfit", "transfer"])
def test_each_experiment_renders(mode):
    at = _page(tr_mode=mode)
    assert not at.exception, [e.value for e in at.exception]
    assert any(b.label == "Start" for b in at.button)
    assert any("Press **Start** to train." in i.value for i in at.info)


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
