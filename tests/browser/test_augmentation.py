"""The /augmentation page in a real browser: sample grid, code, sweeps, 6-to-9 and scramble demos."""
import re

from .conftest import assert_no_exception, screenshot, wait_idle


def _open(page, url: str) -> None:
    """Open a deep link to the page and wait until every section has rendered.

    A fresh server runs a deep link whose path is a file name in pages/ in Streamlit's legacy (v1) mode
    until some session has run app.py's st.navigation; open Home first so the test sees the real app.
    """
    page.goto(url.split("/augmentation")[0] + "/")
    page.get_by_text("Loaded model").first.wait_for(timeout=120_000)
    page.goto(url)
    wait_idle(page)
    page.get_by_text("counting parts, not checking how").first.wait_for(timeout=120_000)
    page.get_by_text("With many small tiles").first.wait_for(timeout=120_000)
    wait_idle(page)


def test_augmentation_renders_grid_and_sweeps(server, page):
    _open(page, server + "/augmentation?au_n=8")
    page.get_by_text("Augmentation effects").first.wait_for()
    screenshot(page, "augmentation")
    assert_no_exception(page)
    # the sample grid: 8 images with a prediction and confidence under each
    main = page.locator("[data-testid='stMain']")
    assert main.locator("[data-testid='stImage']").count() >= 8
    assert page.get_by_text("of the 8 samples keep that prediction").count() == 1
    assert main.get_by_text("%").count() >= 8  # a confidence under every sample
    assert page.get_by_text("v2.RandomRotation(degrees=20").count() >= 1
    # rotation x scale table and curves (Plotly)
    assert page.locator("[data-testid='stDataFrame']").count() >= 1
    assert page.locator(".js-plotly-plot").count() >= 3
    assert page.get_by_text("is read as 9 once it is rotated by").count() == 1
    for text, name in (("samples keep that prediction", "augmentation-grid"),
                       ("Invariance sweeps", "augmentation-sweeps"), ("a 6 becomes a 9", "augmentation-six-nine"),
                       ("Picasso problem", "augmentation-scramble")):
        page.get_by_text(text).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(700)
        screenshot(page, name)


def test_augmentation_shift_and_light_views_and_mixing(server, page):
    _open(page, server + "/augmentation?au_n=8&au_t=mixup,rotate&au_mix=digit-3")
    screenshot(page, "augmentation-mixing")
    assert_no_exception(page)
    assert page.get_by_text("Mixed labels").count() == 1
    assert page.get_by_text(re.compile(r"label 0\.\d\d·")).count() >= 8  # a soft label under every sample
    # the sweeps are views of their own (they were tabs): shift, then brightness and contrast
    page.get_by_text("Invariance sweeps: shift and aliasing").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1000)
    assert page.get_by_text("That is aliasing from striding").count() == 1
    screenshot(page, "augmentation-shift")
    page.get_by_text("Invariance sweeps: brightness and contrast").first.evaluate(
        "e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1000)
    assert page.get_by_text("Brightness multiplies pixels").count() == 1
    screenshot(page, "augmentation-light")
