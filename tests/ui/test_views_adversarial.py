"""/adversarial as views: the deck's links land on the right view, the batch views measure in the background
(server-wide jobs with a Stop that acts at once), and the digit-only view says so for other models."""
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.errors import CnnvizError
from cnnviz.methods.decks import load_bundled
from cnnviz.ui.background import JobTable
from cnnviz.ui.slides import view_of


def _page(**params) -> AppTest:
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=180)
    for k in ("model", "img"):  # the sidebar's keys, read on the first run
        if k in params:
            at.query_params[k] = params[k]
    at.run()
    at.switch_page("pages/adversarial.py")
    for k, v in params.items():  # after the switch (a page switch clears the query string)
        at.query_params[k] = v
    return at.run()


def test_the_decks_adversarial_slides_open_their_views():
    found = {s.title: view_of(s) for s in load_bundled("limits-of-cnns").slides if s.path == "adversarial"}
    assert found == {"Adversarial examples: an invisible change flips the answer": "adversarial.attack",
                     "Robustness by training": "adversarial.robust"}


def test_job_table_shares_stops_and_restarts():
    jobs = JobTable()
    started = threading.Event()

    def work(progress, stop):
        started.set()
        for i in range(200):
            if stop.is_set():
                return i
            progress(i / 200, f"step {i}")
            time.sleep(0.01)
        return 200

    job = jobs.start("k", work)
    assert jobs.start("k", work) is job  # the same key: the running job, shared
    assert started.wait(10)
    job.stop()
    assert job.wait(10) and job.status == "stopped" and job.result < 200
    assert jobs.start("k", work) is job  # kept, stopped, until asked again
    again = jobs.start("k", job.work, again=True)
    assert again is not job and again.wait(30) and again.status == "done" and again.result == 200


def test_job_table_keeps_a_domain_error_for_the_view():
    def fails(progress, stop):
        raise CnnvizError("no gradient through this model")

    job = JobTable().start("bad", fails)
    assert job.wait(10) and job.status == "failed" and "no gradient" in str(job.error)


def test_robustness_view_measures_both_lenets_without_a_click():
    at = _page(model="lenet5-mnist", img="digit-6", view="adversarial.robust", ad_bn="100", ad_e="0.2")
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.main.get("image")) == 2  # the two filter grids
    assert any("--adversarial" in m.value for m in at.markdown)
    deadline = time.time() + 120
    while time.time() < deadline:
        at.run()
        charts = at.main.get("plotly_chart")
        if charts and "lenet5-mnist-robust" in charts[0].proto.spec:
            break
        time.sleep(1)
    else:
        pytest.fail("the robust curve did not appear")
    assert not at.button or not any(b.label == "Stop" for b in at.button)


def test_robustness_view_is_for_digit_models():
    at = _page(model="small-vgg-fashion", img="fashion-sneaker", view="adversarial.robust")
    assert not at.exception, [e.value for e in at.exception]
    assert any("is not a digit model" in i.value for i in at.info)


def test_a_measurement_stopped_before_it_measured_anything_says_so():
    """A job stopped while it waited for a free slot has no result: the view says so and offers to measure again
    (it used to hand None to the chart and fail with "'NoneType' object has no attribute 'epsilons'")."""
    def script():
        from cnnviz.ui.background import JobTable
        from cnnviz.ui.views import adversarial

        job = JobTable().start("k", lambda progress, stop: stop.wait(30) and None)
        job.stop()
        job.wait(30)
        adversarial._follow_jobs("t", [job], "measuring", lambda results: results[0].epsilons)

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Stopped before anything was measured." in [c.value for c in at.caption]
    assert [b.label for b in at.button] == ["Measure again"]
