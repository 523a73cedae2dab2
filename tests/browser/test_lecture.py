"""Lecture mode in the real app: the deck player, presenter view, PNG downloads, deck export."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnviz.methods import decks

from .conftest import ROOT, assert_no_exception, press_key, screenshot, wait_idle

pytestmark = pytest.mark.browser

MAIN = "[data-testid='stMain']"
SIDEBAR = "[data-testid='stSidebar']"


def test_player_steps_with_the_arrow_key(server, page):
    deck = decks.load_bundled("what-a-cnn-learns")
    page.goto(f"{server}/deck?deck=what-a-cnn-learns&slide=3")
    wait_idle(page)
    assert_no_exception(page)
    # the player is in presenter view by default (its style may land a moment after the app first goes idle)
    page.locator(SIDEBAR).wait_for(state="hidden", timeout=30_000)
    press_key(page, "ArrowRight", "slide=4")
    assert "slide=4" in page.url and "deck=what-a-cnn-learns" in page.url
    bar = page.locator(".st-key-cnnviz-slide-bar").inner_text()
    assert f"4 / {len(deck)}" in bar and deck.slides[3].title in bar
    assert page.locator(f"{MAIN} [class*='st-key-cnnviz-view-activations-']").count() == 1  # slide 4's page
    press_key(page, "ArrowLeft", "slide=3")
    assert "slide=3" in page.url
    assert page.locator(f"{MAIN} [class*='st-key-cnnviz-view-kernels-']").count() == 1
    page.reload()  # the URL names the slide: a reload lands on it
    wait_idle(page)
    assert f"3 / {len(deck)}" in page.locator(".st-key-cnnviz-slide-bar").inner_text()
    assert_no_exception(page)


def _body_font_px(page) -> float:
    """The font size of the page's longest paragraph (its explanation), in CSS pixels."""
    return page.evaluate("""() => { const ps = [...document.querySelectorAll(
        "[data-testid='stMain'] [data-testid='stMarkdownContainer'] p")];
        ps.sort((a, b) => b.innerText.length - a.innerText.length);
        return parseFloat(getComputedStyle(ps[0]).fontSize); }""")


def test_presenter_view_hides_the_sidebar_and_enlarges_type(server, page):
    page.goto(f"{server}/arithmetic")
    wait_idle(page)
    assert page.locator(SIDEBAR).is_visible() and page.locator("[data-testid='stToolbar']").is_visible()
    normal = _body_font_px(page)
    page.goto(f"{server}/arithmetic?present=1")
    wait_idle(page)
    assert_no_exception(page)
    assert page.locator(SIDEBAR).is_hidden()
    assert page.locator("[data-testid='stToolbar']").is_hidden()
    big = _body_font_px(page)
    assert big >= 1.4 * normal, (normal, big)
    assert "present=1" in page.url
    screenshot(page, "presenter-arithmetic")
    page.keyboard.press("Escape")  # leaves presenter view
    wait_idle(page)
    assert page.locator(SIDEBAR).is_visible() and "present=1" not in page.url


def test_png_download_of_a_chart(server, page):
    page.goto(f"{server}/")
    wait_idle(page)
    button = page.locator(f"{MAIN} [class*='st-key-png-'] [data-testid='stDownloadButton'] button").first
    with page.expect_download(timeout=60_000) as dl:
        button.click()
    img = Image.open(dl.value.path())
    assert img.format == "PNG" and min(img.size) >= 200


def test_malformed_deck_gets_a_message_and_the_app_keeps_working(server, page, tmp_path):
    page.goto(f"{server}/arithmetic")
    wait_idle(page)
    page.locator(SIDEBAR).get_by_text("Lecture deck").click()
    uploader = page.locator(f"{SIDEBAR} .st-key-deckb_upload input[type='file']")
    uploader.set_input_files({"name": "broken.json", "mimeType": "application/json", "buffer": b'{"title": "x", '})
    page.get_by_text("is not valid JSON").wait_for(timeout=30_000)
    assert_no_exception(page)
    # a deck whose first slide names a page the app does not have: the message is on that slide only
    good = {"title": "Mixed", "slides": [{"title": "Gone", "link": "/no-such-page?x=1", "note": ""},
                                         {"title": "Sizes", "link": "/arithmetic?ar_k=3", "note": "ok"}]}
    uploader.set_input_files({"name": "mixed.json", "mimeType": "application/json",
                              "buffer": json.dumps(good).encode()})
    wait_idle(page)
    page.locator(SIDEBAR).get_by_text("Play this deck").click()
    wait_idle(page)
    assert "deck=session" in page.url
    page.get_by_text("names the page '/no-such-page'").wait_for(timeout=30_000)
    assert_no_exception(page)
    page.keyboard.press("ArrowRight")
    wait_idle(page)
    assert "slide=2" in page.url
    assert page.locator(f"{MAIN} [class*='st-key-cnnviz-view-arithmetic-']").count() == 1
    assert page.get_by_text("names the page").count() == 0
    assert_no_exception(page)


@pytest.mark.slow
def test_deck_export_writes_one_non_blank_png_per_slide(tmp_path):
    deck = decks.load_bundled("limits-of-cnns")
    out = tmp_path / "slides"
    r = subprocess.run([sys.executable, "-m", "cnnviz.cli", "deck", "export", "limits-of-cnns", str(out),
                        "--size", "1280x720", "--scale", "1"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    pngs = sorted(out.glob("slide-*.png"))
    assert len(pngs) == len(deck)
    for p in pngs:
        a = np.asarray(Image.open(io.BytesIO(p.read_bytes())).convert("L"), dtype=float)
        assert a.shape == (720, 1280)
        assert a.std() > 10 and (a < 128).mean() > 0.005, p.name  # text and figures, not a blank page
    index = (out / "index.html").read_text()
    assert all(s.title.replace("'", "&#x27;") in index for s in deck.slides)
