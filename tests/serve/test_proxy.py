"""2 replicas behind nginx (deploy/serve.sh): 4 concurrent browser sessions, each pinned to one replica.

nginx is Debian's package, installed by `make proxy` (a dependency of `make test`), like chromium.
"""
import json
import shutil
import subprocess
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from cnnviz.bench.load import run_load, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@pytest.fixture(scope="module")
def stack():
    if _nginx() is None:
        try:  # the same install as `make test` does, for a run of this file alone
            subprocess.run(["make", "proxy"], cwd=Path(__file__).resolve().parents[2], capture_output=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if _nginx() is None:
        pytest.fail("nginx is not installed and `make proxy` (apt-get install nginx-light) could not install it")
    with serve(replicas=2) as (url, pids, run_dir, _):
        yield url, pids, run_dir


def _log(run_dir: Path) -> list[tuple[str, str, str, str]]:
    """(affinity key, replica address, status, uri) per proxied request, from nginx's access log."""
    rows = []
    for line in (run_dir / "access.log").read_text().splitlines():
        _, key, upstream, status, uri = line.split(" ", 4)
        rows.append((key, upstream, status, uri.strip('"')))
    return rows


def test_four_sessions_each_stay_on_one_replica(stack):
    url, pids, run_dir = stack
    r = run_load(url, sessions=4, passes=1, pages=[""], timeout=150, pids=pids)
    assert r["errors"] == 0, [s["errors"] for s in r["session_log"]]
    assert r["exceptions"] == 0 and r["pages"]["home"]["n"] == 4
    _assert_pinned(r, run_dir, sessions=4, page_loads=1)
    assert r["rss_before_mb"] and r["rss_after_mb"]


def _assert_pinned(r: dict, run_dir: Path, sessions: int, page_loads: int) -> None:
    """Every session of the load run has its own affinity cookie and all its requests went to one replica."""
    keys = [s["cookies"]["cnnviz_affinity"] for s in r["session_log"]]
    assert len(set(keys)) == sessions  # every browser context got its own affinity cookie from nginx
    by_key: dict[str, set[str]] = defaultdict(set)
    streams: dict[str, int] = defaultdict(int)
    for key, upstream, status, uri in _log(run_dir):
        by_key[key].add(upstream)
        streams[key] += uri.startswith("/_stcore/stream") and status == "101"
    replicas = {f"127.0.0.1:{p}" for p in _replica_ports(run_dir)}
    for key in keys:
        assert len(by_key[key]) == 1 and by_key[key] <= replicas, (key, by_key[key])  # one replica per session
        assert streams[key] >= page_loads  # its WebSocket went through the proxy (one per page load)


def _replica_ports(run_dir: Path) -> list[int]:
    conf = (run_dir / "nginx.conf").read_text()
    return [int(line.split(":")[1].split()[0]) for line in conf.splitlines() if line.strip().startswith("server 127.")]


def test_cookies_spread_browsers_over_both_replicas(stack):
    """Pinning is by cookie, not by client address: 32 'browsers' from one loopback address use both replicas,
    and a request without the cookie is given one."""
    url, _, run_dir = stack
    first = urllib.request.urlopen(url + "/_stcore/health")
    assert any(c.startswith("cnnviz_affinity=") for c in first.headers.get_all("Set-Cookie") or [])
    for i in range(32):
        req = urllib.request.Request(url + "/_stcore/health", headers={"Cookie": f"cnnviz_affinity=spread{i}"})
        assert urllib.request.urlopen(req).read().strip() == b"ok"
    seen = {up for key, up, _, _ in _log(run_dir) if key.startswith("spread")}
    assert len(seen) == 2  # chance of all 32 on one replica: 2 ** -31


def test_short_load_benchmark_through_the_proxy(stack):
    """The CI mode of the load benchmark (2 sessions, one pass), as a user runs it."""
    url, _, run_dir = stack
    out = subprocess.run([sys.executable, "-m", "cnnviz.bench.load", "--short", "--url", url, "--run-dir",
                          str(run_dir), "--timeout", "120", "--json", "-"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    assert r["sessions"] == 2 and r["errors"] == 0 and r["exceptions"] == 0
    assert set(r["pages"]) == {"home", "activations"} and all(v["n"] == 2 for v in r["pages"].values())
    assert 0 < r["pages"]["home"]["median_s"] <= r["pages"]["home"]["p95_s"]
    assert r["rss_after_mb"] > 100  # two Streamlit replicas with torch loaded
    _assert_pinned(r, run_dir, sessions=2, page_loads=2)  # a second page load stays on the same replica
