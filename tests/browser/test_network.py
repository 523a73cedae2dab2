"""/network in a real browser: the overview for LeNet and ResNet-18, a click opens a unit, and the value shown
is the activation the network produced for that unit (computed here with m.activations)."""
import re

import pytest

import cnnviz
from cnnviz.methods import network as nw

from ..conftest import SAMPLES
from .conftest import assert_no_exception, screenshot, wait_idle

NODES = "[data-testid='stPlotlyChart'] .js-plotly-plot .scatterlayer .trace .points path"
CLICKABLE = "iframe[title*='streamlit_image_coordinates']"


def _shown_unit(page) -> tuple[str, tuple[int, ...], float]:
    """The unit the page shows (layer, index) and its 'the network produced' metric."""
    text = page.get_by_text(re.compile(r"^Unit \(")).first.inner_text()
    unit = tuple(int(v) for v in re.search(r"Unit \(([\d, ]+)\)", text).group(1).split(","))
    layer = re.search(r"\) of (\S+)", text).group(1)
    metric = page.locator("[data-testid='stMetric']", has_text="the network produced")
    value = float(metric.locator("[data-testid='stMetricValue']").inner_text().replace("−", "-"))
    return layer, unit, value


def _open_node(page, model, node_id: str) -> None:
    g = nw.network_graph(model)
    d, fold, opened = nw.default_view(g)
    ids = [n.id for n in nw.graph_view(model, d, opened, fold).nodes]
    point = page.locator(NODES).nth(ids.index(node_id))
    point.scroll_into_view_if_needed()
    point.click(force=True)
    page.wait_for_function(f"() => location.search.includes('nw_node={node_id}')", timeout=60_000)
    wait_idle(page)


@pytest.mark.parametrize("name, image, node, untrained", [("lenet5-mnist", "digit-7", "features.3", False),
                                                           ("resnet18", "photo-cat", "layer1.0.conv1", True)])
def test_overview_click_a_node_and_a_unit(server, page, name, image, node, untrained):
    m = cnnviz.load_model(name, untrained=untrained)
    page.set_viewport_size({"width": 1500, "height": 2600})
    page.goto(server + f"/network?model={name}&img={image}" + ("&untrained=1" if untrained else ""))
    wait_idle(page, 240_000)
    page.get_by_role("heading", name="The network at a glance").wait_for()
    assert_no_exception(page)
    page.wait_for_function(f"() => document.querySelectorAll(\"{NODES}\").length >= 10", timeout=120_000)
    screenshot(page, f"network-{name}")
    _open_node(page, m, node)
    assert_no_exception(page)
    page.get_by_role("heading", name="One unit, computed with its weights").wait_for(timeout=120_000)
    page.get_by_text(re.compile(rf"^Unit \(.*\) of {re.escape(node)} ")).first.wait_for(timeout=120_000)
    # click a unit on the channel's map (the second clickable image: grid first, then the map)
    frame = page.locator(CLICKABLE).nth(1)
    frame.scroll_into_view_if_needed()
    img = page.frame_locator(CLICKABLE).nth(1).locator("img")
    box = img.bounding_box()
    img.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.6})
    page.wait_for_function("() => location.search.includes('nw_y=')", timeout=60_000)
    wait_idle(page, 240_000)
    assert_no_exception(page)
    layer, unit, shown = _shown_unit(page)
    assert layer == node
    x = m.preprocess(cnnviz.load_image(SAMPLES / f"{image}.{'png' if name.startswith('lenet') else 'jpg'}"))
    expected = float(m.activations(x, [layer])[layer][0][unit])
    assert shown == pytest.approx(expected, rel=1e-5, abs=1e-5), (unit, shown, expected)
    links = [page.get_by_role("link", name=re.compile(t)).get_attribute("href") for t in ("Its receptive field",
                                                                                             "What excites channel")]
    assert f"rf_layer={layer}" in links[0] and f"rf_row={unit[1]}" in links[0] and f"mx_ch={unit[0]}" in links[1]
    screenshot(page, f"network-{name}-unit")
