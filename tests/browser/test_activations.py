"""/activations and /attribution in a real browser: bundled model, click a channel, uploaded photo on ResNet-18."""
import re
import shutil

import torch

from cnnviz.figures.activations import grid_geometry, render_channel_grid

from ..conftest import SAMPLES
from .conftest import assert_no_exception, nav_to, screenshot, wait_idle

GRID_IFRAME = "iframe[title='streamlit_image_coordinates.streamlit_image_coordinates']"


def _images_loaded(page, n: int) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('[data-testid=\"stImage\"] img').length >= {n}",
                           timeout=90_000)


def test_activations_page_click_a_channel(server, page):
    page.set_viewport_size({"width": 1500, "height": 3200})
    page.goto(server + "/activations")
    wait_idle(page)
    page.get_by_role("heading", name="Activation maps").wait_for()
    assert_no_exception(page)
    page.get_by_text(re.compile(r"features\.1\*?\*?: 6 channels of 28×28")).first.wait_for()
    _images_loaded(page, 4)  # input, large map, overlay, filter (+ compare images)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3", timeout=90_000)
    # LeNet features.1: 6 maps of 28x28 in the page's geometry; click the middle of tile 5
    g = render_channel_grid(torch.zeros(6, 28, 28), tile_px=grid_geometry(6)[1], cols=grid_geometry(6)[0])
    grid = page.frame_locator(GRID_IFRAME).locator("img")
    grid.wait_for()
    box = grid.bounding_box()
    f = box["width"] / g.image.shape[1]
    y, x = g.layout.origin(5)
    grid.click(position={"x": (x + g.layout.tile_w / 2) * f, "y": (y + g.layout.tile_h / 2) * f})
    page.wait_for_function("() => location.search.includes('ac_ch=5')", timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("features.1, channel 5").count() >= 1
    link = page.get_by_role("link", name=re.compile("What excites channel 5"))
    assert "mx_layer=features.0" in link.get_attribute("href") and "mx_ch=5" in link.get_attribute("href")
    screenshot(page, "activations")


def test_attribution_page_bundled_model(server, page):
    page.set_viewport_size({"width": 1500, "height": 3600})
    page.goto(server + "/attribution?at_all=1")
    wait_idle(page)
    page.get_by_role("heading", name="Saliency and Grad-CAM").wait_for()
    page.get_by_text("All methods done").first.wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("rank correlation").count() >= 1
    page.get_by_text("Sanity check done for every method").first.wait_for(timeout=120_000)
    wait_idle(page)
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 2  # predictions, correlation per method
    for label in ("Gradient saliency", "SmoothGrad", "Integrated Gradients", "Guided Grad-CAM", "Occlusion"):
        assert page.get_by_text(re.compile(label + " — \\d+ ms")).count() >= 1, label
    screenshot(page, "attribution")


def test_uploaded_photo_on_resnet18_both_pages(server, page, tmp_path):
    photo = tmp_path / "my-photo.jpg"
    shutil.copy(SAMPLES / "photo-rocket.jpg", photo)
    page.set_viewport_size({"width": 1500, "height": 3400})
    # upload on the home page, then move through the navigation: the image is kept for every page
    page.goto(server + "/?model=resnet18&untrained=1&src=upload")
    wait_idle(page)
    page.locator("[data-testid='stSidebar'] input[type='file']").first.set_input_files(str(photo))
    page.get_by_text("(my-photo.jpg)").first.wait_for(timeout=120_000)
    wait_idle(page)
    nav_to(page, "Activation maps")
    page.get_by_role("heading", name="Activation maps").wait_for(timeout=60_000)
    page.get_by_text("Input as the network sees it (my-photo.jpg)").first.wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text(re.compile(r"relu\*?\*?: 64 channels of 112×112")).first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3", timeout=90_000)
    screenshot(page, "activations-resnet18-upload")

    nav_to(page, "Saliency and Grad-CAM")
    page.get_by_role("heading", name="Saliency and Grad-CAM").wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("Input (my-photo.jpg)").first.wait_for()
    assert page.get_by_text(re.compile(r"layer layer4\.1\.conv2 \(7×7 map")).count() >= 1
    assert page.get_by_text("The loaded model is itself untrained").count() == 1
    screenshot(page, "attribution-resnet18-upload")
