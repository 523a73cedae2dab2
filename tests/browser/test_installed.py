"""`pip install .` gives a package that serves the app on its own: the wheel, unpacked where nothing of the
checkout is on the path, started with `cnnviz run`, serves every page (Home, the pages, the player), and a user's
uploaded image reaches each of them.

One walk serves both checks (before, the wheel's walk and the uploaded image's walk each opened every page, 4.5
minutes of the suite between them): the student's path through the installed app, image first, then every page from
the top bar's menus."""
import os
import subprocess
import sys
import zipfile

import pytest

from cnnviz.appserver import free_port, stop, wait_healthy
from cnnviz.ui.nav import available_pages

from .conftest import ARTIFACTS, KNOWN_SHORT_OF_PNGS, figures_without_png, nav_to, screenshot, wait_idle
from .test_inputs import FIGURES, choose_upload_source, model_sees_caption, seven_png, upload

pytestmark = pytest.mark.browser


def _serve_wheel(wheel, tmp_path) -> tuple[subprocess.Popen, str]:
    """`cnnviz run` from the unpacked wheel (the package, not the checkout); the process and its URL once healthy."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(site), CNNVIZ_DEVICE="cpu")
    where = subprocess.run([sys.executable, "-c", "import cnnviz; print(cnnviz.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120).stdout.strip()
    assert where == str(site / "cnnviz" / "__init__.py"), where  # the package, not the checkout
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "server-wheel.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cnnviz", "run", "--port", str(port), "--address", "127.0.0.1"],
                                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, 120, proc):
        stop(proc)
        pytest.fail("cnnviz run did not serve; see test-artifacts/server-wheel.log")
    return proc, url


def _page_problems(page, name: str) -> list[str]:
    """What is wrong with the page on the screen (after a page switch with the uploaded image 'seven.png')."""
    if page.locator("[data-testid='stException']").count():
        return [f"{name}: exception {page.locator('[data-testid=stException]').first.inner_text()[:300]}"]
    problems = []
    if "Page not found" in page.content():
        problems.append(f"{name}: Page not found")
    failed = page.get_by_text("This view failed (")
    if failed.count():
        problems.append(f"{name}: {failed.first.inner_text()[:300]}")
    title = "h2.cnnviz-slide-title" if name == "deck" else "[data-testid='stMain'] h1"  # the player: a slide
    if page.locator(title).count() == 0 or not page.locator(title).first.inner_text().strip():
        problems.append(f"{name}: no title")
    if page.locator(FIGURES).count() == 0:
        problems.append(f"{name}: no figure")
    short = None if name == "deck" or name in KNOWN_SHORT_OF_PNGS else figures_without_png(page)
    if short:  # every chart and picture of the user's image offers its PNG (for slides)
        problems.append(f"{name}: {short}")
    toasts = " ".join(t.inner_text() for t in page.locator("[data-testid='stToast']").all())
    if "Ignored" in toasts:  # the previous page's controls must not come back as "unknown"
        problems.append(f"{name}: notice after a plain page switch: {toasts}")
    if "seven.png" not in model_sees_caption(page) and name != "deck":  # a slide opens its own view and image
        problems.append(f"{name}: the uploaded image was not kept across the page switch")
    return problems


@pytest.mark.slow
def test_the_wheel_serves_every_page_with_an_uploaded_image(browser, wheel, tmp_path):
    """Every page (and the player) from the installed package, with an uploaded image: no exception and no failed
    view, no "Page not found", a title, a figure, a PNG button per figure, the image kept across page switches,
    and no notice about the previous page's controls."""
    proc, url = _serve_wheel(wheel, tmp_path)
    try:
        ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = ctx.new_page()
        page.goto(url + "/")
        wait_idle(page, timeout=180_000)
        choose_upload_source(page)
        upload(page, "seven.png", seven_png())
        assert "seven.png" in model_sees_caption(page)
        problems = []
        for spec in available_pages():
            nav_to(page, spec.title)
            wait_idle(page, timeout=180_000)
            name = spec.url_path or "home"
            screenshot(page, f"inputs-{name}")
            problems += _page_problems(page, name)
        ctx.close()
        assert not problems, "\n".join(problems)
    finally:
        stop(proc)
