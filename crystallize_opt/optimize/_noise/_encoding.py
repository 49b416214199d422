"""Parameter sets as points of the unit cube, for the model that ranks them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


class UnitCube:
    """Encodes parameter sets of a dict search space: a float or integer parameter is one
    coordinate (on a log scale when its distribution is), a categorical one is one coordinate
    per choice (one-hot). Constants are left out."""

    def __init__(self, distributions: Mapping[str, BaseDistribution]):
        self.distributions = dict(distributions)
        self.columns: list[tuple[str, Any]] = []
        for name, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                self.columns.extend((name, choice) for choice in dist.choices)
            else:
                self.columns.append((name, None))
        self.dimension = len(self.columns)

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        out = np.zeros(self.dimension)
        for i, (name, choice) in enumerate(self.columns):
            dist = self.distributions[name]
            if isinstance(dist, CategoricalDistribution):
                out[i] = 1.0 if params[name] == choice else 0.0
            else:
                out[i] = self._to_unit(dist, float(params[name]))
        return out

    def bounds_near(self, point: np.ndarray, radius: float) -> list[tuple[float, float]]:
        """A box of ``radius`` around ``point`` in the numeric coordinates; categorical
        coordinates stay fixed (a local search never switches a choice)."""
        box = []
        for i, (name, _) in enumerate(self.columns):
            if isinstance(self.distributions[name], CategoricalDistribution):
                box.append((float(point[i]), float(point[i])))
            else:
                box.append((max(0.0, float(point[i]) - radius), min(1.0, float(point[i]) + radius)))
        return box

    def decode(self, point: np.ndarray, template: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters at ``point``: numeric ones mapped back (rounded to integers and steps, floats
        to 12 significant digits), categorical ones and constants taken from ``template``."""
        params = dict(template)
        for i, (name, _) in enumerate(self.columns):
            dist = self.distributions[name]
            if isinstance(dist, (FloatDistribution, IntDistribution)):
                params[name] = self._from_unit(dist, float(point[i]))
        return params

    @staticmethod
    def _to_unit(dist: BaseDistribution, value: float) -> float:
        assert isinstance(dist, (FloatDistribution, IntDistribution))
        low, high = float(dist.low), float(dist.high)
        if dist.log:
            low, high, value = math.log(low), math.log(high), math.log(value)
        return 0.5 if high == low else (value - low) / (high - low)

    @staticmethod
    def _from_unit(dist: FloatDistribution | IntDistribution, unit: float) -> float | int:
        low, high = float(dist.low), float(dist.high)
        unit = min(1.0, max(0.0, unit))
        value = (
            math.exp(math.log(low) + unit * (math.log(high) - math.log(low)))
            if dist.log
            else low + unit * (high - low)
        )
        step = dist.step
        if step is not None:
            value = low + round((value - low) / step) * step
        if isinstance(dist, IntDistribution):
            return round(min(high, max(low, value)))
        # 12 significant digits: a point on a grid of the range reads 0.63, not 0.6299999999999999.
        return min(high, max(low, float(f"{value:.12g}")))
