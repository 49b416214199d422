"""Datasources, pipeline steps and the pipeline that chains them."""

from ._datasource import DataSource, data_source
from ._pipeline import Pipeline
from ._step import PipelineStep, pipeline_step

__all__ = ["DataSource", "Pipeline", "PipelineStep", "data_source", "pipeline_step"]
