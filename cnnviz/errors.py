"""The one error base class of cnnviz.

Every domain error derives from :class:`CnnvizError` and carries a message that says what was
wrong and what to do, so a page catches this one class and shows ``str(error)``. Errors that
are not a ``CnnvizError`` are bugs: pages let them reach Streamlit's error box (and the log).
"""
from __future__ import annotations


class CnnvizError(ValueError):
    """Something the user asked for cannot be done; the message says why and what to do instead.

    It subclasses ``ValueError`` so code written against the earlier ``ValueError``s keeps working.

    Examples::

        >>> try:
        ...     raise CnnvizError("layer 'x' is not in the model. Hint: m.layer_names() lists them")
        ... except CnnvizError as e:
        ...     print(e)
        layer 'x' is not in the model. Hint: m.layer_names() lists them
    """


class LayerError(CnnvizError, KeyError):
    """A layer name that the model does not have (also a ``KeyError``, as dictionary look-ups are)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ImageFolderError(CnnvizError, FileNotFoundError):
    """An image folder that does not exist or holds no readable images (also a ``FileNotFoundError``)."""
