"""The per-run context: an add-only mapping, the metrics a run records, and its random generator."""

from __future__ import annotations

import copy
import datetime
import decimal
import fractions
import pathlib
import reprlib
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._logging import get_logger
from .exceptions import ContextMutationError

_log = get_logger("context")

# Values of exactly these types cannot change (a subclass may add mutable state, so it is not
# listed), so handing out the object itself is as safe as a copy and costs nothing.
_IMMUTABLE_TYPES: frozenset[type] = frozenset(
    {
        int,
        float,
        complex,
        bool,
        str,
        bytes,
        type(None),
        range,
        type(Ellipsis),
        types.FunctionType,
        types.BuiltinFunctionType,
        type,
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
        decimal.Decimal,
        fractions.Fraction,
        pathlib.PurePosixPath,
        pathlib.PureWindowsPath,
        pathlib.PosixPath,
        pathlib.WindowsPath,
    }
)
_UNCOPYABLE_LOGGED: set[str] = set()
_ABSENT = object()
_PREVIEW = reprlib.Repr()
_PREVIEW.maxstring = _PREVIEW.maxother = 120


def is_immutable(value: Any) -> bool:
    """True for a value nothing can change: numbers (with Decimal and Fraction), strings, bytes,
    None, functions, classes, paths, dates and times, numpy scalars, and tuples and frozensets
    holding only such values."""
    kind = type(value)
    if kind in _IMMUTABLE_TYPES:
        return True
    if kind is tuple or kind is frozenset:
        return all(is_immutable(item) for item in value)
    return isinstance(value, np.generic) and not isinstance(value, np.void)


def isolated(value: Any) -> Any:
    """Return ``value`` when it is immutable (:func:`is_immutable`), else a deep copy of it.

    What the caller does to the copy reaches neither the original nor anyone else's copy. A value
    ``copy.deepcopy`` cannot copy (a lock, an open file or connection, a generator, or a container
    holding one) is a resource, shared by nature: it is returned as it is, and that is logged once
    per type at DEBUG level.
    """
    # The common case (a number or string) answered without a call: this runs on every read.
    if type(value) in _IMMUTABLE_TYPES or is_immutable(value):
        return value
    try:
        return copy.deepcopy(value)
    except (TypeError, copy.Error) as exc:
        kind = type(value).__qualname__
        if kind not in _UNCOPYABLE_LOGGED:
            _UNCOPYABLE_LOGGED.add(kind)
            _log.debug("a %s value cannot be copied (%s); it is shared, not isolated", kind, exc)
        return value


class ContextMetrics:
    """Metrics recorded by one run: each name maps to the values added under it, in order.

    A step calls ``ctx.metrics.add("loss", 0.3)``; adding the same name again appends, so a
    step may record a curve. Values are kept as given (floats in practice).
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, list[Any]] = {}

    def add(self, name: str, value: Any) -> None:
        """Append ``value`` to the metric ``name``.

        Raises:
            TypeError: if ``name`` is not a non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"metric name must be a non-empty string, got {name!r}")
        self._values.setdefault(name, []).append(value)

    def get(self, name: str) -> list[Any]:
        """Return a copy of the values recorded under ``name`` (empty if none)."""
        return list(self._values.get(name, ()))

    def as_dict(self) -> dict[str, list[Any]]:
        """Return a copy of every metric: name -> list of values."""
        return {name: list(values) for name, values in self._values.items()}

    def lengths(self) -> dict[str, int]:
        """Return how many values each metric has now (a mark for :meth:`added_since`)."""
        return {name: len(values) for name, values in self._values.items()}

    def added_since(self, lengths: dict[str, int]) -> dict[str, list[Any]]:
        """Return the values added after :meth:`lengths` returned ``lengths``."""
        return {
            name: values[lengths.get(name, 0) :]
            for name, values in self._values.items()
            if len(values) > lengths.get(name, 0)
        }

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ContextMetrics({self._values!r})"


@dataclass(frozen=True)
class ArtifactRecord:
    """One file a step asked to write through an :class:`~crystallize_opt.Artifact`."""

    name: str
    data: bytes


class ArtifactLog:
    """Artifacts written during one step, collected until the ArtifactPlugin stores them."""

    __slots__ = ("_items", "written")

    def __init__(self) -> None:
        self._items: dict[str, ArtifactRecord] = {}
        #: (artifact name, step name, file path) of every artifact stored during this run.
        self.written: list[tuple[str, str, str]] = []

    def add(self, name: str, data: bytes) -> None:
        """Queue ``data`` to be written as file ``name``.

        Raises:
            ContextMutationError: if ``name`` was already written in this step.
            TypeError: if ``data`` is not bytes.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"artifact {name!r}: data must be bytes, got {type(data).__name__}")
        if name in self._items:
            raise ContextMutationError(f"artifact {name!r} was already written in this step")
        self._items[name] = ArtifactRecord(name, bytes(data))

    def drain(self) -> list[ArtifactRecord]:
        """Return the queued artifacts and empty the log."""
        items = list(self._items.values())
        self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ArtifactRecord]:
        return iter(list(self._items.values()))


class FrozenContext(Mapping[str, Any]):
    """An add-only mapping handed to the datasource and every pipeline step of one run.

    Despite its name it is not frozen: keys can be added (``ctx.add(key, value)`` or
    ``ctx[key] = value``) but never overwritten or deleted, so what one step wrote cannot be
    silently changed by a later one. The name is kept from crystallize-ml for compatibility
    (``docs/migration.md``, "Context values").

    Values are isolated as in the reference (crystallize-ml 0.27): every read (``ctx[key]``,
    ``ctx.get``, ``values()``, ``items()``, ``as_dict()`` and the parameters injected into steps
    and datasources) of a mutable value returns a deep copy of its own, and the value is copied
    when it enters (the initial mapping, ``ctx.add``). So a step mutating ``ctx["cfg"]["lr"]``
    changes only its copy: not what later steps or other replicates read, not the caller's
    ``initial_ctx`` or :class:`~crystallize_opt.Treatment`, and a writer cannot change a value
    after adding it (the reference stores a live reference there, one of its listed bugs). A step
    that adds an object for a later step hands it over this way: the later step gets an equal
    copy. Immutable values (numbers, strings, tuples of them, see :func:`is_immutable`) are never
    copied; values that cannot be copied are shared (see :func:`isolated`). Copying on read, not
    once per replicate, costs nothing for the values a run does not read and keeps even the
    steps of one replicate apart (``benchmarks/bench_overhead.py`` measures it). Besides the keys
    it carries:

    * ``metrics``: a :class:`ContextMetrics` the steps record into;
    * ``rng``: a :class:`numpy.random.Generator` seeded for this replicate and condition. Code
      that draws only from it is reproducible in threads and processes alike;
    * ``artifacts``: the :class:`ArtifactLog` of the current step;
    * ``outputs``: the experiment's output :class:`~crystallize_opt.Artifact` objects bound to
      this run (steps receive them as parameters by name).
    """

    __slots__ = ("_data", "_rng", "artifacts", "metrics", "outputs", "scope")

    def __init__(self, initial: Mapping[str, Any] | None = None, *, rng: np.random.Generator | None = None):
        self._data: dict[str, Any] = {key: isolated(value) for key, value in (initial or {}).items()}
        self.metrics = ContextMetrics()
        self.artifacts = ArtifactLog()
        self._rng = rng
        #: Output artifacts bound to this run, injectable into steps by name.
        self.outputs: dict[str, Any] = {}
        #: Where this run's artifacts go below the experiment's version folder: "" for a run,
        #: "apply" for :meth:`Experiment.apply`, "trials/<n>" for optimization trials.
        self.scope = ""

    @classmethod
    def _adopting(cls, values: dict[str, Any]) -> FrozenContext:
        """A context holding ``values`` (taken over, not copied) for the engine's per-replicate runs.

        Their values are the user's objects, but reads hand out copies, so nothing done through
        the context can change them; skipping the copy on entry saves a deep copy per replicate.
        """
        ctx = cls()
        ctx._data = values
        return ctx

    @property
    def rng(self) -> np.random.Generator:
        """This run's random generator (seeded from ``seed_used`` when first needed, if not set)."""
        if self._rng is None:
            self._rng = np.random.default_rng(int(self._data.get("seed_used", 0)))
        return self._rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        self._rng = generator

    def add(self, key: str, value: Any) -> None:
        """Add ``key`` with ``value`` (a copy of it, when it is mutable: see :class:`FrozenContext`).

        Raises:
            ContextMutationError: if ``key`` is already present (its name is in the message).
        """
        if key in self._data:
            raise ContextMutationError(
                f"context key {key!r} is already set (to {self._data[key]!r}); "
                "context keys can be added but never overwritten"
            )
        self._data[key] = isolated(value)

    def __setitem__(self, key: str, value: Any) -> None:
        self.add(key, value)

    def __delitem__(self, key: str) -> None:
        raise ContextMutationError(f"context key {key!r} cannot be deleted")

    def __getitem__(self, key: str) -> Any:
        """Return the value of ``key``: a copy of its own when it is mutable.

        Raises:
            KeyError: if ``key`` is not set.
        """
        return isolated(self._data[key])

    # Mapping's own ``in`` and ``get`` go through __getitem__ and, for a missing key, a raised
    # KeyError; the engine and plugins ask several times per replicate.
    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key`` (a copy, when mutable), or ``default`` (as given) when it is not set."""
        value = self._data.get(key, _ABSENT)
        return default if value is _ABSENT else isolated(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def as_dict(self) -> dict[str, Any]:
        """Return the keys and values (copies of the mutable ones), without metrics."""
        return {key: isolated(value) for key, value in self._data.items()}

    def preview(self, key: str) -> str:
        """Return a short ``repr`` of the value of ``key`` (for provenance and logs; no copy made).

        Raises:
            KeyError: if ``key`` is not set.
        """
        return _PREVIEW.repr(self._data[key])

    def __repr__(self) -> str:
        return f"FrozenContext({self._data!r}, metrics={self.metrics.as_dict()!r})"
