"""Every access to a private Optuna API in crystallize-opt, each behind one small function.

Optuna's public API costs queries the optimizer never needs (``Study.tell`` reads the trial
back, the trial record would be a commit of its own, counting trials by state reads them
all), and it names no storage, study id or trial id. The functions here reach into Optuna
where that is faster or the only way, checked on Optuna 5.0 and 5.1 (the fast path of each is
tested to be taken on both, ``tests/test_optuna_compat.py``). Where a private name is missing
(a later Optuna moved it), each falls back to public behaviour that gives the same result,
slower. Only a missing name (``ImportError``/``AttributeError`` while resolving it) selects a
fallback: any other failure, such as a database error, propagates.

Nothing outside this package names a private Optuna attribute or module.

One package, one module per kind of access: studies and telling (``_studies``), storages
(``_storages``), samplers (``_samplers``); this module is its interface.
"""

from ._samplers import SamplerGenerators, sampler_generators, trial_is_enqueued
from ._storages import (
    CACHED_STORAGE_CALLS,
    OPTUNA_TABLES,
    RDBInternals,
    SchemaChanged,
    cached_storage_calls,
    rdb_internals,
    sqlite_file_holds_study,
    sqlite_holds_study,
)
from ._studies import (
    TellSteps,
    create_study,
    is_finished_trial_error,
    is_stop_outside_optimize,
    load_study,
    study_backend,
    study_id,
    study_storage,
    tell_steps,
    trial_id,
)

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
