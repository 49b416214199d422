"""crystallize-ml 0.27's module paths: a user's ``from crystallize.<module> import X`` works as
``from crystallize_opt.<module> import X`` and gives the same object as ``crystallize_opt.X``."""

from __future__ import annotations

import importlib

import pytest

import crystallize_opt

#: Reference module path (without ``crystallize.``) -> names its users import from it.
PATHS: dict[str, tuple[str, ...]] = {
    "utils.constants": (
        "BASELINE_CONDITION",
        "CONDITION_KEY",
        "METADATA_FILENAME",
        "REPLICATE_KEY",
        "SEED_USED_KEY",
    ),
    "utils.context": ("FrozenContext", "LoggingContext", "ContextMutationError", "standalone_context"),
    "utils.exceptions": ("ContextMutationError", "MissingMetricError", "PipelineExecutionError"),
    "utils.cache": ("compute_hash",),
    "utils.injection": ("inject_from_ctx",),
    "utils.decorators": (
        "pipeline_step",
        "inject_from_ctx",
        "treatment",
        "hypothesis",
        "data_source",
        "verifier",
        "pipeline",
        "resource_factory",
        "BASELINE_CONDITION",
    ),
    "datasources": (
        "Artifact",
        "ArtifactLog",
        "DataSource",
        "ExperimentInput",
        "MultiArtifactDataSource",
        "register_datasource",
    ),
    "datasources.datasource": ("DataSource", "ExperimentInput", "MultiArtifactDataSource"),
    "datasources.artifacts": ("Artifact", "default_writer"),
    "datasources.registry": (
        "clear_registry",
        "get_datasource",
        "list_datasources",
        "register_datasource",
        "unregister_datasource",
    ),
    "pipelines.pipeline": ("Pipeline", "PipelineExecutionError"),
    "pipelines.pipeline_step": ("PipelineStep",),
    "experiments.experiment": ("Experiment",),
    "experiments.experiment_builder": ("ExperimentBuilder",),
    "experiments.experiment_graph": ("ExperimentGraph", "ExperimentInput", "find_experiments_root"),
    "experiments.hypothesis": ("Hypothesis", "MissingMetricError"),
    "experiments.treatment": ("Treatment",),
    "experiments.result": ("Result",),
    "experiments.result_structs": (
        "AggregateData",
        "ExperimentMetrics",
        "HypothesisResult",
        "TreatmentMetrics",
    ),
    "experiments.run_results": ("ReplicateResult",),
    "experiments.aggregation": ("ResultAggregator",),
    "experiments.optimizers": ("BaseOptimizer", "Objective"),
    "plugins": ("ArtifactPlugin", "SeedPlugin", "load_metrics", "load_all_metrics"),
    "plugins.plugins": (
        "ArtifactPlugin",
        "BasePlugin",
        "LoggingPlugin",
        "SeedPlugin",
        "default_seed_function",
    ),
    "plugins.execution": ("AsyncExecution", "ParallelExecution", "SerialExecution", "VALID_EXECUTOR_TYPES"),
    "plugins.artifacts": ("load_all_metrics", "load_metrics"),
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_reference_module_path_gives_the_public_objects(path: str) -> None:
    module = importlib.import_module(f"crystallize_opt.{path}")
    for name in PATHS[path]:
        value = getattr(module, name)
        if name in crystallize_opt.__all__:
            assert value is getattr(crystallize_opt, name), f"{path}.{name}"


def test_compat_paths_leave_the_decorators_named_like_modules() -> None:
    importlib.import_module("crystallize_opt.utils.decorators")
    from crystallize_opt import hypothesis, pipeline, treatment

    assert callable(pipeline) and callable(treatment) and callable(hypothesis)
    assert not isinstance(pipeline, type(importlib))
