"""Metrics of a run: per condition (replicate by replicate), the hypothesis results, tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._constants import BASELINE_CONDITION
from ._frames import require_pandas
from ._values import to_jsonable


@dataclass
class ConditionMetrics:
    """The metrics of one condition (the baseline or a treatment), replicate by replicate.

    ``by_replicate[i]`` holds what replicate ``i`` recorded (metric -> values). A replicate that
    failed part-way keeps what it recorded before the failure and is listed in ``partial``; one
    that failed before recording anything is absent from ``by_replicate`` only if it recorded
    nothing at all.
    """

    name: str
    by_replicate: dict[int, dict[str, list[Any]]] = field(default_factory=dict)
    seeds: dict[int, int] = field(default_factory=dict)
    partial: set[int] = field(default_factory=set)

    @property
    def metrics(self) -> dict[str, list[Any]]:
        """Every metric's values over the replicates that finished, in replicate order, as
        crystallize-ml's flat lists (replicate boundaries are in :meth:`replicate`; what a failed
        replicate recorded before failing is there too, not here)."""
        merged: dict[str, list[Any]] = {}
        for rep in sorted(self.by_replicate):
            if rep in self.partial:
                continue
            for name, values in self.by_replicate[rep].items():
                merged.setdefault(name, []).extend(values)
        return merged

    @property
    def replicates(self) -> list[int]:
        """Indices of the replicates that recorded anything, ascending."""
        return sorted(self.by_replicate)

    def replicate(self, index: int) -> dict[str, list[Any]]:
        """Return what replicate ``index`` recorded: metric -> values.

        Raises:
            KeyError: if that replicate recorded nothing (it failed early or was not run).
        """
        if index not in self.by_replicate:
            raise KeyError(
                f"condition {self.name!r} has no metrics for replicate {index}; it has {self.replicates}"
            )
        return {k: list(v) for k, v in self.by_replicate[index].items()}

    def per_replicate(self, metric: str, *, complete_only: bool = True) -> dict[int, float]:
        """Return replicate index -> the mean of ``metric`` within that replicate.

        Partial replicates are left out unless ``complete_only`` is False. Replicates that did
        not record ``metric`` are left out.
        """
        out: dict[int, float] = {}
        for rep, values in sorted(self.by_replicate.items()):
            if complete_only and rep in self.partial:
                continue
            if values.get(metric):
                out[rep] = float(sum(float(v) for v in values[metric]) / len(values[metric]))
        return out

    def summary(self, metric: str) -> dict[str, float]:
        """Return ``{"mean", "std", "sem", "n"}`` over complete replicates' per-replicate means."""
        values = list(self.per_replicate(metric).values())
        n = len(values)
        mean = sum(values) / n if n else math.nan
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
        return {"mean": mean, "std": std, "sem": std / math.sqrt(n) if n > 1 else math.nan, "n": float(n)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "by_replicate": {str(r): to_jsonable(m) for r, m in sorted(self.by_replicate.items())},
            "seeds": {str(r): s for r, s in sorted(self.seeds.items())},
            "partial": sorted(self.partial),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConditionMetrics:
        return cls(
            name=data["name"],
            by_replicate={
                int(r): {k: list(v) for k, v in m.items()} for r, m in data["by_replicate"].items()
            },
            seeds={int(r): int(s) for r, s in data.get("seeds", {}).items()},
            partial={int(r) for r in data.get("partial", [])},
        )


class TreatmentMetrics(ConditionMetrics):
    """crystallize-ml's metrics of one condition: ``TreatmentMetrics({"acc": [0.9, 0.8]})``.

    A :class:`ConditionMetrics` built from flat lists, as crystallize-ml's ``TreatmentMetrics``
    holds them (``.metrics`` gives them back, equal to what was given). Value ``i`` of every
    metric is taken as what replicate ``i`` recorded, which is exact when each replicate
    records each metric once, so :meth:`per_replicate` and the hypotheses see one value per
    replicate. An empty list leaves no trace (``.metrics`` omits that metric).

    Args:
        metrics: metric name -> values, in replicate order.
        name: the condition's name (crystallize-ml's class has none; default ``""``).
        by_replicate, seeds, partial: as :class:`ConditionMetrics`, added to what ``metrics``
            gives (used by :meth:`ConditionMetrics.from_dict`).
    """

    def __init__(
        self,
        metrics: Mapping[str, Sequence[Any]] | None = None,
        name: str = "",
        by_replicate: Mapping[int, Mapping[str, Sequence[Any]]] | None = None,
        seeds: Mapping[int, int] | None = None,
        partial: set[int] | None = None,
    ) -> None:
        replicates: dict[int, dict[str, list[Any]]] = {
            int(rep): {m: list(v) for m, v in values.items()} for rep, values in (by_replicate or {}).items()
        }
        for metric, values in (metrics or {}).items():
            for index, value in enumerate(values):
                replicates.setdefault(index, {}).setdefault(metric, []).append(value)
        super().__init__(name, replicates, dict(seeds or {}), set(partial or ()))


@dataclass
class HypothesisResult:
    """The outcome of one :class:`~crystallize_opt.Hypothesis` over every treatment.

    ``results[treatment]`` is what the verifier returned for that treatment against the
    baseline (a list of outputs, one per group, for grouped metrics); ``ranking`` is
    ``{"best": name or None, "ranked": [(name, score), ...] best first, "scores": {name:
    score}}``; ``errors[treatment]`` says why a treatment could not be tested (a verifier
    error, a metric nobody recorded). The first three fields are crystallize-ml's, in its
    order; ``metrics`` names the metrics tested.
    """

    name: str
    results: dict[str, Any] = field(default_factory=dict)
    ranking: dict[str, Any] = field(default_factory=lambda: {"best": None, "ranked": []})
    metrics: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def get_for_treatment(self, treatment: str) -> Any:
        """Return the verifier's result for ``treatment``, or None if it was not tested."""
        return self.results.get(treatment)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-compatible data (see :meth:`from_dict`)."""
        return {
            "name": self.name,
            "metrics": list(self.metrics),
            "results": to_jsonable(self.results),
            "ranking": to_jsonable(self.ranking),
            "errors": dict(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HypothesisResult:
        """Rebuild a result from :meth:`to_dict` output (``ranked`` pairs become tuples again)."""
        ranking = dict(data.get("ranking", {"best": None, "ranked": []}))
        ranking["ranked"] = [
            tuple(entry) if isinstance(entry, list) else entry for entry in ranking.get("ranked", [])
        ]
        return cls(
            name=data["name"],
            metrics=list(data.get("metrics", [])),
            results=dict(data.get("results", {})),
            ranking=ranking,
            errors=dict(data.get("errors", {})),
        )


@dataclass
class ExperimentMetrics:
    """Metrics of the baseline and of each treatment, plus the hypothesis results."""

    baseline: ConditionMetrics
    treatments: dict[str, ConditionMetrics] = field(default_factory=dict)
    hypotheses: list[HypothesisResult] = field(default_factory=list)

    def condition(self, name: str) -> ConditionMetrics:
        """Return the metrics of condition ``name`` (``"baseline"`` or a treatment name).

        Raises:
            KeyError: naming the known conditions, if ``name`` is not one.
        """
        if name == BASELINE_CONDITION:
            return self.baseline
        if name not in self.treatments:
            raise KeyError(f"no condition {name!r}; known: {[BASELINE_CONDITION, *self.treatments]}")
        return self.treatments[name]

    def to_df(self) -> Any:
        """Return the hypothesis results as a pandas DataFrame, as crystallize-ml does.

        One row per hypothesis and tested treatment, in order, with the columns ``condition``
        (the treatment), ``hypothesis`` and then the verifier's output keys (a grouped
        hypothesis's list of outputs is in the column ``results``). No hypotheses: an empty frame.

        Raises:
            ImportError: naming the ``dataframes`` extra, when pandas is not installed.
        """
        pandas = require_pandas("ExperimentMetrics.to_df()")
        rows = []
        for hyp in self.hypotheses:
            for treatment, output in hyp.results.items():
                values = dict(output) if isinstance(output, Mapping) else {"results": output}
                rows.append({"condition": treatment, "hypothesis": hyp.name, **values})
        return pandas.DataFrame(rows)
