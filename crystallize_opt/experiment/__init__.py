"""The experiment engine: :class:`Experiment`, its builder, the replicate runner, and
:func:`quick_experiment`."""

from ._builder import ExperimentBuilder
from ._experiment import Experiment
from ._quick import quick_experiment

__all__ = ["Experiment", "ExperimentBuilder", "quick_experiment"]
