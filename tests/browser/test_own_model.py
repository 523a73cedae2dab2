"""cnnviz.show() serves the app on a notebook model (the ONNX path a sidebar upload takes too)."""
import urllib.request

import pytest

import cnnviz

from ..core.test_onnx import CLASSES, StudentNet
from .conftest import nav_to, wait_idle


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


def _upload_onnx(page, name: str, data: bytes) -> None:
    up = page.locator("[data-testid='stSidebar'] [data-testid='stFileUploader']", has_text="ONNX model")
    up.locator("input[type='file']").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}])
    wait_idle(page)


def test_sidebar_onnx_upload_reaches_activations_and_receptive_field(server, page):
    import torch

    from ..core.test_onnx import _export
    from .conftest import assert_no_exception, screenshot

    torch.manual_seed(0)
    data = _export(StudentNet().eval(), (3, 224, 224))  # the picker's default input size
    page.goto(server + "/?model=onnx")
    wait_idle(page)
    _upload_onnx(page, "garbage.onnx", b"this is not a protobuf" * 10)  # refused with a reason, app keeps going
    sidebar = page.locator("[data-testid='stSidebar']")
    assert "garbage.onnx" in sidebar.locator("[data-testid='stAlert']").first.inner_text()
    assert_no_exception(page)
    _upload_onnx(page, "student.onnx", data)
    page.get_by_text("student.onnx (ONNX)").first.wait_for(timeout=120_000)
    for title, path in (("Activation maps", "activations"), ("Receptive fields", "receptive-field")):
        nav_to(page, title)
        page.wait_for_url(f"**/{path}?**", timeout=60_000)
        wait_idle(page, 180_000)
        assert_no_exception(page)
        screenshot(page, f"onnx-{path}")
        main = page.locator("[data-testid='stMain']").inner_text() + " ".join(  # and the pickers' current values
            page.locator("[data-testid='stMain'] input").evaluate_all("els => els.map(e => e.value)"))
        # its layers, by their names in the ONNX graph (a picker shows one, a table all of them)
        assert any(n in main for n in ("stem", "depthwise", "pointwise")), (path, main[:600])


def test_sidebar_takes_the_default_exporters_pair(server, page, tmp_path):
    """torch.onnx.export(model, (x,), path) on current torch: net.onnx + net.onnx.data. The .onnx alone gets
    a message naming the missing file; adding the .data loads it, and /activations shows its layers."""
    import torch

    from .conftest import assert_no_exception

    torch.manual_seed(0)
    path = tmp_path / "student.onnx"
    torch.onnx.export(StudentNet().eval(), (torch.zeros(1, 3, 224, 224),), str(path))
    data = tmp_path / "student.onnx.data"
    assert data.is_file()
    page.goto(server + "/?model=onnx")
    wait_idle(page)
    _upload_onnx(page, "student.onnx", path.read_bytes())
    sidebar = page.locator("[data-testid='stSidebar']")
    alert = sidebar.locator("[data-testid='stAlert']").first.inner_text()
    assert "'student.onnx.data', which did not come with it" in alert, alert
    assert_no_exception(page)
    _upload_onnx(page, "student.onnx.data", data.read_bytes())  # the uploader keeps the .onnx in its list
    page.get_by_text("student.onnx (ONNX)").first.wait_for(timeout=120_000)
    nav_to(page, "Activation maps")
    page.wait_for_url("**/activations?**", timeout=60_000)
    wait_idle(page, 180_000)
    assert_no_exception(page)
    main = page.locator("[data-testid='stMain']").inner_text() + " ".join(
        page.locator("[data-testid='stMain'] input").evaluate_all("els => els.map(e => e.value)"))
    assert "node_conv2d" in main, main[:600]  # its layers, by the names the default exporter gave its nodes
    nav_to(page, "The network at a glance")  # the graph: the network's layers, none of the exporter's plumbing
    page.wait_for_url("**/network?**", timeout=60_000)
    wait_idle(page, 180_000)
    assert_no_exception(page)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=60_000)
    graph = page.locator("[data-testid='stMain'] .js-plotly-plot").first.inner_text()
    assert "conv 3×3" in graph and "Constant" not in graph and "Identity" not in graph, graph[:600]
