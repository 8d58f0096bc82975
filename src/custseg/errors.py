"""Exceptions raised by custseg.

Every error is a :class:`CustsegError`; its message names the file, column or value at fault
and says what to do. The command line prints the message on one line and exits with code 1.
"""

from __future__ import annotations


def one_line(message: str) -> str:
    """``message`` on one line: line breaks (a column name or value may hold one) are shown as
    ``\\n``, so that an error is always printed, logged and tested as a single line.

    Examples
    --------
    >>> one_line("no column 'a\\nb'")
    "no column 'a\\\\nb'"
    """
    return message.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


class CustsegError(Exception):
    """Base class of every error custseg raises on purpose; its message is one line."""

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (one_line(args[0]), *args[1:])
        super().__init__(*args)

    def __str__(self) -> str:
        return one_line(super().__str__())


class InputError(CustsegError, OSError):
    """The input cannot be found, opened or parsed."""


class SchemaError(CustsegError, ValueError):
    """A required column is missing, ambiguous or of an unusable type."""


class EmptyDataError(CustsegError, ValueError):
    """No usable row or customer is left after cleaning."""


class TooFewCustomersError(CustsegError, ValueError):
    """There are fewer customers than the number of segments asked for."""


class ModelError(CustsegError, ValueError):
    """A saved model cannot be read or does not fit the data given to it."""


class NotFittedError(CustsegError, ValueError, AttributeError):
    """An estimator was used before ``fit``.

    The estimator raises a subclass that is also scikit-learn's ``NotFittedError``
    (:class:`custseg.model.segmenter.EstimatorNotFittedError`); this module does not import
    scikit-learn, so that errors can be raised and caught without loading it.
    """


class EngineError(CustsegError, RuntimeError):
    """The SQL engine failed to run a statement (the engine's message on one line).

    Raised by every :class:`~custseg.engines.base.Engine`, so that code above the engines
    catches engine failures without importing an engine's library.
    """


class EngineStopped(EngineError):
    """The engine itself stopped while it ran (its process died, often out of memory): the
    input is not at fault, and the message says what to give the engine."""
