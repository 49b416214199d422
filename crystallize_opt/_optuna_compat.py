"""Every access to a private Optuna API in crystallize-opt, each behind one small function.

Optuna's public API costs queries the optimizer never needs (``Study.tell`` reads the trial
back, the trial record would be a commit of its own, counting trials by state reads them
all), and it names no storage, study id or trial id. The functions here reach into Optuna
where that is faster or the only way, checked on Optuna 5.0 and 5.1 (the fast path of each is
tested to be taken on both, ``tests/test_optuna_compat.py``). Where a private name is missing
(a later Optuna moved it), each falls back to public behaviour that gives the same result,
slower. Only a missing name (``ImportError``/``AttributeError`` while resolving it) selects a
fallback: any other failure, such as a database error, propagates.

Nothing outside this module names a private Optuna attribute or module.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial

from .exceptions import OptimizationError

# --- studies and trials: the storage and ids Optuna keeps private -------------------------------


#: The storage each study crystallize-opt opened was opened on (the fallback of study_storage).
_STORAGE_OF: weakref.WeakKeyDictionary[optuna.Study, BaseStorage] = weakref.WeakKeyDictionary()


def load_study(name: str, storage: BaseStorage, **kwargs: Any) -> optuna.Study:
    """``optuna.load_study`` that remembers the storage (see :func:`study_storage`).

    Raises:
        KeyError: as Optuna does, when ``storage`` has no study ``name``.
    """
    study = optuna.load_study(study_name=name, storage=storage, **kwargs)
    _STORAGE_OF[study] = storage
    return study


def create_study(name: str, storage: BaseStorage, **kwargs: Any) -> optuna.Study:
    """``optuna.create_study`` that remembers the storage (see :func:`study_storage`).

    Raises:
        optuna.exceptions.DuplicatedStudyError: as Optuna does, when the study exists.
    """
    study = optuna.create_study(study_name=name, storage=storage, **kwargs)
    _STORAGE_OF[study] = storage
    return study


def study_storage(study: optuna.Study) -> BaseStorage:
    """The storage ``study`` reads and writes (Optuna wraps an RDB storage in its cache).

    Fast path (Optuna 5.0 and 5.1): ``study._storage``. Optuna names no public storage of a
    study, so the fallback is the storage the study was opened on by :func:`load_study` or
    :func:`create_study` (every study crystallize-opt opens itself goes through them).

    Raises:
        OptimizationError: without ``_storage``, for a study opened elsewhere (a caller's own
            ``optuna.load_study``): its storage is nowhere to be read.
    """
    try:
        storage: BaseStorage = study._storage
    except AttributeError:
        remembered = _STORAGE_OF.get(study)
        if remembered is None:
            raise OptimizationError(
                f"study {study.study_name!r} was not opened by crystallize-opt, and this Optuna keeps no "
                "storage on the Study: open it with crystallize-opt (OptunaOptimizer(storage=...).study)"
            ) from None
        return remembered
    return storage


def study_backend(study: optuna.Study) -> BaseStorage:
    """The storage under Optuna's cache of ``study``: the one it was opened on (Optuna wraps an
    RDB storage in ``_CachedStorage``, which forwards writes but hides the storage's own methods,
    such as :meth:`~.storage.RetryingRDBStorage.fail_running_trial`).

    Fast path (Optuna 5.0 and 5.1): ``_CachedStorage._backend`` of ``study._storage``, or that
    storage itself where it is not cached. Fallback: the storage the study was opened on by
    :func:`load_study` or :func:`create_study`, else :func:`study_storage` (possibly the cache:
    callers then use the public storage calls, as on a storage of any other kind).
    """
    try:
        from optuna.storages._cached_storage import _CachedStorage

        storage: BaseStorage = study._storage
        return storage._backend if isinstance(storage, _CachedStorage) else storage
    except (ImportError, AttributeError):
        remembered = _STORAGE_OF.get(study)
        return remembered if remembered is not None else study_storage(study)


def study_id(study: optuna.Study) -> int:
    """The storage's id of ``study``.

    Fast path (Optuna 5.0 and 5.1): ``study._study_id``. Fallback: looked up by the study's
    name in its storage (one query).
    """
    try:
        return int(study._study_id)
    except AttributeError:
        return study_storage(study).get_study_id_from_name(study.study_name)


def trial_id(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of ``trial`` of ``study`` (a live or a frozen trial).

    Fast path (Optuna 5.0 and 5.1): ``trial._trial_id``. Fallback: looked up by the study's id
    and the trial's number (one query).
    """
    try:
        return int(trial._trial_id)
    except AttributeError:
        return study_storage(study).get_trial_id_from_study_id_trial_number(study_id(study), trial.number)


def is_finished_trial_error(exc: BaseException) -> bool:
    """True when ``exc`` is Optuna refusing to change a trial that already finished (another
    process failed it as stale, say): :class:`UpdateFinishedTrialError` from a storage, or the
    ``ValueError("Cannot tell a FAIL trial.")`` that ``Study.tell`` raises (Optuna 5.0 and 5.1
    give it no type of its own, so its text is matched)."""
    return isinstance(exc, UpdateFinishedTrialError) or (
        isinstance(exc, ValueError) and str(exc).startswith("Cannot tell a")
    )


def is_stop_outside_optimize(exc: BaseException) -> bool:
    """True when ``exc`` is Optuna refusing ``Study.stop()`` outside ``Study.optimize``: the
    ``RuntimeError`` that grid and brute-force samplers raise from ``after_trial`` once their
    space is exhausted (Optuna 5.0 and 5.1 give it no type of its own, so its text is matched)."""
    return isinstance(exc, RuntimeError) and "Study.stop" in str(exc)


# --- telling: what Study.tell does besides storing the state -----------------------------------


@dataclass(frozen=True)
class TellSteps:
    """The private steps of Optuna's ``Study.tell`` that the optimizer's own tell repeats.

    Attributes:
        forget_cached_trials: drops the trials ``study`` cached for the trial just run
            (``study._thread_local.cached_all_trials = None``).
        pruner_study: the study a sampler's ``after_trial`` sees for a trial
            (``optuna.pruners._filter_study``: one Hyperband bracket, or the study itself).
    """

    forget_cached_trials: Callable[[optuna.Study], None]
    pruner_study: Callable[[optuna.Study, FrozenTrial], optuna.Study]


@functools.cache
def tell_steps() -> TellSteps | None:
    """The steps of :class:`TellSteps`, or None where Optuna moved one of them.

    Fast path (Optuna 5.0 and 5.1): both found. Fallback (None): the caller tells the trial with
    the public ``Study.tell`` (which stores the trial's record in a transaction of its own).
    Resolved once per process (it is on every trial's path); ``tell_steps.cache_clear()``
    resolves it again.
    """
    try:
        from optuna.pruners import _filter_study
        from optuna.study.study import _ThreadLocalStudyAttribute
    except ImportError:
        return None
    if not hasattr(_ThreadLocalStudyAttribute, "cached_all_trials"):
        return None

    def forget_cached_trials(study: optuna.Study) -> None:
        study._thread_local.cached_all_trials = None

    return TellSteps(forget_cached_trials=forget_cached_trials, pruner_study=_filter_study)


# --- RDB storages: one transaction and one query where Optuna's public API needs more ----------


@dataclass(frozen=True)
class RDBInternals:
    """Optuna's private RDB storage pieces (Optuna 5.0 and 5.1).

    Attributes:
        models: ``optuna.storages._rdb.models`` (the SQLAlchemy models of the schema).
        session: ``optuna.storages._rdb.storage._create_scoped_session``: a context manager
            giving a session of a storage's ``scoped_session`` that commits on exit and rolls
            back (raising Optuna's ``StorageInternalError`` for SQLAlchemy errors) on an error.
    """

    models: Any
    session: Callable[..., contextlib.AbstractContextManager[Any]]

    def set_user_attr(self, storage: RDBStorage, session: Any, trial_id: int, key: str, value: Any) -> None:
        """Upsert a trial user attribute in ``session`` without committing
        (``RDBStorage._set_trial_attr_without_commit``)."""
        storage._set_trial_attr_without_commit(
            session, self.models.TrialUserAttributeModel, trial_id, key, value
        )

    def set_value(self, storage: RDBStorage, session: Any, trial: Any, objective: int, value: float) -> None:
        """Write objective ``objective``'s value of the trial model ``trial`` in ``session``
        without committing (``RDBStorage._set_trial_value_without_commit``)."""
        storage._set_trial_value_without_commit(session, trial, objective, value)

    def set_system_attr(self, storage: RDBStorage, session: Any, trial_id: int, key: str, value: Any) -> None:
        """Upsert a trial system attribute in ``session`` without committing (as :meth:`set_user_attr`)."""
        storage._set_trial_attr_without_commit(
            session, self.models.TrialSystemAttributeModel, trial_id, key, value
        )

    def add_trial(
        self, storage: RDBStorage, session: Any, study_id: int, template: FrozenTrial | None
    ) -> Any:
        """Add a new trial (RUNNING, or as ``template``) to the study in ``session``, numbered,
        without committing; returns its model (``RDBStorage._get_prepared_new_trial``). The caller
        locks the study row first, as Optuna does, so that two processes never share a number."""
        return storage._get_prepared_new_trial(study_id, template, session)


def rdb_internals() -> RDBInternals | None:
    """Optuna's private RDB pieces (:class:`RDBInternals`), or None where Optuna moved one.

    Fast path (Optuna 5.0 and 5.1): all found. Fallback (None): callers use public storage
    calls instead: a finished trial's record, values and state as separate commits, trials
    counted by reading them, a queued trial claimed by Optuna's own read-then-write, a trial
    created by Optuna's own create (which a retry after a connection lost at its commit can
    repeat, leaving the first trial RUNNING with no worker until the stale-trial check).
    """
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.models import (  # noqa: F401 - resolution only
            StudyModel,
            TrialModel,
            TrialSystemAttributeModel,
            TrialUserAttributeModel,
        )
        from optuna.storages._rdb.storage import _create_scoped_session
    except ImportError:
        return None
    if not all(hasattr(RDBStorage, name) for name in _RDB_METHODS):
        return None
    return RDBInternals(models=models, session=_create_scoped_session)


#: The private methods of :class:`RDBStorage` that :class:`RDBInternals` calls.
_RDB_METHODS = (
    "_set_trial_attr_without_commit",
    "_set_trial_value_without_commit",
    "_get_prepared_new_trial",
)


#: Private methods of :class:`RDBStorage` that Optuna's cache (``_CachedStorage``, Optuna 5.0 and
#: 5.1) calls on the storage it wraps instead of the public ones; a storage that wraps every
#: operation (to retry it) must wrap these too. Names a later Optuna lacks are skipped.
CACHED_STORAGE_CALLS = ("_get_trials", "_create_new_trial", "_set_trial_param", "_get_best_trial_id")


def cached_storage_calls() -> tuple[str, ...]:
    """The names of :data:`CACHED_STORAGE_CALLS` that this Optuna's :class:`RDBStorage` has
    (all of them on Optuna 5.0 and 5.1; none is needed where Optuna's cache no longer calls it)."""
    return tuple(name for name in CACHED_STORAGE_CALLS if hasattr(RDBStorage, name))


# --- samplers: the random generators they draw from --------------------------------------------

#: Where Optuna's samplers (5.0 and 5.1) keep their ``LazyRandomState`` generators: ``_rng``
#: (TPE, random, GP, NSGA-II/III, grid, brute force) and ``_cma_rng`` (CMA-ES).
_GENERATOR_ATTRS = ("_rng", "_cma_rng")
#: Where they keep the samplers they delegate to: TPE's and NSGA's random sampler, GP's, CMA-ES's
#: and QMC's independent sampler, the base sampler of ``PartialFixedSampler``.
_NESTED_SAMPLER_ATTRS = ("_random_sampler", "_independent_sampler", "_base_sampler")


@dataclass(frozen=True)
class SamplerGenerators:
    """The random generators one Optuna sampler (and the samplers it delegates to) draws from,
    in a fixed order: Optuna's ``LazyRandomState`` objects, each reseeded in place (other parts
    of a sampler, such as NSGA-II's strategies, hold the same object).

    Attributes:
        lazy: the ``LazyRandomState`` objects.
    """

    lazy: tuple[Any, ...]

    @property
    def seeded(self) -> bool:
        """True when every generator already exists: a ``LazyRandomState`` makes its generator at
        construction only when given a seed (else at first use, from the system's entropy), so
        on a fresh sampler this says whether it was seeded."""
        return all(state._rng is not None for state in self.lazy)

    def fingerprints(self) -> list[int]:
        """One number per generator, fixed by its current state (drawn from a copy, so the
        generator itself does not move): equal for samplers made alike with the same seed."""
        out = []
        for state in self.lazy:
            copy = np.random.RandomState()
            copy.set_state(state.rng.get_state())
            out.append(int(copy.randint(0, 2**31 - 1)))
        return out

    def seed(self, seeds: Sequence[int]) -> None:
        """Reseed generator ``k`` with ``seeds[k]`` (an integer from 0 to 2**32 - 1), in place."""
        for state, seed in zip(self.lazy, seeds, strict=True):
            state.rng.seed(seed)


def sampler_generators(sampler: object) -> SamplerGenerators | None:
    """The generators ``sampler`` draws from (see :class:`SamplerGenerators`), or None when none
    is found where Optuna keeps them.

    Fast path (Optuna 5.0 and 5.1): the ``LazyRandomState`` objects at ``_rng`` and ``_cma_rng``
    of the sampler and, recursively, of the samplers at ``_random_sampler``,
    ``_independent_sampler`` and ``_base_sampler``. Fallback (None): a sampler whose generators
    this module cannot find (a later Optuna moved them, or a sampler of another package): the
    caller leaves it as it is.
    """
    try:
        from optuna.samplers._lazy_random_state import LazyRandomState
    except ImportError:
        return None
    if not hasattr(LazyRandomState(None), "_rng"):  # what SamplerGenerators.seeded reads
        return None
    found: list[Any] = []
    seen: set[int] = set()

    def walk(current: object) -> None:
        if id(current) in seen:
            return
        seen.add(id(current))
        for name in _GENERATOR_ATTRS:
            state = getattr(current, name, None)
            if isinstance(state, LazyRandomState) and id(state) not in seen:
                seen.add(id(state))
                found.append(state)
        for name in _NESTED_SAMPLER_ATTRS:
            nested = getattr(current, name, None)
            if isinstance(nested, optuna.samplers.BaseSampler):
                walk(nested)

    walk(sampler)
    return SamplerGenerators(tuple(found)) if found else None


def trial_is_enqueued(trial: optuna.Trial) -> bool:
    """True when ``trial`` was created from the study's queue (``Study.enqueue_trial``: a warm
    start, a retry, an intensification), so its parameters were fixed rather than sampled.

    Fast path (Optuna 5.0 and 5.1): ``trial._fixed_params``, read from the stored trial when
    it was created. Fallback: its system attribute ``fixed_params``, read from the storage (one
    query; Optuna 5 names no public system attributes of a live trial).
    """
    try:
        fixed = trial._fixed_params
    except AttributeError:
        study = trial.study
        fixed = study_storage(study).get_trial_system_attrs(trial_id(study, trial)).get("fixed_params")
    return bool(fixed)


# --- SQLite files: which one holds a study -----------------------------------------------------

#: Tables every database of Optuna's RDB storage has (Optuna 5.0 and 5.1 name them so): a
#: database with any of them holds Optuna's schema; without one, Optuna's set-up writes it.
OPTUNA_TABLES = frozenset({"studies", "version_info", "alembic_version"})


class SchemaChanged(Exception):
    """A SQLite file holds Optuna's schema without the table ``studies`` (a later Optuna renamed it)."""


def sqlite_holds_study(connection: sqlite3.Connection, study_name: str) -> bool:
    """True when the SQLite database of ``connection`` holds an Optuna study named
    ``study_name``; False when it holds none, or no Optuna schema at all (a new file).

    Reads Optuna's ``studies`` table directly (Optuna 5.0 and 5.1 name it so), without loading
    a storage: the config asks this before choosing a file, and must create nothing.

    Raises:
        SchemaChanged: when the file has Optuna's schema but no ``studies`` table: never "no
            study here", which would start a new study beside the one the file holds.
        sqlite3.Error: when the file cannot be read (damaged, locked, unreadable).
    """
    try:
        found = connection.execute("SELECT 1 FROM studies WHERE study_name = ?", (study_name,)).fetchone()
    except sqlite3.OperationalError as exc:
        if not str(exc).startswith("no such table"):
            raise
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables & OPTUNA_TABLES:
            raise SchemaChanged(
                f"it holds Optuna's tables {sorted(tables & OPTUNA_TABLES)} but no 'studies' table "
                f"(optuna {optuna.__version__} cannot read its layout)"
            ) from exc
        return False
    return found is not None


def sqlite_file_holds_study(uri: str, study_name: str, timeout: float) -> bool:
    """:func:`sqlite_holds_study` on the SQLite file of ``uri`` (a ``file:`` URI, opened with
    ``uri=True``, read-only where the URI says so), waiting up to ``timeout`` s for a lock."""
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=timeout)) as connection:
        return sqlite_holds_study(connection, study_name)


__all__ = [
    "CACHED_STORAGE_CALLS",
    "OPTUNA_TABLES",
    "RDBInternals",
    "SamplerGenerators",
    "SchemaChanged",
    "TellSteps",
    "cached_storage_calls",
    "create_study",
    "is_finished_trial_error",
    "is_stop_outside_optimize",
    "load_study",
    "rdb_internals",
    "sampler_generators",
    "sqlite_file_holds_study",
    "sqlite_holds_study",
    "study_backend",
    "study_id",
    "study_storage",
    "tell_steps",
    "trial_id",
    "trial_is_enqueued",
]
