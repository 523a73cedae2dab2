"""Start the real app on a free port and drive it with headless Chromium (Debian's package)."""
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cnnviz.appserver import free_port, stop
from cnnviz.core.paths import APP_SCRIPT
from cnnviz.ui.settle import wait_settled

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CNNVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 # a synthetic webcam (test pattern) and auto-granted permission, for st.camera_input
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def start_server(log_name: str = "server.log", extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start the app (``streamlit run app.py``) on a free loopback port; returns the process and URL
    once ``/_stcore/health`` answers."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)")
    port = free_port()
    env = dict(os.environ, CNNVIZ_DEVICE=os.environ.get("CNNVIZ_DEVICE", "cpu"), **(extra_env or {}))
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT), "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--server.fileWatcherType", "none", "--server.runOnSave", "false",
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read().strip() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"the app did not answer /_stcore/health within 90 s; see test-artifacts/{log_name}")


# Servers asked to stop without waiting (a fresh server per test): each one's shutdown (1.5-2.3 s, measured) runs
# while the next test goes on, and the session's end waits for them all.
_STOPPING: list[subprocess.Popen] = []


def stop_server(proc: subprocess.Popen, wait: bool = True) -> None:
    if wait:
        stop(proc)
    else:
        proc.terminate()
        _STOPPING.append(proc)


@pytest.fixture(scope="session", autouse=True)
def _servers_stopped():
    """Every server stopped without waiting has ended (or is killed) before the session ends."""
    yield
    while _STOPPING:
        stop(_STOPPING.pop())


@pytest.fixture(scope="session")
def server():
    proc, url = start_server()
    yield url
    stop_server(proc)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of what the page showed: test-artifacts/failed-<test>.png."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "page" in item.funcargs:
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in item.name)
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            item.funcargs["page"].screenshot(path=str(ARTIFACTS / f"failed-{name}.png"), full_page=True, timeout=20_000)
        except Exception as e:  # a closed or hung page: the failure itself is what matters
            print(f"no failure screenshot for {item.name}: {e}")


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until the app has settled: the run over, images loaded, every chart of the main area drawn and the
    script state unchanged for 0.4 s (``cnnviz.ui.settle``, the check deck export uses too)."""
    wait_settled(page, timeout)


def press_key(page, key: str, want: str) -> None:
    """Press ``key`` and wait for the URL to show ``want``. A press that changed nothing within 20 s is pressed
    once more: in one clean run of the whole suite (2 busy cores) the first press after the slide loaded was
    lost, while the slide's link parameters were still being applied. A press that only came late cannot
    double-step here: the second press happens only when the URL still shows the old slide after 20 s."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.keyboard.press(key)
    try:
        page.wait_for_url(f"**{want}**", timeout=20_000)
    except PlaywrightTimeoutError:
        wait_idle(page)
        page.keyboard.press(key)
    wait_idle(page)


def assert_no_exception(page) -> None:
    """No exception box, and no view that failed (a view's failure is a message, the page goes on)."""
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    failed = page.get_by_text("This view failed (")
    assert failed.count() == 0, failed.first.inner_text()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# What counts as a figure on a slide: charts, images, component frames (clickable grids), tables.
FIGURE_SELECTORS = ["[data-testid='stPlotlyChart']", "[data-testid='stImage'] img", "iframe",
                    "[data-testid='stDataFrame']", "[data-testid='stTable']", "[data-testid='stVegaLiteChart']",
                    "[data-testid='stGraphVizChart']"]
COVERAGE_JS = """(sels) => {
  const W = window.innerWidth, H = window.innerHeight, cell = 4;
  const cols = Math.ceil(W / cell), rows = Math.ceil(H / cell), grid = new Uint8Array(cols * rows);
  const els = new Set(); sels.forEach(s => document.querySelectorAll(s).forEach(e => els.add(e)));
  for (const e of els) {
    const r = e.getBoundingClientRect(), st = getComputedStyle(e);
    if (r.width < 2 || r.height < 2 || st.visibility === 'hidden' || st.display === 'none') continue;
    const x0 = Math.max(0, Math.floor(r.left / cell)), x1 = Math.min(cols, Math.ceil(r.right / cell));
    const y0 = Math.max(0, Math.floor(r.top / cell)), y1 = Math.min(rows, Math.ceil(r.bottom / cell));
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) grid[y * cols + x] = 1;
  }
  let n = 0; for (const v of grid) n += v; return n / (cols * rows);
}"""


def wait_for_coverage(page, minimum: float, timeout: float = 60_000) -> float:
    """The figures' coverage once it reaches ``minimum`` (charts lay out, and long work such as a
    synthesis shows its first images, a moment after the script is idle), or as it is after ``timeout``."""
    try:
        page.wait_for_function(f"(sels) => ({COVERAGE_JS})(sels) >= {minimum}", arg=FIGURE_SELECTORS,
                               timeout=timeout)
    except Exception:  # playwright's TimeoutError: the caller asserts on the value
        pass
    return figure_coverage(page)


def figure_coverage(page) -> float:
    """The fraction of the first screen (the viewport, no scrolling) that figures cover (their union)."""
    return float(page.evaluate(COVERAGE_JS, FIGURE_SELECTORS))


def slide_title_visible(page, title: str) -> bool:
    """Whether the slide bar's title reads ``title`` and lies inside the viewport."""
    loc = page.locator("h2.cnnviz-slide-title")
    if loc.count() == 0 or title not in loc.first.inner_text():
        return False
    box = loc.first.bounding_box()
    vp = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= vp["height"] and box["x"] >= 0


def nav_to(page, title: str) -> None:
    """Open a page the way a student does: its section's menu in the top bar, then the page."""
    from cnnviz.ui.nav import PAGES

    spec = next(p for p in PAGES if p.title == title)
    if spec.section:
        page.locator("[data-testid='stTopNavSection']", has_text=spec.section).first.click()
        page.locator("[data-testid='stTopNavDropdownLink']", has_text=title).first.click()
    else:
        page.locator("[data-testid='stTopNavLink']", has_text=title).first.click()


# The one page short of a PNG button per figure: augmentation's 64 sample tiles are one gallery, with no
# button per tile (on purpose). Every other page must offer one button per figure.
KNOWN_SHORT_OF_PNGS = {"augmentation"}


def figures_without_png(page) -> str | None:
    """What the main area lacks in PNG buttons ("3 charts + 1 images, 2 PNG buttons"), or None when every chart
    and image has its button. Empty axes waiting for a run's numbers are not figures yet."""
    main = "[data-testid='stMain']"
    charts = page.locator(f"{main} [data-testid='stPlotlyChart']").count() - page.locator(
        f"{main} [class*='st-key-waiting-'] [data-testid='stPlotlyChart']").count()
    images = page.locator(f"{main} [data-testid='stImage']").count()
    pngs = page.locator(f"{main} [class*='st-key-png-'] [data-testid='stDownloadButton']").count()
    return None if pngs >= charts + images else f"{charts} charts + {images} images, {pngs} PNG buttons"
