# ruff: noqa: E402  (BLAS threads are limited before numpy is imported)
"""Noise-aware optimization: which returned Treatment is really best, under seeded noise?

One command; prints how it measured, one table per cell and a PASS/FAIL summary (never fails):

    python benchmarks/bench_noise.py                 # full run: 9 cells x 4 methods x 200 seeds, 2 processes
    python benchmarks/bench_noise.py --rho 0         # the same under independent noise
    python benchmarks/bench_noise.py --quick         # CI smoke run: 2 cells, 3 seeds, budget 100
    python benchmarks/bench_noise.py --seeds 50 --cells hartmann3/sd=1 --methods tpe_1x300,ours
    python benchmarks/bench_noise.py --set tuning --seeds 20 --budget 200 --processes 1 \
        --methods tpe_top10,ours,ours:multivariate        # the univariate question (issue 15)
    python benchmarks/bench_noise.py --set test --seeds 30 --processes 1 --methods all   # the test set

Cells (``_noise_problems.py``): ``--set issue`` (the default: the original 9 cells), ``--set tuning``
(those 9 and 9 more: defaults may be chosen on them) and ``--set test`` (11 cells reported and never
tuned on); ``--cells`` names any of them.

Problems and noise model: see ``_noise_problems.py``. Every method gets the same budget of
pipeline executions (every replicate counts, including confirmation and held-out evaluations,
and the baseline's) and the same noise: optimizer seed ``s`` is the TPE sampler's seed, the
problem's noise seed and the package's master seed, and replicate ``r`` of the search runs on
noise seed ``replicate_seed(s, r)`` for every method (the seed the package gives replicate ``r``).
Results before 2026-12-07 (``SEED_SCHEME`` ``"derive_seed"``) used the package's earlier replicate
seeds, ``derive_seed(s, r)``.
Per run we record

* inference regret: true (noiseless) value of the point the method returns, minus the optimum;
* search regret: best true value among the points the method evaluated, minus the optimum.

Methods (plain Optuna = ``TPESampler(seed=s)`` with Optuna 5 defaults, in-memory study, ask/tell):

* ``tpe_1x300``: one evaluation per trial (replicate 0), budget trials, best observed value.
* ``tpe_5x60``: five replicates (0-4) per trial, budget/5 trials, best observed mean.
* ``tpe_top10``: budget-50 trials x 1 (replicate 0), then its 10 best observed points
  re-evaluated on replicates 1-5 (common to the 10); the best mean of those 5 is returned.
* ``wilcoxon``: Optuna's WilcoxonPruner recipe (its documentation's example), see :func:`wilcoxon`.
* ``smac``: SMAC3 2.x's hyperparameter-optimization facade with the replicate seeds as
  instances, see :func:`smac` (a benchmark-only dependency: skipped with a note without it).
* ``ours``: crystallize-opt's own code path: ``Experiment.optimize`` with
  ``OptunaOptimizer(..., noise=True)`` and the package's defaults (the default sampler, which
  the header prints: with PyTorch, Optuna's ``GPSampler`` where the space has a categorical
  parameter or the pipeline is deterministic since 2026-12-07, told the objective is
  deterministic and never evaluating a point twice there since late 2026-12-07;
  ``TPESampler(seed=s)`` before and without PyTorch; one replicate per search trial since
  2026-12-06, racing before) on an experiment whose pipeline evaluates the problem
  (see :func:`ours`); variants set :class:`~crystallize_opt.NoiseHandling` fields
  (``ours:NAME`` from ``VARIANTS`` or ``ours:field=value;field=value``); ``sampler=NAME`` among
  the fields passes a sampler of ``SAMPLERS`` instead of the default one (``ours:sampler=tpe``:
  the search before 2026-12-07; ``ours:multivariate``: ``TPESampler(seed=s,
  multivariate=True)``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # 2 processes on 2 shared cores: no BLAS threads on top

import argparse
import dataclasses
import datetime as dt
import importlib.util
import json
import logging
import math
import multiprocessing as mp
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import scipy
import scipy.stats
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

import crystallize_opt as co
from crystallize_opt import (
    BASELINE_CONDITION,
    CONDITION_KEY,
    SEED_USED_KEY,
    DataSource,
    Experiment,
    FrozenContext,
    NoiseHandling,
    Objective,
    OptunaOptimizer,
    Pipeline,
    PipelineStep,
    SeedPlugin,
    replicate_seed,
)
from crystallize_opt.optimize import CMA_SEARCH_PARAMS, default_sampler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _noise_problems import SETS, SUITE, Cell, NoisyProblem, Problem, get_problem

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
logging.getLogger("crystallize_opt").setLevel(logging.WARNING)
#: The objective metric the benchmark's pipeline records.
METRIC = "value"
#: Bumped when the plain recipes' seeds change, so that ``--cache`` never mixes seed schemes
#: (``"derive_seed"`` until 2026-12-07: the package's earlier replicate seeds).
SEED_SCHEME = "replicate_seed"


def space_of(problem: Problem) -> dict[str, BaseDistribution]:
    """The Optuna search space of ``problem``: per coordinate a float, an integer or a
    categorical choice among the indices ``0..k-1``."""
    space: dict[str, BaseDistribution] = {}
    for i, (n, lo, hi) in enumerate(zip(problem.names, problem.low, problem.high, strict=True)):
        kind = problem.kind(i)
        if kind == "cat":
            space[n] = CategoricalDistribution(list(range(int(lo), int(hi) + 1)))
        elif kind == "int":
            space[n] = IntDistribution(int(lo), int(hi))
        else:
            space[n] = FloatDistribution(lo, hi)
    return space


def x_of(problem: Problem, params: dict[str, float]) -> np.ndarray:
    """The point of ``params`` as an array in the problem's coordinate order."""
    return np.array([params[n] for n in problem.names], dtype=float)


def search_seed(seed: int, replicate: int) -> int:
    """The noise seed of search replicate ``replicate``: what the package gives that replicate
    with master seed ``seed`` (``SeedPlugin``), used by the plain recipes too."""
    return replicate_seed(seed, replicate)


def new_study(seed: int) -> optuna.Study:
    """A plain in-memory Optuna study with ``TPESampler(seed=seed)``."""
    return optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))


def result(noisy: NoisyProblem, x: np.ndarray, **extra: Any) -> dict[str, Any]:
    """One run's record: inference and search regret, executions, and ``extra`` facts."""
    return {
        "inference": noisy.regret(x),
        "search": noisy.search_regret(),
        "evals": noisy.evaluations,
        **extra,
    }


# -- the plain recipes -------------------------------------------------------------------------


def tpe_1x300(
    problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5, shape: str = "normal"
) -> dict[str, Any]:
    """Plain TPE, one evaluation per trial, the best observed value returned."""
    noisy = NoisyProblem(problem, sd, seed, rho, shape)
    study = new_study(seed)
    space = space_of(problem)
    for _ in range(budget):
        trial = study.ask(space)
        study.tell(trial, noisy.evaluate(x_of(problem, trial.params), search_seed(seed, 0)))
    return result(noisy, x_of(problem, study.best_trial.params))


def tpe_5x60(
    problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5, shape: str = "normal"
) -> dict[str, Any]:
    """Plain TPE on the mean of 5 replicates per trial, the best observed mean returned."""
    noisy = NoisyProblem(problem, sd, seed, rho, shape)
    study = new_study(seed)
    space = space_of(problem)
    for _ in range(budget // 5):
        trial = study.ask(space)
        x = x_of(problem, trial.params)
        study.tell(trial, float(np.mean([noisy.evaluate(x, search_seed(seed, r)) for r in range(5)])))
    return result(noisy, x_of(problem, study.best_trial.params))


def tpe_top10(
    problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5, shape: str = "normal"
) -> dict[str, Any]:
    """Plain TPE x 1, then the 10 best observed points re-evaluated 5 times; best mean returned."""
    noisy = NoisyProblem(problem, sd, seed, rho, shape)
    study = new_study(seed)
    space = space_of(problem)
    top, reevals = 10, 5
    for _ in range(budget - top * reevals):
        trial = study.ask(space)
        study.tell(trial, noisy.evaluate(x_of(problem, trial.params), search_seed(seed, 0)))
    best = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.value)[:top]
    means = [
        np.mean(
            [noisy.evaluate(x_of(problem, t.params), search_seed(seed, r)) for r in range(1, 1 + reevals)]
        )
        for t in best
    ]
    return result(noisy, x_of(problem, best[int(np.argmin(means))].params))


#: Replicate seeds ("instances") that ``wilcoxon`` and ``smac`` draw from: search replicates
#: 0..INSTANCES-1, the seeds every method's search uses.
INSTANCES = 10


def wilcoxon(
    problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5, shape: str = "normal"
) -> dict[str, Any]:
    """Optuna's WilcoxonPruner recipe (its documentation's example): ``TPESampler(seed=s)`` and
    ``WilcoxonPruner(p_threshold=0.1)``; each trial evaluates the INSTANCES replicate seeds one by
    one in a shuffled order, reporting each value with the instance as its step, and stops when
    the pruner says so. As the documentation advises for TPE, a stopped trial returns the mean
    of what it evaluated (told as COMPLETE) instead of raising TrialPruned. Trials run until the
    budget of executions is spent (the last one cut short). Returned: the best mean among the
    trials that evaluated every instance (the pruned ones' partial means rank trials for TPE and
    the pruner, but a partial mean is not an estimate one would ship); the best told value when
    no trial finished."""
    noisy = NoisyProblem(problem, sd, seed, rho, shape)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.WilcoxonPruner(p_threshold=0.1),
    )
    space = space_of(problem)
    order_rng = np.random.default_rng([seed, 7])
    finished: list[tuple[float, dict[str, Any]]] = []
    pruned = 0
    while noisy.evaluations < budget:
        trial = study.ask(space)
        x = x_of(problem, trial.params)
        values: list[float] = []
        for i in order_rng.permutation(INSTANCES):
            if noisy.evaluations >= budget:
                break
            values.append(noisy.evaluate(x, search_seed(seed, int(i))))
            trial.report(values[-1], int(i))
            if trial.should_prune():
                pruned += 1
                break
        study.tell(trial, float(np.mean(values)))
        if len(values) == INSTANCES:
            finished.append((float(np.mean(values)), trial.params))
    params = min(finished, key=lambda item: item[0])[1] if finished else study.best_trial.params
    return result(noisy, x_of(problem, params), trials=len(study.trials), stopped=pruned, full=len(finished))


def smac_available() -> bool:
    """Whether SMAC3 (a benchmark-only dependency) can be imported."""
    try:
        import smac  # noqa: F401
    except ImportError:
        return False
    return True


def smac(
    problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5, shape: str = "normal"
) -> dict[str, Any]:
    """SMAC3 (2.x) ``HyperparameterOptimizationFacade`` with its own defaults (random forest,
    log EI, Sobol initial design, an intensifier of at most 3 instances per configuration; the
    random forest with ``n_jobs=1`` instead of all cores, nothing else changed) and
    ``instances`` = the INSTANCES replicate seeds, ``deterministic=True`` (the instance is the
    only source of noise: it is the seed). Driven by ask/tell, one execution per trial, budget
    trials; returns SMAC's incumbent (its best mean over the instances it shares with the other
    incumbents). Where SMAC exhausts a small discrete space it stops early (``exhausted`` in the
    record; ``evals`` says how much of the budget it spent)."""
    import tempfile

    from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.main.exceptions import ConfigurationSpaceExhaustedException
    from smac.model.random_forest import RandomForest
    from smac.runhistory.dataclasses import TrialValue

    noisy = NoisyProblem(problem, sd, seed, rho, shape)
    cs = ConfigurationSpace(seed=seed)
    for i, (n, lo, hi) in enumerate(zip(problem.names, problem.low, problem.high, strict=True)):
        kind = problem.kind(i)
        if kind == "cat":
            cs.add(Categorical(n, [str(k) for k in range(int(lo), int(hi) + 1)]))
        elif kind == "int":
            cs.add(Integer(n, (int(lo), int(hi))))
        else:
            cs.add(Float(n, (float(lo), float(hi))))
    instances = [str(i) for i in range(INSTANCES)]

    def point(config: Any) -> np.ndarray:
        return np.array([float(config[n]) for n in problem.names], dtype=float)

    def target(config: Any, instance: str, seed: int = 0) -> float:  # not called: ask/tell
        raise AssertionError("driven by ask/tell")

    with tempfile.TemporaryDirectory() as out:
        scenario = Scenario(
            cs,
            deterministic=True,
            n_trials=budget,
            seed=seed,
            instances=instances,
            instance_features={k: [float(k)] for k in instances},
            output_directory=Path(out) / "smac",
        )
        # The facade's own model (get_model's defaults) with one job: its default n_jobs=-1 runs
        # threads on every core, against the benchmark's one process per core.
        model = RandomForest(
            log_y=True,
            n_trees=10,
            bootstrapping=True,
            ratio_features=1.0,
            min_samples_split=2,
            min_samples_leaf=1,
            max_depth=2**20,
            configspace=scenario.configspace,
            instance_features=scenario.instance_features,
            seed=scenario.seed,
            n_jobs=1,
        )
        optimizer = HyperparameterOptimizationFacade(
            scenario, target, model=model, overwrite=True, logging_level=40
        )
        exhausted = False
        for _ in range(budget):
            try:
                info = optimizer.ask()
            except ConfigurationSpaceExhaustedException:
                # A small discrete space (the SGD tables' 162 configurations): SMAC finds no
                # configuration it has not tried and stops, as it does when run by itself.
                exhausted = True
                break
            value = noisy.evaluate(point(info.config), search_seed(seed, int(info.instance)))
            optimizer.tell(info, TrialValue(cost=value))
        incumbent = optimizer.intensifier.get_incumbent()
        if incumbent is None:
            incumbent = optimizer.intensifier.get_incumbents()[0]
    return result(noisy, point(incumbent), exhausted=exhausted)


# -- ours: the package ---------------------------------------------------------------------------

#: Named variants (``--methods ours:NAME``): NoiseHandling fields that differ from the defaults.
#: The prototype's other variants (a fixed start of 1 or 5 replicates, Wilcoxon, quantile or
#: median racing, kappa, an automatic replicate cap, GP restarts) are not package settings.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    # Racing and intensification, the default until 2026-12-06 (see benchmarks/README.md).
    "racing": {"max_replicates": 3, "racing_z": 2.0, "intensify": True},
    "aggressive": {
        "racing_z": 1.0,
        "max_replicates": 5,
        "intensify": True,
    },  # best on Branin, worst on Hartmann3 sd 3.86
    "one_replicate": {"max_replicates": 1, "racing_z": None, "intensify": False},  # best search, low noise
    "pruned": {"stopped_trials": "pruned"},  # stopped trials told as PRUNED
    "evaluated": {"model_candidates": False},  # no model minima among the candidates
    "no_confirm": {"confirm_candidates": 0},
    "mean": {"select": "mean"},  # pooled means instead of the model
    # Optuna's multivariate TPESampler(seed=s) passed explicitly: no switch to univariate TPE
    # after the noise check (issue 15's diagnostic run). Not a NoiseHandling field.
    "multivariate": {"sampler": "multivariate"},
}
#: Samplers an ours variant can pass (``sampler=NAME``) instead of the package's default.
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "multivariate": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
    "univariate": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=False),
    # The noise-aware default search before 2026-12-07 (and still without PyTorch).
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    # Optuna's GPSampler all the way (the default hands off to TPE after 500 finished trials).
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    # GPSampler told the objective is deterministic (its noise variance fixed near 0), for the
    # noise-free cells: whether the default's deterministic branch should pass it.
    "gp_deterministic": lambda seed: _deterministic_gp(seed),
    # Optuna's CMA-ES (needs ``cmaes``: the samplers extra), plain and with learning-rate
    # adaptation (LRA-CMA-ES, made for noisy and multimodal responses): candidates for the
    # search of a noisy continuous response (2026-12-08).
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
    "cmaes_lra": lambda seed: optuna.samplers.CmaEsSampler(
        seed=seed, lr_adapt=True, warn_independent_sampling=False
    ),
}


def default_search(categorical: bool, numbers: int = 1) -> str:
    """What the package's noise-aware default sampler is made of, for a space of ``numbers``
    numbers with or without a categorical parameter (read from the package, so the header
    cannot drift from it)."""
    space: dict[str, BaseDistribution] = {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(numbers)}
    if categorical:
        space["c"] = CategoricalDistribution([0, 1])
    return repr(default_sampler(0, noise_aware=True, space=space))


def _deterministic_gp(seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # ``deterministic_objective`` is experimental in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.GPSampler(seed=seed, deterministic_objective=True)


class ReplicateSeed(DataSource):
    """The data of one replicate: the seed the package gave it (``ctx["seed_used"]``), which
    is the problem's noise seed, so the noise is a function of (point, seed) alone."""

    def fetch(self, ctx: FrozenContext) -> int:
        return int(ctx[SEED_USED_KEY])


class EvaluateProblem(PipelineStep):
    """One pipeline execution: the noisy problem at the treatment's point for the replicate's
    seed, recorded as the metric ``value``. Coordinates no treatment sets (the baseline) are
    the domain centre. Every call is counted by the problem (``evaluations``); the baseline's
    point stays out of the search regret."""

    def __init__(self, noisy: NoisyProblem):
        self.noisy = noisy
        self.executions = 0

    def __call__(self, data: int, ctx: FrozenContext) -> int:
        problem = self.noisy.problem
        x = np.array(
            [float(ctx.get(n, c)) for n, c in zip(problem.names, problem.centre, strict=True)], dtype=float
        )
        self.executions += 1
        baseline = ctx.get(CONDITION_KEY) == BASELINE_CONDITION
        ctx.metrics.add(METRIC, self.noisy.evaluate(x, data, candidate=not baseline))
        return data


def noise_settings(**settings: Any) -> NoiseHandling:
    """The NoiseHandling of ``ours`` (the package defaults, with ``settings`` overriding fields)."""
    return NoiseHandling(**settings)


def ours(
    problem: Problem,
    sd: float,
    seed: int,
    budget: int = 300,
    rho: float = 0.5,
    shape: str = "normal",
    sampler: str | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Noise-aware optimization through the package: ``Experiment.optimize`` with
    ``OptunaOptimizer(..., noise=NoiseHandling(**settings))`` and a budget of ``budget``
    pipeline executions (``num_trials=budget, replicates_per_trial=1``).

    The master seed is ``seed`` (so search replicate ``r`` meets noise seed
    ``replicate_seed(seed, r)``, as in the plain recipes); the baseline is the domain centre.
    ``sampler`` names one of ``SAMPLERS`` (seeded with ``seed``) to pass instead of the
    package's default.

    Raises:
        AssertionError: when the pipeline ran more than ``budget`` executions, or the package's
            own count of executions disagrees with the pipeline's.
    """
    noisy = NoisyProblem(problem, sd, seed, rho, shape)
    step = EvaluateProblem(noisy)
    experiment = Experiment(
        datasource=ReplicateSeed(),
        pipeline=Pipeline([step]),
        plugins=[SeedPlugin(seed=seed, auto_seed=False)],
        name=f"bench-noise-{problem.name}",
    )
    optimizer = OptunaOptimizer(
        space_of(problem),
        Objective(METRIC),
        storage=":memory:",  # no sampler: the package's default, seeded with the master seed
        sampler=None if sampler is None else SAMPLERS[sampler](seed),
        noise=noise_settings(**settings),
    )
    winner = experiment.optimize(optimizer, num_trials=budget, replicates_per_trial=1)
    selection = optimizer.selection
    assert selection is not None
    x = np.array([float(winner.params.get(n, c)) for n, c in zip(problem.names, problem.centre, strict=True)])
    executions = selection.executions
    counted = executions["search"] + executions["confirmation"] + executions["holdout"]
    assert step.executions == noisy.evaluations == counted, (step.executions, counted)
    assert noisy.evaluations <= budget, noisy.evaluations
    trials = optimizer.study.get_trials(deepcopy=False)
    stopped = sum(
        1 for t in trials if ((t.user_attrs.get("crystallize") or {}).get("noise") or {}).get("stopped")
    )
    comparison = selection.comparison
    return result(
        noisy,
        x,
        trials=len(trials),
        stopped=stopped,
        deterministic=bool(selection.noise.get("deterministic")),
        search_evals=executions["search"],
        confirmation_evals=executions["confirmation"],
        holdout_evals=executions["holdout"],
        winner=winner.name,
        winner_n=selection.candidates[0]["search_replicates"] if selection.candidates else 0,
        winner_is_new=winner.name.startswith("model-"),
        search_estimate=selection.search_estimate,
        holdout_estimate=math.nan if selection.holdout_estimate is None else selection.holdout_estimate,
        true_value=noisy.true_value(x),
        baseline_true=noisy.true_value(problem.centre),
        baseline=None
        if comparison is None
        else {
            "effect": comparison["effect"],
            "ci_low": comparison["ci_low"],
            "ci_high": comparison["ci_high"],
            "p": comparison["p_value"],
        },
    )


# -- running and reporting ---------------------------------------------------------------------

PLAIN: dict[str, Callable[..., dict[str, Any]]] = {
    "tpe_1x300": tpe_1x300,
    "tpe_5x60": tpe_5x60,
    "tpe_top10": tpe_top10,
}
#: The other methods that are not ours (``smac`` needs SMAC3: skipped with a note without it).
OTHERS: dict[str, Callable[..., dict[str, Any]]] = {"wilcoxon": wilcoxon, "smac": smac}
#: ``--methods all``: the six methods of issue 15, side by side.
ALL_METHODS = [*PLAIN, "wilcoxon", "smac", "ours"]


def _parse_value(text: str) -> Any:
    """A NoiseHandling field value from the command line: none, true/false, int, float or str."""
    lowered = text.strip().lower()
    if lowered == "none":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def method_settings(name: str) -> dict[str, Any]:
    """The NoiseHandling fields of an ours method: ``ours``, ``ours:NAME`` (``VARIANTS``) or
    ``ours:field=value;field=value``.

    Raises:
        KeyError: for a method that is not ours, an unknown variant or an unknown field.
        crystallize_opt.ConfigurationError: for a value NoiseHandling refuses.
    """
    if name == "ours":
        return {}
    if not name.startswith("ours:"):
        raise KeyError(name)
    spec = name[5:]
    if spec in VARIANTS:
        return dict(VARIANTS[spec])
    fields = {f.name for f in dataclasses.fields(NoiseHandling)}
    out: dict[str, Any] = {}
    for item in spec.split(";"):
        key, _, value = item.partition("=")
        if key.strip() == "sampler":
            if value.strip() not in SAMPLERS:
                raise KeyError(f"unknown sampler {value!r}; known: {sorted(SAMPLERS)}")
            out["sampler"] = value.strip()
            continue
        if key.strip() not in fields:
            raise KeyError(f"{key!r} is not a NoiseHandling field; known: {sorted(fields)}")
        out[key.strip()] = _parse_value(value)
    noise_settings(**{k: v for k, v in out.items() if k != "sampler"})  # validated now, not in a worker
    return out


def run_one(task: tuple[str, str, int, int, float]) -> tuple[tuple[str, str, int], dict[str, Any]]:
    """Run one (cell name, method, seed, budget, default rho) task; return its key and record.
    The cell's own rho, where it has one, overrides the run's ``--rho``."""
    name, method, seed, budget, default_rho = task
    cell = SUITE[name]
    rho = default_rho if cell.rho is None else cell.rho
    problem = get_problem(cell.problem)
    started = time.perf_counter()
    if method in PLAIN:
        out = PLAIN[method](problem, cell.sd, seed, budget, rho, cell.shape)
    elif method in OTHERS:
        out = OTHERS[method](problem, cell.sd, seed, budget, rho, cell.shape)
    else:
        out = ours(problem, cell.sd, seed, budget, rho, cell.shape, **method_settings(method))
    out["seconds"] = time.perf_counter() - started
    return (name, method, seed), out


def iqr(values: np.ndarray) -> str:
    """The interquartile range of ``values`` as ``q1-q3``."""
    q1, q3 = np.percentile(values, [25, 75])
    return f"{q1:.3g}-{q3:.3g}"


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``a - b`` (paired by seed); 1 if all equal."""
    d = np.asarray(a) - np.asarray(b)
    if np.all(d == 0):
        return 1.0
    return float(scipy.stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """``rows`` under ``header`` as an aligned Markdown table."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join(
        [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *[line(r) for r in rows]]
    )


def git_state() -> str:
    """The short HEAD commit, marked when the working tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        return head + (" (uncommitted changes)" if dirty else "")
    except Exception:
        return "unknown"


def wilcoxon_one_sided(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
    """One-sided Wilcoxon signed-rank p-value of ``a - b`` (paired by seed): ``less`` tests that
    ``a`` is lower; 1 if all differences are 0."""
    d = np.asarray(a) - np.asarray(b)
    if np.all(d == 0):
        return 1.0
    return float(scipy.stats.wilcoxon(d, zero_method="wilcox", alternative=alternative).pvalue)


def set_of(cell: Cell) -> str:
    """``tuning`` or ``test``: the set a suite cell belongs to."""
    return "test" if cell in SETS["test"] else "tuning"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (arguments as on the command line) and print its tables; returns 0."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 2 cells, 3 seeds, budget 100")
    parser.add_argument("--seeds", type=int, default=None, help="optimizer seeds per cell (default 200)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None, help="pipeline executions per run (default 300)")
    parser.add_argument(
        "--set",
        choices=sorted(SETS),
        default=None,
        help="a set of cells: issue (the original 9, the default), tuning or test",
    )
    parser.add_argument("--cells", default=None, help="comma-separated, e.g. hartmann3/sd=1,branin/sd=51")
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated (or 'all': the six of issue 15); ours variants as ours:NAME or ours:key=v;key=v",
    )
    parser.add_argument(
        "--rho",
        type=float,
        default=0.5,
        help="share of the noise variance shared by all points on a seed (cells without their own rho)",
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--dump", default=None, help="write every run's result as JSON lines to this file, each as it ends"
    )
    parser.add_argument(
        "--cache",
        default=None,
        help="JSON-lines file reusing results of the other methods' identical runs (for research)",
    )
    args = parser.parse_args(argv)

    # 200: with 50 or 100 seeds the paired test lacks power in the heaviest-noise cells (see
    # benchmarks/README.md: the verdicts of 50-seed halves disagree).
    seeds = args.seeds or (3 if args.quick else 200)
    budget = args.budget or (100 if args.quick else 300)
    if args.cells:
        wanted = args.cells.split(",")
        unknown = [w for w in wanted if w not in SUITE]
        if unknown:
            parser.error(f"unknown cell {unknown}; known: {list(SUITE)}")
        cells = [SUITE[w] for w in wanted]
    elif args.set:
        cells = list(SETS[args.set])
    else:
        cells = [SUITE["hartmann3/sd=0"], SUITE["hartmann3/sd=1"]] if args.quick else list(SETS["issue"])
    methods = args.methods.split(",") if args.methods else [*PLAIN, "ours"]
    if methods == ["all"]:
        methods = list(ALL_METHODS)
    for m in methods:
        if m not in PLAIN and m not in OTHERS:
            method_settings(m)
    if "smac" in methods and not smac_available():
        print(
            "note: smac skipped: SMAC3 is not installed (a benchmark-only dependency: pip install 'smac==2.4.*')"
        )
        methods.remove("smac")
    fixed = [m for m in methods if m in PLAIN or m in OTHERS]  # their code does not change

    print("# Noise-aware optimization benchmark")
    print(
        f"date {dt.datetime.now().isoformat(timespec='minutes')}, {platform.machine()} {platform.system()}, "
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, optuna {optuna.__version__}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, git {git_state()}"
    )
    print(
        f"budget {budget} pipeline executions per run (every replicate counts); {seeds} optimizer seeds per cell "
        f"(seed s = TPESampler seed = problem noise seed); noise rho={args.rho:g} for cells without their own "
        f"(share of the variance shared by all points on a replicate seed); baseline = domain centre"
    )
    print(
        f"ours: crystallize_opt {co.__version__}, {noise_settings()}; default search (default_sampler(s, "
        f"noise_aware=True, space), PyTorch {'installed' if importlib.util.find_spec('torch') else 'missing'}): "
        f"{default_search(False)} on a continuous space of fewer than {CMA_SEARCH_PARAMS} numbers, "
        f"{default_search(False, CMA_SEARCH_PARAMS)} of {CMA_SEARCH_PARAMS} or more, "
        f"{default_search(True)} with a categorical parameter"
    )
    for m in methods:
        if m.startswith("ours:"):
            print(f"{m}: {method_settings(m)}")
    print()

    seed_list = [args.first_seed + i for i in range(seeds)]
    tasks = [[c.name, m, s, budget, args.rho] for c in cells for s in seed_list for m in methods]
    started = time.perf_counter()
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    cached: dict[str, dict[str, Any]] = {}
    if args.cache and Path(args.cache).exists():
        for line in Path(args.cache).read_text().splitlines():
            item = json.loads(line)
            cached[item["task"]] = item["result"]
    todo = []
    for task in tasks:
        key = json.dumps([*task, SEED_SCHEME])
        if task[1] in fixed and key in cached:  # ours changes while it is designed
            results[(task[0], task[1], task[2])] = cached[key]
        else:
            todo.append(task)
    tasks = todo
    cache_file = open(args.cache, "a") if args.cache else None  # noqa: SIM115
    # Each run's record is written as it ends, so a run cut short keeps what it measured.
    dump_file = open(args.dump, "w") if args.dump else None  # noqa: SIM115

    def dump(task_key: tuple[str, str, int], out: dict[str, Any]) -> None:
        if dump_file is not None:
            record = {"cell": task_key[0], "set": set_of(SUITE[task_key[0]]), "method": task_key[1]}
            dump_file.write(json.dumps({**record, "seed": task_key[2], **out}, default=float) + "\n")
            dump_file.flush()

    for task_key, out in sorted(results.items()):  # taken from the cache
        dump(task_key, out)

    def store(task_key: tuple[str, str, int], out: dict[str, Any]) -> None:
        """Keep one run's record, dump it (and append another method's to the cache)."""
        results[task_key] = out
        dump(task_key, out)
        if cache_file is not None and task_key[1] in fixed:
            full = [*task_key, budget, args.rho, SEED_SCHEME]
            cache_file.write(json.dumps({"task": json.dumps(full), "result": out}, default=float) + "\n")
            cache_file.flush()

    def progress(done: int) -> None:
        if done % 20 == 0 or done == len(tasks):
            print(
                f"  {done}/{len(tasks)} runs, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    if args.processes > 1:
        with mp.get_context("fork").Pool(args.processes) as pool:
            for done, (key, out) in enumerate(pool.imap_unordered(run_one, tasks, chunksize=1), 1):
                store(key, out)
                progress(done)
    else:
        for done, task in enumerate(tasks, 1):
            key, out = run_one(task)  # type: ignore[arg-type]
            store(key, out)
            progress(done)
    elapsed = time.perf_counter() - started
    if dump_file is not None:
        dump_file.close()

    ours_methods = [m for m in methods if m not in fixed]
    other_methods = [m for m in methods if m in fixed]
    plain_methods = [m for m in methods if m in PLAIN]
    summary_rows = []
    for cell in cells:
        inf = {m: np.array([results[(cell.name, m, s)]["inference"] for s in seed_list]) for m in methods}
        sea = {m: np.array([results[(cell.name, m, s)]["search"] for s in seed_list]) for m in methods}
        header = ["method", "median inference regret", "IQR", "median search regret", "IQR", "evals", "s/run"]
        header += [f"p vs {m}" for m in ours_methods]
        rows = []
        for m in methods:
            ev = np.mean([results[(cell.name, m, s)]["evals"] for s in seed_list])
            secs = np.mean([results[(cell.name, m, s)]["seconds"] for s in seed_list])
            row = [
                m,
                f"{np.median(inf[m]):.4g}",
                iqr(inf[m]),
                f"{np.median(sea[m]):.4g}",
                iqr(sea[m]),
                f"{ev:.0f}",
                f"{secs:.2f}",
            ]
            row += ["" if m == o else f"{wilcoxon_p(inf[o], inf[m]):.2g}" for o in ours_methods]
            rows.append(row)
        print(f"## {cell.name} ({set_of(cell)} set)")
        print()
        print(markdown_table(header, rows))
        print()
        for o in ours_methods:
            outs = [results[(cell.name, o, s)] for s in seed_list]
            se = np.array([r["search_estimate"] - r["true_value"] for r in outs])
            he = np.array([r["holdout_estimate"] - r["true_value"] for r in outs])
            base = [r["baseline"] for r in outs if r["baseline"] is not None]
            sig = sum(1 for b in base if b["p"] < 0.05 and b["effect"] < 0)
            cover = sum(
                1
                for r in outs
                if r["baseline"]
                and r["baseline"]["ci_low"]
                <= r["true_value"] - r["baseline_true"]
                <= r["baseline"]["ci_high"]
            )
            stopped = np.mean([r["stopped"] / max(1, r["trials"]) for r in outs])
            print(
                f"{o}: trials {np.mean([r['trials'] for r in outs]):.0f}, stopped early {stopped:.0%}; winner's "
                f"replicates (search) median {np.median([r['winner_n'] for r in outs]):.0f}; estimate minus true value: "
                f"search estimate mean {se.mean():+.3g}, held-out estimate mean {he.mean():+.3g} (sd {he.std():.3g}); "
                + (
                    f"beats the baseline (paired t, p<0.05) in {sig}/{len(base)} runs, median effect "
                    f"{np.median([b['effect'] for b in base]):.3g}, its 95% CI covers the true effect in {cover}/{len(base)}"
                    if base
                    else "no baseline test (deterministic: one held-out seed each)"
                )
            )
        print()
        if not ours_methods or not other_methods:
            continue
        o = ours_methods[0]
        best = min(other_methods, key=lambda m: np.median(inf[m]))
        ratio = np.median(inf[o]) / np.median(inf[best]) if np.median(inf[best]) > 0 else math.nan
        if cell.sd == 0 and cell.shape != "real":
            ref = "tpe_1x300" if "tpe_1x300" in inf else best
            ok = bool(np.median(inf[o]) <= 1.1 * np.median(inf[ref]))
            bar = f"median <= 1.1 x {ref}: {np.median(inf[o]):.4g} vs {1.1 * np.median(inf[ref]):.4g}"
            better = "n/a (no noise)"
        else:
            worse = {m: wilcoxon_one_sided(inf[o], inf[m], "greater") for m in other_methods}
            ok = all(p >= 0.05 for p in worse.values())
            bar = "never significantly worse (one-sided p ours > m): " + ", ".join(
                f"{m} {p:.2g}" for m, p in worse.items()
            )
            lower = {m: wilcoxon_one_sided(inf[o], inf[m], "less") for m in plain_methods}
            better = (
                ", ".join(f"{m} {'yes' if p < 0.05 else 'no'} (p={p:.2g})" for m, p in lower.items())
                if lower
                else "n/a"
            )
        summary_rows.append(
            [cell.name, set_of(cell), "PASS" if ok else "FAIL", f"{ratio:.2f} x {best}", better, bar]
        )
    if summary_rows:
        print(f"## Summary ({ours_methods[0]})")
        print()
        print(
            markdown_table(
                [
                    "cell",
                    "set",
                    "bar",
                    "median / best other's",
                    "significantly better than each plain recipe (one-sided p<0.05)",
                    "detail",
                ],
                summary_rows,
            )
        )
        passed = sum(1 for r in summary_rows if r[2] == "PASS")
        print()
        print(
            f"**Bar (issue 15: no cell where {ours_methods[0]} is significantly worse than another method; "
            f"noise-free: <= 1.1 x tpe_1x300): {passed} of {len(summary_rows)} cells PASS.** "
            f"Wall time {elapsed:.0f} s with {args.processes} processes."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
