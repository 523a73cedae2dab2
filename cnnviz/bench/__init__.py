"""Benchmarks: ``python -m cnnviz.bench [--json] [--only TEXT] [--quick]``.

Each module in this package registers entries with :func:`entry`; an entry returns a list
of :class:`Result`. Timings are medians of several repeats on the current device, and a
ratio is always measured in the same run as its baseline.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from cnnviz.core.device import pick_device, synchronize


@dataclass
class Result:
    """One benchmark figure. Timings are given in seconds (what :func:`median_time` returns) and
    reported in ``unit``: with ``unit="ms"`` (the default) :meth:`as_dict` gives milliseconds, so
    the JSON always holds values in the unit it names."""

    name: str
    value: float  # seconds for timings (unit "ms" or "s"), or the figure itself in `unit`
    unit: str = "ms"
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None  # how the figure compares with the baseline, as the entry defines it
    target: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        """The result with ``value`` and ``baseline_value`` in ``unit`` (seconds turned into ms for "ms")."""
        d = asdict(self)
        if self.unit == "ms":
            d["value"] = self.value * 1e3
            d["baseline_value"] = None if self.baseline_value is None else self.baseline_value * 1e3
        return d


@dataclass
class Entry:
    topic: str
    name: str
    func: Callable[[Options], list[Result]]


@dataclass
class Options:
    device: torch.device = field(default_factory=pick_device)
    quick: bool = False  # fewer repeats, smaller sizes: for smoke tests


ENTRIES: list[Entry] = []


def entry(topic: str):
    """Register a benchmark function ``f(opts) -> list[Result]`` under ``topic``."""
    def deco(func):
        ENTRIES.append(Entry(topic, func.__name__, func))
        return func
    return deco


def median_time(fn: Callable[[], object], device: torch.device, repeat: int = 7, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds, synchronising the device around each call."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_medians(fns: list[Callable[[], object]], device: torch.device, repeat: int, warmup: int = 2) -> list[float]:
    """Median seconds of each function, calling them in turn, the order rotated each round (a, b, c; b, c, a;
    c, a, b; ...).

    Interleaving keeps a ratio honest on a shared machine whose load drifts during the run; rotating the
    order keeps it honest when a call pays for the one before it (memory the previous call freed and the
    next one must fault in again: measured, a 35 ms CAM took 78 ms right after pytorch-grad-cam's call).
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeat):
        for i in [(r + j) % len(fns) for j in range(len(fns))]:
            fn = fns[i]
            synchronize(device)
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]
