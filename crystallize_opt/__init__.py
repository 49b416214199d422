"""crystallize-opt: reproducible experiments with seeded replicates, real statistics, and
noise-aware optimization on Optuna.

The public API is re-exported here; modules whose names start with ``_`` are private. Each name
is imported on first use (``crystallize_opt.Experiment``, ``from crystallize_opt import
Experiment``): importing the package itself imports none of NumPy, SciPy, Optuna or SQLAlchemy,
so the command line starts and parses its arguments without them.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING, for type checkers, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from ._constants import BASELINE_CONDITION, CONDITION_KEY, METADATA_FILENAME, REPLICATE_KEY, SEED_USED_KEY
    from ._version import __version__
    from .artifacts import Artifact
    from .context import ContextMetrics, FrozenContext
    from .exceptions import (
        ConfigurationError,
        ContextMutationError,
        CrystallizeError,
        EventLoopError,
        ExperimentRunError,
        JournalFileError,
        OptimizationError,
        StorageError,
        StorageFileError,
    )
    from .experiment import Experiment, ExperimentBuilder
    from .hypothesis import Hypothesis
    from .optimize import (
        BaseOptimizer,
        NoiseHandling,
        Objective,
        OptimizationRun,
        OptunaOptimizer,
        ReplayReport,
        TrialEvaluation,
        WinnerSelection,
    )
    from .pipeline import DataSource, Pipeline, PipelineStep, data_source, pipeline_step
    from .plugins import (
        ArtifactPlugin,
        BasePlugin,
        LoggingPlugin,
        ParallelExecution,
        SeedPlugin,
        SerialExecution,
        derive_seed,
    )
    from .ranking import RankedTrial, rank_study, rank_trials
    from .records import BaselineRecord, RecordError, RetryRecord, StudySettings, TrialRecord
    from .result import (
        ConditionMetrics,
        ConditionOutcome,
        ExperimentMetrics,
        HypothesisResult,
        ReplicateError,
        Result,
    )
    from .treatment import Treatment
    from .verifiers import mann_whitney_u, paired_t_test, welch_t_test, wilcoxon_signed_rank

#: Where each public name lives: module (relative to this package) -> names.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._constants": (
        "BASELINE_CONDITION",
        "CONDITION_KEY",
        "METADATA_FILENAME",
        "REPLICATE_KEY",
        "SEED_USED_KEY",
    ),
    "._version": ("__version__",),
    ".artifacts": ("Artifact",),
    ".context": ("ContextMetrics", "FrozenContext"),
    ".exceptions": (
        "ConfigurationError",
        "ContextMutationError",
        "CrystallizeError",
        "EventLoopError",
        "ExperimentRunError",
        "JournalFileError",
        "OptimizationError",
        "StorageError",
        "StorageFileError",
    ),
    ".experiment": ("Experiment", "ExperimentBuilder"),
    ".hypothesis": ("Hypothesis",),
    ".optimize": (
        "BaseOptimizer",
        "NoiseHandling",
        "Objective",
        "OptimizationRun",
        "OptunaOptimizer",
        "ReplayReport",
        "TrialEvaluation",
        "WinnerSelection",
    ),
    ".pipeline": ("DataSource", "Pipeline", "PipelineStep", "data_source", "pipeline_step"),
    ".plugins": (
        "ArtifactPlugin",
        "BasePlugin",
        "LoggingPlugin",
        "ParallelExecution",
        "SeedPlugin",
        "SerialExecution",
        "derive_seed",
    ),
    ".ranking": ("RankedTrial", "rank_study", "rank_trials"),
    ".records": ("BaselineRecord", "RecordError", "RetryRecord", "StudySettings", "TrialRecord"),
    ".result": (
        "ConditionMetrics",
        "ConditionOutcome",
        "ExperimentMetrics",
        "HypothesisResult",
        "ReplicateError",
        "Result",
    ),
    ".treatment": ("Treatment",),
    ".verifiers": ("mann_whitney_u", "paired_t_test", "welch_t_test", "wilcoxon_signed_rank"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and keep the name here.

    Raises:
        AttributeError: if ``name`` is not part of the public API.
    """
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BASELINE_CONDITION",
    "CONDITION_KEY",
    "METADATA_FILENAME",
    "REPLICATE_KEY",
    "SEED_USED_KEY",
    "Artifact",
    "ArtifactPlugin",
    "BaseOptimizer",
    "BasePlugin",
    "BaselineRecord",
    "ConditionMetrics",
    "ConditionOutcome",
    "ConfigurationError",
    "ContextMetrics",
    "ContextMutationError",
    "CrystallizeError",
    "DataSource",
    "EventLoopError",
    "Experiment",
    "ExperimentBuilder",
    "ExperimentMetrics",
    "ExperimentRunError",
    "FrozenContext",
    "Hypothesis",
    "HypothesisResult",
    "JournalFileError",
    "LoggingPlugin",
    "NoiseHandling",
    "Objective",
    "OptimizationError",
    "OptimizationRun",
    "OptunaOptimizer",
    "ParallelExecution",
    "Pipeline",
    "PipelineStep",
    "RankedTrial",
    "RecordError",
    "ReplayReport",
    "ReplicateError",
    "Result",
    "RetryRecord",
    "SeedPlugin",
    "SerialExecution",
    "StorageError",
    "StorageFileError",
    "StudySettings",
    "Treatment",
    "TrialEvaluation",
    "TrialRecord",
    "WinnerSelection",
    "__version__",
    "data_source",
    "derive_seed",
    "mann_whitney_u",
    "paired_t_test",
    "pipeline_step",
    "rank_study",
    "rank_trials",
    "welch_t_test",
    "wilcoxon_signed_rank",
]
