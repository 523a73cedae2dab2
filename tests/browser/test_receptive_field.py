"""Receptive fields page in Chromium: it renders, and a click on the activation map moves the field box."""
from .conftest import assert_no_exception, screenshot, wait_idle


def test_click_on_unit_draws_its_field(server, page):
    page.goto(server + "/receptive-field?rf_layer=features.3")
    wait_idle(page)
    dialog = page.locator("[data-testid='stDialog']")
    if dialog.count():  # Streamlit's "Page not found" on a cold server (see the lead's note); close it
        print("dialog:", dialog.first.inner_text())
        page.keyboard.press("Escape")
    page.get_by_text("Field size through the network").first.wait_for()
    assert_no_exception(page)
    page.locator("[data-testid='stPlotlyChart']").nth(3).wait_for(timeout=60_000)  # depth, field, 2 x ERF
    page.get_by_text("Field of unit (5, 5) of features.3").first.wait_for()  # the centre unit by default
    screenshot(page, "receptive_field")

    # click the top-left unit of the 10x10 map: the slider, the URL and the box title follow
    frame = page.frame_locator("iframe[title*='streamlit_image_coordinates']").first
    img = frame.locator("img")
    img.wait_for()
    box = img.bounding_box()
    img.click(position={"x": box["width"] * 0.05, "y": box["height"] * 0.05})
    page.wait_for_timeout(500)
    wait_idle(page)
    page.get_by_text("Field of unit (0, 0) of features.3").first.wait_for(timeout=60_000)
    assert "rf_row=0" in page.url and "rf_col=0" in page.url
    # LeNet features.3 unit (0, 0): rows -2..11, so 2 of its 14 rows lie in the padding
    assert page.get_by_text("field rows -2…11").count() >= 1
    assert_no_exception(page)
    page.get_by_text("Field of unit (0, 0) of features.3").first.scroll_into_view_if_needed()
    screenshot(page, "receptive_field_click")
