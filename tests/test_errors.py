"""cnnviz.errors: the one error base, and ``foreign``, the one broad handler for code we don't own."""
import logging

import pytest

from cnnviz.errors import CnnvizError, foreign, why


class FileError(CnnvizError):
    pass


def test_why_is_the_type_and_the_first_line():
    assert why(RuntimeError("a\nb")) == "RuntimeError: a"
    assert why(KeyError()) == "KeyError"
    assert why(ValueError("x" * 500), limit=10) == "ValueError: " + "x" * 10


def test_foreign_says_any_failure_as_the_error_given_and_logs_the_traceback(caplog):
    caplog.set_level(logging.WARNING, logger="cnnviz.errors")
    with pytest.raises(FileError) as info:
        with foreign(FileError, "{name} cannot be read ({why})".replace("{name}", "a{b}.pt")):
            {}["missing"]
    assert str(info.value) == "a{b}.pt cannot be read (KeyError: 'missing')"  # braces in a name stay as given
    assert isinstance(info.value.__cause__, KeyError)
    assert "Traceback" in caplog.text and "KeyError: 'missing'" in caplog.text


def test_foreign_lets_its_own_errors_and_interrupts_through():
    with pytest.raises(CnnvizError, match="^already said$") as info:
        with foreign(FileError, "never ({why})"):
            raise CnnvizError("already said")
    assert type(info.value) is CnnvizError
    with pytest.raises(KeyboardInterrupt):
        with foreign(FileError, "never ({why})"):
            raise KeyboardInterrupt
    with foreign(FileError, "never ({why})"):  # nothing raised: nothing said
        pass
