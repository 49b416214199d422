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
gives a replicate (``replicate_seed(master, r)`` for search replicate ``r``, and the package's own
fresh seeds for confirmation and held-out runs), so the noise is a function of (point, seed).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


#: Kinds of coordinate: a float on [low, high], an integer on [low, high], or a categorical
#: choice among ``low..high`` (integers 0..k-1: the function interprets the index).
KINDS = ("float", "int", "cat")


@dataclass(frozen=True)
class Problem:
    """A minimisation problem with its known optimum (and one argmin where known).

    Every coordinate is a float (the default), an integer or a categorical index (``kinds``); the
    point ``x`` that ``f`` gets is a float array either way. ``per_seed`` (tabular problems)
    gives the stored value of ``x`` on stored seed ``j`` of ``n_stored``: the noise is the real
    one of those runs, and ``f`` is their mean.
    """

    name: str
    f: Callable[[np.ndarray], float]
    low: tuple[float, ...]
    high: tuple[float, ...]
    optimum: float
    argmin: tuple[float, ...] | None = None
    kinds: tuple[str, ...] | None = None
    per_seed: Callable[[np.ndarray, int], float] | None = None
    n_stored: int = 0

    @property
    def dim(self) -> int:
        return len(self.low)

    @property
    def names(self) -> list[str]:
        return [f"x{i}" for i in range(self.dim)]

    def kind(self, i: int) -> str:
        """The kind of coordinate ``i``: float, int or cat."""
        return "float" if self.kinds is None else self.kinds[i]

    @property
    def centre(self) -> np.ndarray:
        """The baseline point: the domain centre (an integer rounded down, a categorical's first choice)."""
        out = (np.array(self.low) + np.array(self.high)) / 2
        for i in range(self.dim):
            if self.kind(i) == "int":
                out[i] = math.floor(out[i])
            elif self.kind(i) == "cat":
                out[i] = self.low[i]
        return out

    def uniform(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points drawn uniformly from the domain (integers and choices uniformly)."""
        out = rng.uniform(self.low, self.high, (n, self.dim))
        for i in range(self.dim):
            if self.kind(i) != "float":
                out[:, i] = rng.integers(int(self.low[i]), int(self.high[i]) + 1, n)
        return out


def styblinski_tang(x: np.ndarray) -> float:
    """Styblinski-Tang (minimum -39.16617 per dimension at x_i = -2.903534 on [-5,5]^d)."""
    x = np.asarray(x, dtype=float)
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def ackley(x: np.ndarray) -> float:
    """Ackley (minimum 0 at the origin)."""
    x = np.asarray(x, dtype=float)
    d = len(x)
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d))
        - np.exp(np.sum(np.cos(2 * np.pi * x)) / d)
        + 20
        + math.e
    )


def rastrigin(x: np.ndarray) -> float:
    """Rastrigin (minimum 0 at the origin)."""
    x = np.asarray(x, dtype=float)
    return float(10 * len(x) + np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))


def griewank(x: np.ndarray) -> float:
    """Griewank (minimum 0 at the origin)."""
    x = np.asarray(x, dtype=float)
    return float(np.sum(x**2) / 4000 - np.prod(np.cos(x / np.sqrt(np.arange(1, len(x) + 1)))) + 1)


def michalewicz(x: np.ndarray) -> float:
    """Michalewicz with m = 10 on [0, pi]^d (minimum -4.687658 for d = 5)."""
    x = np.asarray(x, dtype=float)
    return float(-np.sum(np.sin(x) * np.sin(np.arange(1, len(x) + 1) * x**2 / np.pi) ** 20))


_SHEKEL_C = np.array(
    [
        [4.0, 1.0, 8.0, 6.0, 3.0, 2.0, 5.0, 8.0, 6.0, 7.0],
        [4.0, 1.0, 8.0, 6.0, 7.0, 9.0, 3.0, 1.0, 2.0, 3.6],
        [4.0, 1.0, 8.0, 6.0, 3.0, 2.0, 5.0, 8.0, 6.0, 7.0],
        [4.0, 1.0, 8.0, 6.0, 7.0, 9.0, 3.0, 1.0, 2.0, 3.6],
    ]
)
_SHEKEL_BETA = 0.1 * np.array([1.0, 2.0, 2.0, 4.0, 4.0, 6.0, 3.0, 7.0, 5.0, 5.0])


def shekel(x: np.ndarray) -> float:
    """Shekel with m = 10 on [0, 10]^4 (minimum -10.536443 near (4, 4, 4, 4)): ten narrow wells
    on a nearly flat plateau."""
    x = np.asarray(x, dtype=float)
    return float(-np.sum(1.0 / (np.sum((x[:, None] - _SHEKEL_C) ** 2, axis=0) + _SHEKEL_BETA)))


def rosenbrock(x: np.ndarray) -> float:
    """Rosenbrock (minimum 0 at (1, ..., 1))."""
    x = np.asarray(x, dtype=float)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def dixon_price(x: np.ndarray) -> float:
    """Dixon-Price (minimum 0 at x_i = 2^-((2^i - 2) / 2^i), i = 1..d): a curved valley."""
    x = np.asarray(x, dtype=float)
    i = np.arange(2, len(x) + 1)
    return float((x[0] - 1) ** 2 + np.sum(i * (2 * x[1:] ** 2 - x[:-1]) ** 2))


def _dixon_price_argmin(d: int) -> tuple[float, ...]:
    """Where Dixon-Price in ``d`` dimensions is 0: x_i = 2^-((2^i - 2) / 2^i), i = 1..d."""
    return tuple(2.0 ** (-(2.0**i - 2) / 2.0**i) for i in range(1, d + 1))


def zakharov(x: np.ndarray) -> float:
    """Zakharov (minimum 0 at the origin): a bowl whose coupled terms make every parameter
    interact."""
    x = np.asarray(x, dtype=float)
    coupled = float(np.sum(0.5 * np.arange(1, len(x) + 1) * x))
    return float(np.sum(x**2) + coupled**2 + coupled**4)


def powell(x: np.ndarray) -> float:
    """Powell's singular function (d a multiple of 4; minimum 0 at the origin, where the
    Hessian is singular: flat valleys)."""
    a, b, c, d = (np.asarray(x, dtype=float)[k::4] for k in range(4))
    return float(np.sum((a + 10 * b) ** 2 + 5 * (c - d) ** 2 + (b - 2 * c) ** 4 + 10 * (a - d) ** 4))


def _log1p(f: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
    """``log(1 + f(x))`` of a non-negative ``f`` (same minimiser, minimum 0 when ``f``'s is)."""

    def logged(x: np.ndarray) -> float:
        return math.log1p(f(x))

    logged.__name__ = logged.__qualname__ = f"log1p_{f.__name__}"
    return logged


def six_hump_camel(x: np.ndarray) -> float:
    """Six-hump camel on [-3,3]x[-2,2] (two global minima of -1.0316285)."""
    a, b = float(x[0]), float(x[1])
    return (4 - 2.1 * a**2 + a**4 / 3) * a**2 + a * b + (-4 + 4 * b**2) * b**2


def catmix(name: str, n_cat: int, levels: int, n_float: int, pairs, traps, seed: int) -> Problem:
    """A mixed space with interacting categorical choices: ``n_cat`` categorical parameters of
    ``levels`` choices, then ``n_float`` floats on [0, 1].

    f = sum over ``pairs`` (i, j) of a table T_ij[c_i, c_j] (standard normal entries drawn with
    ``seed``) + 4 * |z - loc[c_0]|^2, the floats' optimum moving with the first choice. For the
    pairs in ``traps`` the last choice of both is the pair's best (-3) while every other cell of
    its row and column is poor (+1.5): good jointly, poor one at a time, so a sampler that models
    each parameter alone is led away from it. The optimum is found by enumeration.
    """
    rng = np.random.default_rng(seed)
    tables = {}
    for pair in pairs:
        t = rng.standard_normal((levels, levels))
        if pair in traps:
            t[-1, :] = 1.5
            t[:, -1] = 1.5
            t[-1, -1] = -3.0
        tables[pair] = t
    loc = rng.uniform(0.2, 0.8, (levels, n_float))

    def part(c: tuple[int, ...]) -> float:
        return float(sum(t[c[i], c[j]] for (i, j), t in tables.items()))

    def f(x: np.ndarray) -> float:
        c = tuple(int(v) for v in x[:n_cat])
        z = np.asarray(x[n_cat:], dtype=float)
        return part(c) + 4.0 * float(np.sum((z - loc[c[0]]) ** 2))

    best = min(itertools.product(range(levels), repeat=n_cat), key=part)
    return Problem(
        name,
        f,
        (0.0,) * (n_cat + n_float),
        (float(levels - 1),) * n_cat + (1.0,) * n_float,
        part(best),
        tuple(float(v) for v in best) + tuple(float(v) for v in loc[best[0]]),
        ("cat",) * n_cat + ("float",) * n_float,
    )


#: The tabular problems' data (``make_sgd_tables.py``): validation errors per (config, seed).
TABLES_FILE = Path(__file__).resolve().parent / "data" / "sgd_tables.json"


def tabular(name: str) -> Problem:
    """A tabular problem from ``TABLES_FILE``: one coordinate per grid parameter (``alpha`` an
    integer index, the others categorical), the value of a point on stored seed j its stored
    validation error, its true value the mean over the stored seeds."""
    data = json.loads(TABLES_FILE.read_text())[name]
    values = np.array(data["values"], dtype=float)
    sizes = [len(choices) for _, choices in data["grid"]]
    strides = np.cumprod([1, *sizes[::-1]])[:-1][::-1]  # itertools.product order: last fastest
    mean = values.mean(axis=1)

    def index(x: np.ndarray) -> int:
        return int(sum(round(float(v)) * int(s) for v, s in zip(x, strides, strict=True)))

    best = int(np.argmin(mean))
    argmin = tuple(float((best // int(s)) % n) for s, n in zip(strides, sizes, strict=True))
    return Problem(
        name,
        lambda x: float(mean[index(x)]),
        (0.0,) * len(sizes),
        tuple(float(n - 1) for n in sizes),
        float(mean[best]),
        argmin,
        tuple("int" if p == "alpha" else "cat" for p, _ in data["grid"]),
        per_seed=lambda x, j: float(values[index(x), j]),
        n_stored=values.shape[1],
    )


def _rep(d: int, low: float, high: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return (low,) * d, (high,) * d


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

_ST = -39.16616570377142  # Styblinski-Tang's minimum per dimension
PROBLEMS.update(
    {
        "styblinski_tang4": Problem(
            "styblinski_tang4", styblinski_tang, *_rep(4, -5, 5), 4 * _ST, (-2.903534,) * 4
        ),
        "styblinski_tang10": Problem(
            "styblinski_tang10", styblinski_tang, *_rep(10, -5, 5), 10 * _ST, (-2.903534,) * 10
        ),
        "rastrigin3": Problem("rastrigin3", rastrigin, *_rep(3, -5.12, 5.12), 0.0, (0.0,) * 3),
        "shekel4": Problem(
            "shekel4", shekel, *_rep(4, 0, 10), -10.536443153483505, (4.000747, 3.99951, 4.000747, 3.99951)
        ),
        "rastrigin6": Problem("rastrigin6", rastrigin, *_rep(6, -5.12, 5.12), 0.0, (0.0,) * 6),
        # Quartic responses span five orders of magnitude over the domain: searched on the log1p
        # scale (as a loss often is), so that noise of a fifth of the typical regret is not
        # a thousand times the differences near the optimum.
        "log_dixon_price8": Problem(
            "log_dixon_price8",
            _log1p(dixon_price),
            *_rep(8, -10, 10),
            0.0,
            _dixon_price_argmin(8),
        ),
        "log_zakharov6": Problem("log_zakharov6", _log1p(zakharov), *_rep(6, -5, 10), 0.0, (0.0,) * 6),
        "log_powell8": Problem("log_powell8", _log1p(powell), *_rep(8, -4, 5), 0.0, (0.0,) * 8),
        # The same three with the optimum away from the domain centre (where CMA-ES starts): each
        # bound moved by 30% of the range (Powell: 2.7 of 9), so the optimum sits 25-36% of the range
        # off centre in every coordinate.
        "rastrigin6_off": Problem("rastrigin6_off", rastrigin, *_rep(6, -2.048, 8.192), 0.0, (0.0,) * 6),
        "log_dixon_price8_off": Problem(
            "log_dixon_price8_off",
            _log1p(dixon_price),
            *_rep(8, -4, 16),
            0.0,
            _dixon_price_argmin(8),
        ),
        "log_powell8_off": Problem("log_powell8_off", _log1p(powell), *_rep(8, -1.3, 7.7), 0.0, (0.0,) * 8),
        # Five dimensions, where no tuning cell was (the threshold of a rule by dimension).
        "log_dixon_price5_off": Problem(
            "log_dixon_price5_off",
            _log1p(dixon_price),
            *_rep(5, -4, 16),
            0.0,
            _dixon_price_argmin(5),
        ),
        "log_zakharov5": Problem("log_zakharov5", _log1p(zakharov), *_rep(5, -5, 10), 0.0, (0.0,) * 5),
        "ackley5": Problem("ackley5", ackley, *_rep(5, -5, 5), 0.0, (0.0,) * 5),
        "griewank8": Problem("griewank8", griewank, *_rep(8, -600, 600), 0.0, (0.0,) * 8),
        # Test problems whose optimum is the domain centre, where CMA-ES starts, again with every
        # bound moved by 30% of the range (the optimum 30% of the range off centre).
        "ackley5_off": Problem("ackley5_off", ackley, *_rep(5, -2, 8), 0.0, (0.0,) * 5),
        "griewank8_off": Problem("griewank8_off", griewank, *_rep(8, -240, 960), 0.0, (0.0,) * 8),
        "michalewicz5": Problem("michalewicz5", michalewicz, *_rep(5, 0, math.pi), -4.687658),
        "rosenbrock6": Problem("rosenbrock6", rosenbrock, *_rep(6, -2.048, 2.048), 0.0, (1.0,) * 6),
        "six_hump_camel": Problem(
            "six_hump_camel", six_hump_camel, (-3.0, -2.0), (3.0, 2.0), -1.0316284534898774, (0.0898, -0.7126)
        ),
        # 6 categorical x 4 choices + 2 floats; 2 of the 5 interacting pairs are traps
        "catmix_a": catmix(
            "catmix_a", 6, 4, 2, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)], [(0, 1), (3, 4)], 11
        ),
        # 5 categorical x 3 choices + 3 floats, other tables; 2 of the 4 pairs are traps
        "catmix_b": catmix("catmix_b", 5, 3, 3, [(0, 2), (1, 3), (2, 4), (0, 4)], [(1, 3), (2, 4)], 23),
    }
)
#: Tabular problems, loaded from ``TABLES_FILE`` on first use (:func:`get_problem`).
TABULAR = ("sgd_breast_cancer", "sgd_digits")


def get_problem(name: str) -> Problem:
    """The problem called ``name`` (a tabular one is loaded on first use)."""
    if name not in PROBLEMS and name in TABULAR:
        PROBLEMS[name] = tabular(name)
    return PROBLEMS[name]


#: Noise shapes: ``normal`` (homoscedastic Gaussian), ``hetero`` (Gaussian whose sd grows with
#: the true value), ``t3`` (Student-t with 3 degrees of freedom, scaled to sd) and ``real`` (a
#: tabular problem's stored runs; sd unused).
SHAPES = ("normal", "hetero", "t3", "real")


@dataclass(frozen=True)
class Cell:
    """One benchmark cell: a problem, a noise sd and shape, and the share ``rho`` of the noise
    variance shared by every point on a seed (None: the run's ``--rho``, as the original 9
    cells)."""

    problem: str
    sd: float
    shape: str = "normal"
    rho: float | None = None

    @property
    def name(self) -> str:
        if self.shape == "real":
            return f"{self.problem}/real"
        out = f"{self.problem}/sd={self.sd:g}"
        if self.shape != "normal" and self.sd > 0:
            out += f"/{self.shape}"
        if self.rho is not None and self.sd > 0:
            out += f"/rho={self.rho:g}"
        return out


#: The issue's cells: problem -> noise standard deviations (part of the tuning set).
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

#: Tuning set: defaults may be chosen on these (the 9 original cells and 9 more).
TUNING = [Cell(p, sd) for p, sd in CELLS] + [
    Cell("styblinski_tang4", 30.0, "hetero", 0.5),
    Cell("rastrigin3", 10.0, "t3", 0.0),
    # Added on 2026-12-08, after SMAC3 beat ours on the test cell michalewicz5 (narrow valleys,
    # heteroscedastic noise) and on none of the continuous noisy tuning cells: narrow wells.
    Cell("shekel4", 1.0, "hetero", 0.0),
    Cell("catmix_a", 0.0),
    Cell("catmix_a", 1.0, "normal", 0.5),
    Cell("catmix_a", 1.0, "t3", 0.0),
    Cell("sgd_breast_cancer", 0.0, "real"),
    # Rugged noise-free responses (added 2026-12-07 after the GP search lost on the test set's
    # ackley5/sd=0: the deterministic tuning cells above are all smooth).
    Cell("rastrigin3", 0.0),
    Cell("styblinski_tang4", 0.0),
    # Added on 2026-12-08, before any run with them, for the question whether the search of a
    # noisy continuous response should depend on its dimension (CMA-ES beat the TPE search on
    # Hartmann6 and lost on Branin and Styblinski-Tang4; the noisy continuous tuning cells had
    # at most 6 dimensions, and only Hartmann6 had 6). Noise sd = 0.2 x the median regret of
    # uniform points (the test cells' 0.12-0.19, rounded up), shapes and rho spread out.
    Cell("rastrigin6", 22.0, "normal", 0.0),
    Cell("log_dixon_price8", 2.5, "hetero", 0.5),
    Cell("log_zakharov6", 2.6, "normal", 0.5),
    Cell("log_powell8", 1.9, "t3", 0.0),
    # Added after the run of the four above, where CMA-ES won by far: is it its start at the
    # domain centre, where Rastrigin's optimum lies and Dixon-Price's and Powell's nearly do?
    # The same functions and noise with the optimum 25-36% of the range off centre.
    Cell("rastrigin6_off", 22.0, "normal", 0.0),
    Cell("log_dixon_price8_off", 2.5, "hetero", 0.5),
    Cell("log_powell8_off", 1.9, "t3", 0.0),
    # Added next, before any run with them: five dimensions, between the four where CMA-ES lost
    # (Styblinski-Tang4) and the six where it won (Hartmann6 sd 1, Zakharov6); the optimum off
    # centre; sd = 0.2 x the median regret of uniform points, as above.
    Cell("log_dixon_price5_off", 2.6, "hetero", 0.0),
    Cell("log_zakharov5", 2.4, "normal", 0.5),
]
#: Test set: reported, never tuned on.
TEST = [
    Cell("ackley5", 0.0),
    Cell("ackley5", 2.0, "normal", 0.0),
    Cell("styblinski_tang10", 60.0, "t3", 0.5),
    Cell("michalewicz5", 0.5, "hetero", 0.0),
    Cell("six_hump_camel", 1.0, "normal", 0.5),
    Cell("griewank8", 30.0, "normal", 0.0),
    Cell("rosenbrock6", 0.0),
    Cell("catmix_b", 0.0),
    Cell("catmix_b", 1.0, "normal", 0.0),
    Cell("catmix_b", 2.0, "hetero", 0.5),
    Cell("sgd_digits", 0.0, "real"),
    # Added on 2026-12-08, before any run with them, once CMA-ES was chosen on the tuning set
    # for noisy responses of 5 or more numbers: two of the cells above have their optimum at
    # the domain centre, where CMA-ES starts; the same functions and noise with it off centre
    # show what that start is worth.
    Cell("ackley5_off", 2.0, "normal", 0.0),
    Cell("griewank8_off", 30.0, "normal", 0.0),
]
SUITE = {c.name: c for c in TUNING + TEST}
SETS = {"tuning": TUNING, "test": TEST, "issue": [Cell(p, sd) for p, sd in CELLS]}


def cell_name(problem: str, sd: float) -> str:
    """The label of one of the original cells, e.g. ``hartmann3/sd=1``."""
    return Cell(problem, sd).name


def _point_key(x: np.ndarray) -> int:
    """A 64-bit key of the point's exact float64 bytes (seeds its independent noise)."""
    return int.from_bytes(
        hashlib.blake2b(np.asarray(x, dtype=np.float64).tobytes(), digest_size=8).digest(), "little"
    )


class NoisyProblem:
    """One noisy instance (problem, sd, problem seed, noise shape); counts every evaluation."""

    def __init__(self, problem: Problem, sd: float, seed: int, rho: float = 0.5, shape: str = "normal"):
        if shape not in SHAPES:
            raise ValueError(f"unknown noise shape {shape!r}; known: {SHAPES}")
        if (shape == "real") != (problem.per_seed is not None):
            raise ValueError(f"{problem.name}: the shape 'real' is for tabular problems, and only it")
        self.problem = problem
        self.sd = float(sd)
        self.seed = int(seed)
        self.rho = float(rho)
        self.shape = shape
        self.evaluations = 0
        self.evaluated: list[np.ndarray] = []  # every point evaluated (for the search regret)
        self._offsets: dict[int, float] = {}

    def true_value(self, x: np.ndarray) -> float:
        """The noiseless value at ``x``."""
        return self.problem.f(np.asarray(x, dtype=float))

    def regret(self, x: np.ndarray) -> float:
        """The noiseless value at ``x`` minus the optimum."""
        return self.true_value(x) - self.problem.optimum

    def _draw(self, rng: np.random.Generator) -> float:
        """One standardised noise draw of the shape (unit variance)."""
        if self.shape == "t3":
            return float(rng.standard_t(3)) / math.sqrt(3.0)
        return float(rng.standard_normal())

    def offset(self, r: int) -> float:
        """The shared noise draw ``z_r`` of seed ``r``."""
        if r not in self._offsets:
            self._offsets[r] = self._draw(np.random.default_rng([self.seed, r, 0]))
        return self._offsets[r]

    def sd_at(self, x: np.ndarray) -> float:
        """The noise sd at ``x``: ``sd``, or for ``hetero`` ``sd * (0.25 + 0.75 * min(2, g / s))``
        with ``g`` the regret at ``x`` and ``s`` the problem's median regret over uniform points
        (so a quarter of ``sd`` at the optimum, ``sd`` at a typical point, at most 1.75 ``sd``)."""
        if self.shape != "hetero":
            return self.sd
        return self.sd * (0.25 + 0.75 * min(2.0, self.regret(x) / spread(self.problem)))

    def evaluate(self, x: np.ndarray, r: int, *, candidate: bool = True) -> float:
        """One pipeline execution of ``x`` on replicate seed ``r`` (counted).

        ``candidate=False`` (the baseline) keeps the point out of the search regret.
        """
        x = np.asarray(x, dtype=float)
        self.evaluations += 1
        if candidate:
            self.evaluated.append(x)
        if self.problem.per_seed is not None:  # a stored run: seed r picks one of the stored seeds
            j = int(np.random.default_rng([self.seed, r, 2]).integers(self.problem.n_stored))
            return self.problem.per_seed(x, j)
        value = self.true_value(x)
        if self.sd == 0.0:
            return value
        independent = self._draw(np.random.default_rng([self.seed, r, 1, _point_key(x)]))
        return value + self.sd_at(x) * (
            math.sqrt(self.rho) * self.offset(r) + math.sqrt(1 - self.rho) * independent
        )

    def search_regret(self) -> float:
        """The best true value among the points evaluated, minus the optimum."""
        unique = {x.tobytes(): x for x in self.evaluated}
        return min(self.regret(x) for x in unique.values()) if unique else math.nan


_SPREADS: dict[str, float] = {}


def spread(problem: Problem) -> float:
    """The median regret of 2000 uniform points (fixed draw): the scale of ``hetero`` noise."""
    if problem.name not in _SPREADS:
        points = problem.uniform(np.random.default_rng(0), 2000)
        _SPREADS[problem.name] = float(np.median([problem.f(x) - problem.optimum for x in points]))
    return _SPREADS[problem.name]
