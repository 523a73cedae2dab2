"""The "Which map to believe?" leaderboard in the real app (Chromium): for the bundled model and after an upload."""
from __future__ import annotations

import re

from .conftest import assert_no_exception, screenshot, wait_idle
from .test_inputs import choose_upload_source, seven_png, upload

TABLE = "[data-testid='stPlotlyChart']:has(.table)"


def _leaderboard(page) -> str:
    """Wait for the leaderboard table and return its text (Plotly draws a table as SVG text)."""
    page.get_by_role("heading", name="Which map to believe?").wait_for(timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.textContent.includes('Random map'))",
        timeout=180_000)
    wait_idle(page)
    assert_no_exception(page)
    return next(t for t in page.locator(".js-plotly-plot").all_inner_texts() + [
        p.text_content() for p in page.locator(".js-plotly-plot").all()] if "Random map" in (t or ""))


def test_leaderboard_for_the_bundled_model_and_over_test_images(server, page):
    page.set_viewport_size({"width": 1500, "height": 3000})
    page.goto(server + "/attribution?at_faith=1&at_nimg=10")
    text = _leaderboard(page)
    for label in ("Grad-CAM", "Score-CAM", "DeepLIFT", "Deconvnet", "deletion AUC", "beat"):
        assert label in text, label
    assert page.get_by_text(re.compile("Deletion \\(lower AUC is better\\)")).count() >= 1  # the curves
    page.get_by_role("button", name="Score the methods over the bundled test images").click()
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some("
                           "p => p.textContent.includes('Faithfulness on 10 images'))", timeout=240_000)
    wait_idle(page)
    assert_no_exception(page)
    screenshot(page, "attribution-leaderboard")


def test_leaderboard_after_an_upload(server, page):
    page.set_viewport_size({"width": 1500, "height": 3000})
    page.goto(server + "/attribution")
    wait_idle(page)
    choose_upload_source(page)
    upload(page, "my-seven.png", seven_png())
    page.get_by_text("Input (my-seven.png)").first.wait_for(timeout=60_000)
    # on the small bundled model the leaderboard is on by itself (no click)
    text = _leaderboard(page)
    assert "Random map" in text and "Grad-CAM++" in text
    screenshot(page, "attribution-leaderboard-upload")
