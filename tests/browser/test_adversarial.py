"""The /adversarial page in a real browser: the bundled LeNet, an uploaded digit, and untrained ResNet-18."""
import re

import pytest

from .conftest import assert_no_exception, screenshot, wait_idle
from .test_inputs import choose_upload_source, seven_png, upload

TIMEOUT = 180_000


def _open(page, url: str) -> None:
    """Home first (a fresh server must run app.py's st.navigation once), then the deep link."""
    base, _, query = url.partition("/adversarial")
    page.goto(base + "/" + query)  # the same model and image
    page.get_by_text("Loaded model").first.wait_for(timeout=TIMEOUT)
    page.goto(url)
    page.get_by_role("heading", name="Adversarial examples").wait_for(timeout=TIMEOUT)
    wait_idle(page, TIMEOUT)


def test_adversarial_on_the_bundled_lenet(server, page):
    page.set_viewport_size({"width": 1500, "height": 1000})
    _open(page, server + "/adversarial?ad_m=fgsm&ad_e=0.2&ad_bn=100")
    page.get_by_text("Robustness by training").first.wait_for(timeout=TIMEOUT)
    wait_idle(page, TIMEOUT)
    assert_no_exception(page)
    main = page.locator("[data-testid='stMain']")
    assert page.get_by_text(re.compile(r"FGSM L∞ at ε = 0\.2 (flips|does not flip) the prediction")).count() == 1
    smallest = re.compile(r"The smallest ε at which FGSM L∞ flips the prediction is \d\.\d{4}")
    assert page.get_by_text(smallest).count() == 1
    # clean, perturbation, adversarial, two attribution maps, two filter grids
    assert main.locator("[data-testid='stImage']").count() >= 7
    # predictions, accuracy against epsilon, transfer
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=TIMEOUT)
    assert page.get_by_text("the first 100 bundled mnist test images").count() == 1
    assert page.get_by_text("--adversarial").count() >= 1
    screenshot(page, "adversarial")
    page.get_by_text("A batch of images: accuracy against ε").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(700)
    screenshot(page, "adversarial-batch")


def test_adversarial_after_an_upload(server, page):
    _open(page, server + "/adversarial?ad_m=fgsm&ad_e=0.15&ad_bn=100&ad_tr=&ad_rob=0")
    choose_upload_source(page)
    upload(page, "seven.png", seven_png())
    page.get_by_text("(seven.png)").first.wait_for(timeout=TIMEOUT)
    wait_idle(page, TIMEOUT)
    assert_no_exception(page)
    assert page.get_by_text(re.compile(r"clean: 7 \(\d+%\)")).count() == 1
    assert page.get_by_text(re.compile(r"FGSM L∞ at ε = 0\.15 (flips|does not flip) the prediction")).count() == 1
    screenshot(page, "adversarial-upload")


@pytest.mark.slow  # about a minute on 2 CPU cores: ResNet-18 attacks, two Grad-CAMs, a curve on 6 photos
def test_adversarial_on_untrained_resnet18(server, page):
    _open(page, server + "/adversarial?model=resnet18&untrained=1&img=photo-cat&ad_bn2=6")
    page.get_by_text("crops of the bundled sample photos").first.wait_for(timeout=TIMEOUT)
    wait_idle(page, TIMEOUT)
    assert_no_exception(page)
    assert page.get_by_text("untrained", exact=False).count() >= 1
    assert page.get_by_role("button", name="Find the smallest flipping ε").count() == 1  # too slow to run unasked
    # digit models only: the view says so and links to the bundled LeNet
    assert page.get_by_text("resnet18 is not a digit model").count() == 1
    assert page.get_by_role("link", name="Open it with LeNet-5").count() == 1
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=TIMEOUT)
    screenshot(page, "adversarial-resnet18")
