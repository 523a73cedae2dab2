"""/arithmetic and /architecture in a real browser: render, animate, step, explain invalid settings."""
from .conftest import assert_no_exception, screenshot, wait_idle


def _slider_label(page) -> str:
    return page.locator("[data-testid='stPlotlyChart'] .slider-currentvalue").first.inner_text(timeout=20_000)


def test_arithmetic_page_animates_and_steps(server, page):
    page.goto(server + "/arithmetic?ar_h=7&ar_w=7&ar_cin=1&ar_cout=1&ar_k=3&ar_s=2&ar_p=1")
    wait_idle(page)
    page.get_by_text("Convolution arithmetic").first.wait_for()
    assert_no_exception(page)
    page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=30_000)
    assert page.get_by_text("Output cell (0, 0)").count() >= 1
    assert "0,0" in _slider_label(page)
    # the page's own step button moves the kernel one position (a rerun)
    page.get_by_role("button", name="Step ▶").click()
    wait_idle(page)
    page.get_by_text("Output cell (0, 1)").first.wait_for(timeout=30_000)
    assert "0,1" in _slider_label(page)
    # the figure's Play button animates without a rerun: the slider label moves on
    page.locator("[data-testid='stPlotlyChart'] .updatemenu-button").first.click()
    page.wait_for_timeout(2500)
    label = _slider_label(page)
    assert "0,1" not in label, f"the animation did not advance: {label!r}"
    page.locator("[data-testid='stPlotlyChart'] .updatemenu-button").nth(1).click()  # pause
    assert page.get_by_text("equals the formula").count() >= 1
    screenshot(page, "arithmetic")


def test_arithmetic_lecture_example_default(server, page):
    page.goto(server + "/arithmetic")
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("20 × 28 × 28").count() >= 1
    assert page.get_by_text("1,520").count() >= 1
    screenshot(page, "arithmetic-default")


def test_invalid_combination_is_explained(server, page):
    page.goto(server + "/arithmetic?ar_h=5&ar_w=5&ar_k=7")
    wait_idle(page)
    assert_no_exception(page)
    warning = page.locator("[data-testid='stAlert']").filter(has_text="larger than the padded input")
    warning.first.wait_for(timeout=30_000)
    screenshot(page, "arithmetic-invalid")
    page.goto(server + "/arithmetic?ar_cin=3&ar_cout=4&ar_g=2")
    wait_idle(page)
    assert page.locator("[data-testid='stAlert']").filter(has_text="must divide the input channels").count() >= 1
    assert_no_exception(page)


def test_architecture_page_renders(server, page):
    page.goto(server + "/architecture")
    wait_idle(page)
    page.get_by_text("Architecture").first.wait_for()
    assert_no_exception(page)
    assert page.locator("[data-testid='stDataFrame']").count() >= 1
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 1
    assert page.get_by_text("61,706").count() >= 1  # LeNet-5 parameters
    screenshot(page, "architecture")


def test_architecture_page_multi_branch(server, page):
    page.goto(server + "/architecture?at_arch=googlenet")
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("Inception").count() >= 1
    assert page.locator("[data-testid='stDataFrame']").count() >= 1
    screenshot(page, "architecture-googlenet")
