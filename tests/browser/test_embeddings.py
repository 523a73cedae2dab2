"""/embeddings in a real browser: scatter, image grid, click a point, t-SNE from a link."""
import re

from .conftest import assert_no_exception, screenshot, wait_idle

POINTS = ".js-plotly-plot .scatterlayer .trace .points path"


def test_embeddings_page_scatter_grid_and_selection(server, page):
    page.set_viewport_size({"width": 1500, "height": 4400})
    page.goto(server + "/embeddings")
    wait_idle(page)
    page.get_by_role("heading", name="Embeddings").first.wait_for()
    assert_no_exception(page)
    # the main scatter (1000 points, SVG), and one small scatter per compared layer (pictures of 300 px)
    page.wait_for_function(f"() => document.querySelectorAll('{POINTS}').length >= 1000", timeout=90_000)
    page.get_by_text("Pixels vs. deep layers.").wait_for(timeout=90_000)
    wait_idle(page)
    assert page.get_by_text(re.compile(r"576 of 1000 images in 24×24 cells")).count() == 1
    # the grid: the widest image on the page (24 tiles of 28 px + 1 px gaps, at 2x)
    widths = page.eval_on_selector_all("[data-testid='stImage'] img", "els => els.map(e => e.naturalWidth)")
    assert 2 * (24 * 29 + 1) in widths, widths
    assert widths.count(300) == 4, widths
    for name in ("pixels", "features.2", "features.5", "classifier.4"):
        assert page.get_by_text(name).count() >= 1, name
    assert page.get_by_text("kNN accuracy, embedding").count() == 4
    screenshot(page, "embeddings")

    # click one point of the main scatter: its image and its neighbours appear beside it
    point = page.locator(POINTS).nth(10)
    point.scroll_into_view_if_needed()
    point.click(force=True)
    page.get_by_text("Its nearest neighbours in feature space").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text(re.compile(r"^label:")).count() + page.get_by_text("predicted:").count() >= 1
    screenshot(page, "embeddings-selected")


def test_embeddings_tsne_from_a_link(server, page):
    page.set_viewport_size({"width": 1500, "height": 2200})
    page.goto(server + "/embeddings?em_method=tsne&em_n=500&em_clayers=pixels,classifier.4")
    wait_idle(page)
    page.get_by_text(re.compile(r"t-SNE \(openTSNE")).first.wait_for(timeout=120_000)
    page.get_by_text("Pixels vs. deep layers.").wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    page.wait_for_function(f"() => document.querySelectorAll('{POINTS}').length >= 500", timeout=90_000)
    assert page.get_by_text(re.compile(r"Placed by openTSNE's transform")).count() == 1
    screenshot(page, "embeddings-tsne")
