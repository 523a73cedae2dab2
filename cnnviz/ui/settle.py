"""When the served app has settled in a browser page: the one check that deck export and the browser tests share.

Streamlit 1.67 marks its root element with the script's state (``data-test-script-state``: ``running``,
``notRunning``, ...). A page has settled when it is connected, the script is not running, every image has loaded,
no chart of the main area is still a grey skeleton (Streamlit's frontend draws each Plotly chart a moment after the
run has ended) and the script state has not changed for ``quiet_ms``, nor since ``quiet_ms`` after the wait began.

The quiet window replaces fixed pauses. A click reaches the server, and the run it causes is reported back, some
time after the click; a state read at once would still say ``notRunning``. Before, each wait paused 0.4-0.6 s
twice and then 0.5-0.8 s more for the charts (1.3-2.0 s on every call, whatever the page did). Now an observer in
the page keeps the time of the last state change, and the wait ends as soon as the page has been still long enough.
"""
from __future__ import annotations

# The page keeps window.__cnnvizChanged, the wall-clock time (ms) of the last change of the app's script or
# connection state, through a MutationObserver installed on the first check of each document.
SETTLED_JS = """([since, quiet, charts]) => {
  if (!window.__cnnvizWatch) {
    window.__cnnvizChanged = Date.now();
    window.__cnnvizWatch = new MutationObserver(() => { window.__cnnvizChanged = Date.now(); });
    window.__cnnvizWatch.observe(document.documentElement, {subtree: true, attributes: true,
      attributeFilter: ['data-test-script-state', 'data-test-connection-state']});
  }
  const a = document.querySelector('[data-testid="stApp"]'), now = Date.now();
  return !!a && a.getAttribute('data-test-connection-state') === 'CONNECTED'
    && a.getAttribute('data-test-script-state') === 'notRunning'
    && Array.from(document.images).every(i => i.complete)
    && (!charts || !document.querySelector("[data-testid='stMain'] [data-testid='stSkeleton']"))
    && now - since >= quiet && now - window.__cnnvizChanged >= quiet;
}"""


def wait_settled(page, timeout_ms: float = 120_000, quiet_ms: int = 400, charts: bool = True) -> None:
    """Wait until ``page`` (a Playwright page showing the app) has settled; see the module's docstring.

    Args:
        page: the Playwright page.
        timeout_ms: the longest wait (Playwright's TimeoutError after it).
        quiet_ms: how long the script state must not have changed (and the least time the wait takes).
        charts: also wait until no chart of the main area is still drawn as a skeleton.
    """
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    since = page.evaluate("Date.now()")
    page.wait_for_function(SETTLED_JS, arg=[since, quiet_ms, charts], timeout=timeout_ms, polling=50)
