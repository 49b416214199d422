"""Plain TPE on noisy Rastrigin with and without the package's per-trial reseeding (30 seeds).

Run from the repository root: ``PYTHONPATH=. python research/noise_suite_2026-12-06c/search_cmp.py``.
"""

import sys

import numpy as np
import optuna
from scipy.stats import wilcoxon

sys.path.insert(0, "benchmarks")
from _noise_problems import NoisyProblem, get_problem
from bench_noise import new_study, search_seed, space_of, x_of

from crystallize_opt.optimize._trial_seeds import TrialSeeding

optuna.logging.set_verbosity(optuna.logging.WARNING)
problem = get_problem("rastrigin3")


def search_regret(seed: int, reseed: bool, trials: int = 140) -> float:
    noisy = NoisyProblem(problem, 10.0, seed, 0.0, "t3")
    study = new_study(seed)
    space = space_of(problem)
    seeding = TrialSeeding.of(study.sampler) if reseed else None
    for i in range(trials):
        if seeding is not None:
            seeding.reseed(i)
        trial = study.ask(space)
        study.tell(trial, noisy.evaluate(x_of(problem, trial.params), search_seed(seed, 0)))
    return noisy.search_regret()


plain = [search_regret(s, False) for s in range(30)]
reseeded = [search_regret(s, True) for s in range(30)]
print("plain", np.median(plain), "reseeded", np.median(reseeded), wilcoxon(plain, reseeded).pvalue)
