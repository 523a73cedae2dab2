"""The one error base class of cnnviz, and the one way to say a failure of code we don't own.

Every domain error derives from :class:`CnnvizError` and carries a message that says what was
wrong and what to do, so a page catches this one class and shows ``str(error)``. Errors that
are not a ``CnnvizError`` are bugs: pages let them reach Streamlit's error box (and the log).
Where foreign code runs (a user's model or file, a converter, a tracer), :func:`foreign` turns
whatever it raises into a ``CnnvizError`` and logs the traceback: the library's broad ``except``
lives there, not at each call.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

log = logging.getLogger(__name__)


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


def why(e: BaseException, limit: int = 300) -> str:
    """One line that says what went wrong in code we don't own: ``"Type: first line of the message"``.

    Examples::

        >>> why(RuntimeError("shapes do not match\\n(a long trace of the graph)"))
        'RuntimeError: shapes do not match'
        >>> why(KeyError())
        'KeyError'
    """
    line = (str(e).splitlines() or [""])[0][:limit]
    return f"{type(e).__name__}: {line}" if line else type(e).__name__


@contextmanager
def foreign(error: type[CnnvizError], message: str, level: int = logging.WARNING):
    """Run code we don't own and say whatever it raises as ``error``: the one broad handler for foreign code.

    A user's module, a file's parser, a converter or a tracer can raise any type (``TraceError``,
    ``UnpicklingError``, ``RuntimeError`` from a shape, ...), so listing types would let the next one
    through as a traceback. Here it becomes ``error(message)``, its ``{why}`` replaced by :func:`why`,
    and the whole traceback goes to the server log: the page shows one clear line, and the details
    are kept. A :class:`CnnvizError` raised inside passes unchanged (it is already said as the user's
    problem); ``KeyboardInterrupt`` and other ``BaseException``s are not caught. ``level``: the log level of the
    traceback (``logging.INFO`` where the caller falls back to another way and nothing is lost).

    Examples::

        >>> class FileError(CnnvizError): pass
        >>> try:
        ...     with foreign(FileError, "net.pt cannot be read ({why})"):
        ...         int("not a number")
        ... except FileError as e:
        ...     print(e)
        net.pt cannot be read (ValueError: invalid literal for int() with base 10: 'not a number')
    """
    try:
        yield
    except CnnvizError:
        raise
    except Exception as e:  # foreign code raises any type: the traceback logged, one line said (see the docstring)
        log.log(level, "foreign code failed, said as %s", error.__name__, exc_info=True)
        raise error(message.replace("{why}", why(e))) from e
