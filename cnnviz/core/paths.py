"""Where cnnviz finds its files, from a checkout or an installed package alike.

The repository's top level holds the app's entry (``app.py``), its page files (``pages/``) and the
bundled files (``assets/``: data, checkpoints, sample photos, lecture decks). A checkout (or an
editable install) reads them there. A wheel carries the same three under ``cnnviz/_bundle/`` (copied
by ``setup.py`` at build time), so ``pip install .`` and the ``cnnviz`` command work without the
checkout. The cache of computed results lives outside both, in ``$CNNVIZ_CACHE`` (default
``~/.cache/cnnviz``), so an installed package stays read-only.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
BUNDLE = PACKAGE / "_bundle"  # only in an installed wheel
ROOT = BUNDLE if (BUNDLE / "app.py").is_file() else PACKAGE.parent
ASSETS = ROOT / "assets"
MODELS_DIR = ASSETS / "models"
DATA_DIR = ASSETS / "data"
SAMPLES_DIR = ASSETS / "samples"
DECKS_DIR = ASSETS / "decks"
APP_SCRIPT = ROOT / "app.py"
PAGES_DIR = ROOT / "pages"


def cache_dir(topic: str = "") -> Path:
    """The folder for cached results of ``topic`` (``"maximal"``, ...), under ``$CNNVIZ_CACHE``.

    Examples::

        >>> cache_dir("maximal").name
        'maximal'
    """
    root = Path(os.environ.get("CNNVIZ_CACHE") or Path.home() / ".cache" / "cnnviz")
    return root / topic if topic else root
