"""Device selection: CUDA, then Apple MPS, then CPU; ``CNNVIZ_DEVICE`` overrides."""
from __future__ import annotations

import os

import torch

ENV_VAR = "CNNVIZ_DEVICE"


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
    return f"CPU ({torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (for honest timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
