"""/maximal as views: old deck links land on their views, background jobs, synthesis without a click (AppTest)."""
import threading
import time

from streamlit.testing.v1 import AppTest

from cnnviz.methods.decks import load_bundled
from cnnviz.ui import view
from cnnviz.ui.background import JobTable
from cnnviz.ui.views import maximal as vm

from .apptest import open_link

SLIDE = "/maximal?present=1&view={}&model=small-vgg-fashion&img=fashion-ankle-boot&mx_layer=features.10&mx_ch=5"


def _app(link: str) -> AppTest:
    return open_link(link, timeout=240)


def test_old_deck_links_open_their_views():
    deck = load_bundled("what-a-cnn-learns")
    views = {s.title: view.view_for_link(s.path, s.anchor, s.params) for s in deck.slides if s.path == "maximal"}
    assert views == {"Maximally activating patches": "maximal.examples",
                     "Synthesized images: gradient ascent": "maximal.synthesis"}


def test_jobs_run_once_per_key_and_cache_only_complete_results():
    """The page's jobs live in the server's job table (cnnviz.ui.background), as /adversarial's and /training's do."""
    jobs = JobTable()
    go = threading.Event()

    def work(progress, stop):
        go.wait(10)
        return 42

    a = jobs.start("k", work, owner="me")
    assert jobs.start("k", work, owner="you") is a and a.running  # the same key is not computed twice at once
    go.set()
    a.thread.join(10)
    assert a.status == "done" and jobs.done("k") == 42
    go.clear()
    b = jobs.start("s", work, owner="me")
    while b.status == "queued":  # computing (not waiting for a slot) when Stop comes
        time.sleep(0.01)
    b.stop()
    go.set()
    b.thread.join(10)
    assert b.status == "stopped" and b.result == 42 and jobs.done("s") is None  # kept on the job only
    c = jobs.start("f", lambda progress, stop: 1 / 0, owner="me")
    c.thread.join(10)
    assert c.status == "failed" and "ZeroDivisionError" in c.bug


def test_slide_geometry_fills_the_screen():
    cols, side = vm._labelled_fit(8)
    assert (cols, side) == (4, 233)  # 2 rows of 4: 962 x 540 px
    assert 6 + cols * (side + 6) <= vm.SLIDE_BOX[0] and 6 + 2 * (side + 34) <= vm.SLIDE_BOX[1]


def test_synthesis_renders_by_itself_on_the_bundled_model():
    assert vm._synthesis_seconds(_app_model(), 8, 256, None) <= vm.AUTO_SECONDS  # the slide's default: no click
    at = _app(SLIDE.format("maximal.synthesis") + "&mx_view=synth")
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "mx_go"]  # no Render button
    assert at.selectbox(key="qp:mx_layer").value == "features.10"  # alone on the slide, it draws the picker
    deadline = time.monotonic() + 240
    while not any("steps in" in c.value for c in at.caption) and time.monotonic() < deadline:
        time.sleep(2)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("256 steps in" in c.value and "8 images in one batch" in c.value for c in at.caption)


def test_expensive_synthesis_waits_for_a_click_and_stops():
    at = _app(SLIDE.format("maximal.synthesis") + "&mx_n=64")  # channels 5..63 of features.10: 59 images
    assert not at.exception, [e.value for e in at.exception]
    assert any("press **Render** to start" in i.value for i in at.info)
    assert not [k for k, j in vm._synthesis_jobs()._jobs.items() if j.running and len(k[1]) == 59]
    at.button(key="mx_go").click().run()
    running = [j for k, j in vm._synthesis_jobs()._jobs.items() if j.running and len(k[1]) == 59]
    assert len(running) == 1
    at.button(key="mx_stop").click().run()  # Stop: the job ends, its images so far are kept
    running[0].thread.join(60)
    at.run()
    assert running[0].status == "stopped"
    assert any("Stopped at step" in c.value for c in at.caption)


def test_layer_and_channel_are_drawn_once_on_the_page():
    at = _app("/maximal?mx_layer=features.3&mx_ch=2")
    assert not at.exception, [e.value for e in at.exception]
    assert len([s for s in at.selectbox if s.key == "qp:mx_layer"]) == 1
    assert any("Channel 2 of features.3" in s.value for s in at.subheader)
    assert any("All channels of features.3" in c.value for c in at.caption)


def _app_model():
    from cnnviz import load_model

    return load_model("small-vgg-fashion")
