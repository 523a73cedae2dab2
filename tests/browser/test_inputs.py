"""The shared inputs in the real app (Chromium): every kind of
bad upload is refused with a message while the app keeps the previous image; a drawn digit is
classified; a link opened in a fresh browser restores the same view."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnviz.core.images import MAX_UPLOAD_BYTES
from cnnviz.ui.nav import available_pages
from tests.core.test_images import png_header_claiming

from .conftest import assert_no_exception, screenshot, wait_idle

SIDEBAR = "[data-testid='stSidebar']"
FIGURES = ("[data-testid='stMain'] [data-testid='stImage'] img, [data-testid='stMain'] .js-plotly-plot, "
           "[data-testid='stMain'] [data-testid='stDataFrame'], [data-testid='stMain'] canvas")


def seven_png() -> bytes:
    """A dark '7' on white paper, like a photographed digit (the digit model inverts it itself)."""
    img = Image.new("RGB", (120, 120), "white")
    d = ImageDraw.Draw(img)
    d.line([(30, 25), (90, 25), (55, 100)], fill="black", width=11)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def choose_upload_source(page) -> None:
    sb = page.locator(SIDEBAR)
    sb.locator("[data-testid='stRadio'] label", has_text=re.compile("^Upload$")).click()
    wait_idle(page)


def upload(page, name: str, data: bytes, mime: str = "image/png") -> None:
    """Upload into the file input of the image uploader (not the model-weights one), as the
    browser's file chooser does."""
    up = page.locator(SIDEBAR + " [data-testid='stFileUploader']", has_text="Upload an image")
    up.locator("input[type='file']").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])
    wait_idle(page)


def model_sees_caption(page) -> str:
    return page.locator(SIDEBAR).get_by_text("What the model sees").first.inner_text()


# one session for all bad uploads: each one must leave the app working on the previous image
@pytest.fixture(scope="module")
def upload_page(browser, server):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = ctx.new_page()
    pg.goto(server + "/")
    wait_idle(pg)
    choose_upload_source(pg)
    upload(pg, "good-seven.png", seven_png())
    assert "good-seven.png" in model_sees_caption(pg)
    yield pg
    ctx.close()


def _truncated_png() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


@pytest.mark.parametrize("name,make,message", [
    ("zero.png", lambda: b"", "empty"),
    ("truncated.png", _truncated_png, "damaged or truncated"),
    ("shopping-list.png", lambda: b"eggs, milk, bread\n" * 20, "not an image"),
    ("bomb.png", lambda: png_header_claiming(8000, 8000), "decompression bomb"),
    # refused by the uploader itself (max_upload_size) before it is sent; the server check is a backstop
    ("huge.png", lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_UPLOAD_BYTES, "MB or smaller"),
], ids=["zero-bytes", "truncated", "text-as-png", "decompression-bomb", "oversized"])
def test_bad_upload_shows_message_and_keeps_image(upload_page, name, make, message):
    page = upload_page
    upload(page, name, make())
    if name == "huge.png":
        err = page.locator(SIDEBAR + " [data-testid='stFileUploader']", has_text=message)
    else:
        err = page.locator(SIDEBAR + " [data-testid='stAlert']", has_text=name)
    err.first.wait_for(timeout=30_000)
    text = err.first.inner_text()
    assert message in text, text
    if name != "huge.png":
        assert "previous image is kept" in text, text
    assert "good-seven.png" in model_sees_caption(page)
    assert_no_exception(page)
    # the page still works: the home page still shows its figures for the kept image
    assert page.locator(FIGURES).count() >= 1
    if name == "bomb.png":
        err.first.scroll_into_view_if_needed()
        screenshot(page, "inputs-bad-upload")


def _share_link(page) -> str:
    return page.locator("#cnnviz-link code").inner_text().strip()


def test_deep_link_restores_view_in_fresh_context(server, browser, page):
    target = next((p for p in available_pages() if p.url_path == "architecture"), available_pages()[0])
    page.goto(server + "/" + target.url_path)
    wait_idle(page)
    sb = page.locator(SIDEBAR)
    sb.locator("[data-testid='stSelectbox']", has_text="Model").first.click()
    page.get_by_role("option", name=re.compile("Fashion")).first.click()
    wait_idle(page, timeout=180_000)
    sb.locator("[data-testid='stSelectbox']", has_text="Sample").first.click()
    page.keyboard.type("fashion-bag")  # the list is virtualised: low in a tall sidebar, far options are not drawn
    page.get_by_role("option", name="fashion-bag").click()
    wait_idle(page, timeout=180_000)
    link = _share_link(page)
    assert link.startswith(server) and "model=small-vgg-fashion" in link and "img=fashion-bag" in link, link
    assert ("/" + target.url_path) in link
    title = page.locator("[data-testid='stMain'] h1").first.inner_text()

    fresh = browser.new_context(viewport={"width": 1500, "height": 1000})
    try:
        p2 = fresh.new_page()
        p2.goto(link)
        wait_idle(p2, timeout=180_000)
        assert_no_exception(p2)
        assert p2.locator("[data-testid='stMain'] h1").first.inner_text() == title
        assert "fashion-bag" in model_sees_caption(p2)
        # the restored widgets write their values back: an identical link means every control came back
        # (a value that failed to restore would be dropped from the URL with a notice)
        assert _share_link(p2) == link
        screenshot(p2, "inputs-deep-link")
    finally:
        fresh.close()


def test_drawn_digit_is_classified(server, page):
    page.set_viewport_size({"width": 1500, "height": 1400})  # the whole canvas on screen
    page.goto(server + "/?src=draw")
    wait_idle(page)
    canvas = page.locator(SIDEBAR + " canvas").last
    canvas.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(500)  # let the drawing component finish initialising
    box = canvas.bounding_box()
    # start below the top band, where the component's hover toolbar catches the pointer
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 21):  # a vertical stroke (slightly wobbly, as by hand): the digit one
        page.mouse.move(x + (i % 2) * 2, y + i * box["height"] * 0.032)
    page.mouse.up()
    # the component sends the strokes on mouse-up; the rerun then makes the drawing the input
    page.locator(SIDEBAR).get_by_text("your drawing").first.wait_for(timeout=60_000)
    wait_idle(page)
    # the top bar of the prediction chart on Home is the last category tick (bars are drawn bottom-up)
    ticks = page.locator("[data-testid='stMain'] .js-plotly-plot .ytick text").evaluate_all(
        "els => els.map(e => e.textContent)")
    assert ticks and ticks[-1] == "1", ticks
    screenshot(page, "inputs-draw")
    sb = page.locator(SIDEBAR)
    sb.get_by_role("button", name=re.compile("Clear drawing")).click()
    wait_idle(page)
    assert_no_exception(page)


def test_webcam_picture_becomes_the_input(server, browser):
    # Chromium's fake camera (see CHROMIUM_ARGS) delivers a test pattern
    ctx = browser.new_context(viewport={"width": 1500, "height": 1400}, permissions=["camera"])
    try:
        page = ctx.new_page()
        page.goto(server + "/?src=camera")
        wait_idle(page)
        cam = page.locator(SIDEBAR + " [data-testid='stCameraInput']")
        button = cam.get_by_role("button", name="Take Photo")
        button.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # the video stream starts
        button.click()
        seen = page.locator(SIDEBAR).get_by_text(re.compile(r"What the model sees.*camera-input"))
        seen.first.wait_for(timeout=60_000)
        wait_idle(page)
        assert_no_exception(page)
        assert page.locator(FIGURES).count() >= 1
    finally:
        ctx.close()
