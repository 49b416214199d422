"""Studies and trials: the storage and ids Optuna keeps private, and what ``Study.tell`` does
besides storing the state."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from ..exceptions import OptimizationError

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
