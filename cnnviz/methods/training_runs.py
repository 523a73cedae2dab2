"""Training runs in the background of a server: one daemon thread per run, a limit per server, stop and resume.

A page keeps only the run's id in its session; the run itself lives here, in :data:`RUNS` (one per
process, i.e. per Streamlit server), so switching pages or reloading does not stop it and coming back
shows where it stands. At most ``CNNVIZ_MAX_TRAINING_RUNS`` runs (default 2, one per core of the
development machine) train at once; starting another raises :class:`RunLimitError`, whose message says
so, instead of queueing without end. Finished and stopped runs stay (the newest 20) so their curves and
models can still be used.

Examples::

    >>> run = RUNS.start_training(TrainConfig("lenet5", "mnist", epochs=1))
    >>> run.wait(60); run.status
    'done'
    >>> run.trainers["run"].history.test_accuracy
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cnnviz.core.device import env_count
from cnnviz.errors import CnnvizError
from cnnviz.methods.training import EpochRecord, TrainConfig, Trainer
from cnnviz.methods.training_presets import TransferCurve, run_comparison, transfer_curve

log = logging.getLogger(__name__)
DEFAULT_MAX_RUNS = 2
KEEP_FINISHED = 20


def max_runs() -> int:
    """The per-server limit on runs training at once: ``$CNNVIZ_MAX_TRAINING_RUNS`` (default 2)."""
    return env_count("CNNVIZ_MAX_TRAINING_RUNS", DEFAULT_MAX_RUNS)


class RunLimitError(CnnvizError):
    """Too many training runs at once on this server."""


@dataclass(eq=False)
class Run:
    """One background job: a training run, a comparison preset or a transfer curve.

    Attributes:
        id: the key a session keeps.
        kind: ``"train"``, ``"compare"`` or ``"transfer"``.
        title: what it is, for the page.
        status: ``"running"``, ``"stopped"``, ``"done"`` or ``"failed"``.
        trainers: label -> :class:`Trainer` (their histories grow while the run trains).
        curve: the transfer curve (kind ``"transfer"``).
        message: the latest line of progress; error: why it failed.
    """

    id: str
    kind: str
    title: str
    job: Callable[[Run, threading.Event], None] = field(repr=False)
    status: str = "stopped"
    trainers: dict[str, Trainer] = field(default_factory=dict)
    curve: TransferCurve | None = None
    message: str = ""
    error: str = ""
    started: float = field(default_factory=time.time)
    updates: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Ask the run to stop at its next batch (it keeps its state; :meth:`RunManager.resume` continues)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def touch(self, message: str = "") -> None:
        """Called by the job on progress: the page compares ``updates`` to know something changed."""
        self.updates += 1
        if message:
            self.message = message

    def _body(self) -> None:
        try:
            self.job(self, self._stop)
            self.status = "stopped" if self._stop.is_set() else "done"
        except Exception as e:  # a failed run reports why on the page and is logged with its traceback
            log.exception("training run %s failed", self.id)
            self.status, self.error = "failed", f"{type(e).__name__}: {e}"
        self.touch()


class RunManager:
    """The runs of one server, with the concurrent-run limit."""

    def __init__(self):
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str | None) -> Run | None:
        return self._runs.get(run_id) if run_id else None

    def active(self) -> list[Run]:
        return [r for r in self._runs.values() if r.running]

    def _launch(self, run: Run) -> Run:
        with self._lock:
            busy = self.active()
            if run not in busy and len(busy) >= max_runs():
                raise RunLimitError(
                    f"{len(busy)} training runs are going on this server already (the limit is {max_runs()}, "
                    "set by CNNVIZ_MAX_TRAINING_RUNS). Wait for one to finish, or stop yours, then start again.")
            run._stop.clear()
            run.status, run.error = "running", ""
            run._thread = threading.Thread(target=run._body, name=f"cnnviz-train-{run.id}", daemon=True)
            self._runs[run.id] = run
            self._forget_old()
            run._thread.start()
        return run

    def _forget_old(self) -> None:
        idle = [r for r in self._runs.values() if not r.running]
        for r in sorted(idle, key=lambda r: r.started)[:-KEEP_FINISHED or None]:
            del self._runs[r.id]

    def start(self, kind: str, title: str, job: Callable[[Run, threading.Event], None]) -> Run:
        """Start ``job(run, stop_event)`` in a daemon thread; :class:`RunLimitError` when the server is full."""
        return self._launch(Run(uuid.uuid4().hex[:12], kind, title, job))

    def resume(self, run: Run) -> Run:
        """Continue a stopped run where it stopped (the same job; trainers pick up their position)."""
        if run.running:
            return run
        return self._launch(run)

    def start_training(self, config: TrainConfig, device=None) -> Run:
        """A live training run of one config (label ``"run"``)."""
        config.check()

        def job(run: Run, stop: threading.Event) -> None:
            if "run" not in run.trainers:
                run.touch("Loading the data and building the network…")
                run.trainers["run"] = Trainer(config, device=device)
            t = run.trainers["run"]
            def report(p) -> None:
                if isinstance(p, EpochRecord):
                    done = f", test accuracy {p.test_accuracy:.1%}" if p.test_accuracy is not None else ""
                    run.touch(f"epoch {p.epoch}/{config.epochs} done{done}")
                else:
                    run.touch(f"epoch {t.epoch + 1}/{config.epochs}, batch {t._batch}/{t.batches_per_epoch}")

            t.run(report, stop)

        return self.start("train", config.title, job)

    def start_comparison(self, title: str, configs: dict[str, TrainConfig], device=None) -> Run:
        """A preset: the configs trained one after another."""
        def job(run: Run, stop: threading.Event) -> None:
            run_comparison(configs, lambda label, p: run.touch(f"training {label}"), stop, run.trainers, device)

        return self.start("compare", title, job)

    def start_transfer(self, source: str, ns: tuple[int, ...], device=None, **kw) -> Run:
        """The transfer-learning curve (cached once complete)."""
        def job(run: Run, stop: threading.Event) -> None:
            run.curve = transfer_curve(source, ns, progress=lambda c, msg: run.touch(msg), stop=stop,
                                       curve=run.curve, device=device, **kw)

        return self.start("transfer", f"transfer from {source}", job)


RUNS = RunManager()
