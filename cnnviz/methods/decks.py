"""Lecture decks: a titled sequence of saved views (app links) with speaker notes.

A deck is a small JSON file::

    {"title": "Convolution fundamentals",
     "slides": [{"title": "28x28x20", "view": "arithmetic.numbers", "link": "/arithmetic?ar_k=5",
                 "note": "Twenty 5x5 filters ..."}]}

A slide shows one view of the app (``view``: its id, ``page.name``) with the settings of its link.
Links are app-relative (``/page?query``). Older slides have a link only (optionally with an ``#anchor``
naming a section of the page): the player shows the view that anchor, or the link's keys, point to. A file
that is not such a deck raises :class:`DeckError`; a slide whose link is wrong (a page the app
does not have) does not: :func:`link_problems` lists what is wrong so the player can show it on
that slide and the rest of the deck keeps working. This module knows no Streamlit and no page
table: callers pass the app's page paths in.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from cnnviz.core.paths import DECKS_DIR
from cnnviz.errors import CnnvizError

MAX_DECK_BYTES = 1 << 20  # a deck is a list of links: a megabyte is far more than any lecture needs
MAX_SLIDES = 500
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


class DeckError(CnnvizError):
    """A deck file that cannot be read as a deck (the message says what is wrong and how to fix it)."""


_VIEW = re.compile(r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Slide:
    """One saved view: a title, the view's id, an app-relative link (its page and settings) and a note
    for the speaker. ``view`` is ``""`` on older link-only slides."""

    title: str
    link: str
    note: str = ""
    view: str = ""

    @property
    def path(self) -> str:
        """The page's URL path without slashes (``""`` for Home); ``""`` too for a link that cannot be read."""
        try:
            return split_link(self.link)[0]
        except DeckError:
            return ""

    @property
    def params(self) -> dict[str, str]:
        try:
            return split_link(self.link)[1]
        except DeckError:
            return {}

    @property
    def anchor(self) -> str:
        try:
            return split_link(self.link)[2]
        except DeckError:
            return ""

    def to_dict(self) -> dict[str, str]:
        return {"title": self.title, **({"view": self.view} if self.view else {}), "link": self.link,
                "note": self.note}


@dataclass(frozen=True)
class Deck:
    """A titled list of slides (``name`` is the bundled file's stem, or ``""``)."""

    title: str
    slides: tuple[Slide, ...] = field(default_factory=tuple)
    name: str = ""

    def __len__(self) -> int:
        return len(self.slides)

    def to_dict(self) -> dict:
        return {"title": self.title, "slides": [s.to_dict() for s in self.slides]}

    def to_json(self) -> str:
        """The deck as the JSON text :func:`parse_deck` reads back (indented, UTF-8 friendly)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def split_link(link: str) -> tuple[str, dict[str, str], str]:
    """An app-relative link -> (page path, query parameters, anchor).

    Args:
        link: ``"/page?key=value&...#anchor"``; the path has no host and starts with ``/``.

    Examples::

        >>> split_link("/arithmetic?ar_k=5&ar_p=2#the-sliding-window")
        ('arithmetic', {'ar_k': '5', 'ar_p': '2'}, 'the-sliding-window')
        >>> split_link("/")
        ('', {}, '')
    """
    if not isinstance(link, str) or not link.startswith("/") or link.startswith("//"):
        raise DeckError(f"link {str(link)[:80]!r} is not app-relative: write it as '/page?key=value' "
                        "(copy it from the sidebar's 'Link to this view' without the http://host:port part).")
    parts = urlsplit(link)
    params: dict[str, str] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k in params:
            raise DeckError(f"link {link[:80]!r} names the parameter {k!r} twice: keep one.")
        params[k] = v
    return parts.path.strip("/"), params, parts.fragment


def make_link(path: str, params: Mapping[str, str] | None = None, anchor: str = "") -> str:
    """The app-relative link of a view (inverse of :func:`split_link`).

    Examples::

        >>> make_link("arithmetic", {"ar_k": "5"})
        '/arithmetic?ar_k=5'
    """
    q = urlencode(dict(params or {}))
    return "/" + path.strip("/") + (f"?{q}" if q else "") + (f"#{anchor}" if anchor else "")


def link_problems(link: str, known_paths: Collection[str], view: str = "") -> list[str]:
    """What is wrong with a slide's link (and view), in words for the slide (empty when nothing is).

    Args:
        link: the slide's link.
        known_paths: the app's page URL paths (``""`` is Home), e.g. from the page table.
        view: the slide's view id, if it names one (its page must be the link's page).

    Examples::

        >>> link_problems("/arithmetic?ar_k=5", {"", "arithmetic"})
        []
        >>> link_problems("/no-such-page", {"", "arithmetic"})[0][:38]
        "This slide's link names the page '/no-"
    """
    try:
        path, params, _ = split_link(link)
    except DeckError as e:
        return [f"This slide's {e}"]
    problems = []
    if view and not _VIEW.match(view):
        problems.append(f"This slide's view {view[:60]!r} is not a view id: write it as 'page.name', e.g. "
                        "'activations.channels'.")
    elif view and view.split(".", 1)[0] != (path or "home"):
        problems.append(f"This slide's view {view!r} belongs to /{view.split('.', 1)[0]}, but its link opens "
                        f"'/{path}': make the link's page the view's page.")
    if path not in known_paths:
        pages = ", ".join("/" + p for p in sorted(known_paths))
        problems.append(f"This slide's link names the page '/{path}', which this app does not have. Pages: {pages}.")
    bad = [k for k in params if not _KEY.match(k)]
    if bad:
        problems.append(f"This slide's link has parameter name(s) {', '.join(map(repr, bad))} that no page uses "
                        "(names are letters, digits and '_').")
    return problems


def _text(obj: Mapping, key: str, where: str, required: bool = True) -> str:
    v = obj.get(key, None if required else "")
    if not isinstance(v, str):
        got = "missing" if v is None else f"a {type(v).__name__}"
        raise DeckError(f"{where}: '{key}' must be a string (it is {got}).")
    return v


def parse_deck(data: str | bytes | Mapping, name: str = "", source: str = "the deck") -> Deck:
    """Read a deck from JSON text, bytes or an already decoded object.

    Args:
        data: the file's content.
        name: the deck's short name (bundled file stem), kept on the result.
        source: how to call the file in messages (its name).

    Raises:
        DeckError: not JSON, not an object with a string 'title' and a list 'slides' of objects
            each with string 'title' and 'link' (and optional strings 'view' and 'note').

    Examples::

        >>> d = parse_deck('{"title": "T", "slides": [{"title": "a", "link": "/", "note": ""}]}')
        >>> d.title, len(d), d.slides[0].link
        ('T', 1, '/')
    """
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MAX_DECK_BYTES:
            raise DeckError(f"{source} is {len(data) / 2**20:.1f} MiB; a deck is a small JSON file (at most 1 MiB).")
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise DeckError(f"{source} is not UTF-8 text ({e.reason} at byte {e.start}): save it as UTF-8 JSON.") from e
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise DeckError(f"{source} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from e
    example = ('{"title": "...", "slides": [{"title": "...", "view": "page.name", "link": "/page?key=value", '
               '"note": "..."}]}')
    if not isinstance(data, Mapping):
        raise DeckError(f"{source} must be a JSON object like {example}; it is a {type(data).__name__}.")
    title = _text(data, "title", source)
    slides = data.get("slides")
    if not isinstance(slides, list):
        raise DeckError(f"{source}: 'slides' must be a list of slides like {example}.")
    if len(slides) > MAX_SLIDES:
        raise DeckError(f"{source} has {len(slides)} slides; at most {MAX_SLIDES} are read. Split it into decks.")
    out = []
    for i, s in enumerate(slides, 1):
        where = f"{source}, slide {i}"
        if not isinstance(s, Mapping):
            raise DeckError(f"{where} must be an object with 'title', 'link' and 'note'; it is a {type(s).__name__}.")
        out.append(Slide(_text(s, "title", where), _text(s, "link", where), _text(s, "note", where, required=False),
                         _text(s, "view", where, required=False)))
    return Deck(title=title, slides=tuple(out), name=name)


def load_deck(path: str | Path) -> Deck:
    """Read a deck file (``DeckError`` if it is missing or malformed).

    Examples::

        >>> load_deck(DECKS_DIR / "convolution-fundamentals.json").title
        'Convolution fundamentals'
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DeckError(f"cannot read the deck {str(p)!r}: {e.strerror or e}. Check the path.") from e
    return parse_deck(data, name=p.stem, source=p.name)


def bundled_decks(folder: Path = DECKS_DIR) -> dict[str, Path]:
    """The bundled decks, short name (file stem) -> path, in name order."""
    return {p.stem: p for p in sorted(Path(folder).glob("*.json"))}


EXTRA_DECKS_ENV = "CNNVIZ_DECKS"  # deck files a server is started with, beside the bundled ones (os.pathsep list)


def server_decks(folder: Path = DECKS_DIR) -> dict[str, Path]:
    """The bundled decks and the deck files named in ``$CNNVIZ_DECKS`` (``cnnviz deck export`` starts its
    server so), short name -> path; a bundled name wins."""
    extra = {}
    for item in os.environ.get(EXTRA_DECKS_ENV, "").split(os.pathsep):
        if item.strip():
            p = Path(item.strip())
            extra.setdefault(p.stem, p)
    return {**extra, **bundled_decks(folder)}


def load_bundled(name: str, folder: Path = DECKS_DIR) -> Deck:
    """A bundled deck (or one of ``$CNNVIZ_DECKS``) by its short name (``DeckError`` naming the bundled
    ones if there is none)."""
    decks = server_decks(folder)
    if name not in decks:
        raise DeckError(f"there is no bundled deck {name!r}. Bundled decks: {', '.join(decks) or 'none'}.")
    return load_deck(decks[name])
