"""The /maximal page in Chromium: dataset patches (click a channel, a patch) and a short live synthesis."""
import re

from playwright.sync_api import expect

from .conftest import assert_no_exception, screenshot, wait_idle


def _click_iframe_image(page, index: int, fx: float, fy: float) -> None:
    """Click at fraction (fx, fy) of the image inside the ``index``-th streamlit-image-coordinates iframe."""
    frame_el = page.locator("iframe[title*='streamlit_image_coordinates']").nth(index)
    frame_el.wait_for(timeout=60_000)
    img = frame_el.content_frame.locator("#image")
    img.wait_for(timeout=60_000)
    box = img.bounding_box()
    img.click(position={"x": box["width"] * fx, "y": box["height"] * fy})


def test_dataset_examples_and_clicks(server, page):
    page.goto(server + "/maximal?mx_layer=features.3&mx_ch=5")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("Channel 5 of features.3").first.wait_for(timeout=120_000)
    page.get_by_text("All channels of features.3").first.wait_for(timeout=120_000)
    frames = page.locator("iframe[title*='streamlit_image_coordinates']")
    expect(frames).to_have_count(2, timeout=30_000)
    screenshot(page, "maximal-dataset")
    # click the second channel mosaic of the first row (channel 1) in the grid
    _click_iframe_image(page, 1, 1.5 / 8, 0.25)
    wait_idle(page)
    assert_no_exception(page)
    page.wait_for_url("**mx_ch=1**", timeout=60_000)
    page.get_by_text("Channel 1 of features.3").first.wait_for(timeout=120_000)
    wait_idle(page)
    # click the third patch of the strip: the full image shows patch 3
    _click_iframe_image(page, 0, 2.5 / 8, 0.4)
    # the strip's view reruns alone: its URL change is a history update Playwright's page.url does not see
    page.wait_for_function("() => location.search.includes('mx_hit=3')", timeout=60_000)
    wait_idle(page)
    assert page.get_by_text("red box: its receptive field 14×14 px").count() >= 1
    assert_no_exception(page)
    screenshot(page, "maximal-dataset-clicked")
    page.locator("iframe[title*='streamlit_image_coordinates']").nth(1).scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    screenshot(page, "maximal-grid")  # the grid is below the fold of the scroll container


def test_synthesis_runs_live(server, page):
    # a short synthesis starts by itself (no Render click: a slide never waits for one)
    page.goto(server + "/maximal?mx_view=synth&mx_layer=features.3&mx_steps=48&mx_n=6")
    page.get_by_text("steps in", exact=False).first.wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_role("button", name="Render", exact=True).count() == 0
    # one grid of the 6 images: 168 px tiles (28 px x 6) with 6 px gaps, 4 per row, each with a 28 px label band
    sizes = page.eval_on_selector_all("[data-testid='stImage'] img",
                                      "els => els.map(e => [e.naturalWidth, e.naturalHeight])")
    assert [6 + 4 * (168 + 6), 6 + 2 * (168 + 28 + 6)] in sizes, sizes
    assert page.get_by_text("up from").count() >= 1
    screenshot(page, "maximal-synth")


def test_synthesis_stop_keeps_partial_images(server, page):
    # a long run (64 channels x 1024 steps) so Stop lands while it optimises, even on a quiet machine; it starts by
    # itself (estimated under 10 s) and runs in the background, so the Stop click is handled at once
    page.goto(server + "/maximal?mx_view=synth&mx_layer=features.3&mx_steps=1024&mx_n=64")
    # any progress line: a fixed step number can be skipped by the browser between two updates
    page.get_by_text(re.compile(r"Step \d+ / 1024")).first.wait_for(timeout=120_000)
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Stopped at step", exact=False).first.wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    # the images so far, one grid: features.3 has 16 channels, so 16 images in 4 rows of 4
    sizes = page.eval_on_selector_all("[data-testid='stImage'] img",
                                      "els => els.map(e => [e.naturalWidth, e.naturalHeight])")
    assert [6 + 4 * (168 + 6), 6 + 4 * (168 + 28 + 6)] in sizes, sizes
    screenshot(page, "maximal-synth-stopped")
