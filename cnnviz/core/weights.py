"""Weight files: reading a state_dict without running code, loading it strictly, naming it by content.

Two formats are read: safetensors (tensors and a JSON header, no code) and PyTorch files loaded with
``weights_only=True`` (plain tensors and containers; anything that would unpickle code is refused).
Whole pickled modules, ``torch.export`` programs and TorchScript are never read here: they unpickle.

Examples::

    >>> state = read_state_dict("assets/models/lenet5-mnist.safetensors")
    >>> load_state_into(LeNet5(), state, "lenet5 with 10 classes")  # strict: every name and shape must match
    >>> len(weights_digest(state))  # the same 12 hex digits for the same weights
    12
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import torch
from torch import nn

from cnnviz.errors import CnnvizError, foreign

log = logging.getLogger(__name__)

WeightSource = str | Path | bytes | bytearray


class ModelFileError(CnnvizError):
    """A weight file that does not fit the chosen architecture, or is not safe to read."""


class MissingWeightsError(ModelFileError, FileNotFoundError):
    """A weight file cnnviz ships or expects that is not on this machine (also a ``FileNotFoundError``)."""


def read_state_dict(src: WeightSource, filename: str | None = None) -> dict[str, torch.Tensor]:
    """Read a state_dict from .safetensors or a weights-only .pt/.pth, never unpickling code.

    Args:
        src: a path or the file's bytes.
        filename: the original name when ``src`` is bytes (its extension picks the format).

    Raises:
        ModelFileError: the file is empty, not valid safetensors, holds code or a whole pickled model,
            or is not a mapping of names to tensors.

    Examples::

        >>> read_state_dict(b"", "w.pt")
        Traceback (most recent call last):
        ModelFileError: w.pt is empty
    """
    raw = isinstance(src, (bytes, bytearray))
    name = str(filename or "upload") if raw else str(filename or src)
    source: bytes | Path = bytes(src) if raw else Path(src)
    head = source[:9] if isinstance(source, bytes) else _head(source)
    if not head:
        raise ModelFileError(f"{name} is empty")
    if name.endswith(".safetensors") or head[8:9] == b"{":  # 8 bytes of header length, then the JSON header
        return read_safetensors(source, name)
    # UnpicklingError for code, and whatever else a foreign file makes torch.load raise
    with foreign(ModelFileError, f"{name} cannot be read as a weights-only PyTorch file ({{why}}). Files that "
                 "contain code or whole pickled models are refused; save `model.state_dict()` with "
                 "safetensors.torch.save_file (or torch.save of the state_dict) instead."):
        raw_source = io.BytesIO(source) if isinstance(source, bytes) else str(source)
        obj = torch.load(raw_source, map_location="cpu", weights_only=True)  # never unpickles code
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFileError(f"{name} does not hold a state_dict (a mapping of parameter names to tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def read_safetensors(src: bytes | Path, name: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (its bytes or its path), on the CPU.

    Raises:
        ModelFileError: not a valid safetensors file (the message names the file and safetensors' reason).
    """
    from safetensors.torch import load, load_file

    # safetensors raises its own SafetensorError, OSError for a path, and whatever its header parser meets
    with foreign(ModelFileError, f"{name or src} is not a valid safetensors file ({{why}})"):
        return load(bytes(src)) if isinstance(src, (bytes, bytearray)) else load_file(str(src))


def read_cache(path: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """A cache file cnnviz wrote (safetensors with a JSON ``meta`` entry in its metadata): its tensors and that
    metadata, or None when the file is missing or unreadable (truncated, foreign, an older layout), which is logged
    and means: compute it again.
    """
    from safetensors import safe_open

    if not path.exists():
        return None
    try:
        with foreign(ModelFileError, f"the cache file {path} is unreadable ({{why}})", logging.INFO), \
                safe_open(str(path), framework="pt") as f:
            return {n: f.get_tensor(n) for n in f.keys()}, json.loads(f.metadata()["meta"])
    except ModelFileError as e:
        log.warning("%s; it will be computed again", e)
        return None


def _head(path: Path) -> bytes:
    """The first bytes of a file: enough to tell safetensors (a JSON header after 8 bytes) from the rest."""
    try:
        with open(path, "rb") as f:
            return f.read(9)
    except FileNotFoundError:
        raise MissingWeightsError(f"there is no weight file at {path}: check the path") from None


def _listed(keys: list[str]) -> str:
    return f"({len(keys)}): {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"


def load_state_into(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` strictly, turning key and shape mismatches into a readable error.

    Args:
        module: the network to load into (changed in place).
        state: parameter and buffer names to tensors.
        what: the architecture as the message names it (``"lenet5 with 10 classes"``).

    Raises:
        ModelFileError: listing the missing keys, the unexpected keys and the wrong shapes (five of each).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listed(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes: {'; '.join(wrong[:5])}")
    if problems:
        raise ModelFileError(f"the weights do not match {what}: " + " | ".join(problems) +
                             ". Check the architecture and the number of classes you chose.")
    module.load_state_dict(state, strict=True)


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """A short name for a set of weights (12 hex digits), for cache keys and the model card.

    It hashes every key and the first 64 values of every tensor: cheap for ResNet-50, and two different
    trainings differ in those.
    """
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().view(-1)[:64].float().numpy().tobytes())
    return h.hexdigest()[:12]
