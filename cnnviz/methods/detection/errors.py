"""The one error of the detection package: :class:`DetectionError`, for anything a caller can get wrong.

It is a :class:`~cnnviz.errors.CnnvizError` (so a ``ValueError`` too, as the box operations' checks were).

Examples::

    >>> issubclass(DetectionError, ValueError)
    True
"""
from __future__ import annotations

from cnnviz.errors import CnnvizError


class DetectionError(CnnvizError):
    """An image the detector cannot read (too small, not an image), or boxes, proposals or settings of the
    wrong kind; the message says which."""


__all__ = ["DetectionError"]
