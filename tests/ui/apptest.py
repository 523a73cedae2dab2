"""Opening the app under AppTest as a link would: the helpers the view tests share."""
from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT

# read by the sidebar (or the presenter toggle) in the first run, so they go in before the page switch
FIRST = ("model", "img", "untrained", "present")


def open_page(page: str, timeout: float = 300, **params) -> AppTest:
    """``page`` (``"kernels"``, ``"kernels.py"`` or ``"/kernels"``) opened with ``params`` in its link."""
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=timeout)
    for k in [k for k in params if k in FIRST]:
        at.query_params[k] = params.pop(k)
    at.run()
    name = page.strip("/") or "home"
    at.switch_page(f"pages/{name if name.endswith('.py') else name + '.py'}")
    for k, v in params.items():  # the page's own: after the switch (Home would drop them as unknown)
        at.query_params[k] = v
    return at.run()


def open_link(link: str, timeout: float = 300) -> AppTest:
    """An app-relative link (``/maximal?mx_layer=features.3``) opened as a new session would."""
    u = urlsplit(link)
    return open_page(u.path, timeout, **dict(parse_qsl(u.query)))


def texts(els) -> str:
    """The values of some elements, as one string."""
    return " ".join(str(e.value) for e in els)


def chart_titles(at) -> list[str]:
    """The titles of the Plotly charts on the page, in order."""
    out = []
    for c in at.get("plotly_chart"):
        title = json.loads(c.proto.spec).get("layout", {}).get("title", {})
        out.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return out
