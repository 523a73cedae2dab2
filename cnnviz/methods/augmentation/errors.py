"""The errors of the augmentation methods: a value, pipeline or demo setting a user chose that cannot be used."""
from __future__ import annotations

from cnnviz.errors import CnnvizError


class AugmentationError(CnnvizError):
    """A transform value, pipeline or demo setting that cannot be used; the message names the fix."""


class UnknownTransformError(AugmentationError, KeyError):
    """A transform key (or a transform's parameter) the table does not have (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
