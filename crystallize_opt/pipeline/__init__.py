"""Datasources and their registry, pipeline steps, the pipeline that chains them, parameter
injection and shared resources, and the cache of cacheable steps."""

from ._cache import StepCache, get_step_cache, set_step_cache
from ._cached import CachedCall, call_cached
from ._datasource import DataSource, data_source
from ._hashing import compute_hash
from ._injection import inject_from_ctx
from ._pipeline import Pipeline, drive_synchronously, pipeline
from ._registry import (
    clear_registry,
    get_datasource,
    list_datasources,
    register_datasource,
    unregister_datasource,
)
from ._resources import ResourceFactory, resource_factory
from ._returned import take_returned_metrics
from ._step import PipelineStep, pipeline_step

__all__ = [
    # For the engine (experiment/_runner.py), not user API: CachedCall, call_cached,
    # drive_synchronously, take_returned_metrics.
    "CachedCall",
    "DataSource",
    "Pipeline",
    "PipelineStep",
    "ResourceFactory",
    "StepCache",
    "call_cached",
    "clear_registry",
    "compute_hash",
    "data_source",
    "drive_synchronously",
    "get_datasource",
    "get_step_cache",
    "inject_from_ctx",
    "list_datasources",
    "pipeline",
    "pipeline_step",
    "register_datasource",
    "resource_factory",
    "set_step_cache",
    "take_returned_metrics",
    "unregister_datasource",
]
