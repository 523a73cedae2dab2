"""The /kernels page in a real browser: it renders, and editing the kernel grid changes the response."""
import re

from .conftest import assert_no_exception, screenshot, wait_idle


def _response_range(page) -> str:
    cap = page.get_by_text(re.compile(r"^Response range")).first
    cap.wait_for()
    return cap.inner_text()


def test_kernels_page_renders_and_editor_changes_response(server, page):
    page.goto(server + "/kernels?kn_kernel=identity&kn_n=3")
    wait_idle(page)
    page.get_by_role("heading", name="Filter kernels").wait_for()
    assert_no_exception(page)
    # kernel heat map, two responses, the learned-filter map, per-channel maps, bridge responses
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 5
    before = _response_range(page)
    assert "1 …" in before or "1 ..." in before or "1" in before.split("…")[-1], before  # identity: max = 1

    # edit the centre cell of the 3x3 editor: identity (centre 1) -> centre 5
    editor = page.locator("[data-testid='stDataFrame']").first
    editor.scroll_into_view_if_needed()
    box = editor.bounding_box()
    # glide grid: header row and rows of ~35 px; index column first, then columns 0, 1, 2
    cols_x = page.evaluate("""(el) => {
        const hdrs = Array.from(el.querySelectorAll('th, [role=columnheader]'));
        return hdrs.map(h => { const r = h.getBoundingClientRect(); return [h.innerText, r.x + r.width / 2, r.y + r.height / 2, r.height]; });
    }""", editor.element_handle())
    centre = next((c for c in cols_x if c[0].strip() == "1"), None)
    assert centre is not None, cols_x
    row_h = centre[3]
    x, y = centre[1], centre[2] + 2 * row_h  # row 1 (second data row)
    page.mouse.dblclick(x, y)
    page.wait_for_timeout(400)
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    page.mouse.click(box["x"] + box["width"] + 200, box["y"] - 40)  # click away to commit
    wait_idle(page)
    assert_no_exception(page)
    after = _response_range(page)
    assert after != before, (before, after)
    assert "kn_k=" in page.url  # the edited kernel is part of the link
    screenshot(page, "kernels")


def test_kernels_page_rgb_model_and_bridge(server, page):
    page.goto(server + "/kernels?model=resnet18&untrained=1&kn_kernel=gabor&kn_mode=per_channel&kn_order=norm")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("Each filter as a colour image").first.wait_for()
    page.get_by_text("Learned vs. classic").first.wait_for()
    screenshot(page, "kernels-resnet18")
