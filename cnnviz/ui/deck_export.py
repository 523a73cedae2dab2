"""``cnnviz deck export DECK.json OUT/``: one PNG per slide and an index page, through headless Chromium.

Each slide is opened in the deck player itself (``/deck?deck=<name>&slide=<n>``, presenter view) in a
headless Chromium (Playwright, driving the system's Chromium: Playwright cannot download its own browser
offline), left to finish its run, and the 16:9 screen is saved: the PNG is exactly what the player shows
(1280x720 CSS pixels, at 1.5x: 1920x1080 pixels). The command line starts the app on a free loopback
port with the deck file among the server's decks (``$CNNVIZ_DECKS``); the player exports against the
server it runs on, handing the deck over in a server-wide table (``share``).
"""
from __future__ import annotations

import argparse
import contextlib
import html
import io
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from cnnviz.appserver import app_command, free_port, stop, wait_healthy
from cnnviz.core.paths import DECKS_DIR
from cnnviz.core.runtime import Progress, StopFlag, report, stopped
from cnnviz.errors import CnnvizError
from cnnviz.figures.export import chromium_path
from cnnviz.methods.decks import EXTRA_DECKS_ENV, Deck, DeckError, bundled_decks, link_problems, load_bundled, load_deck
from cnnviz.ui.nav import available_pages
from cnnviz.ui.settle import wait_settled

SIZE = (1280, 720)  # the player's layout (CSS pixels)
SCALE = 1.5  # device pixels per CSS pixel: 1920x1080 PNGs
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class DeckExportError(CnnvizError):
    """A deck that cannot be exported here (no Chromium, no Playwright, the app did not start)."""


def _playwright():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as e:
        raise DeckExportError("deck export needs Playwright: pip install 'cnnviz[lecture]' (it drives the system's "
                              "Chromium; no browser download is needed).") from e
    return sync_playwright, Error


def _browser_path() -> str:
    path = chromium_path()
    if path is None:
        raise DeckExportError("deck export needs a Chromium-based browser and none was found: install one "
                              "(Debian/Ubuntu: apt-get install chromium) or set CNNVIZ_CHROMIUM to its path.")
    return path


def player_url(base: str, deck_name: str, n: int) -> str:
    """The absolute URL of slide ``n`` of a deck in the player, in presenter view.

    Examples::

        >>> player_url("http://127.0.0.1:8501", "limits-of-cnns", 3)
        'http://127.0.0.1:8501/deck?deck=limits-of-cnns&slide=3&present=1'
    """
    return f"{base.rstrip('/')}/deck?" + urlencode({"deck": deck_name, "slide": n, "present": 1})


_SHARED: OrderedDict[str, Deck] = OrderedDict()  # token -> deck, for the player's own export
_SHARED_LOCK = threading.Lock()


def share(deck: Deck) -> str:
    """Make ``deck`` playable by any session of this server under an unguessable name (the export's
    headless browser is a session of its own); the 16 most recent are kept."""
    name = f"shared-{secrets.token_urlsafe(12)}"
    with _SHARED_LOCK:
        _SHARED[name] = deck
        while len(_SHARED) > 16:
            _SHARED.popitem(last=False)
    return name


def shared(name: str) -> Deck | None:
    """A deck handed over by :func:`share` (None for any other name)."""
    with _SHARED_LOCK:
        return _SHARED.get(name)


# A figure whose numbers a run is still measuring is drawn as empty axes in a container keyed waiting-<name>
# (widgets.show_figure(download=False)); the slide shows its result once the work is done.
NOTHING_MEASURED_JS = "() => !document.querySelector(\"[data-testid='stMain'] [class*='st-key-waiting-']\")"


def _measuring(page, timeout_ms: float, timeout_error: type[Exception]) -> bool:
    """Whether the slide was measuring something (then wait until it is done, at most ``timeout_ms``: a slide whose
    work takes longer is written as it stands, its progress showing)."""
    if page.evaluate(NOTHING_MEASURED_JS):
        return False
    with contextlib.suppress(timeout_error):  # still measuring after timeout_ms: written as it stands
        page.wait_for_function(NOTHING_MEASURED_JS, timeout=timeout_ms, polling=250)
    return True


def export_deck(deck: Deck, out_dir: str | Path, base_url: str, progress: Progress | None = None,
                stop: StopFlag = None, size: tuple[int, int] = SIZE, scale: float = SCALE,
                timeout_s: float = 180, deck_name: str = "") -> list[Path]:
    """Write ``slide-01.png`` … and ``index.html`` for ``deck`` into ``out_dir``; returns the PNG paths.

    Args:
        deck: the deck (its links are app-relative).
        out_dir: the folder to write (created).
        base_url: the running app, e.g. ``http://127.0.0.1:8501``.
        progress: ``progress(fraction, text)`` before each slide and at the end (:func:`cnnviz.core.runtime.report`).
        stop: polled between slides (:data:`cnnviz.core.runtime.StopFlag`); set, it ends the export early (the
            slides so far are kept).
        size: the browser window, in CSS pixels (the player is laid out for 1280x720).
        scale: device pixels per CSS pixel (the PNG is ``size`` times ``scale``).
        timeout_s: the longest one slide may take to finish its run.
        deck_name: the name the server's player knows the deck by (default: ``deck.name``).

    Examples::

        >>> export_deck(load_bundled("limits-of-cnns"), "out", "http://127.0.0.1:8501")[0].name
        'slide-01.png'
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sync_playwright, PlaywrightError = _playwright()
    exe = _browser_path()
    known = {p.url_path for p in available_pages()}
    name = deck_name or deck.name
    written: list[Path] = []
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, device_scale_factor=scale)
            page = ctx.new_page()
            for i, slide in enumerate(deck.slides, 1):
                if stopped(stop):
                    break
                report(progress, (i - 1) / len(deck), f"Slide {i} of {len(deck)}: {slide.title}")
                png = out / f"slide-{i:02d}.png"
                problem = " ".join(link_problems(slide.link, known, slide.view))
                try:
                    if problem:
                        raise DeckError(problem)
                    page.goto(player_url(base_url, name, i), wait_until="domcontentloaded", timeout=timeout_s * 1000)
                    # settled: the run over, images loaded, every chart drawn (not a skeleton), nothing changing
                    wait_settled(page, timeout_s * 1000, quiet_ms=600)
                    # a slide's long work is written with its result, as the player shows it once the work is done
                    if _measuring(page, timeout_s * 1000, PlaywrightError):
                        wait_settled(page, timeout_s * 1000, quiet_ms=600)
                    page.screenshot(path=str(png))  # the screen, as the player shows it
                    written.append(png)
                except DeckError as e:
                    problem = str(e)
                except PlaywrightError as e:  # a slide that never finished: say so in the index, go on
                    problem = f"the slide did not finish within {timeout_s:.0f} s ({str(e).splitlines()[0]})"
                rows.append((i, slide, png.name if not problem else "", problem))
        finally:
            browser.close()
    (out / "index.html").write_text(_index_html(deck, rows), encoding="utf-8")
    report(progress, 1.0, f"Wrote {len(written)} slides to {out}")
    return written


def _index_html(deck: Deck, rows: list[tuple]) -> str:
    esc = html.escape
    items = "\n".join(
        f'<section><h2>{i}. {esc(s.title)}</h2>'
        + (f'<img src="{esc(png)}" alt="{esc(s.title)}">' if png else f'<p class="bad">{esc(problem)}</p>')
        + f'<p class="note">{esc(s.note)}</p><p class="link"><code>{esc(s.link)}</code></p></section>'
        for i, s, png, problem in rows)
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(deck.title)}</title>"
            "<style>body{font-family:sans-serif;max-width:1280px;margin:2rem auto;padding:0 1rem;color:#222}"
            "img{width:100%;border:1px solid #ccc}.note{font-size:1.1rem}.link{color:#666}.bad{color:#b00}"
            f"</style></head><body><h1>{esc(deck.title)}</h1>\n{items}\n</body></html>\n")


def zip_folder(folder: str | Path) -> bytes:
    """The files of ``folder`` (not recursive) as ZIP bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(Path(folder).iterdir()):
            if f.is_file():
                z.write(f, f.name)
    return buf.getvalue()


@contextlib.contextmanager
def serve_app(timeout_s: float = 120, log: Path | None = None, deck_files: tuple[Path, ...] = ()) -> Iterator[str]:
    """Start the app on a free loopback port for the duration of the block; yields its base URL.

    Args:
        deck_files: deck JSON files the server's player offers beside the bundled ones (by file stem).
    """
    port = free_port()
    cmd = app_command(port, "--theme.base", "light")
    sink = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    env = dict(os.environ)
    if deck_files:
        env[EXTRA_DECKS_ENV] = os.pathsep.join(str(Path(p).resolve()) for p in deck_files)
    proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(url, timeout_s, proc):
            if proc.poll() is not None:
                raise DeckExportError(f"the app exited (status {proc.returncode}) before it served; "
                                      f"run `cnnviz run` to see why.")
            raise DeckExportError(f"the app did not answer on {url} within {timeout_s:.0f} s.")
        yield url
    finally:
        stop(proc)
        if log:
            sink.close()


def export_zip_from_app(deck: Deck, progress: Progress | None = None) -> bytes:
    """From inside the app (the player): export against this very server and return a ZIP."""
    import streamlit as st

    parts = urlsplit(st.context.url or "")
    base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    if not base:
        raise DeckExportError("the app's own address is unknown here; use `cnnviz deck export DECK.json OUT/`.")
    with tempfile.TemporaryDirectory(prefix="cnnviz-deck-") as tmp:
        export_deck(deck, tmp, base, progress=progress, deck_name=share(deck))
        return zip_folder(tmp)


def _read_deck(arg: str) -> tuple[Deck, tuple[Path, ...]]:
    """The deck, and the file the export's server must offer (none for a bundled deck)."""
    p = Path(arg)
    if p.suffix.lower() == ".json" or p.exists():
        return load_deck(p), () if p.resolve().parent == DECKS_DIR.resolve() else (p,)
    return load_bundled(arg), ()  # a bundled deck by name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cnnviz deck", description="Lecture decks.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="write one PNG per slide and an index.html",
                        description="Start the app on a free port, open every slide in headless Chromium in "
                                    "presenter view and save it as PNG, with an index.html.")
    ex.add_argument("deck", help="a deck JSON file, or the name of a bundled deck")
    ex.add_argument("out", help="output folder (created)")
    ex.add_argument("--zip", action="store_true", help="also write OUT.zip")
    ex.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="window size in CSS pixels, WxH (default "
                    "%(default)s: the player's layout)")
    ex.add_argument("--scale", type=float, default=SCALE, help="device pixels per CSS pixel (default %(default)s: "
                    "1920x1080 PNGs)")
    sub.add_parser("list", help="list the bundled decks")
    a = ap.parse_args(argv)
    if a.cmd == "list":
        for name, path in bundled_decks().items():
            d = load_deck(path)
            print(f"{name}  ({len(d)} slides)  {d.title}")
        return 0
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
        deck, files = _read_deck(a.deck)
        _browser_path()
        _playwright()
        if not deck.slides:
            raise DeckError(f"the deck {a.deck!r} has no slides.")
        if files and deck.name in bundled_decks():
            raise DeckError(f"the deck file {a.deck!r} has the name of a bundled deck ({deck.name!r}): rename "
                            "the file.")
        with serve_app(deck_files=files) as url:
            pngs = export_deck(deck, a.out, url, size=(w, h), scale=a.scale,
                               progress=lambda f, text: print(f"[{f:4.0%}] {text}", flush=True))
        if a.zip:
            Path(str(Path(a.out)) + ".zip").write_bytes(zip_folder(a.out))
    except (CnnvizError, ValueError) as e:
        print(f"cnnviz deck export: {e}", file=sys.stderr)
        return 1
    print(f"{len(pngs)} of {len(deck)} slides written to {a.out} (index.html)")
    return 0 if len(pngs) == len(deck) else 1
