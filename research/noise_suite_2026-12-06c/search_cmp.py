import sys, numpy as np, optuna
sys.path.insert(0, 'benchmarks')
from bench_noise import NoisyProblem, space_of, x_of, search_seed, new_study
from _noise_problems import get_problem
from crystallize_opt.optimize._trial_seeds import TrialSeeding
from scipy.stats import wilcoxon
optuna.logging.set_verbosity(optuna.logging.WARNING)
problem = get_problem('rastrigin3')
def run(seed, reseed, n=140):
    noisy = NoisyProblem(problem, 10.0, seed, 0.0, 't3')
    study = new_study(seed); space = space_of(problem)
    ts = TrialSeeding.of(study.sampler) if reseed else None
    best = np.inf
    for i in range(n):
        if ts: ts.reseed(i) if hasattr(ts,'reseed') else None
        t = study.ask(space); x = x_of(problem, t.params)
        study.tell(t, noisy.evaluate(x, search_seed(seed, 0)))
        pass
    return noisy.search_regret()
a=[run(s, False) for s in range(30)]; b=[run(s, True) for s in range(30)]
print('plain', np.median(a), 'reseeded', np.median(b), wilcoxon(a,b).pvalue)
