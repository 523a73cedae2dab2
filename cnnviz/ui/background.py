"""Work that outlives a script run: server-wide background jobs, and a view's fragment that follows one.

A measurement of many attacked images, or a training run, takes longer than a click should wait. Inside a
view (an ``st.fragment``) a control's rerun does not interrupt a running script: a Stop button drawn next to
work done in the script thread would only be read once the work is over. So long work runs in a thread of
its own, shared by the server (:class:`JobTable`, one table per cached purpose), and the view draws its
state in a small fragment that reruns every second while it runs (:func:`follow`); Stop sets the job's
flag at once, and when the work ends one full rerun redraws the page with the result.

Examples::

    >>> jobs = job_table()                                   # st.cache_resource: one per server
    >>> job = jobs.start(("curve", model_key, settings), lambda progress, stop: measure(progress=progress, stop=stop))
    >>> follow("curve", job.running, lambda: draw(job))      # draw() returns whether it still runs
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from cnnviz.errors import CnnvizError

log = logging.getLogger("cnnviz.ui")
DEFAULT_MAX_JOBS = 2


def max_jobs() -> int:
    """Background measurements computing at once on this server: ``$CNNVIZ_MAX_JOBS`` (default 2); more wait."""
    try:
        return max(1, int(os.environ.get("CNNVIZ_MAX_JOBS", DEFAULT_MAX_JOBS)))
    except ValueError:
        return DEFAULT_MAX_JOBS


@dataclass(eq=False)
class Job:
    """One piece of work in a thread of its own.

    Attributes:
        key: what it computes (the table's key).
        status: ``"queued"`` (waiting for a free slot), ``"running"``, ``"done"``, ``"stopped"`` or ``"failed"``.
        fraction, text: the latest progress report.
        result: what the work returned (also after a stop: the work's partial result, if it returns one).
        error: the domain error it raised (shown as a message); a bug is logged and reported as text.
    """

    key: Hashable
    status: str = "queued"
    fraction: float = 0.0
    text: str = ""
    result: Any = None
    error: CnnvizError | None = None
    bug: str = ""
    work: Callable[[Callable[[float, str], None], threading.Event], Any] | None = field(default=None, repr=False)
    started: float = field(default_factory=time.time)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Queued or computing."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the work to stop at its next check (it keeps what it has)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def progress(self, fraction: float, text: str = "") -> None:
        self.fraction, self.text = float(fraction), text


class JobTable:
    """Background jobs of one server by key; the newest ``maxsize`` finished ones are kept with their results."""

    def __init__(self, maxsize: int = 48):
        self.maxsize = maxsize
        self._jobs: OrderedDict[Hashable, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_jobs())

    def get(self, key: Hashable) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def start(self, key: Hashable, work: Callable[[Callable[[float, str], None], threading.Event], Any],
              again: bool = False) -> Job:
        """The job for ``key``: the one running or finished, else ``work(progress, stop)`` started in a thread.

        Args:
            again: start anew even if a finished (or stopped, or failed) job is kept (Measure again).
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.running or not again):
                self._jobs.move_to_end(key)
                return job
            job = Job(key, work=work)
            job._thread = threading.Thread(target=self._body, args=(job, work), daemon=True,
                                           name=f"cnnviz-job-{abs(hash(key)) % 10**8}")
            self._jobs[key] = job
            idle = [k for k, j in self._jobs.items() if not j.running and k != key]
            for k in idle[:max(0, len(self._jobs) - self.maxsize)]:
                del self._jobs[k]
            job._thread.start()
        return job

    def _body(self, job: Job, work) -> None:
        with self._slots:
            if job.stopped:
                job.status = "stopped"
                return
            job.status = "running"
            try:
                job.result = work(job.progress, job._stop)
                job.status = "stopped" if job.stopped else "done"
            except CnnvizError as e:
                job.status, job.error = "failed", e
            except Exception as e:  # a bug: logged with its traceback, said on the page
                log.exception("background job %r failed", job.key)
                job.status, job.bug = "failed", f"{type(e).__name__}: {str(e)[:300]}"


@st.cache_resource
def job_table(purpose: str) -> JobTable:
    """The server's table of jobs for ``purpose`` (e.g. ``"adversarial"``)."""
    return JobTable()


def follow(name: str, running: bool, draw: Callable[[], bool], every: float = 1.0) -> None:
    """Draw ``draw()`` in a fragment that reruns every ``every`` seconds while ``running``.

    ``draw`` returns whether the work still runs; once it says no (after it said yes), the whole app reruns
    once, so the rest of the view (its buttons) follows and the polling ends.

    Args:
        name: unique among the follows of a page (it names the session flag).
    """
    flag = f"_follow_{name}"

    @st.fragment(run_every=every if running else None)
    def _poll() -> None:
        still = draw()
        if still:
            st.session_state[flag] = True
        elif st.session_state.pop(flag, False):
            st.rerun()

    _poll()
