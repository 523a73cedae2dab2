"""`pip install .` gives a package that serves the app on its own: the wheel, unpacked where nothing of the
checkout is on the path, started with `cnnviz run`, serves every page (Home, the pages, the player)."""
import os
import subprocess
import sys
import zipfile

import pytest

from cnnviz.appserver import free_port, stop, wait_healthy
from cnnviz.ui.nav import available_pages

from .conftest import ARTIFACTS, assert_no_exception, wait_idle

pytestmark = pytest.mark.browser


@pytest.mark.slow
def test_cnnviz_run_from_the_wheel_serves_every_page(browser, wheel, tmp_path):
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
    try:
        assert wait_healthy(url, 120, proc), "cnnviz run did not serve; see test-artifacts/server-wheel.log"
        ctx = browser.new_context(viewport={"width": 1280, "height": 720})
        page = ctx.new_page()
        for spec in available_pages():
            page.goto(f"{url}/{spec.url_path}")
            wait_idle(page)
            assert_no_exception(page)
            assert "Page not found" not in page.content(), spec.url_path
            if spec.url_path == "deck":
                assert page.locator("h2.cnnviz-slide-title").count() == 1
            else:
                assert page.locator("h1").first.inner_text().strip(), spec.url_path
        ctx.close()
    finally:
        stop(proc)
