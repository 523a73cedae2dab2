"""Load benchmark: N concurrent browser sessions walk a scripted path through the app.

Each session is a headless Chromium context (Playwright, Debian's ``/usr/bin/chromium``) of one browser;
all start at once, as a class does when the lecturer shares the link. For every page of the path it
records the time from navigation to a *still* page (Streamlit's script finished, connected, images
loaded, and still so half a second later), the sessions' errors (timeouts, page errors, a lost
connection) and the exceptions the page shows, and the servers' resident memory before and after.

Bounded and local: at most 32 sessions and 10 passes, a wall-clock ``--timeout``, loopback URLs only.

    python -m cnnviz.bench.load --short                       # CI: 2 sessions, one pass, its own server
    python -m cnnviz.bench.load --sessions 8 --passes 2       # one replica started for the run
    python -m cnnviz.bench.load --sessions 8 --replicas 2     # 2 replicas behind nginx (deploy/serve.sh)
    python -m cnnviz.bench.load --sessions 8 --url http://127.0.0.1:8600 --run-dir /tmp/cnnviz-serve

Examples::

    >>> r = run_load("http://127.0.0.1:8501", sessions=2, passes=1, pages=["", "activations"])
    >>> r["pages"]["activations"]["p95_s"]
    3.1
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from cnnviz.appserver import app_command, free_port, stop, wait_healthy
from cnnviz.errors import CnnvizError

MAX_SESSIONS, MAX_PASSES = 32, 10
DEFAULT_PAGES = ["", "activations", "attribution", "kernels"]  # "" is Home
SHORT_PAGES = ["", "activations"]
CHROMIUM = os.environ.get("CNNVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SERVE_SH = ROOT / "deploy" / "serve.sh"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
STILL_JS = ("() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
            " return !!a && a.getAttribute('data-test-connection-state') === 'CONNECTED'"
            " && a.getAttribute('data-test-script-state') === 'notRunning'"
            " && Array.from(document.images).every(i => i.complete); }")


class LoadError(CnnvizError):
    """A load run that cannot start as asked (the message says what to change)."""


def check_url(url: str) -> str:
    """``url`` without a trailing slash, if it points at this machine (the benchmark never leaves it).

    Examples::

        >>> check_url("http://127.0.0.1:8501/")
        'http://127.0.0.1:8501'
    """
    host = urlparse(url).hostname or ""
    if urlparse(url).scheme not in ("http", "https") or host not in LOOPBACK:
        raise LoadError(f"{url!r} is not a loopback http(s) URL; the load benchmark only targets this machine "
                        f"({', '.join(sorted(LOOPBACK))})")
    return url.rstrip("/")


def rss_mb(pids: Sequence[int]) -> float | None:
    """Summed resident memory (MB) of ``pids`` from ``/proc``; None where it cannot be read."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            return None
    return round(total / 1024, 1) if pids else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (linear interpolation, as numpy); None for no values."""
    return round(float(np.percentile(values, q)), 3) if len(values) else None


async def _still(page, deadline: float) -> float:
    """Wait for a still page; returns the monotonic time it first became (and stayed) still."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the page did not settle before the deadline")
        await page.wait_for_function(STILL_JS, timeout=left * 1000, polling=100)
        t = time.monotonic()
        await page.wait_for_timeout(500)  # a rerun about to start (a widget default landing) is not still
        if await page.evaluate(STILL_JS):
            return t


async def _session(browser, url: str, pages: Sequence[str], passes: int, deadline: float, i: int) -> dict:
    from playwright.async_api import Error as PlaywrightError

    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    rec: dict = {"session": i, "times": {p: [] for p in pages}, "errors": [], "exceptions": {p: 0 for p in pages}}
    page.on("pageerror", lambda e: rec["errors"].append(f"page error: {e}"))
    try:
        for _ in range(passes):
            for p in pages:
                t0 = time.monotonic()
                try:
                    await page.goto(f"{url}/{p}", wait_until="commit", timeout=max(1, deadline - t0) * 1000)
                    t_still = await _still(page, deadline)
                except (TimeoutError, PlaywrightError) as e:  # a page that never settles: counted, the session goes on
                    rec["errors"].append(f"{p or 'home'}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
                    if time.monotonic() >= deadline:
                        return rec
                    continue
                rec["times"][p].append(t_still - t0)
                rec["exceptions"][p] += await page.locator("[data-testid='stException']").count()
        rec["cookies"] = {c["name"]: c["value"] for c in await ctx.cookies()}
    finally:
        await ctx.close()
    return rec


async def _run(url: str, sessions: int, passes: int, pages: Sequence[str], timeout: float,
               warmup: Sequence[str], pids: Sequence[int], rss: dict) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            deadline = time.monotonic() + timeout
            for w in warmup:  # one unmeasured walk per replica first (models loaded, caches filled)
                await _session(browser, w, pages, 1, deadline, -1)
            rss["rss_before_mb"] = rss_mb(pids)  # after the warm-up: what the measured sessions add
            return list(await asyncio.gather(*(_session(browser, url, pages, passes, deadline, i)
                                                for i in range(sessions))))
        finally:
            await browser.close()


def _run_to_end(coro):
    """``asyncio.run(coro)``, in a thread of its own when this thread already runs an event loop (a notebook,
    or Playwright's sync API started earlier in the same process, as in the test suite)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1, thread_name_prefix="cnnviz-load") as pool:
        return pool.submit(asyncio.run, coro).result()


def run_load(url: str, sessions: int = 2, passes: int = 1, pages: Sequence[str] = SHORT_PAGES,
             timeout: float = 300, pids: Sequence[int] = (), warmup: Sequence[str] = ()) -> dict:
    """Run ``sessions`` concurrent browser sessions over ``pages`` ``passes`` times against ``url``.

    Args:
        url: the app (a replica or the proxy), on loopback.
        pages: URL paths of pages (``""`` is Home), visited in order by every session.
        timeout: seconds for the whole run; pages not reached by then count as errors.
        pids: server processes whose resident memory is reported before and after.
        warmup: URLs (each replica's own) to walk the path once, unmeasured, first: the servers' cold
            start is then left out; without it the first page of every replica includes loading the model.

    Returns:
        A JSON-ready dict: per page ``n``, ``median_s``, ``p95_s``, ``errors``, ``exceptions``; totals;
        ``rss_start_mb`` (before any warm-up), ``rss_before_mb`` / ``rss_after_mb`` (around the measured
        sessions); per session its cookies (the proxy's affinity key) and errors.
    """
    url = check_url(url)
    if not 1 <= sessions <= MAX_SESSIONS or not 1 <= passes <= MAX_PASSES:
        raise LoadError(f"sessions must be 1..{MAX_SESSIONS} and passes 1..{MAX_PASSES} "
                        f"(got {sessions}, {passes})")
    if not Path(CHROMIUM).exists():
        raise LoadError(f"{CHROMIUM} not found: install Debian's chromium (make chromium) or set CNNVIZ_CHROMIUM")
    rss = {"rss_start_mb": rss_mb(pids)}
    t0 = time.monotonic()
    recs = _run_to_end(_run(url, sessions, passes, pages, timeout, [check_url(w) for w in warmup], pids, rss))
    wall = time.monotonic() - t0
    after = rss_mb(pids)
    out: dict = {"url": url, "sessions": sessions, "passes": passes, "timeout_s": timeout, "wall_s": round(wall, 1),
                 "warmup": bool(warmup), "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1),
                 **rss, "rss_after_mb": after, "pages": {}}
    for p in pages:
        ts = [t for r in recs for t in r["times"][p]]
        out["pages"][p or "home"] = {"n": len(ts), "median_s": percentile(ts, 50), "p95_s": percentile(ts, 95),
                                     "errors": sessions * passes - len(ts),
                                     "exceptions": sum(r["exceptions"][p] for r in recs)}
    every = [t for r in recs for p in pages for t in r["times"][p]]
    out["all"] = {"n": len(every), "median_s": percentile(every, 50), "p95_s": percentile(every, 95)}
    out["errors"] = sum(len(r["errors"]) for r in recs)
    out["exceptions"] = sum(v["exceptions"] for v in out["pages"].values())
    out["session_log"] = [{"session": r["session"], "cookies": r.get("cookies", {}), "errors": r["errors"]}
                          for r in recs]
    return out


# --------------------------------------------------------------------------- servers for a run


@contextmanager
def serve(replicas: int = 1, proxy: bool = False,
          env: dict | None = None) -> Iterator[tuple[str, list[int], Path, list[str]]]:
    """Start the app for a run: one plain replica, or ``replicas`` behind nginx (``deploy/serve.sh``).

    Yields ``(url, replica pids, run folder, each replica's own URL)``; everything is stopped on exit
    and the run folder (logs, nginx.conf, access log) removed.
    """
    env = {**os.environ, "CNNVIZ_DEVICE": os.environ.get("CNNVIZ_DEVICE", "cpu"), **(env or {})}
    run_dir = Path(tempfile.mkdtemp(prefix="cnnviz-load-"))
    if replicas == 1 and not proxy:
        port = free_port()
        log = open(run_dir / "replica-0.log", "w")
        proc = subprocess.Popen(app_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            if not wait_healthy(url, 120, proc):
                raise LoadError(f"the app did not start within 120 s; see {run_dir / 'replica-0.log'}")
            yield url, [proc.pid], run_dir, [url]
        finally:
            stop(proc)
            log.close()
            shutil.rmtree(run_dir, ignore_errors=True)
        return
    if not SERVE_SH.exists():
        raise LoadError(f"{SERVE_SH} is missing: replicas behind the proxy need a checkout of cnnviz (deploy/)")
    ports = {"PROXY_PORT": str(free_port()), "BASE_PORT": str(free_port())}
    senv = {**env, "REPLICAS": str(replicas), "RUN_DIR": str(run_dir), "PYTHON": sys.executable, **ports}
    started = subprocess.run(["bash", str(SERVE_SH), "start"], env=senv, capture_output=True, text=True, timeout=300)
    try:
        if started.returncode != 0:
            raise LoadError(f"deploy/serve.sh start failed: {started.stderr.strip() or started.stdout.strip()}")
        pids = [int((run_dir / f"replica-{i}.pid").read_text()) for i in range(replicas)]
        direct = [f"http://127.0.0.1:{int(ports['BASE_PORT']) + i}" for i in range(replicas)]
        yield f"http://127.0.0.1:{ports['PROXY_PORT']}", pids, run_dir, direct
    finally:
        subprocess.run(["bash", str(SERVE_SH), "stop"], env=senv, capture_output=True, timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)


def _table(r: dict) -> str:
    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    lines = [f"{r['sessions']} sessions x {r['passes']} passes on {r['url']} ({r['cores']} cores), "
             f"{r['wall_s']} s, load average {r['load_average']}; "
             f"server RSS {r['rss_before_mb']} -> {r['rss_after_mb']} MB",
             f"{'page':<16}{'n':>4}{'median s':>10}{'p95 s':>8}{'errors':>8}{'exceptions':>12}"]
    for name, v in [*r["pages"].items(), ("ALL", {**r["all"], "errors": r["errors"], "exceptions": r["exceptions"]})]:
        lines.append(f"{name:<16}{v['n']:>4}{fmt(v['median_s']):>10}{fmt(v['p95_s']):>8}{v['errors']:>8}"
                     f"{v['exceptions']:>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m cnnviz.bench.load`` / ``cnnviz loadtest``: see the module docstring."""
    p = argparse.ArgumentParser(prog="cnnviz loadtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=4, help=f"concurrent browser sessions (1..{MAX_SESSIONS})")
    p.add_argument("--passes", type=int, default=1, help=f"times each session walks the path (1..{MAX_PASSES})")
    p.add_argument("--url", default="", help="a running app or proxy on loopback (default: start one for the run)")
    p.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
    p.add_argument("--pages", default=",".join(DEFAULT_PAGES), help="comma-separated URL paths ('' = Home)")
    p.add_argument("--replicas", type=int, default=1, help="without --url: replicas to start (2+: behind nginx)")
    p.add_argument("--proxy", action="store_true", help="without --url: put nginx in front even of one replica")
    p.add_argument("--pid", type=int, action="append", default=[], help="server pid to measure RSS of (repeat)")
    p.add_argument("--run-dir", default="", help="a deploy/serve.sh RUN_DIR: measure the RSS of its replicas")
    p.add_argument("--warmup", action="store_true", help="walk the path once per replica, unmeasured, first "
                   "(with --url: once through it)")
    p.add_argument("--short", action="store_true", help="CI mode: 2 sessions, one pass, Home and one page")
    p.add_argument("--json", default="", help="write the result to this file ('-' = stdout)")
    a = p.parse_args(argv)
    pages = SHORT_PAGES if a.short else [s.strip().strip("/") for s in a.pages.split(",")]
    sessions, passes = (2, 1) if a.short else (a.sessions, a.passes)
    try:
        if a.url:
            found = sorted(Path(a.run_dir).glob("replica-*.pid")) if a.run_dir else []
            pids = list(a.pid) + [int(f.read_text()) for f in found]
            result = run_load(a.url, sessions, passes, pages, a.timeout, pids, [a.url] if a.warmup else [])
        else:
            with serve(a.replicas, a.proxy) as (url, pids, _, direct):
                result = run_load(url, sessions, passes, pages, a.timeout, pids, direct if a.warmup else [])
            result["replicas"], result["proxy"] = a.replicas, a.replicas > 1 or a.proxy
    except CnnvizError as e:
        print(f"cnnviz loadtest: {e}", file=sys.stderr)
        return 2
    print(_table(result), file=sys.stderr if a.json == "-" else sys.stdout)
    if a.json:
        text = json.dumps(result, indent=1)
        if a.json == "-":
            print(text)
        else:
            Path(a.json).write_text(text)
    return 1 if result["errors"] or result["exceptions"] else 0


if __name__ == "__main__":
    sys.exit(main())
