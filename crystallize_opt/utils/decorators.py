"""Compatibility path: crystallize-ml's ``crystallize.utils.decorators`` (the decorators, and the constants it re-exported).

A thin re-export so ``from crystallize_opt.utils.decorators import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.utils.decorators import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from .._constants import BASELINE_CONDITION, CONDITION_KEY, METADATA_FILENAME, REPLICATE_KEY, SEED_USED_KEY

# crystallize-ml's decorators module also re-exported the classes its factories build.
from ..artifacts import ExperimentInput
from ..context import FrozenContext
from ..experiment import Experiment, ExperimentGraph
from ..hypothesis import Hypothesis, hypothesis
from ..optimize import BaseOptimizer, Objective
from ..pipeline import (
    DataSource,
    Pipeline,
    PipelineStep,
    data_source,
    inject_from_ctx,
    pipeline,
    pipeline_step,
    resource_factory,
)
from ..plugins import (
    ArtifactPlugin,
    BasePlugin,
    LoggingPlugin,
    ParallelExecution,
    SeedPlugin,
    SerialExecution,
)
from ..result import ReplicateResult, Result
from ..treatment import Treatment, treatment
from ..verifiers import VerifierCallable, verifier

__all__ = [
    "BASELINE_CONDITION",
    "CONDITION_KEY",
    "METADATA_FILENAME",
    "REPLICATE_KEY",
    "SEED_USED_KEY",
    "ArtifactPlugin",
    "BaseOptimizer",
    "BasePlugin",
    "DataSource",
    "Experiment",
    "ExperimentGraph",
    "ExperimentInput",
    "FrozenContext",
    "Hypothesis",
    "LoggingPlugin",
    "Objective",
    "ParallelExecution",
    "Pipeline",
    "PipelineStep",
    "ReplicateResult",
    "Result",
    "SeedPlugin",
    "SerialExecution",
    "Treatment",
    "VerifierCallable",
    "data_source",
    "hypothesis",
    "inject_from_ctx",
    "pipeline",
    "pipeline_step",
    "resource_factory",
    "treatment",
    "verifier",
]
