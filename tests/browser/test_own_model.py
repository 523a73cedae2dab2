"""cnnviz.show() serves the app on a notebook model (the ONNX path a sidebar upload takes too)."""
import urllib.request

import pytest

import cnnviz

from ..core.test_onnx import CLASSES, StudentNet
from .conftest import wait_idle


@pytest.mark.slow
def test_show_serves_the_app_on_an_in_memory_model(browser):
    import torch

    torch.manual_seed(0)
    student = StudentNet().eval()
    app = cnnviz.show(student, (3, 32, 32), CLASSES, name="StudentNet")
    try:
        assert urllib.request.urlopen(app.url + "/_stcore/health", timeout=5).read().strip() == b"ok"
        ctx = browser.new_context(viewport={"width": 1300, "height": 900})
        page = ctx.new_page()
        page.goto(app.url)
        page.get_by_text("Loaded model").first.wait_for(timeout=120_000)
        wait_idle(page)
        main = page.locator("[data-testid='stMain']").inner_text()
        assert "StudentNet (ONNX)" in main and "ant, bee, cat, dog" in main, main[:500]
        assert page.locator("[data-testid='stException']").count() == 0
        ctx.close()
    finally:
        app.stop()
