"""The views of /why-convolutions: each one alone as a slide, with its figure. The four that train networks run
in the page's job table; here that table is given small finished results under the views' default settings
first (so the slide draws the real chart, not the waiting one), and every job still running is stopped after
each test."""
import html
import json
import time

import pytest

from cnnviz.figures import why_conv as fw
from cnnviz.methods import decks
from cnnviz.methods import why_conv as wc
from cnnviz.ui import background, slides, view
from cnnviz.ui.nav import page_views
from cnnviz.ui.views import why_convolutions as views

from .apptest import chart_titles, open_page, texts

TRAINED = {  # view -> (its job key under the default settings, a small result of the same kind, its chart's title)
    "why-convolutions.permuted": (
        ("permuted", 1000, 10, 0), lambda: wc.permuted_experiment(100, 200, 1), "Permuted pixels"),
    "why-convolutions.handcrafted": (
        ("handcrafted", "hog", wc.SMALL_SIZES), lambda: wc.handcrafted_curve("hog", (20, 40), 100, cnn_steps=1),
        "Handcrafted features vs learned ones"),
    "why-convolutions.degradation": (
        ("degradation", 5), lambda: wc.degradation_sweep((1, 2), n_train=50, epochs=1, n_test=100),
        "The same budget for every depth"),
    "why-convolutions.random-labels": (
        ("random-labels", "mlp", 300, 30), lambda: wc.label_curves("mlp", 100, 100, 3), "Random labels"),
}


@pytest.fixture(autouse=True)
def _stop_jobs():
    yield
    background.job_table(views.PAGE).stop_all()


_chart_titles = chart_titles


def test_the_page_lists_eight_views():
    assert len(page_views("why-convolutions")) == 8
    assert all(view.get(v) is not None for v in page_views("why-convolutions"))


@pytest.mark.parametrize("vid", page_views("why-convolutions"))
def test_every_view_is_a_slide_with_its_figure(vid):
    if vid in TRAINED:
        key, small, _ = TRAINED[vid]
        background.job_table(views.PAGE).start(key, lambda progress, stop: small(), again=True).wait(120)
    at = open_page("why-convolutions.py", present="1", view=vid)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)
    assert f"cnnviz-slide-title'>{html.escape(view.get(vid).title)}</h2>" in texts(at.markdown)
    assert len(at.get("plotly_chart")) >= 1, vid
    if vid in TRAINED:  # the finished result's chart, not the waiting one
        assert any(t.startswith(TRAINED[vid][2]) for t in _chart_titles(at)), _chart_titles(at)
    assert not at.title and not at.header


def test_a_training_view_waits_with_progress_and_stop():
    at = open_page("why-convolutions.py", present="1", view="why-convolutions.random-labels", wc_rn="100",
                   wc_rep="15")
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    job = background.job_table(views.PAGE).get(("random-labels", "mlp", 100, 15))
    assert job is not None  # started by the view itself, no click needed
    job.stop()
    job.wait(30)
    assert job.status in ("stopped", "done")


def test_a_running_experiment_draws_its_partial_chart():
    """While the job runs, the chart of its latest partial result is drawn (not the empty waiting axes)."""
    partial = wc.label_curves("mlp", 100, 100, 2)

    def work(progress, stop):
        progress(0.5, "random labels, epoch 1", partial=partial)
        stop.wait(30)
        return partial

    job = background.job_table(views.PAGE).start(("random-labels", "mlp", 100, 15), work, again=True)
    at = open_page("why-convolutions.py", present="1", view="why-convolutions.random-labels", wc_rn="100",
                   wc_rep="15")
    assert job.running
    assert not at.exception and not at.error
    assert _chart_titles(at) == [fw.labels_figure(partial).layout.title.text]
    assert any("random labels, epoch 1" in str(p.proto.text) for p in at.get("progress"))
    # on the slide, the chart leaves room for the progress row above it (drawn in the poll fragment, which
    # must know it is on a slide: else presenter view would grow it 1.5x, off the 720 px screen)
    heights = [json.loads(c.proto.spec)["layout"]["height"] for c in at.get("plotly_chart")]
    assert heights == [view.SLIDE_FIGURE_PX - views.PROGRESS_PX]
    job.stop()


def test_a_custom_input_size_in_the_link():
    at = open_page("why-convolutions.py", view="why-convolutions.params", wc_in="custom", wc_h="256", wc_w="256",
                   wc_c="3", wc_units="1")
    assert not at.exception
    assert "196,608" in texts(at.caption)


def _seeded(keys) -> background.JobTable:
    """The page's job table with a small finished result under each of ``keys`` (no real training runs)."""
    table = background.job_table(views.PAGE)
    for key in keys:
        small = next(s for k, s, _ in TRAINED.values() if k[0] == key[0])
        table.start(key, lambda progress, stop, small=small: small(), again=True).wait(120)
    return table


def test_a_deck_warms_up_the_experiments_of_its_later_slides_then_its_earlier_ones():
    """On slide 3 of the bundled deck, its own experiment is waited for, then the training slides after it (7, 8)
    are started, then the one before it (2), under the keys the views themselves start when drawn with those
    settings (TRAINED, written out by hand)."""
    deck = decks.load_bundled("why-convolutions")
    assert [s.view for s in deck.slides].index("why-convolutions.handcrafted") == 2  # slide 3
    table = _seeded([key for key, _, _ in TRAINED.values()])
    seeded = {key: table.get(key) for key, _, _ in TRAINED.values()}
    chain = slides.warm_up(deck, 3)
    assert [v.id for v, _ in chain.todo] == ["why-convolutions.handcrafted", "why-convolutions.degradation",
                                             "why-convolutions.random-labels", "why-convolutions.permuted"]
    chain.thread.join(30)
    assert not chain.thread.is_alive()
    # found, not started again: every job is still the finished one seeded above
    assert all(table.get(key) is job and job.status == "done" for key, job in seeded.items())


def test_a_warmed_up_slide_runs_its_links_settings_and_a_broken_slide_is_skipped():
    deck = decks.Deck("test", (
        decks.Slide("Dense layers", "/why-convolutions", view="why-convolutions.params"),
        decks.Slide("Gone", "/why-convolutions", view="why-convolutions.no-such-view"),
        decks.Slide("Random labels", "/why-convolutions?wc_rn=100&wc_rep=15&wc_rnet=lenet5",
                    view="why-convolutions.random-labels")))
    table = background.job_table(views.PAGE)
    assert table.get(("random-labels", "lenet5", 100, 15)) is None
    chain = slides.warm_up(deck, 1)
    assert [v.id for v, _ in chain.todo] == ["why-convolutions.random-labels"]
    job = _started(table, ("random-labels", "lenet5", 100, 15))
    job.stop()
    chain.thread.join(30)
    assert job.status in ("stopped", "done") and not chain.thread.is_alive()


def test_a_later_warm_up_of_the_same_deck_replaces_the_running_one():
    deck = decks.load_bundled("why-convolutions")
    first = slides.warm_up(deck, 1)
    second = slides.warm_up(deck, 2)
    assert first.quit.is_set() and not second.quit.is_set()
    slides.stop_warm_ups()
    assert second.quit.is_set()
    first.thread.join(30)
    second.thread.join(30)
    assert not first.thread.is_alive() and not second.thread.is_alive()


def _started(table: background.JobTable, key, timeout: float = 30.0) -> background.Job:
    """The job under ``key`` once a warm-up's thread has started it."""
    deadline = time.monotonic() + timeout
    while table.get(key) is None:
        assert time.monotonic() < deadline, f"no job {key} after {timeout} s"
        time.sleep(0.05)
    return table.get(key)


def test_the_player_on_slide_one_starts_every_training_slides_experiment():
    """Slide 1 (parameters) trains nothing itself; the player starts slide 8's experiment (the only one not
    already on this server), finds the other three, and starts nothing under any other key."""
    labels = TRAINED["why-convolutions.random-labels"][0]
    table = _seeded([key for key, _, _ in TRAINED.values() if key != labels])
    table._jobs.pop(labels, None)
    before = {key: table.get(key) for key, _, _ in TRAINED.values() if key != labels}
    known = set(table._jobs)
    at = open_page("deck.py", deck="why-convolutions", slide="1")
    assert not at.exception and not at.error
    assert _started(table, labels).status in ("queued", "running", "done")
    assert all(table.get(key) is job for key, job in before.items())
    assert set(table._jobs) == known | {labels}, set(table._jobs) - known
