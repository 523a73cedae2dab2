"""Device selection: CUDA, then Apple MPS, then CPU; ``CNNVIZ_DEVICE`` overrides.

Also the server-wide thread policy (:func:`apply_thread_policy`): PyTorch's intra-op pool is one per
process and every concurrent request's CPU ops use it, so K replicas on one machine each take
``cores // K`` threads (``$CNNVIZ_THREADS`` overrides; ``$CNNVIZ_REPLICAS`` says K) instead of all cores each.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import torch

ENV_VAR = "CNNVIZ_DEVICE"
THREADS_VAR = "CNNVIZ_THREADS"
REPLICAS_VAR = "CNNVIZ_REPLICAS"


def pick_device(preferred: str | None = None) -> torch.device:
    """Return the best available device, or the one named by ``preferred`` / ``$CNNVIZ_DEVICE``.

    Args:
        preferred: ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"`` or ``None`` for automatic.

    Examples::

        >>> pick_device("cpu")
        device(type='cpu')
    """
    name = preferred or os.environ.get(ENV_VAR, "").strip() or None
    if name:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"{ENV_VAR}={name!r} asks for CUDA but torch sees no CUDA device; unset it or use 'cpu'")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError(f"{ENV_VAR}={name!r} asks for MPS but it is not available here; unset it or use 'cpu'")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """A one-line human description: GPU name and memory where there is one."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    if device.type == "mps":
        return "Apple MPS (Metal GPU)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (for honest timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class ThreadPolicy:
    """The intra-op thread count of this process and where it came from.

    Attributes:
        threads: ``torch.get_num_threads()`` after the policy was applied.
        cores: CPU cores this process may run on (its affinity mask).
        replicas: replicas sharing those cores (``$CNNVIZ_REPLICAS``, default 1).
        source: ``"CNNVIZ_THREADS"`` when set explicitly, else ``"cores/replicas"``.
    """

    threads: int
    cores: int
    replicas: int
    source: str

    def describe(self) -> str:
        """One line for the sidebar, e.g. ``"1 thread per replica (2 cores / 2 replicas)"``."""
        unit = "thread" if self.threads == 1 else "threads"
        if self.source == THREADS_VAR:
            return f"{self.threads} {unit} per replica ({THREADS_VAR}; {self.cores} cores)"
        return f"{self.threads} {unit} per replica ({self.cores} cores / {self.replicas} " \
               f"replica{'s' if self.replicas != 1 else ''})"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one, else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def env_count(name: str, default: int) -> int:
    """A positive count from the environment (a server limit such as ``$CNNVIZ_MAX_JOBS``); ``default`` when
    unset or not a positive integer (a malformed value is logged, not raised: a page must keep working).

    Examples::

        >>> env_count("CNNVIZ_NOT_SET", 2)
        2
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    logging.getLogger("cnnviz").warning("%s=%r is not a positive integer; using %d", name, raw, default)
    return default


def thread_policy(env: dict[str, str] | None = None, cores: int | None = None) -> ThreadPolicy:
    """The threads one replica should use, from the environment (nothing is applied).

    ``$CNNVIZ_THREADS`` (a positive integer) wins; otherwise ``max(1, cores // $CNNVIZ_REPLICAS)``.

    Args:
        env: the environment to read (default ``os.environ``).
        cores: cores available (default :func:`available_cores`).

    Raises:
        ValueError: a variable is set but is not a positive integer (the message names it).

    Examples::

        >>> thread_policy({"CNNVIZ_REPLICAS": "2"}, cores=8).threads
        4
        >>> thread_policy({"CNNVIZ_THREADS": "3"}, cores=8).source
        'CNNVIZ_THREADS'
    """
    env = os.environ if env is None else env
    cores = cores or available_cores()

    def positive(name: str) -> int | None:
        raw = env.get(name, "").strip()
        if not raw:
            return None
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{name}={raw!r} is not a positive integer; set it to e.g. 1 or 2, or unset it")
        return int(raw)

    replicas = positive(REPLICAS_VAR) or 1
    explicit = positive(THREADS_VAR)
    if explicit:
        return ThreadPolicy(explicit, cores, replicas, THREADS_VAR)
    return ThreadPolicy(max(1, cores // replicas), cores, replicas, "cores/replicas")


_APPLIED: list[ThreadPolicy] = []
_APPLY_LOCK = threading.Lock()


def apply_thread_policy() -> ThreadPolicy:
    """Apply :func:`thread_policy` with ``torch.set_num_threads`` once per process; later calls return it.

    Called when the app starts serving (the first page run); every session of the replica then shares
    the one intra-op pool of that size.

    Examples::

        >>> apply_thread_policy().threads == torch.get_num_threads()
        True
    """
    with _APPLY_LOCK:
        if not _APPLIED:
            p = thread_policy()
            torch.set_num_threads(p.threads)
            _APPLIED.append(ThreadPolicy(torch.get_num_threads(), p.cores, p.replicas, p.source))
        return _APPLIED[0]
