"""crystallize-opt: reproducible experiments with seeded replicates, real statistics, and
noise-aware optimization on Optuna.

The public API is re-exported here; modules whose names start with ``_`` are private. Each name
is imported on first use (``crystallize_opt.Experiment``, ``from crystallize_opt import
Experiment``): importing the package itself imports none of NumPy, SciPy, Optuna or SQLAlchemy,
so the command line starts and parses its arguments without them.
"""

from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, for type checkers, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from ._constants import BASELINE_CONDITION, CONDITION_KEY, METADATA_FILENAME, REPLICATE_KEY, SEED_USED_KEY
    from ._paths import find_experiments_root
    from ._version import __version__
    from .artifacts import Artifact, ExperimentInput, MultiArtifactDataSource, default_writer
    from .context import ContextMetrics, FrozenContext, LoggingContext, TrialPruned, standalone_context
    from .exceptions import (
        ConfigFileNotFoundError,
        ConfigurationError,
        ContextMutationError,
        CrystallizeError,
        EventLoopError,
        ExperimentRunError,
        JournalFileError,
        MissingMetricError,
        OptimizationError,
        PipelineExecutionError,
        StorageError,
        StorageFileError,
    )
    from .experiment import Experiment, ExperimentBuilder, ExperimentGraph, quick_experiment
    from .hypothesis import Hypothesis, hypothesis
    from .optimize import (
        BaseOptimizer,
        HandOffSampler,
        NoiseHandling,
        NoRepeatSampler,
        Objective,
        OptimizationRun,
        OptunaOptimizer,
        ReplayReport,
        ResumableCmaEsSampler,
        TrialEvaluation,
        WinnerSelection,
    )
    from .pipeline import (
        DataSource,
        Pipeline,
        PipelineStep,
        StepCache,
        clear_registry,
        compute_hash,
        data_source,
        get_datasource,
        get_step_cache,
        inject_from_ctx,
        list_datasources,
        pipeline,
        pipeline_step,
        register_datasource,
        resource_factory,
        set_step_cache,
        unregister_datasource,
    )
    from .plugins import (
        ArtifactPlugin,
        AsyncExecution,
        BasePlugin,
        LoggingPlugin,
        ParallelExecution,
        SeedPlugin,
        SerialExecution,
        derive_seed,
        load_all_metrics,
        load_metrics,
        replicate_seed,
    )
    from .ranking import RankedTrial, StudyBest, rank_study, rank_trials, study_best
    from .records import BaselineRecord, CurveLayout, RecordError, RetryRecord, StudySettings, TrialRecord
    from .result import (
        AggregateData,
        ConditionMetrics,
        ConditionOutcome,
        ExperimentMetrics,
        HypothesisResult,
        ReplicateError,
        ReplicateErrors,
        ReplicateResult,
        Result,
        ResultAggregator,
        TreatmentMetrics,
    )
    from .treatment import Treatment, treatment
    from .verifiers import mann_whitney_u, paired_t_test, verifier, welch_t_test, wilcoxon_signed_rank

#: Where each public name lives: module (relative to this package) -> names.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._constants": (
        "BASELINE_CONDITION",
        "CONDITION_KEY",
        "METADATA_FILENAME",
        "REPLICATE_KEY",
        "SEED_USED_KEY",
    ),
    "._paths": ("find_experiments_root",),
    "._version": ("__version__",),
    ".artifacts": ("Artifact", "ExperimentInput", "MultiArtifactDataSource", "default_writer"),
    ".context": ("ContextMetrics", "FrozenContext", "LoggingContext", "TrialPruned", "standalone_context"),
    ".exceptions": (
        "ConfigFileNotFoundError",
        "ConfigurationError",
        "ContextMutationError",
        "CrystallizeError",
        "EventLoopError",
        "ExperimentRunError",
        "JournalFileError",
        "MissingMetricError",
        "OptimizationError",
        "PipelineExecutionError",
        "StorageError",
        "StorageFileError",
    ),
    ".experiment": ("Experiment", "ExperimentBuilder", "ExperimentGraph", "quick_experiment"),
    ".hypothesis": ("Hypothesis", "hypothesis"),
    ".optimize": (
        "BaseOptimizer",
        "HandOffSampler",
        "NoiseHandling",
        "NoRepeatSampler",
        "Objective",
        "OptimizationRun",
        "OptunaOptimizer",
        "ReplayReport",
        "ResumableCmaEsSampler",
        "TrialEvaluation",
        "WinnerSelection",
    ),
    ".pipeline": (
        "DataSource",
        "Pipeline",
        "PipelineStep",
        "StepCache",
        "clear_registry",
        "compute_hash",
        "data_source",
        "get_datasource",
        "get_step_cache",
        "inject_from_ctx",
        "list_datasources",
        "pipeline",
        "pipeline_step",
        "register_datasource",
        "resource_factory",
        "set_step_cache",
        "unregister_datasource",
    ),
    ".plugins": (
        "ArtifactPlugin",
        "AsyncExecution",
        "BasePlugin",
        "LoggingPlugin",
        "ParallelExecution",
        "SeedPlugin",
        "SerialExecution",
        "derive_seed",
        "load_all_metrics",
        "load_metrics",
        "replicate_seed",
    ),
    ".ranking": ("RankedTrial", "StudyBest", "rank_study", "rank_trials", "study_best"),
    ".records": (
        "BaselineRecord",
        "CurveLayout",
        "RecordError",
        "RetryRecord",
        "StudySettings",
        "TrialRecord",
    ),
    ".result": (
        "AggregateData",
        "ConditionMetrics",
        "ConditionOutcome",
        "ExperimentMetrics",
        "HypothesisResult",
        "ReplicateError",
        "ReplicateErrors",
        "ReplicateResult",
        "Result",
        "ResultAggregator",
        "TreatmentMetrics",
    ),
    ".treatment": ("Treatment", "treatment"),
    ".verifiers": ("mann_whitney_u", "paired_t_test", "verifier", "welch_t_test", "wilcoxon_signed_rank"),
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


#: Public functions named like a module of this package: crystallize-ml's decorators
#: ``pipeline``, ``treatment`` and ``hypothesis`` beside the modules ``crystallize_opt.pipeline``,
#: ``.treatment`` and ``.hypothesis``. Python's import sets a package's attribute to each
#: submodule it imports, which would hide the function once the module is imported (and make
#: ``from crystallize_opt import pipeline`` depend on what was imported before). The package
#: refuses that binding, so these names are always the functions; the modules are imported by
#: their full name as before (``from crystallize_opt.pipeline import Pipeline``).
_FUNCTIONS_NAMED_LIKE_MODULES = frozenset({"hypothesis", "pipeline", "treatment"})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTIONS_NAMED_LIKE_MODULES and isinstance(value, types.ModuleType):
            return  # a submodule import; the module stays in sys.modules
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "BASELINE_CONDITION",
    "CONDITION_KEY",
    "METADATA_FILENAME",
    "REPLICATE_KEY",
    "SEED_USED_KEY",
    "AggregateData",
    "Artifact",
    "ArtifactPlugin",
    "AsyncExecution",
    "BaseOptimizer",
    "BasePlugin",
    "BaselineRecord",
    "ConditionMetrics",
    "ConditionOutcome",
    "ConfigFileNotFoundError",
    "ConfigurationError",
    "ContextMetrics",
    "ContextMutationError",
    "CrystallizeError",
    "CurveLayout",
    "DataSource",
    "EventLoopError",
    "Experiment",
    "ExperimentBuilder",
    "ExperimentGraph",
    "ExperimentInput",
    "ExperimentMetrics",
    "ExperimentRunError",
    "FrozenContext",
    "HandOffSampler",
    "Hypothesis",
    "HypothesisResult",
    "JournalFileError",
    "LoggingContext",
    "LoggingPlugin",
    "MissingMetricError",
    "MultiArtifactDataSource",
    "NoRepeatSampler",
    "NoiseHandling",
    "Objective",
    "OptimizationError",
    "OptimizationRun",
    "OptunaOptimizer",
    "ParallelExecution",
    "Pipeline",
    "PipelineExecutionError",
    "PipelineStep",
    "RankedTrial",
    "RecordError",
    "ReplayReport",
    "ReplicateError",
    "ReplicateErrors",
    "ReplicateResult",
    "Result",
    "ResultAggregator",
    "ResumableCmaEsSampler",
    "RetryRecord",
    "SeedPlugin",
    "SerialExecution",
    "StepCache",
    "StorageError",
    "StorageFileError",
    "StudyBest",
    "StudySettings",
    "Treatment",
    "TreatmentMetrics",
    "TrialEvaluation",
    "TrialPruned",
    "TrialRecord",
    "WinnerSelection",
    "__version__",
    "clear_registry",
    "compute_hash",
    "data_source",
    "default_writer",
    "derive_seed",
    "find_experiments_root",
    "get_datasource",
    "get_step_cache",
    "hypothesis",
    "inject_from_ctx",
    "list_datasources",
    "load_all_metrics",
    "load_metrics",
    "mann_whitney_u",
    "paired_t_test",
    "pipeline",
    "pipeline_step",
    "quick_experiment",
    "rank_study",
    "rank_trials",
    "register_datasource",
    "replicate_seed",
    "resource_factory",
    "set_step_cache",
    "standalone_context",
    "study_best",
    "treatment",
    "unregister_datasource",
    "verifier",
    "welch_t_test",
    "wilcoxon_signed_rank",
]
