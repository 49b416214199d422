"""The experiment engine: :class:`Experiment`, its builder, and the replicate runner."""

from ._builder import ExperimentBuilder
from ._experiment import Experiment

__all__ = ["Experiment", "ExperimentBuilder"]
