"""Exceptions raised by crystallize-opt.

Every error the package raises on purpose derives from :class:`CrystallizeError`, so a
caller can catch the package's errors without catching programming errors.
"""

from __future__ import annotations

from ._text import one_line


class CrystallizeError(Exception):
    """Base class of every error raised on purpose by crystallize-opt."""


class ContextMutationError(CrystallizeError, KeyError):
    """Raised when code tries to overwrite or delete a key of a :class:`FrozenContext`.

    It is also a :class:`KeyError`, so code written against a plain mapping still catches it.
    """

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable.
        return str(self.args[0]) if self.args else ""


class ConfigurationError(CrystallizeError, ValueError, TypeError):
    """Raised when an experiment, optimizer or study config is invalid (a wrong value or type).

    The message names the offending key or value and what was expected. It is one line: a
    character that would break it (a newline or another control character, e.g. from a key of
    a config) is shown as its escape (``\\n``).
    """

    def __str__(self) -> str:
        return one_line(super().__str__())


class ExperimentRunError(CrystallizeError, RuntimeError):
    """Raised when an experiment cannot run at all (not when a replicate fails: those are
    recorded in the :class:`~crystallize_opt.Result`)."""


class EventLoopError(CrystallizeError, RuntimeError):
    """Raised when a synchronous entry point is called inside a running event loop."""


class OptimizationError(CrystallizeError, RuntimeError):
    """Raised when an optimization cannot produce a result, e.g. when every trial failed."""
