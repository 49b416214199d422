"""The noise-aware pick's candidates on noisy Rastrigin, with their true values (a few seeds).

Run from the repository root: ``PYTHONPATH=. python research/noise_suite_2026-12-06c/candidates.py``.
"""

import sys
from typing import Any

import numpy as np
import optuna

sys.path.insert(0, "benchmarks")
import bench_noise as bench
from _noise_problems import get_problem

optuna.logging.set_verbosity(optuna.logging.WARNING)
problem = get_problem("rastrigin3")
seen: dict[str, Any] = {}


class SpyProblem(bench.NoisyProblem):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seen["problem"] = self


class SpyOptimizer(bench.OptunaOptimizer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seen["optimizer"] = self


bench.NoisyProblem = SpyProblem
bench.OptunaOptimizer = SpyOptimizer


def point(params: dict[str, Any]) -> np.ndarray:
    return np.array([float(params.get(n, c)) for n, c in zip(problem.names, problem.centre, strict=True)])


settings = {
    "max_replicates": 1,
    "racing_z": None,
    "intensify": False,
    "select": "mean",
    "confirm_candidates": 10,
}
for seed in [5, 6, 8, 11]:
    res = bench.ours(problem, 10.0, seed, 200, 0.0, "t3", **settings)
    noisy, optimizer = seen["problem"], seen["optimizer"]
    print("seed", seed, "inference", round(res["inference"], 2), "search", round(res["search"], 2))
    for c in optimizer.selection.candidates:
        confirmed = c["confirmation_mean"]
        print(
            "   ",
            c["name"],
            "confirmation mean",
            None if confirmed is None else round(confirmed, 2),
            "true",
            round(noisy.true_value(point(c["params"])), 2),
        )
    ranked = sorted(
        (noisy.true_value(point(t.params)), t.number, t.value)
        for t in optimizer.study.get_trials()
        if t.params
    )
    print(
        "    best evaluated (true, trial, observed):",
        [(round(a, 2), b, round(v, 2)) for a, b, v in ranked[:3]],
    )
