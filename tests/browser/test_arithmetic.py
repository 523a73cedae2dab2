"""/arithmetic and /architecture in a real browser: render, animate, step, explain invalid settings."""
from .conftest import assert_no_exception, screenshot, wait_idle


def _slider_label(page) -> str:
    """The animation slider's current value, e.g. 'step (output row, col): 0,1'."""
    return page.get_by_text("step (output row, col)").first.text_content(timeout=30_000)


_WARMED: set[str] = set()


def _open(page, url: str) -> None:
    """Open the app root first: until some session has run app.py (st.navigation), Streamlit serves
    /arithmetic from the legacy pages/ folder without the app shell."""
    base = url.split("/arithmetic")[0].split("/architecture")[0]
    if base not in _WARMED:
        page.goto(base + "/")
        wait_idle(page)
        _WARMED.add(base)
    page.goto(url)
    wait_idle(page)


def test_arithmetic_page_animates_and_steps(server, page):
    _open(page, server + "/arithmetic?ar_h=7&ar_w=7&ar_cin=1&ar_cout=1&ar_k=3&ar_s=2&ar_p=1")
    page.get_by_text("Output cell (0, 0)").first.wait_for(timeout=60_000)
    assert_no_exception(page)
    assert "0,0" in _slider_label(page)
    # the page's own step button moves the kernel one position (a rerun)
    page.get_by_role("button", name="Step ▶").click()
    wait_idle(page)
    page.get_by_text("Output cell (0, 1)").first.wait_for(timeout=30_000)
    assert "0,1" in _slider_label(page)
    # the figure's Play button animates without a rerun: the slider label moves on
    page.get_by_text("▶ Play").first.click()
    page.wait_for_timeout(3000)
    label = _slider_label(page)
    assert "0,1" not in label, f"the animation did not advance: {label!r}"
    page.get_by_text("❚❚ Pause").first.click()
    assert page.get_by_text("equals the formula").count() >= 1
    screenshot(page, "arithmetic")


def test_arithmetic_lecture_example_default(server, page):
    _open(page, server + "/arithmetic")
    page.get_by_text("20 × 28 × 28").first.wait_for(timeout=60_000)
    assert_no_exception(page)
    assert page.get_by_text("1,520").count() >= 1
    screenshot(page, "arithmetic-default")


def test_invalid_combination_is_explained(server, page):
    _open(page, server + "/arithmetic?ar_h=5&ar_w=5&ar_k=7")
    assert_no_exception(page)
    warning = page.locator("[data-testid='stAlert']").filter(has_text="larger than the padded input")
    warning.first.wait_for(timeout=30_000)
    screenshot(page, "arithmetic-invalid")
    assert_no_exception(page)


def test_architecture_page_renders(server, page):
    _open(page, server + "/architecture")
    page.get_by_text("Case study: LeNet-5").first.wait_for(timeout=60_000)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
    page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=60_000)
    page.get_by_text("61,706").first.wait_for(timeout=30_000)  # LeNet-5 parameters, worked out in the unit tests
    assert_no_exception(page)
    screenshot(page, "architecture")


def test_architecture_page_multi_branch(server, page):
    _open(page, server + "/architecture?at_arch=googlenet")
    page.get_by_text("Case study: GoogLeNet").first.wait_for(timeout=120_000)
    page.get_by_text("6,624,904").first.wait_for(timeout=120_000)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
    page.get_by_text("Receptive field (input pixels)").first.wait_for(timeout=60_000)
    assert_no_exception(page)
    screenshot(page, "architecture-googlenet")
