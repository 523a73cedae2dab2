"""The /kernels page in a real browser: it renders, and editing the kernel grid changes the response."""
import re

from .conftest import assert_no_exception, screenshot, wait_idle

PLOTS = "[data-testid='stPlotlyChart'] .js-plotly-plot"


def _response_range(page) -> str:
    cap = page.get_by_text(re.compile(r"^Response range")).first
    cap.wait_for()
    return cap.inner_text()


def test_kernels_page_renders_and_editor_changes_response(server, page):
    page.set_viewport_size({"width": 1500, "height": 2000})  # kernel, editor and responses in one screenshot
    page.goto(server + "/kernels?kn_kernel=identity")
    wait_idle(page)
    page.get_by_role("heading", name="Filter kernels").wait_for()
    assert_no_exception(page)
    # kernel heat map, two responses, the learned-filter map, per-channel maps, bridge bar and responses
    page.get_by_text("Before and after training").first.wait_for(timeout=90_000)
    page.wait_for_function(f"() => document.querySelectorAll(\"{PLOTS}\").length >= 7",
                           timeout=90_000)
    before = _response_range(page)
    assert "0 … 0.992" in before, before  # identity on the 0..1 image (bilinear-resized digit): max 0.992

    # edit the centre cell of the 3x3 grid (identity: 1) to 5; glide-data-grid draws on a canvas,
    # so find the cell from the canvas geometry: a header row, then three equal rows
    canvas = page.locator("[data-testid='stDataFrame'] canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    row_h = box["height"] / 4
    page.mouse.dblclick(box["x"] + box["width"] * 0.55, box["y"] + 2.5 * row_h)
    cell_editor = page.locator("input.gdg-input, textarea.gdg-input").first
    cell_editor.wait_for(timeout=10_000)
    assert cell_editor.input_value() == "1"  # it is the centre cell
    cell_editor.fill("5")  # focuses the overlay editor and replaces its text
    cell_editor.press("Enter")
    try:
        page.get_by_text(re.compile(r"^Response range 0 … 4\.96")).first.wait_for(timeout=90_000)
    except Exception:
        screenshot(page, "kernels-edit-failed")
        raise
    wait_idle(page)
    assert_no_exception(page)
    after = _response_range(page)
    assert "0 … 4.96" in after, after  # 5 x 0.992
    assert "kn_k=" in page.url  # the edited kernel is part of the link

    # the learned-filter map names the (filter, channel) under the mouse: LeNet's 6 filters of 5x5
    # sit in 3 columns x 2 rows with 1 px padding, a 19 x 13 map
    plot_area = page.locator(".st-key-fig-kn_map .nsewdrag").first
    plot_area.scroll_into_view_if_needed()
    box = plot_area.bounding_box()
    for (y, x), expected in (((3.5, 3.5), "filter 0, input channel 0"), ((9.5, 15.5), "filter 5, input channel 0")):
        page.mouse.move(box["x"] + box["width"] * x / 19, box["y"] + box["height"] * y / 13)
        # the label updates after the mouse moves: wait for the expected text, not just any label
        page.locator(".st-key-fig-kn_map .hovertext", has_text=expected).first.wait_for(timeout=10_000)
    screenshot(page, "kernels")


def test_kernels_page_rgb_model_and_bridge(server, page):
    page.set_viewport_size({"width": 1500, "height": 4000})
    page.goto(server + "/kernels?model=resnet18&untrained=1&kn_kernel=gabor&kn_mode=per_channel")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("Each filter as a colour image").first.wait_for()
    page.get_by_text("Learned vs. classic").first.wait_for()
    page.wait_for_function(f"() => document.querySelectorAll(\"{PLOTS}\").length >= 6",
                           timeout=90_000)
    page.get_by_text(re.compile("random weights only")).first.wait_for()  # untrained: no comparison offered
    page.get_by_text(re.compile(r"^Filter 0: norm")).first.wait_for()

    # click the second tile of the RGB grid: 64 filters of 7x7 in 8 columns with 1 px padding, a
    # 65 x 65 grid stretched to the column width; tile 1 spans x = 9..15, y = 1..7 in grid pixels
    frame = page.locator("iframe[title*='streamlit_image_coordinates']").first
    frame.scroll_into_view_if_needed()
    box = frame.bounding_box()
    f = box["width"] / 65
    page.mouse.click(box["x"] + 12.5 * f, box["y"] + 4.5 * f)
    page.get_by_text(re.compile(r"^Filter 1: norm")).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert "kn_f=1" in page.url
    screenshot(page, "kernels-resnet18")
