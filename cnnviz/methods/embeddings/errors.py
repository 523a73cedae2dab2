"""The errors of the embeddings pipeline: requests that cannot be embedded, and why."""
from __future__ import annotations

from cnnviz.errors import CnnvizError


class EmbeddingError(CnnvizError):
    """An embedding request that cannot be served (the message says what to change)."""


class FeaturesTooLarge(EmbeddingError, MemoryError):
    """Features that would take more memory than cnnviz holds for them (also a ``MemoryError``)."""


class WarmUpFailed(EmbeddingError):
    """The background warm-up of openTSNE and UMAP failed (logged; the first real call pays the compile time)."""


__all__ = ["EmbeddingError", "FeaturesTooLarge", "WarmUpFailed"]
