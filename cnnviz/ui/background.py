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

import atexit
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from cnnviz.core.device import env_count
from cnnviz.errors import CnnvizError
from cnnviz.ui import presenter

log = logging.getLogger("cnnviz.ui")
DEFAULT_MAX_JOBS = 2


def max_jobs() -> int:
    """Background measurements computing at once on this server: ``$CNNVIZ_MAX_JOBS`` (default 2); more wait."""
    return env_count("CNNVIZ_MAX_JOBS", DEFAULT_MAX_JOBS)


@dataclass(eq=False)
class Job:
    """One piece of work in a thread of its own.

    Attributes:
        key: what it computes (the table's key).
        owner: the session that started it ("" when nobody in particular).
        status: ``"queued"`` (waiting for a free slot), ``"running"``, ``"done"``, ``"stopped"`` or ``"failed"``.
        fraction, text: the latest progress report; partial: the latest partial output (images so far).
        result: what the work returned (also after a stop: the work's partial result, if it returns one).
        error: the domain error it raised (shown as a message); a bug is logged and reported as text.
    """

    key: Hashable
    owner: str = ""
    status: str = "queued"
    fraction: float = 0.0
    text: str = ""
    partial: Any = None
    result: Any = None
    error: CnnvizError | None = None
    bug: str = ""
    work: Callable[..., Any] | None = field(default=None, repr=False)  # what it runs (Measure again runs it anew)
    started: float = field(default_factory=time.time)
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Queued or computing."""
        return self.thread is not None and self.thread.is_alive()

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def stop(self) -> None:
        """Ask the work to stop at its next check (it keeps what it has)."""
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running

    def progress(self, fraction: float, text: str = "", partial: Any = None) -> None:
        """Called by the work as it goes (from its thread)."""
        self.fraction, self.text = min(1.0, max(0.0, float(fraction))), text
        if partial is not None:
            self.partial = partial


_TABLES: weakref.WeakSet[JobTable] = weakref.WeakSet()  # every table of the process, stopped at exit


@atexit.register
def stop_all_tables() -> None:
    """Stop every job of every table of this process and wait for them (at exit; and in tests, so a job one
    test started does not keep computing through the next ones)."""
    for table in list(_TABLES):
        table.stop_all()


class JobTable:
    """Background jobs of one server by key; the newest ``maxsize`` finished ones are kept with their results.

    Examples::

        >>> jobs = JobTable()
        >>> job = jobs.start("k", lambda progress, stop: 42); job.wait()
        >>> jobs.done("k")
        42
    """

    def __init__(self, maxsize: int = 48):
        self.maxsize = maxsize
        self._jobs: OrderedDict[Hashable, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_jobs())
        _TABLES.add(self)

    def get(self, key: Hashable) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def done(self, key: Hashable) -> Any:
        """The result of the finished, complete job for ``key``, else None."""
        job = self.get(key)
        return job.result if job is not None and job.status == "done" else None

    def start(self, key: Hashable, work: Callable[[Callable[..., None], threading.Event], Any],
              again: bool = False, owner: str = "") -> Job:
        """The job for ``key``: the one running or finished, else ``work(progress, stop)`` started in a thread.

        Args:
            again: start anew even if a finished (or stopped, or failed) job is kept (Measure again).
            owner: the session that starts it.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.running or not again):
                self._jobs.move_to_end(key)
                return job
            job = Job(key, owner, work=work)
            job.thread = threading.Thread(target=self._body, args=(job, work), daemon=True,
                                          name=f"cnnviz-job-{abs(hash(key)) % 10**8}")
            self._jobs[key] = job
            self._jobs.move_to_end(key)
            idle = [k for k, j in self._jobs.items() if not j.running and k != key]
            for k in idle[:max(0, len(self._jobs) - self.maxsize)]:
                del self._jobs[k]
            job.thread.start()
        return job

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every running job and wait for it (at exit: a thread still inside PyTorch when the interpreter
        shuts down aborts the process)."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.running]
        for j in running:
            j.stop()
        for j in running:
            j.wait(timeout)

    def _body(self, job: Job, work) -> None:
        with self._slots:
            if job.stopped:
                job.status = "stopped"
                return
            job.status = "running"
            try:
                job.result = work(job.progress, job.stop_event)
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
    frame = presenter.FRAME.get()  # the view's frame: a poll rerun draws on the same slide (or page)

    @st.fragment(run_every=every if running else None)
    def _poll() -> None:
        token = presenter.FRAME.set(frame)
        try:
            still = draw()
        finally:
            presenter.FRAME.reset(token)
        if still:
            st.session_state[flag] = True
        elif st.session_state.pop(flag, False):
            st.rerun()

    _poll()
