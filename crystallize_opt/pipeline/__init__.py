"""Datasources and their registry, pipeline steps, the pipeline that chains them, parameter
injection and shared resources."""

from ._datasource import DataSource, data_source
from ._injection import inject_from_ctx
from ._pipeline import Pipeline, pipeline
from ._registry import (
    clear_registry,
    get_datasource,
    list_datasources,
    register_datasource,
    unregister_datasource,
)
from ._resources import ResourceFactory, resource_factory
from ._step import PipelineStep, pipeline_step

__all__ = [
    "DataSource",
    "Pipeline",
    "PipelineStep",
    "ResourceFactory",
    "clear_registry",
    "data_source",
    "get_datasource",
    "inject_from_ctx",
    "list_datasources",
    "pipeline",
    "pipeline_step",
    "register_datasource",
    "resource_factory",
    "unregister_datasource",
]
