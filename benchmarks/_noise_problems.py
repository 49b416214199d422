"""Noisy synthetic problems with a known optimum, for ``bench_noise.py``.

Every problem is minimised on a box. ``NoisyProblem.evaluate(x, r)`` is one pipeline execution of
point ``x`` on replicate seed ``r``: the true (noiseless) value plus noise of standard deviation
``sd``. The noise model (the same for every method):

    y(x, r) = f(x) + sd * (sqrt(rho) * z_r + sqrt(1 - rho) * e(x, r))

* ``z_r ~ N(0, 1)`` is drawn once per replicate seed ``r`` and shared by every point: like a data
  split or an initialisation that makes every configuration look better or worse on that seed.
  It is what common random numbers (the same seeds for every trial) and paired comparisons cancel.
* ``e(x, r) ~ N(0, 1)`` is drawn independently per (point, seed): the part no pairing removes.
* ``rho`` (default 0.5: half the variance each) is the share of the seed-wide part. ``rho = 0`` is
  plain independent noise.

Both draws come from generators seeded by ``(problem seed, r)`` (and the point's bytes for ``e``),
so evaluating the same point on the same seed twice gives the same value, and the same problem
seed gives the same noise to every method: methods are compared on identical noise.

``r`` is a seed value, not a replicate index: ``bench_noise.py`` passes the seed crystallize-opt
gives a replicate (``derive_seed(master, r)`` for search replicate ``r``, and the package's own
fresh seeds for confirmation and held-out runs), so the noise is a function of (point, seed).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def branin(x: np.ndarray) -> float:
    """The Branin function (3 global minima of 0.397887 on [-5,10]x[0,15])."""
    x1, x2 = float(x[0]), float(x[1])
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann3(x: np.ndarray) -> float:
    """The 3-D Hartmann function (minimum -3.86278 on [0,1]^3)."""
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H3_A * (np.asarray(x) - _H3_P) ** 2, axis=1))))


def hartmann6(x: np.ndarray) -> float:
    """The 6-D Hartmann function (minimum -3.32237 on [0,1]^6)."""
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H6_A * (np.asarray(x) - _H6_P) ** 2, axis=1))))


@dataclass(frozen=True)
class Problem:
    """A minimisation problem on a box with its known optimum and one argmin."""

    name: str
    f: Callable[[np.ndarray], float]
    low: tuple[float, ...]
    high: tuple[float, ...]
    optimum: float
    argmin: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.low)

    @property
    def names(self) -> list[str]:
        return [f"x{i}" for i in range(self.dim)]

    @property
    def centre(self) -> np.ndarray:
        return (np.array(self.low) + np.array(self.high)) / 2


PROBLEMS = {
    "branin": Problem("branin", branin, (-5.0, 0.0), (10.0, 15.0), 0.397887, (math.pi, 2.275)),
    "hartmann3": Problem(
        "hartmann3", hartmann3, (0.0,) * 3, (1.0,) * 3, -3.86278, (0.114614, 0.555649, 0.852547)
    ),
    "hartmann6": Problem(
        "hartmann6",
        hartmann6,
        (0.0,) * 6,
        (1.0,) * 6,
        -3.32237,
        (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),
    ),
}

#: The issue's cells: problem -> noise standard deviations.
CELLS = [
    ("branin", 0.0),
    ("branin", 51.0),
    ("branin", 154.0),
    ("hartmann3", 0.0),
    ("hartmann3", 1.0),
    ("hartmann3", 3.86),
    ("hartmann6", 0.0),
    ("hartmann6", 0.5),
    ("hartmann6", 1.0),
]


def cell_name(problem: str, sd: float) -> str:
    """The cell's label, e.g. ``hartmann3/sd=1``."""
    return f"{problem}/sd={sd:g}"


def _point_key(x: np.ndarray) -> int:
    """A 64-bit key of the point's exact float64 bytes (seeds its independent noise)."""
    return int.from_bytes(
        hashlib.blake2b(np.asarray(x, dtype=np.float64).tobytes(), digest_size=8).digest(), "little"
    )


class NoisyProblem:
    """One noisy instance (problem, sd, problem seed); counts every evaluation."""

    def __init__(self, problem: Problem, sd: float, seed: int, rho: float = 0.5):
        self.problem = problem
        self.sd = float(sd)
        self.seed = int(seed)
        self.rho = float(rho)
        self.evaluations = 0
        self.evaluated: list[np.ndarray] = []  # every point evaluated (for the search regret)
        self._offsets: dict[int, float] = {}

    def true_value(self, x: np.ndarray) -> float:
        """The noiseless value at ``x``."""
        return self.problem.f(np.asarray(x, dtype=float))

    def regret(self, x: np.ndarray) -> float:
        """The noiseless value at ``x`` minus the optimum."""
        return self.true_value(x) - self.problem.optimum

    def offset(self, r: int) -> float:
        """The shared noise draw ``z_r`` of seed ``r``."""
        if r not in self._offsets:
            self._offsets[r] = float(np.random.default_rng([self.seed, r, 0]).standard_normal())
        return self._offsets[r]

    def evaluate(self, x: np.ndarray, r: int, *, candidate: bool = True) -> float:
        """One pipeline execution of ``x`` on replicate seed ``r`` (counted).

        ``candidate=False`` (the baseline) keeps the point out of the search regret.
        """
        x = np.asarray(x, dtype=float)
        self.evaluations += 1
        if candidate:
            self.evaluated.append(x)
        value = self.true_value(x)
        if self.sd == 0.0:
            return value
        independent = float(np.random.default_rng([self.seed, r, 1, _point_key(x)]).standard_normal())
        return value + self.sd * (
            math.sqrt(self.rho) * self.offset(r) + math.sqrt(1 - self.rho) * independent
        )

    def search_regret(self) -> float:
        """The best true value among the points evaluated, minus the optimum."""
        unique = {x.tobytes(): x for x in self.evaluated}
        return min(self.regret(x) for x in unique.values()) if unique else math.nan
