"""The errors of the kernels package: one base, :class:`KernelError`, and the kinds a page tells apart.

Each also derives from the built-in error a caller might already catch (``KeyError`` for an unknown name,
``TypeError`` for a layer of the wrong type, ``IndexError`` for a filter number outside the layer).

Examples::

    >>> issubclass(UnknownKernelError, KernelError) and issubclass(KernelError, ValueError)
    True
"""
from __future__ import annotations

from cnnviz.errors import CnnvizError


class KernelError(CnnvizError):
    """A kernel, image or filter that cannot be used as asked; the message says what to change."""


class UnknownKernelError(KernelError, KeyError):
    """A classic kernel name that :data:`~cnnviz.methods.kernels.classic.KERNELS` does not have (also a
    ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotAConvError(KernelError, TypeError):
    """A layer that is not a ``Conv2d``, so it has no filters to show (also a ``TypeError``)."""


class FilterIndexError(KernelError, IndexError):
    """A filter index outside the layer (also an ``IndexError``)."""


__all__ = ["KernelError", "UnknownKernelError", "NotAConvError", "FilterIndexError"]
