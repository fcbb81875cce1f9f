"""The exceptions pqlkit raises.

Every error derives from :class:`PqlkitError` and from the built-in it is closest to, so
``except ValueError`` keeps working for callers who do not know about pqlkit.
"""

from __future__ import annotations

__all__ = [
    "EngineNotSupportedError",
    "ExpressionError",
    "FieldError",
    "MissingFileError",
    "ModelFileError",
    "PluginError",
    "PqlkitError",
    "PqlkitTypeError",
    "RejectedRowError",
    "RejectedRowsWarning",
    "UnknownEntityError",
    "ValidationError",
]


class PqlkitError(Exception):
    """Base class of every error pqlkit raises."""


class ValidationError(PqlkitError, ValueError):
    """A value was of the right kind but not acceptable (a naive timestamp, a bad duration)."""


class PqlkitTypeError(PqlkitError, TypeError):
    """A value was of the wrong type, or an expression was used where it cannot be."""


class UnknownEntityError(PqlkitError, KeyError):
    """An entity id was asked for that the result does not hold."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a sentence reads better unquoted.
        return str(self.args[0]) if self.args else ""


class RejectedRowError(ValidationError):
    """Raised by ``strict=True`` loads on the first row that would have been rejected."""

    def __init__(self, message: str, *, reason: str, source: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.source = source


class FieldError(ValidationError):
    """A field of a record is invalid; ``reason`` is the load-report code for it."""

    def __init__(self, message: str, *, reason: str, field: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


class EngineNotSupportedError(PqlkitError, NotImplementedError):
    """An engine was asked to evaluate a node kind it does not implement."""


class ExpressionError(ValidationError):
    """An expression text (a condition in a model file) was refused by the parser.

    ``path`` is the model-file field it came from (``rules[2].when``) or ``""``; ``line``
    and ``column`` (1-based, in characters) point into ``text``; ``reason`` is the message
    without the position.
    """

    def __init__(self, message: str, *, text: str, reason: str, path: str = "",
                 line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.text = text
        self.reason = reason
        self.path = path
        self.line = line
        self.column = column


class PluginError(PqlkitError, LookupError):
    """A signal, rule or decay name is unknown, claimed by two plugins, or failed to load."""


class ModelFileError(ValidationError):
    """A model file (or model dict) has problems; ``problems`` lists every one, with its path.

    Each problem is a :class:`pqlkit.modelfile.ModelProblem` (``path``, ``message``,
    ``line``, ``column``); ``source`` is the file it came from, when there is one.
    """

    def __init__(self, message: str, *, problems: list[object], source: object = None) -> None:
        super().__init__(message)
        self.problems = problems
        self.source = source


class RejectedRowsWarning(UserWarning):
    """``ScoringModel.score`` loaded events itself and rejected some of them: the warning
    counts them by reason (load an :class:`~pqlkit.EventLog` yourself to read each one on
    ``log.report``)."""


class MissingFileError(PqlkitError, FileNotFoundError):
    """A data file named to a loader does not exist (or is a directory where a file is
    needed). Also a ``FileNotFoundError``, so ``except FileNotFoundError`` still works."""
