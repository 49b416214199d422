"""The experiment engine: :class:`Experiment`, its builder, the replicate runner,
:class:`ExperimentGraph` (experiments reading each other's artifacts) and :func:`quick_experiment`."""

from ._builder import ExperimentBuilder
from ._experiment import Experiment
from ._graph import ExperimentGraph
from ._quick import quick_experiment

__all__ = ["Experiment", "ExperimentBuilder", "ExperimentGraph", "quick_experiment"]
