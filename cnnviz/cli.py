"""The ``cnnviz`` command.

    cnnviz                 start the app on the bundled default model (same as ``cnnviz run``)
    cnnviz run [--port N]  start the app; extra arguments go to ``streamlit run``
    cnnviz bench [...]     benchmarks (``python -m cnnviz.bench``)
    cnnviz train NAME      train a bundled model (``python -m cnnviz.train``)
    cnnviz deck export DECK.json OUT/   one PNG per slide of a lecture deck, and an index.html
    cnnviz uibench [--models M,N]       slider step and warm load per page, in headless Chromium
    cnnviz precompute index|features --model M --data FOLDER --out DIR [--workers K]

Each subcommand is a module with a ``main(argv)``; the table below is the one list of them.
"""
from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys

from cnnviz.core.paths import APP_SCRIPT

# subcommand -> (module with main(argv), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("cnnviz.cli", "start the app (default)"),
    "bench": ("cnnviz.bench.__main__", "run the benchmarks (--json, --quick, --only TEXT)"),
    "train": ("cnnviz.train", "train a bundled model on the bundled data (`train NAME --epochs E --seed S`)"),
    "deck": ("cnnviz.ui.deck_export", "lecture decks: `deck export DECK.json OUT/` (one PNG per slide), `deck list`"),
    "precompute": ("cnnviz.precompute", "dataset-wide work once for all replicas: `precompute index|features --model M "
                   "--data FOLDER --out DIR [--workers K]`"),
    "uibench": ("cnnviz.bench.ui", "what a user waits for, per page, in headless Chromium at 1280x720: a slider step "
                "and a warm page load (`uibench [--models M,N] [--pages P,Q] [--json]`)"),
    "loadtest": ("cnnviz.bench.load", "N concurrent browser sessions against the app or the proxy (loopback): "
                 "`loadtest --sessions N --passes P [--url U] [--replicas K]`"),
}

# Streamlit settings the app needs wherever it is started from (an installed package has no
# .streamlit/config.toml beside it); the checkout's config.toml holds the same values.
# runner.postScriptGC: Streamlit runs a full gc.collect(2) after every script run, which with torch and the
# server-wide caches in memory took 0.4-0.5 s of each slider step on the 2-core machine (BENCHMARKS.md);
# Python's own generational collector still runs.
SERVER_FLAGS = ["--server.maxUploadSize", "300", "--server.headless", "true", "--runner.postScriptGC", "false",
                "--browser.gatherUsageStats", "false", "--theme.base", "light", "--theme.primaryColor", "#4C78A8"]


def run_app(argv: list[str] | None = None) -> int:
    """Start the Streamlit app: on POSIX the server replaces this process, elsewhere this blocks until it
    stops and returns its exit status."""
    p = argparse.ArgumentParser(prog="cnnviz run", description="Start the cnnviz app.")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8501)))
    p.add_argument("--address", default=None, help="address to listen on (default: Streamlit's)")
    a, rest = p.parse_known_args(argv)
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT), "--server.port", str(a.port), *SERVER_FLAGS]
    if a.address:
        cmd += ["--server.address", a.address]
    if os.name == "posix":  # the server takes this process's place: a stop signal (Ctrl-C, a supervisor's
        sys.stdout.flush()  # TERM, a test's terminate()) reaches it, and no orphan server is left behind
        sys.stderr.flush()
        os.execv(sys.executable, cmd + rest)
    return subprocess.call(cmd + rest)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    if argv[0] in ("-h", "--help", "help"):
        width = max(map(len, COMMANDS))
        print("usage: cnnviz [COMMAND] [ARGS]\n\ncnnviz: see inside convolutional neural networks.\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name.ljust(width)}  {text}")
        print("\n`cnnviz COMMAND --help` for a command's options.")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cnnviz: unknown command {name!r}. Known: {', '.join(COMMANDS)} (cnnviz --help)", file=sys.stderr)
        return 2
    if name == "run":
        return run_app(rest)
    rc = importlib.import_module(COMMANDS[name][0]).main(rest)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
