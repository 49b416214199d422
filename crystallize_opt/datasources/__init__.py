"""Compatibility path: crystallize-ml's ``crystallize.datasources`` (datasources and artifacts).

A thin re-export so ``from crystallize_opt.datasources import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.datasources import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..artifacts import Artifact, ExperimentInput, MultiArtifactDataSource
from ..context import ArtifactLog
from ..pipeline import (
    DataSource,
    clear_registry,
    data_source,
    get_datasource,
    list_datasources,
    register_datasource,
    unregister_datasource,
)

__all__ = [
    "Artifact",
    "ArtifactLog",
    "DataSource",
    "ExperimentInput",
    "MultiArtifactDataSource",
    "clear_registry",
    "data_source",
    "get_datasource",
    "list_datasources",
    "register_datasource",
    "unregister_datasource",
]
