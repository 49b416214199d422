import sys

import numpy as np
import optuna

sys.path.insert(0, "benchmarks")
import bench_noise as B

optuna.logging.set_verbosity(optuna.logging.WARNING)
from _noise_problems import get_problem

problem = get_problem("rastrigin3")
store = {}


class Spy(B.NoisyProblem):
    def __init__(s, *a, **k):
        super().__init__(*a, **k)
        store["n"] = s


class SpyOpt(B.OptunaOptimizer):
    def __init__(s, *a, **k):
        super().__init__(*a, **k)
        store["o"] = s


B.NoisyProblem = Spy
B.OptunaOptimizer = SpyOpt


def xof(params):
    return np.array([float(params.get(n, c)) for n, c in zip(problem.names, problem.centre)])


for seed in [5, 6, 8, 11]:
    res = B.ours(
        problem,
        10.0,
        seed,
        200,
        0.0,
        "t3",
        max_replicates=1,
        racing_z=None,
        intensify=False,
        select="mean",
        confirm_candidates=10,
    )
    n = store["n"]
    sel = store["o"].selection
    print("seed", seed, "inference", round(res["inference"], 2), "search", round(res["search"], 2))
    for c in sel.candidates:
        print(
            "   ",
            c["name"],
            "est",
            round(c["estimate"], 2),
            "conf",
            None if c["confirmation_mean"] is None else round(c["confirmation_mean"], 2),
            "true",
            round(n.true_value(xof(c["params"])), 2),
        )
    # best evaluated point's trial
    study = store["o"].study
    tv = sorted((n.true_value(xof(t.params)), t.number, t.value) for t in study.get_trials() if t.params)
    print("   best evaluated true:", [(round(a, 2), b, round(v, 2)) for a, b, v in tv[:3]])
