"""The per-run context: an add-only mapping with the run's metrics, artifacts, logger and rng."""

from __future__ import annotations

import copy
import logging
import reprlib
import types
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .._constants import REPLICATE_KEY
from .._logging import get_logger
from ..exceptions import ContextMutationError
from ._artifact_log import ArtifactLog
from ._curve import CurveReporter, TrialPruned, check_point
from ._isolation import isolated
from ._metrics import ContextMetrics

_STEP_LOGGER = get_logger("steps")
_ABSENT = object()
_COPIED_DEFAULTS = (dict, list, set)
_PREVIEW = reprlib.Repr()
_PREVIEW.maxstring = _PREVIEW.maxother = 120


class FrozenContext(Mapping[str, Any]):
    """An add-only mapping handed to the datasource and every pipeline step of one run.

    Despite its name it is not frozen: keys can be added (``ctx.add(key, value)`` or
    ``ctx[key] = value``) but never overwritten or deleted, so what one step wrote cannot be
    silently changed by a later one. The name is kept from crystallize-ml for compatibility
    (``docs/migrating-from-crystallize.md``, "Context values").

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
      this run (steps receive them as parameters by name);
    * ``logger``: a :class:`logging.Logger` for the steps' messages (the one given, else
      ``crystallize_opt.steps``, which the :class:`~crystallize_opt.LoggingPlugin` shows);
    * ``curve``: the learning curve the steps reported with :meth:`report`, ``[(step, value), ...]``.

    ``FrozenContext(initial, logger=...)`` is also how a step is tested on its own (see
    :func:`~crystallize_opt.standalone_context`).
    """

    __slots__ = (
        "__dict__",  # attributes a user's code sets on a context (crystallize-ml's had no slots)
        "_data",
        "_decision",
        "_logger",
        "_reporter",
        "_rng",
        "artifacts",
        "curve",
        "metrics",
        "outputs",
        "scope",
    )

    def __init__(
        self,
        initial: Mapping[str, Any] | None = None,
        logger: logging.Logger | None = None,
        *,
        rng: np.random.Generator | None = None,
    ):
        self._data: dict[str, Any] = {key: isolated(value) for key, value in (initial or {}).items()}
        self.metrics = ContextMetrics()
        self.artifacts = ArtifactLog()
        self._rng = rng
        self._logger = logger
        #: Output artifacts bound to this run, injectable into steps by name.
        self.outputs: dict[str, Any] = {}
        #: Where this run's artifacts go below the experiment's version folder: "" for a run,
        #: "apply" for :meth:`Experiment.apply`, "trials/<n>" for optimization trials.
        self.scope = ""
        #: The learning curve reported so far (:meth:`report`): ``(step, value)`` pairs.
        self.curve: list[tuple[int, float]] = []
        self._reporter: CurveReporter | None = None
        self._decision: dict[str, Any] | None = None

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
    def logger(self) -> logging.Logger:
        """The logger steps write to: the one given to the constructor, else ``crystallize_opt.steps``."""
        return self._logger if self._logger is not None else _STEP_LOGGER

    @logger.setter
    def logger(self, logger: logging.Logger) -> None:
        self._logger = logger

    def record(self, name: str, value: Any, tags: Mapping[str, Any] | None = None) -> None:
        """Record a metric value: the same as ``ctx.metrics.add(name, value, tags)``.

        Raises:
            TypeError: if ``name`` is not a non-empty string or ``tags`` is not a mapping.
        """
        self.metrics.add(name, value, tags)

    def report(self, value: float, step: int, *, prune: bool = True) -> None:
        """Record ``value`` as the learning curve's point at ``step`` (e.g. the epoch).

        Call it while a step trains, once per step, with increasing steps. The points are this
        replicate's learning curve (:attr:`curve`): in :meth:`Experiment.run` they are kept in
        ``result.provenance["curves"]``, under :meth:`Experiment.optimize` in the trial's record,
        and the HTML report plots them. In ``run()`` and ``apply()`` that is all it does.

        Under :meth:`Experiment.optimize` with a pruner (``OptunaOptimizer(pruner=...)``), the
        point also goes to the pruner (see ``curve_pruning`` there for how replicates and steps
        combine) and, when the pruner says the trial should stop, it raises
        :class:`~crystallize_opt.TrialPruned`: the replicate and the trial stop and the trial is
        stored as PRUNED, its record saying where and why. With ``prune=False`` it never raises:
        ask :meth:`should_prune`, clean up, and raise :class:`~crystallize_opt.TrialPruned`
        yourself. Beyond the reference API (crystallize-ml has no learning curves).

        Raises:
            TrialPruned: under ``optimize`` with a pruner, when the trial should stop (and
                ``prune`` is True).
            TypeError: if ``value`` is not a real number or ``step`` not an integer.
            ValueError: if ``step`` is negative or not greater than the last step reported.
        """
        number, at = check_point(value, step, self.curve[-1][0] if self.curve else None)
        self.curve.append((at, number))
        if self._reporter is None:
            return
        self._decision = self._reporter.report(int(self._data.get(REPLICATE_KEY, 0)), at, number)
        if self._decision is not None and prune:
            raise TrialPruned(decision=self._decision)

    def should_prune(self) -> bool:
        """True when the pruner decided, at the last :meth:`report`, that the trial should stop
        (always False outside :meth:`Experiment.optimize` or without a pruner). Beyond the
        reference API."""
        return self._decision is not None

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
            # Begins as crystallize-ml's message, which user code and tests match.
            raise ContextMutationError(
                f"Cannot mutate existing key: {key!r} (already set to {self._data[key]!r}); "
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
        """Return the value of ``key`` (a copy, when mutable), or ``default`` when it is not set.

        A default that is a dict, list or set is copied too, as in crystallize-ml, so changing
        what is returned never changes the caller's default; any other default is returned as
        given (a sentinel object keeps its identity).
        """
        value = self._data.get(key, _ABSENT)
        if value is _ABSENT:
            return copy.deepcopy(default) if type(default) in _COPIED_DEFAULTS else default
        return isolated(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def as_dict(self) -> Mapping[str, Any]:
        """Return the keys and values (copies of the mutable ones), without metrics, as a
        read-only mapping (``types.MappingProxyType``, as in crystallize-ml): assigning to it
        raises ``TypeError``; ``dict(ctx.as_dict())`` gives a plain dict."""
        return types.MappingProxyType({key: isolated(value) for key, value in self._data.items()})

    def preview(self, key: str) -> str:
        """Return a short ``repr`` of the value of ``key`` (for provenance and logs; no copy made).

        Raises:
            KeyError: if ``key`` is not set.
        """
        return _PREVIEW.repr(self._data[key])

    def __repr__(self) -> str:
        return f"FrozenContext({self._data!r}, metrics={self.metrics.lists()!r})"
