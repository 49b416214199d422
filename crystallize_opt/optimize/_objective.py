"""What an optimization minimises or maximises: metric(s), direction(s), aggregate, constraints."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from .._fingerprint import source_fingerprint
from ..exceptions import ConfigurationError

_DIRECTIONS = ("minimize", "maximize")
_AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "mean": lambda values: math.fsum(values) / len(values),
    "median": lambda values: float(statistics.median(values)),
}


def _names(value: str | Sequence[str], what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigurationError(
            f"Objective {what} must be a non-empty string or list of strings, got {value!r}"
        )
    return items


class Objective:
    """The quantity an optimization targets.

    Each replicate contributes one value per metric (the mean of what it recorded under that
    name); ``aggregate`` turns a trial's replicate values into the number Optuna sees.

    Args:
        metric: a metric name, or a list of names for multi-objective optimization.
        direction: ``"minimize"`` or ``"maximize"``, or one per metric.
        aggregate: ``"mean"`` (default), ``"median"``, or a callable ``f(values) -> float``.
        constraints: metric names whose aggregated value must be ``<= 0`` for a trial to be
            feasible (passed to Optuna's trial constraints).

    Raises:
        ConfigurationError: naming the argument, for an unknown direction or aggregate, or a
            number of directions that differs from the number of metrics.
    """

    def __init__(
        self,
        metric: str | Sequence[str],
        direction: str | Sequence[str] = "minimize",
        aggregate: str | Callable[[Sequence[float]], float] = "mean",
        constraints: Sequence[str] = (),
    ):
        self.metrics = _names(metric, "metric")
        directions = (direction,) * len(self.metrics) if isinstance(direction, str) else tuple(direction)
        bad = [d for d in directions if d not in _DIRECTIONS]
        if bad or not directions:
            raise ConfigurationError(
                f"Objective direction must be 'minimize' or 'maximize', got {direction!r}"
            )
        if len(directions) != len(self.metrics):
            raise ConfigurationError(
                f"Objective has {len(self.metrics)} metric(s) {list(self.metrics)} but {len(directions)} direction(s)"
            )
        self.directions: tuple[str, ...] = directions
        if isinstance(aggregate, str):
            if aggregate not in _AGGREGATES:
                raise ConfigurationError(
                    f"Objective aggregate must be one of {sorted(_AGGREGATES)} or a callable, got {aggregate!r}"
                )
        elif not callable(aggregate):
            raise ConfigurationError(f"Objective aggregate must be a string or a callable, got {aggregate!r}")
        self.aggregate = aggregate
        self.constraints: tuple[str, ...] = (
            () if not constraints else _names(list(constraints), "constraints")
        )

    @property
    def metric(self) -> str | list[str]:
        """The metric name (a list for multi-objective)."""
        return self.metrics[0] if len(self.metrics) == 1 else list(self.metrics)

    @property
    def direction(self) -> str | list[str]:
        """The direction (a list for multi-objective)."""
        return self.directions[0] if len(self.directions) == 1 else list(self.directions)

    @property
    def is_multi_objective(self) -> bool:
        return len(self.metrics) > 1

    @property
    def required_metrics(self) -> tuple[str, ...]:
        """Every metric the pipeline must record: objectives, then constraints."""
        return self.metrics + tuple(c for c in self.constraints if c not in self.metrics)

    def reduce(self, values: Sequence[float]) -> float:
        """Aggregate one metric's per-replicate values into one number."""
        if isinstance(self.aggregate, str):
            return _AGGREGATES[self.aggregate](values)
        return float(self.aggregate(values))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible description, stored with studies and compared on resume."""
        aggregate = (
            self.aggregate
            if isinstance(self.aggregate, str)
            else f"callable:{getattr(self.aggregate, '__qualname__', 'aggregate')}:{source_fingerprint(self.aggregate)}"
        )
        return {
            "metrics": list(self.metrics),
            "directions": list(self.directions),
            "aggregate": aggregate,
            "constraints": list(self.constraints),
        }

    def __repr__(self) -> str:
        d = self.to_dict()
        return f"Objective(metric={self.metric!r}, direction={self.direction!r}, aggregate={d['aggregate']!r}, constraints={list(self.constraints)!r})"
