"""Exceptions raised by crystallize-opt.

Every error the package raises on purpose derives from :class:`CrystallizeError`, so a
caller can catch the package's errors without catching programming errors.
"""

from __future__ import annotations

from typing import Any

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


class ConfigFileNotFoundError(ConfigurationError, FileNotFoundError):
    """Raised when a study folder, its ``config.yaml`` or an experiment folder a config refers
    to (``<experiment>#<artifact>``) does not exist. The message names the path (and the key
    that refers to it); it is also a :class:`FileNotFoundError`, what crystallize-ml raised
    there, so ``except FileNotFoundError`` keeps working."""


class ExperimentRunError(CrystallizeError, RuntimeError):
    """Raised when an experiment cannot run at all (not when a replicate fails: those are
    recorded in the :class:`~crystallize_opt.Result`)."""


class EventLoopError(CrystallizeError, RuntimeError):
    """Raised when a synchronous entry point is called inside a running event loop."""


class OptimizationError(CrystallizeError, RuntimeError):
    """Raised when an optimization cannot produce a result, e.g. when every trial failed."""


class StorageError(OptimizationError):
    """Raised when the study's storage fails in a way the optimizer cannot ride out: a database
    that stayed unreachable (or locked) for longer than ``outage_timeout``, a full disk, or a
    damaged database file.

    The message is one line that names the storage (its password hidden), says what happened in
    plain words, quotes the database's own error and says what to do. The command line reports
    it with exit code 2. The stored trials are as they were before the failure: fix the cause and
    run the command again to resume.
    """

    def __str__(self) -> str:
        return one_line(super().__str__())


class StorageFileError(ConfigurationError):
    """Raised when a storage file exists but cannot be read: a damaged or foreign SQLite file,
    one without permission to read, or one on read-only media whose changes only its
    write-ahead log holds. The message names the file and says what to do; the file is left
    as it was. The command line reports it with exit code 2."""


class JournalFileError(ConfigurationError):
    """Raised when a journal file (``study.log``) holds a line that is no journal record
    (damage before its last line, which is mended when torn); the message names the file, the
    line and what to do. The file is left as it was."""


class MissingMetricError(CrystallizeError, KeyError):
    """Raised when a metric that was asked for was never recorded.

    It is also a :class:`KeyError` (what crystallize-ml's documentation promised), so code
    catching either name catches it. :meth:`Hypothesis.verify` does not raise it: a hypothesis
    reports a missing metric in its result's ``errors``.
    """

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable.
        return str(self.args[0]) if self.args else ""


class PipelineExecutionError(CrystallizeError, RuntimeError):
    """A pipeline step failed: ``PipelineExecutionError(step_name, exc)``.

    ``step_name`` names the step and ``original_exception`` is what it raised (also the
    ``__cause__`` when raised with ``from``); the message reads ``Step 'name' failed: <exc>``.
    Unlike crystallize-ml's, it survives pickling (a worker process can send it back).

    The engine records a failed step in the Result's ``errors`` as a
    :class:`~crystallize_opt.ReplicateError` naming the step and the step's own exception type
    (``docs/migrating-from-crystallize.md``), and :meth:`Experiment.apply` raises the step's own
    exception; this class is for code that raises or catches the reference's name.
    """

    def __init__(self, step_name: str, exc: BaseException) -> None:
        super().__init__(f"Step {step_name!r} failed: {type(exc).__name__}: {exc}")
        self.step_name = step_name
        self.original_exception = exc

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.step_name, self.original_exception))
