"""Every page's URL, query string included, opens that page on the first request after the server starts.

A lecturer's prepared link must work right after a restart: no "Page not found", no Home instead.
"""
import pytest

from cnnviz.ui.nav import available_pages

from .conftest import assert_no_exception, start_server, stop_server, wait_idle

# one link per page with a query string a slide would carry (keys the page uses, or none for Home)
QUERIES = {"": "?model=lenet5-mnist", "arithmetic": "?ar_k=5&ar_s=2", "receptive-field": "?model=lenet5-mnist"}


@pytest.mark.slow
@pytest.mark.parametrize("spec", [p for p in available_pages() if p.url_path != "deck"],
                         ids=lambda p: p.url_path or "home")
def test_fresh_server_opens_the_requested_page(browser, spec):
    proc, url = start_server(f"server-deeplink-{spec.url_path or 'home'}.log")
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        page = ctx.new_page()
        page.goto(f"{url}/{spec.url_path}{QUERIES.get(spec.url_path, '?model=lenet5-mnist')}")
        wait_idle(page)
        body = page.locator("[data-testid='stMain']").inner_text()
        assert "Page not found" not in page.content()
        assert page.locator("[data-testid='stDialog']").count() == 0
        title = page.locator("h1").first.inner_text()
        expected = spec.title.split()[0].lower() if spec.url_path else "cnnviz"
        assert expected in title.lower() or expected in body[:400].lower(), (title, body[:200])
        assert page.url.split("?")[0].rstrip("/").endswith(spec.url_path)
        assert_no_exception(page)
        ctx.close()
    finally:
        stop_server(proc, wait=False)  # its shutdown overlaps the next test's start
