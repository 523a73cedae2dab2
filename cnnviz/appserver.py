"""Starting the app in a subprocess: the pieces `cnnviz.show`, the deck export, the load benchmark and the
browser tests share (a free loopback port, waiting for ``/_stcore/health``, stopping the process).

Examples::

    >>> port = free_port()
    >>> proc = subprocess.Popen(app_command(port))
    >>> wait_healthy(f"http://127.0.0.1:{port}", 90, proc)
    True
    >>> stop(proc)
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

from cnnviz.core.paths import APP_SCRIPT


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_command(port: int, *extra: str) -> list[str]:
    """``streamlit run`` of the app on loopback ``port``, headless, no file watcher, no full garbage collection after
    every run (as ``cnnviz run``), no usage statistics; ``extra`` flags override these."""
    return [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT), "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
            "--runner.postScriptGC", "false", "--browser.gatherUsageStats", "false", *extra]


def wait_healthy(url: str, seconds: float, proc: subprocess.Popen | None = None) -> bool:
    """Whether ``url`` answers ``/_stcore/health`` with ``ok`` within ``seconds`` (False at once if ``proc``
    exits first)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read().strip() == b"ok":
                return True
        except OSError:
            time.sleep(0.3)
    return False


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """Terminate ``proc``, and kill it if it has not ended after ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
