"""Artifacts: files that pipeline steps write (:class:`Artifact`), the datasources that read them
back (an artifact itself, :class:`ArtifactDataSource`), and :class:`ExperimentInput`, which bundles
several inputs into one datasource."""

from ._artifact import Artifact, default_loader, default_writer
from ._inputs import ExperimentInput, MultiArtifactDataSource
from ._stored import ArtifactDataSource

__all__ = [
    "Artifact",
    "ArtifactDataSource",
    "ExperimentInput",
    "MultiArtifactDataSource",
    "default_loader",
    "default_writer",
]
