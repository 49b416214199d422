"""What one trial's replicates produced, as handed to an optimizer."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..context import curve_as_json
from ..records import executions_run
from ..result import ReplicateError, to_jsonable
from ..treatment import Treatment
from ._objective import Objective


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Return ``{"mean", "std", "sem", "n"}`` of ``values`` (std with n-1; NaN where undefined)."""
    n = len(values)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "sem": math.nan, "n": 0}
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return {"mean": mean, "std": std, "sem": std / math.sqrt(n) if n > 1 else math.nan, "n": n}


@dataclass
class TrialEvaluation:
    """The replicates of one treatment: per-replicate values of every metric, seeds, failures.

    ``values[metric][i]`` is replicate ``replicates[i]``'s value of ``metric`` (the mean of what
    it recorded under that name), or None when that replicate did not record it.
    """

    treatment: Treatment | None
    replicates: list[int]
    seeds: list[int]
    values: dict[str, list[float | None]]
    failures: list[ReplicateError] = field(default_factory=list)
    duration: float = 0.0
    #: Each replicate's learning curve (``ctx.report``), ``[(step, value), ...]``, by replicate
    #: index; a replicate a pruner stopped is here too (not in :attr:`replicates`).
    curves: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    #: Where and why a pruner stopped the trial (see :class:`~crystallize_opt.TrialPruned`).
    pruned: dict[str, Any] | None = None

    @classmethod
    def from_metrics(
        cls,
        treatment: Treatment | None,
        replicates: Sequence[int],
        seeds: Sequence[int],
        metrics: Sequence[dict[str, list[Any]]],
        failures: Sequence[ReplicateError] = (),
        duration: float = 0.0,
        *,
        curves: Mapping[int, Sequence[tuple[int, float]]] | None = None,
        pruned: Mapping[str, Any] | None = None,
    ) -> TrialEvaluation:
        """Build an evaluation from each replicate's recorded metrics (name -> values), with the
        replicates' learning ``curves`` and, for a pruned trial, where and why it stopped."""
        names = sorted({name for m in metrics for name in m})
        values: dict[str, list[float | None]] = {}
        for name in names:
            column: list[float | None] = []
            for recorded in metrics:
                raw = recorded.get(name)
                column.append(_replicate_value(raw))
            values[name] = column
        return cls(
            treatment,
            list(replicates),
            list(seeds),
            values,
            list(failures),
            duration,
            {r: list(c) for r, c in (curves or {}).items()},
            None if pruned is None else dict(pruned),
        )

    @property
    def failed(self) -> bool:
        """True when any replicate raised."""
        return bool(self.failures)

    @property
    def executions(self) -> float:
        """Pipeline executions this evaluation ran, by cost
        (:func:`~crystallize_opt.records.executions_run`: the finished replicates, and the share
        of its steps that the one a pruner stopped inside its learning curve ran)."""
        return executions_run(self.replicates, self.pruned)

    @property
    def recorded_metrics(self) -> list[str]:
        return sorted(self.values)

    def complete_values(self, metric: str) -> list[float]:
        """The metric's values from replicates that recorded it."""
        return [v for v in self.values.get(metric, []) if v is not None]

    def stats(self, metric: str) -> dict[str, float]:
        """``{"mean", "std", "sem", "n"}`` of ``metric`` over the replicates that recorded it."""
        return summarize(self.complete_values(metric))

    def objective_values(self, objective: Objective) -> dict[str, float]:
        """Aggregate every objective and constraint metric with ``objective``'s aggregate.

        A metric that no replicate recorded aggregates to NaN.
        """
        out: dict[str, float] = {}
        for name in objective.required_metrics:
            values = self.complete_values(name)
            out[name] = objective.reduce(values) if values else math.nan
        return out

    def failure_reason(self) -> str | None:
        """The first failure as one line, or None."""
        return None if not self.failures else str(self.failures[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible record: values per replicate, seeds, statistics and failures."""
        return {
            "replicates": list(self.replicates),
            "seeds": list(self.seeds),
            "values": to_jsonable(self.values),
            "stats": {name: self.stats(name) for name in self.values},
            "failures": [str(f) for f in self.failures],
            "duration": self.duration,
            **(
                {"curves": {str(r): curve_as_json(c) for r, c in sorted(self.curves.items())}}
                if self.curves
                else {}
            ),
            **({"pruned": to_jsonable(self.pruned)} if self.pruned is not None else {}),
        }


def _replicate_value(raw: list[Any] | None) -> float | None:
    if not raw:
        return None
    try:
        return math.fsum(float(v) for v in raw) / len(raw)
    except (TypeError, ValueError):
        return None
