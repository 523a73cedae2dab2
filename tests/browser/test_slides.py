"""Every slide of every bundled deck, played as a lecturer would on a 1280x720 projector: the slide's
figures cover at least half of the first screen (no scrolling) and its title is visible."""
import json
import re

import pytest

from cnnviz.methods import decks

from .conftest import assert_no_exception, press_key, screenshot, slide_title_visible, wait_for_coverage, wait_idle

pytestmark = pytest.mark.browser
PROJECTOR = {"width": 1280, "height": 720}
MIN_COVER = 0.5
SIDEBAR = "[data-testid='stSidebar']"


@pytest.fixture
def projector(browser):
    ctx = browser.new_context(viewport=PROJECTOR)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _check_slide(page, where: str, title: str, shot: str) -> float:
    wait_idle(page)
    assert_no_exception(page)
    assert slide_title_visible(page, title), (where, title)
    cover = wait_for_coverage(page, MIN_COVER)
    if cover < MIN_COVER:
        screenshot(page, shot)
    assert cover >= MIN_COVER, (where, round(cover, 3))
    return cover


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(decks.bundled_decks()))
def test_every_bundled_slide_shows_its_figure_on_the_first_screen(server, projector, name):
    """Played as a lecturer does: the first slide opened by its link, each next one with the arrow key (so a slide
    must also fill the screen after the one before it, in the same session)."""
    deck = decks.load_bundled(name)
    covers = []
    projector.goto(f"{server}/deck?deck={name}&slide=1")
    for i, slide in enumerate(deck.slides, 1):
        if i > 1:
            press_key(projector, "ArrowRight", f"slide={i}")
        assert f"deck={name}" in projector.url and re.search(rf"[?&]slide={i}(&|$)", projector.url), projector.url
        covers.append(_check_slide(projector, f"{name} slide {i} ({slide.view or slide.link})", slide.title,
                                   f"slide-{name}-{i:02d}"))
    print(name, [round(c, 2) for c in covers])


@pytest.mark.slow
def test_a_deck_made_here_plays_views_and_old_links(server, projector):
    """A deck of view slides and link-only slides (an older deck's), uploaded in the sidebar and played."""
    deck = {"title": "Made in a test", "slides": [
        {"title": "Channels of the first layer", "view": "activations.channels",
         "link": "/activations?model=small-vgg-fashion&img=fashion-sneaker&ac_layer=features.0", "note": "Edges."},
        {"title": "An old link to a section", "link": "/activations?model=lenet5-mnist#4-from-edges-to-parts-the-"
         "strongest-maps-of-every-stage", "note": "Depth."},
        {"title": "An old link to a page", "link": "/activations?model=lenet5-mnist&ac_k=3", "note": "Top 3."},
    ]}
    projector.goto(f"{server}/activations")
    wait_idle(projector)
    projector.locator(SIDEBAR).get_by_text("Lecture deck").click()
    projector.locator(f"{SIDEBAR} .st-key-deckb_upload input[type='file']").set_input_files(
        {"name": "made.json", "mimeType": "application/json", "buffer": json.dumps(deck).encode()})
    wait_idle(projector)
    projector.locator(SIDEBAR).get_by_text("Play this deck").click()
    for i, slide in enumerate(deck["slides"], 1):
        if i > 1:
            projector.keyboard.press("ArrowRight")
        wait_idle(projector)
        assert f"slide={i}" in projector.url and "deck=session" in projector.url
        _check_slide(projector, f"made slide {i}", slide["title"], f"slide-made-{i}")
    # the old links landed on the views they meant
    assert projector.locator("[class*='st-key-cnnviz-view-activations-predictions']").count() == 1
