# ruff: noqa: E402  (BLAS threads are limited before numpy is imported)
"""Learning-curve pruning on real training: regret of the returned configuration against epochs.

One command; prints how it measured, a table per set and a PASS/FAIL line per bar (never fails):

    python benchmarks/bench_curve_pruning.py --set tuning      # all variants of ours, tuning problems
    python benchmarks/bench_curve_pruning.py --set test        # the chosen default, test problems
    python benchmarks/bench_curve_pruning.py --quick           # smoke run: 1 problem, 2 seeds, small budget

Problems (``_curve_problems.py``): classifiers trained epoch by epoch on datasets scikit-learn
ships (SGD logistic regression, scikit-learn's MLP, a PyTorch MLP on CPU); a replicate's seed
draws the train/validation split, the example order and the initialisation. The value is the
validation error after each epoch; the objective is the error after the last epoch.

Methods (all with ``TPESampler(seed=s)``, optimizer seed ``s``; the package's master seed is
``s``, so replicate ``r`` trains on seed ``replicate_seed(s, r)`` in every method; results before
2026-12-07 used the package's earlier replicate seeds, ``derive_seed(s, r)``):

* ``noprune_r3``: the package, 3 replicates per trial, every trial trained for all epochs.
* ``single_hyperband``: plain Optuna, one evaluation per trial (on seed ``replicate_seed(s, 0)``,
  the seed a one-replicate trial of the package gets), ``trial.report`` every epoch,
  ``HyperbandPruner(min_resource=1, max_resource=EPOCHS, reduction_factor=3)``.
  (ours: ``max_resource=3 * EPOCHS``, the package's step ``r * EPOCHS + e``)
* ``single_noprune``: plain Optuna, one evaluation per trial, no pruning (a reference).
* ``ours_<mode>_<pruner>``: the package, 3 replicates per trial, ``ctx.report(error, step=epoch)``
  every epoch, ``curve_pruning=<mode>`` (``paired`` or ``pooled``) with Optuna's
  ``HyperbandPruner`` (as above) or ``MedianPruner(n_startup_trials=5, n_warmup_steps=2)``.
* ``noise_<pruner>[:field=value;...]``: the package's noise-aware mode (``NoiseHandling()``, or
  the fields given), one replicate per search trial, pruned on its curve by ``<pruner>`` over
  one replicate's epochs (``max_resource=EPOCHS``; ``none``: no pruner). Its winner is the
  package's own choice (model, confirmation on fresh seeds), not the best told value; the
  epochs of its confirmation and held-out runs count. The budget of executions it is given is
  the largest (found by rerunning, each run deterministic) whose run trains at most ``b``
  epochs in all; it is scored at each ``b`` separately.
* Single-evaluation Hyperband runs on a fixed study name: Optuna's Hyperband assigns a trial
  its bracket by a hash of the study name and trial number, and with Optuna's random default
  name every run was another draw (the tables of earlier sessions have that noise).

Every method runs until it has spent the budget ``B`` = (trials of noprune_r3) x 3 x EPOCHS
epochs (every epoch of every replicate counts, pruned ones included). The configuration a
method returns after ``b`` epochs is its best completed trial (lowest told value) among the
trials finished within ``b``; regret = its true value (``_curve_problems.true_values``: mean
last-epoch error over fresh seeds) minus the best true value of the grid.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import dataclasses
import inspect
import json
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import IntDistribution
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _curve_problems as cp

import crystallize_opt as co

R = 3
FRACTIONS = (1 / 9, 1 / 3, 1.0)  # budgets at which the returned configuration is scored
TUNING_SEEDS = tuple(range(0, 6))
TEST_SEEDS = tuple(range(100, 110))
DEFAULT_OURS = "ours_pooled_hyperband"  # chosen on the tuning set (README, "Learning-curve pruning")


def hyperband(replicates: int = R) -> optuna.pruners.BasePruner:
    """Hyperband over the epochs a trial trains: the package numbers replicate r's epoch e as
    Optuna step r * EPOCHS + e, so a trial's resource is replicates x EPOCHS."""
    return optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=replicates * cp.EPOCHS, reduction_factor=3
    )


def median() -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)


PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {"hyperband": hyperband, "median": median}
#: The same pruners over one replicate's epochs (the noise-aware search runs one per trial).
PRUNERS_ONE: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "hyperband": lambda: hyperband(1),
    "median": median,
}


@dataclasses.dataclass
class Run:
    """What one method did on one (problem, seed): its trials in order."""

    trials: list[tuple[int, float | None, cp.Config]]  # (epochs spent, told value or None, config)


class Ledger:
    """Epochs spent per trial (by the trial's condition name in the package, its number in Optuna)."""

    def __init__(self) -> None:
        self.epochs: dict[str, int] = defaultdict(int)

    @property
    def total(self) -> int:
        return sum(self.epochs.values())


def space(problem: cp.Problem) -> dict[str, IntDistribution]:
    return {name: IntDistribution(lo, hi) for name, (lo, hi) in problem.space.items()}


# --- the package -------------------------------------------------------------------------------


def _training_experiment(
    problem: cp.Problem, seed: int, ledger: Ledger, name: str, *, report: bool
) -> co.Experiment:
    """The experiment every package method runs: a replicate trains ``problem``'s configuration
    on its seed (for real once per (configuration, seed), memoized), the ``ledger`` charged every
    epoch; with ``report``, each epoch's error reaches the pruner (``ctx.report``). The baseline
    (no configuration) fails before training. ``name`` is the experiment's, so its study's
    (Hyperband's brackets depend on it)."""

    @co.data_source
    def replicate_seed(ctx: co.FrozenContext) -> int:
        return int(ctx["seed_used"])

    @co.pipeline_step
    def train(data: int, ctx: co.FrozenContext) -> None:
        config = problem.config_of({k: ctx[k] for k in problem.space})
        curve = cp.curve(problem.name, config, data)
        condition = str(ctx["condition"])
        for epoch, value in enumerate(curve, start=1):
            ledger.epochs[condition] += 1
            if report:
                ctx.report(value, step=epoch)  # type: ignore[attr-defined]
        ctx.metrics.add("error", curve[-1])

    return co.Experiment(
        datasource=replicate_seed(),
        pipeline=co.Pipeline([train()]),
        plugins=[co.SeedPlugin(seed=seed)],
        name=name,
    )


def _package_run(problem: cp.Problem, seed: int, budget: int, pruner: str | None, mode: str | None) -> Run:
    ledger = Ledger()
    curve_pruning = pruner is not None
    experiment = _training_experiment(
        problem, seed, ledger, f"bench-curve-{problem.name}", report=curve_pruning
    )
    kwargs: dict[str, Any] = {}
    optimizer_kwargs: dict[str, Any] = {}
    if curve_pruning:
        assert pruner is not None and mode is not None
        accepts = inspect.signature(co.Experiment.optimize).parameters
        if "pruner" in accepts:
            kwargs["pruner"] = PRUNERS[pruner]()
        else:
            optimizer_kwargs["pruner"] = PRUNERS[pruner]()
        if "curve_pruning" in accepts:
            kwargs["curve_pruning"] = mode
        else:
            optimizer_kwargs["curve_pruning"] = mode
    optimizer = co.OptunaOptimizer(
        space(problem),
        co.Objective("error"),
        sampler=optuna.samplers.TPESampler(seed=seed),
        storage=":memory:",
        **optimizer_kwargs,
    )
    target = 0
    while ledger.total < budget:
        target += 10
        experiment.optimize(optimizer, num_trials=target, replicates_per_trial=R, **kwargs)
    trials = []
    for t in optimizer.study.get_trials(deepcopy=False):
        value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        trials.append((ledger.epochs.get(f"trial-{t.number}", 0), value, problem.config_of(t.params)))
    return Run(trials)


def noise_settings(method: str) -> tuple[str | None, co.NoiseHandling]:
    """``noise_<pruner>[:field=value;...]``: the pruner (None for ``none``) and the
    :class:`NoiseHandling` (its defaults, or the fields given)."""
    name, _, fields = method.partition(":")
    pruner = name.split("_", 1)[1]
    settings: dict[str, Any] = {}
    for item in filter(None, fields.split(";")):
        key, _, value = item.partition("=")
        settings[key] = int(value) if value.lstrip("-").isdigit() else float(value)
    return (None if pruner == "none" else pruner), co.NoiseHandling(**settings)


def _noise_once(
    problem: cp.Problem, seed: int, executions: int, pruner: str | None, settings: co.NoiseHandling
) -> tuple[cp.Config, int]:
    """The package's noise-aware mode on a budget of ``executions`` (one replicate per search
    trial, confirmation and held-out runs as its defaults plan them); the winner and the epochs
    every execution trained (confirmation and held-out ones included)."""
    ledger = Ledger()
    experiment = _training_experiment(problem, seed, ledger, f"bench-curve-noise-{problem.name}", report=True)
    optimizer = co.OptunaOptimizer(
        space(problem),
        co.Objective("error"),
        sampler=optuna.samplers.TPESampler(seed=seed),
        storage=":memory:",
        noise=settings,
        pruner=None if pruner is None else PRUNERS_ONE[pruner](),
    )
    best = experiment.optimize(optimizer, num_trials=executions, replicates_per_trial=1)
    return problem.config_of(best.params), ledger.total


def noise_run(
    problem: cp.Problem, seed: int, epochs: float, pruner: str | None, settings: co.NoiseHandling
) -> tuple[cp.Config, int]:
    """The noise-aware mode's winner with the largest budget of executions that trains at most
    ``epochs`` epochs in all (found by rerunning with budgets scaled by the epochs the last run
    trained; a run is deterministic in its budget, and training is memoized)."""
    executions = max(8, int(epochs // cp.EPOCHS))
    best: tuple[int, cp.Config, int] | None = None
    tried: set[int] = set()
    for _ in range(5):
        tried.add(executions)
        config, spent = _noise_once(problem, seed, executions, pruner, settings)
        if spent <= epochs and (best is None or executions > best[0]):
            best = (executions, config, spent)
        scaled = int(executions * epochs / max(spent, 1))
        if spent > epochs:
            scaled = min(scaled, executions - 1)
        elif scaled <= executions:
            break
        if scaled in tried or scaled < 8:
            break
        executions = scaled
    if best is None:  # even 8 executions trained more than ``epochs``
        return config, spent
    return best[1], best[2]


# --- plain Optuna, one evaluation per trial ---------------------------------------------------


def _single_run(problem: cp.Problem, seed: int, budget: int, prune: bool) -> Run:
    ledger = Ledger()
    train_seed = co.replicate_seed(seed, 0)

    def objective(trial: optuna.Trial) -> float:
        params = {name: trial.suggest_int(name, lo, hi) for name, (lo, hi) in problem.space.items()}
        curve = cp.curve(problem.name, problem.config_of(params), train_seed)
        for epoch, value in enumerate(curve, start=1):
            ledger.epochs[str(trial.number)] += 1
            if prune:
                trial.report(value, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return curve[-1]

    def stop(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        if ledger.total >= budget:
            study.stop()

    study = optuna.create_study(
        # A fixed name: Hyperband assigns brackets by a hash of the study's name and the trial
        # number, so Optuna's default (a random name) would make every run another draw.
        study_name=f"bench-curve-single-{problem.name}-{seed}",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=hyperband(1) if prune else optuna.pruners.NopPruner(),
    )
    study.optimize(objective, callbacks=[stop])
    trials = []
    for t in study.get_trials(deepcopy=False):
        value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        trials.append((ledger.epochs.get(str(t.number), 0), value, problem.config_of(t.params)))
    return Run(trials)


def method_runner(method: str) -> Callable[[cp.Problem, int, int], Run]:
    if method == "noprune_r3":
        return lambda p, s, b: _package_run(p, s, b, None, None)
    if method == "single_hyperband":
        return lambda p, s, b: _single_run(p, s, b, prune=True)
    if method == "single_noprune":
        return lambda p, s, b: _single_run(p, s, b, prune=False)
    _, mode, pruner = method.split("_")
    return lambda p, s, b: _package_run(p, s, b, pruner, mode)


OURS = [f"ours_{m}_{p}" for m in ("paired", "pooled") for p in PRUNERS]


def returned_at(run: Run, epochs: float) -> cp.Config | None:
    """The best completed trial's configuration among those finished within ``epochs``."""
    spent, best, config = 0, None, None
    for used, value, cfg in run.trials:
        spent += used
        if spent > epochs:
            break
        if value is not None and (best is None or value < best):
            best, config = value, cfg
    return config


def regret(truth: dict[cp.Config, float], config: cp.Config | None) -> float:
    """Regret of ``config``; with no completed trial yet, that of a median configuration."""
    optimum = min(truth.values())
    value = truth[config] if config is not None else float(np.median(list(truth.values())))
    return value - optimum


def wilcoxon_less(a: Sequence[float], b: Sequence[float]) -> float:
    """One-sided paired Wilcoxon p-value for "a is smaller than b" (1.0 when all pairs tie)."""
    d = np.asarray(a) - np.asarray(b)
    if np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="zsplit", alternative="less").pvalue)


def summary(values: Sequence[float]) -> str:
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{100 * q2:.2f} [{100 * q1:.2f}, {100 * q3:.2f}]"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=["tuning", "test"], default="test")
    parser.add_argument("--quick", action="store_true", help="1 problem, 2 seeds, 9 trials of noprune_r3")
    parser.add_argument("--problems", help="comma-separated problem names (default: the set's)")
    parser.add_argument("--seeds", type=int, help="number of optimizer seeds (default: 6 tuning, 10 test)")
    parser.add_argument("--trials", type=int, default=24, help="trials of noprune_r3; sets the budget")
    parser.add_argument(
        "--methods",
        help="comma-separated methods (default: the references, all ours on tuning or the default on "
        "test, and noise_hyperband)",
    )
    parser.add_argument("--dump", help="write every run's regret at each budget to this JSON-lines file")
    args = parser.parse_args(argv)
    logging.getLogger("crystallize_opt").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    names = (
        args.problems.split(",") if args.problems else list(cp.TUNING if args.set == "tuning" else cp.TEST)
    )
    seeds = list(TUNING_SEEDS if args.set == "tuning" else TEST_SEEDS)
    if args.seeds:
        seeds = [seeds[0] + i for i in range(args.seeds)]
    trials = args.trials
    if args.quick:
        names, seeds, trials = names[:1], seeds[:2], 9
    ours = OURS if args.set == "tuning" else [DEFAULT_OURS]
    methods = (
        args.methods.split(",")
        if args.methods
        else ["noprune_r3", "single_noprune", "single_hyperband", *ours, "noise_hyperband"]
    )
    budget = trials * R * cp.EPOCHS
    print(
        f"Learning-curve pruning on real training: set {args.set}, problems {names}, optimizer seeds {seeds}"
    )
    print(
        f"budget B = {trials} trials x {R} replicates x {cp.EPOCHS} epochs = {budget} epochs; regret in % error"
    )

    # results[method][fraction] = list over (problem, seed); rows in the same order for every method
    results: dict[str, dict[float, list[float]]] = {m: {f: [] for f in FRACTIONS} for m in methods}
    counts: dict[str, list[int]] = {m: [] for m in methods}
    used: dict[str, dict[float, list[float]]] = {m: {f: [] for f in FRACTIONS} for m in methods}
    started = time.perf_counter()
    for name in names:
        problem = cp.PROBLEMS[name]
        truth = cp.true_values(name)
        noise = cp.noise_summary(name, truth)
        print(
            f"{name}: {problem.describe}; {len(truth)} configurations, optimum {100 * min(truth.values()):.2f}%, "
            f"between-seed sd {100 * noise['noise_sd']:.2f}% vs spread of the 10 best {100 * noise['top10_spread']:.2f}%"
            f" (ratio {noise['ratio']:.1f})",
            flush=True,
        )
        for seed in seeds:
            cp.curve.cache_clear()
            for method in methods:
                if method.startswith("noise_"):
                    pruner, settings = noise_settings(method)
                    for f in FRACTIONS:
                        config, spent = noise_run(problem, seed, f * budget, pruner, settings)
                        results[method][f].append(regret(truth, config))
                        used[method][f].append(spent / budget)
                    counts[method].append(0)
                    continue
                run = method_runner(method)(problem, seed, budget)
                counts[method].append(len(run.trials))
                for f in FRACTIONS:
                    results[method][f].append(regret(truth, returned_at(run, f * budget)))
            print(f"  seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)

    print()
    header = f"{'method':24} {'trials':>7}" + "".join(
        f" {'regret at B*' + f'{f:.2g}':>24}" for f in FRACTIONS
    )
    print(header)
    for method in methods:
        row = f"{method:24} {np.median(counts[method]):7.0f}"
        row += "".join(f" {summary(results[method][f]):>24}" for f in FRACTIONS)
        print(row)
    print("(median [IQR] over problems x seeds, regret in percentage points of validation error)")
    print()
    print("median regret per problem, at " + ", ".join(f"B*{f:.2g}" for f in FRACTIONS))
    print(f"{'method':24}" + "".join(f" {name:>22}" for name in names))
    for method in methods:
        cells = []
        for i in range(len(names)):
            rows = slice(i * len(seeds), (i + 1) * len(seeds))
            cells.append(" / ".join(f"{100 * np.median(results[method][f][rows]):.2f}" for f in FRACTIONS))
        print(f"{method:24}" + "".join(f" {cell:>22}" for cell in cells))
    if args.dump:
        with open(args.dump, "w") as out:
            for method in methods:
                for f in FRACTIONS:
                    for row, value in enumerate(results[method][f]):
                        problem, seed = names[row // len(seeds)], seeds[row % len(seeds)]
                        item = {
                            "method": method,
                            "problem": problem,
                            "seed": seed,
                            "fraction": f,
                            "regret": value,
                        }
                        out.write(json.dumps(item) + "\n")
    for method in [m for m in methods if m.startswith("noise_")]:
        spent = ", ".join(f"B*{f:.2g}: {np.median(used[method][f]):.2f}B" for f in FRACTIONS)
        print(f"{method}: epochs trained (median, incl. confirmation and held-out runs) {spent}")
    print()
    third, full = FRACTIONS[1], FRACTIONS[2]
    for method in [m for m in methods if m.startswith(("ours", "noise_"))]:
        if "noprune_r3" in results:
            ours_third, base = results[method][third], results["noprune_r3"][full]
            worse = wilcoxon_less(base, ours_third)
            ok = np.median(ours_third) <= np.median(base) and worse >= 0.05
            print(
                f"bar 1 {method}: regret at B/3 {summary(ours_third)} vs noprune_r3 at B {summary(base)}; "
                f"p(ours worse) = {worse:.3f} -> {'PASS' if ok else 'FAIL'}"
            )
        if "single_hyperband" in results:
            for f in (third, full):
                mine, theirs = results[method][f], results["single_hyperband"][f]
                better = wilcoxon_less(mine, theirs)
                ok = np.median(mine) <= np.median(theirs) and better < 0.05
                print(
                    f"bar 2 {method} vs single_hyperband at B*{f:.2g}: {summary(mine)} vs {summary(theirs)}; "
                    f"p(ours better) = {better:.3f} -> {'PASS' if ok else 'FAIL'}"
                )
    print(f"total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
