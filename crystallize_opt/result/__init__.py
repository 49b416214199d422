"""What a run produces: metrics per condition and replicate, errors, hypothesis results,
provenance; crystallize-ml's result classes (``TreatmentMetrics``, ``ResultAggregator``,
``ReplicateResult``, ``AggregateData``)."""

from ._aggregator import AggregateData, ReplicateResult, ResultAggregator
from ._errors import ReplicateErrors
from ._metrics import ConditionMetrics, ExperimentMetrics, HypothesisResult, TreatmentMetrics
from ._paths import ReplicatePaths
from ._result import Result
from ._values import ConditionOutcome, ReplicateError, error_key, to_jsonable

__all__ = [
    "AggregateData",
    "ConditionMetrics",
    "ConditionOutcome",
    "ExperimentMetrics",
    "HypothesisResult",
    "ReplicateError",
    "ReplicateErrors",
    "ReplicatePaths",
    "ReplicateResult",
    "Result",
    "ResultAggregator",
    "TreatmentMetrics",
    "error_key",
    "to_jsonable",
]
