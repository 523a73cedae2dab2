"""Runtime contracts shared by every long computation and every server-wide cache.

* :data:`StopFlag` and :func:`stopped`: how a caller asks long work to end early (a ``threading.Event``,
  or any ``() -> bool``, or None).
* :data:`Progress` and :func:`report`: how long work says how far it is: ``progress(fraction, text)`` with
  ``fraction`` in [0, 1].
* :class:`ResultCache`: a bounded, thread-safe LRU for results that cannot be pickled (openTSNE / UMAP
  models) or whose computation reports progress (so ``st.cache_data`` does not fit); one computation per
  key, concurrent callers of that key wait for it.
* :class:`WeakMemo`: a bounded, locked memo keyed weakly by an object (a model's module) and a hashable
  key: a model that is dropped everywhere else is freed, and its entries with it.

Examples::

    >>> import threading
    >>> stopped(threading.Event()), stopped(lambda: True), stopped(None)
    (False, True, False)
    >>> c = ResultCache(2)
    >>> c.get_or_compute(("a", 1), lambda: 42)
    42
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

StopFlag = threading.Event | Callable[[], bool] | None
Progress = Callable[[float, str], None]


def stopped(stop: StopFlag) -> bool:
    """Whether ``stop`` asks the work to end (an Event that is set, or a callable that returns True)."""
    if stop is None:
        return False
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return bool(stop())


def report(progress: Progress | None, fraction: float, text: str = "") -> None:
    """Call ``progress(fraction, text)`` when there is one, with ``fraction`` clipped to [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), text)


class ResultCache:
    """A small thread-safe LRU cache whose values are computed once per key.

    Args:
        maxsize: entries kept; the least recently used goes first.

    Examples::

        >>> c = ResultCache(1)
        >>> c.get_or_compute("x", lambda: [1]); "x" in c
        [1]
        True
    """

    def __init__(self, maxsize: int = 16):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value for ``key``, or ``default`` (nothing is computed)."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return default

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value for ``key``, computing it once (concurrent callers of one key wait)."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            with self._lock:
                if key in self._data:
                    return self._data[key]
            value = compute()
            with self._lock:
                self._data[key] = value
                self._data.move_to_end(key)
                while len(self._data) > self.maxsize:
                    self._data.popitem(last=False)
                self._key_locks.pop(key, None)
            return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class WeakMemo:
    """Values computed once per ``(owner, key)``, where ``owner`` (a module, a model) is held weakly.

    At most ``per_owner`` keys are kept for one owner (the oldest goes first). Nothing here keeps an owner
    alive: when the last other reference to it goes, so do its entries.

    Args:
        per_owner: keys kept per owner.

    Examples::

        >>> import torch
        >>> memo, net = WeakMemo(4), torch.nn.Linear(2, 2)
        >>> memo.get_or_compute(net, "params", lambda: sum(p.numel() for p in net.parameters()))
        6
        >>> del net; len(memo)
        0
    """

    def __init__(self, per_owner: int = 32):
        self.per_owner = per_owner
        self._data: weakref.WeakKeyDictionary[Any, OrderedDict] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get(self, owner: Any, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            per = self._data.get(owner)
            return per[key] if per is not None and key in per else default

    def get_or_compute(self, owner: Any, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value for ``(owner, key)``; ``compute()`` runs outside the lock (two first callers may both
        compute; the first value stored wins)."""
        with self._lock:
            per = self._data.get(owner)
            if per is not None and key in per:
                return per[key]
        value = compute()
        with self._lock:
            per = self._data.setdefault(owner, OrderedDict())
            if key in per:
                return per[key]
            per[key] = value
            while len(per) > self.per_owner:
                per.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


__all__ = ["StopFlag", "Progress", "stopped", "report", "ResultCache", "WeakMemo"]
