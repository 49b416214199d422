"""crystallize-ml's ``ResultAggregator``: flat per-replicate results collated into a ``Result``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._metrics import ExperimentMetrics
from ._result import Result


class _Signed(Protocol):
    def signature(self) -> str: ...


@dataclass
class ReplicateResult:
    """What one replicate produced, in crystallize-ml's flat shape.

    Attributes:
        baseline_metrics: metric -> values of the baseline, or None when the baseline failed.
        baseline_seed: the baseline's seed, or None.
        treatment_metrics: treatment -> metric -> values, for the treatments that ran.
        treatment_seeds: treatment -> seed.
        errors: ``"<condition>_rep_<i>"`` -> the error (an exception or a :class:`ReplicateError`).
        provenance: condition -> the step records of this replicate.
    """

    baseline_metrics: dict[str, list[Any]] | None = None
    baseline_seed: int | None = None
    treatment_metrics: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    treatment_seeds: dict[str, int] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class AggregateData:
    """Replicate results collated by :meth:`ResultAggregator.aggregate_results`.

    Attributes:
        baseline_metrics: metric -> the baseline's values of every replicate, in replicate order.
        treatment_metrics_dict: treatment -> metric -> values, likewise.
        baseline_seeds: the baseline's seeds, one per replicate that had one.
        treatment_seeds_agg: treatment -> seeds.
        provenance_runs: condition -> replicate index -> step records.
        errors: ``"<condition>_rep_<i>"`` -> error, from every replicate.
    """

    baseline_metrics: dict[str, list[Any]] = field(default_factory=dict)
    treatment_metrics_dict: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    baseline_seeds: list[int] = field(default_factory=list)
    treatment_seeds_agg: dict[str, list[int]] = field(default_factory=dict)
    provenance_runs: dict[str, dict[int, list[dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    errors: dict[str, Any] = field(default_factory=dict)


class ResultAggregator:
    """Collate :class:`ReplicateResult` objects and build a :class:`Result`, as crystallize-ml does.

    The experiment engine collates its replicates itself, keeping replicate boundaries (see
    :class:`ConditionMetrics`); this class is for code written against crystallize-ml's
    aggregation, which keeps only the flat lists.

    Args:
        pipeline: the pipeline that ran (its ``signature()`` goes into the provenance).
        replicates: the replicate count recorded in the provenance.
    """

    def __init__(self, pipeline: _Signed, replicates: int) -> None:
        self.pipeline = pipeline
        self.replicates = replicates

    def aggregate_results(self, results: Sequence[ReplicateResult]) -> AggregateData:
        """Concatenate the replicates' metric lists per condition and metric, in replicate order.

        A replicate whose ``baseline_metrics`` is None adds no baseline values, and one whose
        seed is None adds no seed. Errors are merged by key; the step records of ``results[i]``
        become ``provenance_runs[condition][i]``.
        """
        data = AggregateData()
        for index, rep in enumerate(results):
            if rep.baseline_metrics is not None:
                _extend(data.baseline_metrics, rep.baseline_metrics)
            if rep.baseline_seed is not None:
                data.baseline_seeds.append(rep.baseline_seed)
            for name, metrics in rep.treatment_metrics.items():
                _extend(data.treatment_metrics_dict.setdefault(name, {}), metrics)
            for name, seed in rep.treatment_seeds.items():
                if seed is not None:
                    data.treatment_seeds_agg.setdefault(name, []).append(seed)
            data.errors.update(rep.errors)
            for condition, records in rep.provenance.items():
                data.provenance_runs[condition][index] = records
        return data

    def build_result(self, metrics: ExperimentMetrics, aggregate: AggregateData) -> Result:
        """Return a :class:`Result` of ``metrics`` with ``aggregate``'s errors (kept as given, by
        key) and a provenance of ``pipeline_signature``, ``replicates``, ``seeds`` (condition ->
        seed list) and ``ctx_changes`` (``aggregate.provenance_runs``)."""
        provenance = {
            "pipeline_signature": self.pipeline.signature(),
            "replicates": self.replicates,
            "seeds": {"baseline": list(aggregate.baseline_seeds), **aggregate.treatment_seeds_agg},
            "ctx_changes": {cond: dict(reps) for cond, reps in aggregate.provenance_runs.items()},
        }
        return Result(metrics=metrics, errors=aggregate.errors, provenance=provenance)


def _extend(target: dict[str, list[Any]], source: Mapping[str, Any]) -> None:
    for metric, values in source.items():
        target.setdefault(metric, []).extend(values)
