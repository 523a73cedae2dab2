"""Where cnnviz finds its files, from a checkout or an installed package alike.

Bundled assets (data, checkpoints, sample photos), lecture decks and the app's page files
live inside the package; the cache of computed results lives outside it, in
``$CNNVIZ_CACHE`` (default ``~/.cache/cnnviz``), so an installed package stays read-only.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
ASSETS = PACKAGE / "assets"
MODELS_DIR = ASSETS / "models"
DATA_DIR = ASSETS / "data"
SAMPLES_DIR = ASSETS / "samples"
DECKS_DIR = PACKAGE / "decks"
APP_SCRIPT = PACKAGE / "ui" / "app.py"
PAGES_DIR = PACKAGE / "ui" / "app_pages"


def cache_dir(topic: str = "") -> Path:
    """The folder for cached results of ``topic`` (``"maximal"``, ...), under ``$CNNVIZ_CACHE``.

    Examples::

        >>> cache_dir("maximal").name
        'maximal'
    """
    root = Path(os.environ.get("CNNVIZ_CACHE") or Path.home() / ".cache" / "cnnviz")
    return root / topic if topic else root
