"""What a user waits for in the browser: a slider step and a warm page load, per page.

For every page of the app (or those given) and every model asked for, one headless Chromium page
(Debian's ``/usr/bin/chromium`` through Playwright) at 1280x720:

- **warm load**: the page is opened once (the cold load: model, caches), then ``--loads`` more times;
  each time is from navigation until the app is idle: ``[data-testid="stApp"]`` reads
  ``data-test-script-state="notRunning"``, connected, images loaded, no element of the main area still a grey
  skeleton (the charts are drawn), and still so 0.5 s later. Until 2026-12-07 the skeleton check was missing, so
  earlier warm loads stopped before the charts were on the screen (1-2 s early on some pages, and a page whose
  sliders were still skeletons was reported as having none);
- **slider step**: the first slider of the page's main area is focused and moved by one step with the
  arrow keys, ``--steps`` times (right, left, ...). A MutationObserver records every change of the
  script state with the page's own clock; a step is the time from the key press until the last
  ``notRunning`` of the runs it caused (followed by 1 s of stillness).

Medians are reported, per page and over pages. Not a test: timings depend on the machine.

    python -m cnnviz.bench.ui                                  # every page, default model and ResNet-18
    python -m cnnviz.bench.ui --pages activations,kernels --models lenet5-mnist --json
    python -m cnnviz.bench.ui --url http://127.0.0.1:8501      # an app already running
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

from cnnviz.appserver import app_command, free_port, stop, wait_healthy
from cnnviz.bench.load import CHROMIUM, CHROMIUM_ARGS, check_url

VIEWPORT = {"width": 1280, "height": 720}
DEFAULT_MODELS = ["lenet5-mnist", "resnet18"]
SLIDER = "[data-testid='stMain'] [data-testid='stSlider'] input[type='range']"
IDLE_JS = ("() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
           " return !!a && a.getAttribute('data-test-connection-state') === 'CONNECTED'"
           " && a.getAttribute('data-test-script-state') === 'notRunning'"
           " && Array.from(document.images).every(i => i.complete)"
           # a chart or widget still drawn as a grey skeleton is not on the screen yet: Streamlit's frontend loads
           # the Plotly component and draws each chart after the run has ended (1-2 s on 2 cores, measured)
           " && !document.querySelector(\"[data-testid='stMain'] [data-testid='stSkeleton']\"); }")
OBSERVE_JS = """() => { const a = document.querySelector('[data-testid="stApp"]'); window.__cnnvizRuns = [];
  if (window.__cnnvizObs) window.__cnnvizObs.disconnect();
  window.__cnnvizObs = new MutationObserver(() => window.__cnnvizRuns.push(
      [performance.now(), a.getAttribute('data-test-script-state')]));
  window.__cnnvizObs.observe(a, {attributes: true, attributeFilter: ['data-test-script-state']}); }"""


def _idle(page, timeout_s: float) -> None:
    """Wait until the app is idle and stays so for half a second."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.wait_for_function(IDLE_JS, timeout=max(1.0, deadline - time.monotonic()) * 1000, polling=50)
        page.wait_for_timeout(500)
        if page.evaluate(IDLE_JS):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not become idle")


def _load_time(page, url: str, timeout_s: float) -> float:
    t0 = time.monotonic()
    page.goto(url, wait_until="commit")
    deadline = t0 + timeout_s
    page.wait_for_function(IDLE_JS, timeout=timeout_s * 1000, polling=50)
    t = time.monotonic()
    while True:  # idle, and still idle 0.5 s later: a rerun that follows at once is part of the load
        page.wait_for_timeout(500)
        if page.evaluate(IDLE_JS):
            return t - t0
        page.wait_for_function(IDLE_JS, timeout=max(1.0, deadline - time.monotonic()) * 1000, polling=50)
        t = time.monotonic()


def _slider_steps(page, steps: int, timeout_s: float) -> list[float]:
    """Move the first slider of the main area ``steps`` times; the seconds each step kept the app busy."""
    slider = page.locator(SLIDER).first
    if slider.count() == 0:
        return []
    out = []
    for i in range(steps):
        slider.focus()
        page.evaluate(OBSERVE_JS)
        t0 = page.evaluate("performance.now()")
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        deadline = time.monotonic() + timeout_s
        while True:  # until a run has ended after the press and nothing has changed for 1 s
            page.wait_for_timeout(1000)
            ev = page.evaluate("window.__cnnvizRuns")
            still = not ev or page.evaluate("performance.now()") - ev[-1][0] >= 1000
            if (ev and ev[-1][1] == "notRunning" and still) or time.monotonic() > deadline:
                break
            if not ev and time.monotonic() > t0 / 1000 + 3:  # the press changed nothing (slider at its end)
                break
        ends = [t for t, s in ev if s == "notRunning" and t > t0]
        if ends:
            out.append((ends[-1] - t0) / 1000)
    return out


def measure(url: str, pages: list[str], models: list[str], loads: int = 3, steps: int = 5,
            timeout_s: float = 180.0, screenshots: Path | None = None) -> dict:
    """Warm-load and slider-step times (seconds) for ``pages`` x ``models`` of the app at ``url``."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    url = check_url(url)
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for model in models:
                for path in pages:
                    ctx = browser.new_context(viewport=VIEWPORT)
                    page = ctx.new_page()
                    target = f"{url}/{path}?model={model}"
                    row: dict = {"page": path or "home", "model": model}
                    try:
                        row["cold_load_s"] = round(_load_time(page, target, timeout_s), 3)
                        warm = [_load_time(page, target, timeout_s) for _ in range(loads)]
                        row["warm_load_s"] = round(statistics.median(warm), 3)
                        if screenshots is not None:
                            screenshots.mkdir(parents=True, exist_ok=True)
                            page.screenshot(path=str(screenshots / f"{path or 'home'}-{model}.png"))
                        st = _slider_steps(page, steps, timeout_s)
                        row["slider_steps_s"] = [round(s, 3) for s in st]
                        row["slider_step_s"] = round(statistics.median(st), 3) if st else None
                    # a page that never goes idle, or that Playwright loses: recorded, the other pages go on
                    except (TimeoutError, PlaywrightError) as e:
                        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    ctx.close()
        finally:
            browser.close()
    return {"rows": rows, "summary": summarize(rows)}


def summarize(rows: list[dict]) -> dict:
    """Per model: median slider step over pages, the slowest page's step, median warm load."""
    out = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        steps = {r["page"]: r["slider_step_s"] for r in mine if r.get("slider_step_s") is not None}
        loads = [r["warm_load_s"] for r in mine if r.get("warm_load_s") is not None]
        slowest = max(steps, key=steps.get) if steps else None
        out[model] = {"median_slider_step_s": round(statistics.median(steps.values()), 3) if steps else None,
                      "max_slider_step_s": steps.get(slowest) if slowest else None, "slowest_page": slowest,
                      "median_warm_load_s": round(statistics.median(loads), 3) if loads else None,
                      "pages_with_slider": len(steps), "pages": len(mine)}
    return out


def main(argv: list[str] | None = None) -> int:
    from cnnviz.ui.nav import available_pages

    p = argparse.ArgumentParser(prog="python -m cnnviz.bench.ui", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="", help="an app already running on loopback (default: start one)")
    p.add_argument("--pages", default="", help="comma-separated URL paths (default: every page but the deck)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--loads", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--screenshots", default="", help="a folder for one 1280x720 screenshot per page and model")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    pages = [x.strip("/") for x in a.pages.split(",")] if a.pages else [
        s.url_path for s in available_pages() if s.url_path not in ("deck",)]
    proc = None
    url = a.url
    if not url:
        port = free_port()
        env = dict(os.environ, CNNVIZ_DEVICE=os.environ.get("CNNVIZ_DEVICE", "cpu"))
        proc = subprocess.Popen(app_command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        if not wait_healthy(url, 120, proc):
            stop(proc)
            print("the app did not start", flush=True)
            return 1
    try:
        res = measure(url, pages, [m for m in a.models.split(",") if m], a.loads, a.steps,
                      screenshots=Path(a.screenshots) if a.screenshots else None)
    finally:
        if proc is not None:
            stop(proc)
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print("\n| model | median slider step | slowest page | median warm load |\n|---|---|---|---|")
        for model, s in res["summary"].items():
            print(f"| {model} | {s['median_slider_step_s']} s | {s['slowest_page']} {s['max_slider_step_s']} s | "
                  f"{s['median_warm_load_s']} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
