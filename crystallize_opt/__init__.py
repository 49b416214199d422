"""crystallize-opt: reproducible experiments with seeded replicates, real statistics, and
noise-aware optimization on Optuna.

The public API is re-exported here; modules whose names start with ``_`` are private.
"""

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
    OptimizationError,
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
from .result import ConditionMetrics, ExperimentMetrics, HypothesisResult, ReplicateError, Result
from .treatment import Treatment
from .verifiers import mann_whitney_u, paired_t_test, welch_t_test, wilcoxon_signed_rank

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
    "ConditionMetrics",
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
    "LoggingPlugin",
    "NoiseHandling",
    "Objective",
    "OptimizationError",
    "OptimizationRun",
    "OptunaOptimizer",
    "ParallelExecution",
    "Pipeline",
    "PipelineStep",
    "ReplayReport",
    "ReplicateError",
    "Result",
    "SeedPlugin",
    "SerialExecution",
    "Treatment",
    "TrialEvaluation",
    "WinnerSelection",
    "__version__",
    "data_source",
    "derive_seed",
    "mann_whitney_u",
    "paired_t_test",
    "pipeline_step",
    "welch_t_test",
    "wilcoxon_signed_rank",
]
