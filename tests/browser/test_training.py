"""The /training page in Chromium: start a run, watch the curves update, stop it, use the model on /activations."""
import re

from playwright.sync_api import expect

from .conftest import assert_no_exception, screenshot, wait_idle

LIVE = ".st-key-cnnviz-view-training-live"  # the live-training view (the page shows every experiment)


def _epoch_shown(page) -> float:
    text = page.locator(LIVE).get_by_test_id("stMetric").first.inner_text()
    return float(re.search(r"(\d+\.\d+) /", text).group(1))


def test_train_stop_and_use_on_activations(server, page):
    # a long run (30 epochs) so Stop lands while it trains, even on a quick machine
    page.goto(server + "/training?tr_ep=30&tr_bs=16")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("Press Start to train").first.wait_for(timeout=60_000)
    view = page.locator(LIVE)
    view.get_by_role("button", name="Start").click()
    page.get_by_text("Training…").first.wait_for(timeout=120_000)
    view.get_by_test_id("stMetric").first.wait_for(timeout=120_000)
    first = _epoch_shown(page)
    # the fragment polls every second: the shown epoch moves on without any click
    page.wait_for_function(
        "(e) => { const m = document.querySelector('.st-key-cnnviz-view-training-live [data-testid=\"stMetric\"]');"
        " const v = m && m.innerText.match(/(\\d+\\.\\d+) \\//); return v && parseFloat(v[1]) > e; }",
        arg=first, timeout=120_000)
    # curves and gradient norms (Plotly draws each chart a moment after the fragment's rerun: wait, don't count)
    page.wait_for_function(
        "() => document.querySelectorAll('.st-key-cnnviz-view-training-live .js-plotly-plot').length >= 2",
        timeout=60_000)
    screenshot(page, "training-live")
    view.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_role("button", name="Resume").count() == 1
    page.get_by_role("button", name="Use this model on every page").click()
    wait_idle(page)
    model_box = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Model")
    expect(model_box).to_have_value(re.compile("^Trained in this session: LeNet-5 on mnist"), timeout=60_000)
    # in-app navigation (the session, and its trained model, go along): the top bar's section, then the page
    page.get_by_test_id("stTopNavSection").filter(has_text="Inside a trained network").click()
    page.get_by_test_id("stTopNavDropdownLink").filter(has_text="Activation maps").click()
    wait_idle(page)
    assert_no_exception(page)
    page.wait_for_url("**/activations**", timeout=60_000)
    expect(model_box).to_have_value(re.compile("^Trained in this session: LeNet-5 on mnist"), timeout=60_000)
    assert "model=session" in page.url
    assert page.get_by_text("Activation maps").count() >= 1
    screenshot(page, "training-model-on-activations")
