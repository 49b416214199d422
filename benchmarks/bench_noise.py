# ruff: noqa: E402  (BLAS threads are limited before numpy is imported)
"""Noise-aware optimization: which returned Treatment is really best, under seeded noise?

One command; prints how it measured, one table per cell and a PASS/FAIL summary (never fails):

    python benchmarks/bench_noise.py                 # full run: 9 cells x 4 methods x 50 seeds, 2 processes
    python benchmarks/bench_noise.py --quick         # CI smoke run: 2 cells, 3 seeds, budget 100
    python benchmarks/bench_noise.py --seeds 50 --cells hartmann3/sd=1 --methods tpe_1x300,ours

Problems, noise model and seed ranges: see ``_noise_problems.py``. Every method gets the same
budget of pipeline executions (every replicate counts, including confirmation and held-out
evaluations, and the baseline's) and the same noise (same problem seed). Per run we record

* inference regret: true (noiseless) value of the point the method returns, minus the optimum;
* search regret: best true value among the points the method evaluated, minus the optimum.

Methods (plain Optuna = ``TPESampler(seed=s)`` with Optuna 5 defaults, in-memory study, ask/tell):

* ``tpe_1x300``: one evaluation per trial (seed 0), budget trials, best observed value.
* ``tpe_5x60``: five seeds (0-4) per trial, budget/5 trials, best observed mean.
* ``tpe_top10``: budget-50 trials x 1 (seed 0), then its 10 best observed points re-evaluated on
  5 fresh seeds (1-5, common to the 10); the best mean of those 5 re-evaluations is returned.
* ``ours``: see :func:`ours` and ``OURS_DEFAULTS`` (racing, intensification, model-based
  confirmation, held-out estimate and baseline test); named variants in ``VARIANTS``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # 2 processes on 2 shared cores: no BLAS threads on top

import argparse
import datetime as dt
import json
import math
import multiprocessing as mp
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import scipy.linalg
import scipy.optimize
import scipy.stats
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _noise_problems import (
    CELLS,
    CONFIRM_BASE,
    HOLDOUT_BASE,
    PROBLEMS,
    NoisyProblem,
    Problem,
    cell_name,
)

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def space_of(problem: Problem) -> dict[str, FloatDistribution]:
    return {
        n: FloatDistribution(lo, hi)
        for n, lo, hi in zip(problem.names, problem.low, problem.high, strict=True)
    }


def x_of(problem: Problem, params: dict[str, float]) -> np.ndarray:
    return np.array([params[n] for n in problem.names], dtype=float)


def new_study(seed: int, pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    return optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)


def result(noisy: NoisyProblem, x: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {
        "inference": noisy.regret(x),
        "search": noisy.search_regret(),
        "evals": noisy.evaluations,
        **extra,
    }


# -- the plain recipes -------------------------------------------------------------------------


def tpe_1x300(problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5) -> dict[str, Any]:
    noisy = NoisyProblem(problem, sd, seed, rho)
    study = new_study(seed)
    space = space_of(problem)
    for _ in range(budget):
        trial = study.ask(space)
        study.tell(trial, noisy.evaluate(x_of(problem, trial.params), 0))
    return result(noisy, x_of(problem, study.best_trial.params))


def tpe_5x60(problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5) -> dict[str, Any]:
    noisy = NoisyProblem(problem, sd, seed, rho)
    study = new_study(seed)
    space = space_of(problem)
    for _ in range(budget // 5):
        trial = study.ask(space)
        x = x_of(problem, trial.params)
        study.tell(trial, float(np.mean([noisy.evaluate(x, r) for r in range(5)])))
    return result(noisy, x_of(problem, study.best_trial.params))


def tpe_top10(problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5) -> dict[str, Any]:
    noisy = NoisyProblem(problem, sd, seed, rho)
    study = new_study(seed)
    space = space_of(problem)
    top, reevals = 10, 5
    for _ in range(budget - top * reevals):
        trial = study.ask(space)
        study.tell(trial, noisy.evaluate(x_of(problem, trial.params), 0))
    best = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.value)[:top]
    means = [
        np.mean([noisy.evaluate(x_of(problem, t.params), r) for r in range(1, 1 + reevals)]) for t in best
    ]
    return result(noisy, x_of(problem, best[int(np.argmin(means))].params))


# -- a small Gaussian process: the model that pools neighbouring trials ----------------------


class GP:
    """GP regression with a Matern-5/2 ARD kernel on the unit cube, a random effect per replicate
    seed (what every point shares on that seed) and white noise; hyperparameters by maximum a
    posteriori (weak log-normal prior on length scales), L-BFGS-B with analytic gradients."""

    SQRT5 = math.sqrt(5.0)

    def __init__(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray):
        self.X = np.asarray(X, float)
        self.n, self.d = self.X.shape
        y = np.asarray(y, float)
        self.ym = float(y.mean())
        self.ys = float(y.std()) or 1.0
        self.t = (y - self.ym) / self.ys
        self.D2 = (self.X[:, None, :] - self.X[None, :, :]) ** 2
        self.B = (np.asarray(groups)[:, None] == np.asarray(groups)[None, :]).astype(float)
        self.theta: np.ndarray | None = None

    def _matern(self, D2: np.ndarray, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.sqrt(np.maximum((D2 / ls**2).sum(-1), 1e-300))
        e = np.exp(-self.SQRT5 * r)
        return (1 + self.SQRT5 * r + 5.0 / 3.0 * r**2) * e, 5.0 / 3.0 * (1 + self.SQRT5 * r) * e

    def _objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = self.d
        ls = np.exp(theta[:d])
        sf, sb, sn = np.exp(theta[d:])
        M, G = self._matern(self.D2, ls)
        K = sf * M + sb * self.B + (sn + 1e-8) * np.eye(self.n)
        try:
            c = scipy.linalg.cho_factor(K, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = scipy.linalg.cho_solve(c, self.t, check_finite=False)
        Kinv = scipy.linalg.cho_solve(c, np.eye(self.n), check_finite=False)
        W = np.outer(alpha, alpha) - Kinv
        nll = 0.5 * self.t @ alpha + np.log(np.diag(c[0])).sum()
        grad = np.empty_like(theta)
        SG = sf * G
        for k in range(d):
            grad[k] = -0.5 * np.sum(W * SG * self.D2[:, :, k]) / ls[k] ** 2
        grad[d] = -0.5 * np.sum(W * (sf * M))
        grad[d + 1] = -0.5 * np.sum(W * (sb * self.B))
        grad[d + 2] = -0.5 * sn * np.trace(W)
        # weak prior: log length scale ~ N(log 0.5, 1.5^2)
        prior_mu, prior_sd = math.log(0.5), 1.5
        nll += 0.5 * np.sum(((theta[:d] - prior_mu) / prior_sd) ** 2)
        grad[:d] += (theta[:d] - prior_mu) / prior_sd**2
        return float(nll), grad

    def fit(self, start: np.ndarray | None = None, restarts: int = 2) -> GP:
        """Fit the hyperparameters (from ``restarts`` default starts, or warm from ``start``)."""
        d = self.d
        bounds = [(math.log(0.02), math.log(10.0))] * d + [
            (math.log(1e-3), math.log(20.0)),
            (math.log(1e-6), math.log(10.0)),
            (math.log(1e-4), math.log(10.0)),
        ]
        best = None
        starts = (
            [
                np.array([math.log(ls0)] * d + [0.0, math.log(0.05), math.log(sn0)])
                for ls0, sn0 in ((0.3, 0.5), (1.0, 0.8), (0.1, 0.3), (3.0, 0.95))[:restarts]
            ]
            if start is None
            else [np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds])]
        )
        for x0 in starts:
            res = scipy.optimize.minimize(
                self._objective, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 80}
            )
            if best is None or res.fun < best.fun:
                best = res
        assert best is not None
        self.theta = best.x
        ls = np.exp(self.theta[:d])
        sf, sb, sn = np.exp(self.theta[d:])
        M, _ = self._matern(self.D2, ls)
        K = sf * M + sb * self.B + (sn + 1e-8) * np.eye(self.n)
        self._chol = scipy.linalg.cho_factor(K, lower=True, check_finite=False)
        self._alpha = scipy.linalg.cho_solve(self._chol, self.t, check_finite=False)
        return self

    @property
    def params(self) -> dict[str, Any]:
        assert self.theta is not None
        d = self.d
        return {
            "lengthscales": np.exp(self.theta[:d]).round(3).tolist(),
            "signal_sd": float(math.sqrt(math.exp(self.theta[d])) * self.ys),
            "seed_sd": float(math.sqrt(math.exp(self.theta[d + 1])) * self.ys),
            "noise_sd": float(math.sqrt(math.exp(self.theta[d + 2])) * self.ys),
        }

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and sd of the seed-free response f at ``Xs`` (original y units)."""
        assert self.theta is not None
        d = self.d
        ls = np.exp(self.theta[:d])
        sf = math.exp(self.theta[d])
        Xs = np.atleast_2d(Xs)
        Ks, _ = self._matern((Xs[:, None, :] - self.X[None, :, :]) ** 2, ls)
        Ks = sf * Ks
        mean = Ks @ self._alpha
        v = scipy.linalg.cho_solve(self._chol, Ks.T, check_finite=False)
        var = np.maximum(sf - np.sum(Ks * v.T, axis=1), 1e-12)
        return self.ym + self.ys * mean, self.ys * np.sqrt(var)


# -- ours ------------------------------------------------------------------------------------------

#: The method "ours", as recommended for the package (see research/noise_notes.md for the others).
OURS_DEFAULTS: dict[str, Any] = {
    # search: how many replicates a trial gets
    "start": "incumbent",  # target replicates of a new trial: "incumbent" (as many as it has, capped at r_max) or an int
    "r_max": 3,  # most search replicates one parameter set can earn; "auto": (noise sd / signal sd)^2, 1-5
    "race": "z",  # stop a trial early: "z", "quantile", "wilcoxon" (Optuna's WilcoxonPruner), "median" (Optuna's MedianPruner), "none"
    "z": 2.0,  # race="z": stop when the paired mean difference to the incumbent exceeds z standard errors
    "q": 0.5,  # race="quantile": stop when the running mean is worse than this quantile of other trials' at that step
    "p_threshold": 0.1,  # race="wilcoxon"
    "intensify": True,  # the incumbent earns one more replicate after each challenger that keeps up
    "stopped": "partial",  # what a stopped trial tells Optuna: its "partial" mean, or "pruned"
    # choosing the winner
    "select": "gp",  # rank candidates by "gp" (posterior mean of a GP over every evaluation) or "mean" (pooled mean)
    "candidates": "gpopt",  # "evaluated" parameter sets, or "gpopt": also local minima of the GP mean
    "radius": 0.05,  # candidates="gpopt": search each local minimum within this box (unit-cube units) of a top point
    "min_n": 1,  # select="mean": only parameter sets with at least this many replicates
    "kappa": 0.0,  # rank by posterior mean + kappa * posterior sd
    "gp_restarts": 2,  # starting points of the GP hyperparameter fit (at most 4)
    "confirm_k": 5,  # candidates in the confirmation round (0: none)
    "confirm_m": 8,  # fresh seeds per candidate in the confirmation round
    "final": "gp",  # winner among the confirmed: "gp" (refit with confirmation data) or "confirm" (their mean)
    "holdout": 8,  # held-out seeds for the winner's unbiased estimate and the baseline test (each)
}

#: Named variants tried while designing ours (``--methods ours:NAME``); see research/noise_notes.md.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "aggressive": {"z": 1.0, "r_max": 5},  # best on Branin, worst on Hartmann3 sd 3.86
    "one_replicate": {"start": "1", "race": "none", "intensify": False},  # best search at low noise
    "wilcoxon": {"start": "5", "race": "wilcoxon", "intensify": False},  # Optuna's WilcoxonPruner
    "pruned": {"stopped": "pruned"},  # stopped trials told as PRUNED
    "evaluated": {"candidates": "evaluated"},  # no model minima
    "no_confirm": {"confirm_k": 0},
}


@dataclass
class Entry:
    """Everything measured for one parameter set (the pooling key), whichever trial ran it."""

    x: np.ndarray
    params: dict[str, float]
    values: dict[int, float] = field(default_factory=dict)  # search seed -> value

    @property
    def n(self) -> int:
        return len(self.values)

    def mean(self) -> float:
        return float(np.mean(list(self.values.values())))

    def prefix_mean(self, n: int) -> float:
        return float(np.mean([self.values[r] for r in range(n)]))


def residual_sd(entries: list[Entry]) -> float | None:
    """Per-evaluation noise sd after removing each parameter set's mean and each seed's shared
    offset (two-way additive fit over parameter sets with >= 2 replicates); None if too few df."""
    rows = [e for e in entries if e.n >= 2]
    cells = [(i, r, v) for i, e in enumerate(rows) for r, v in e.values.items()]
    seeds = sorted({r for _, r, _ in cells})
    df = len(cells) - len(rows) - len(seeds) + 1
    if df < 3:
        return None
    seed_index = {r: j for j, r in enumerate(seeds)}
    ii = np.array([i for i, _, _ in cells])
    jj = np.array([seed_index[r] for _, r, _ in cells])
    vv = np.array([v for _, _, v in cells])
    mu = np.zeros(len(rows))
    b = np.zeros(len(seeds))
    for _ in range(20):
        mu = np.bincount(ii, vv - b[jj], len(rows)) / np.bincount(ii, minlength=len(rows))
        b = np.bincount(jj, vv - mu[ii], len(seeds)) / np.bincount(jj, minlength=len(seeds))
        b -= b.mean()
    res = vv - mu[ii] - b[jj]
    return float(math.sqrt(np.sum(res**2) / df))


def paired_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Paired comparison of a and b (same seeds): mean difference a-b, 95% t interval, p-value."""
    d = np.asarray(a) - np.asarray(b)
    n = len(d)
    mean = float(d.mean())
    if n < 2 or float(d.std(ddof=1)) == 0.0:
        return {"effect": mean, "ci_low": mean, "ci_high": mean, "p": 0.0 if mean != 0 else 1.0, "n": n}
    se = float(d.std(ddof=1) / math.sqrt(n))
    q = float(scipy.stats.t.ppf(0.975, n - 1))
    p = float(2 * scipy.stats.t.sf(abs(mean) / se, n - 1))
    return {"effect": mean, "ci_low": mean - q * se, "ci_high": mean + q * se, "p": p, "n": n}


def ours(
    problem: Problem, sd: float, seed: int, budget: int = 300, rho: float = 0.5, **settings: Any
) -> dict[str, Any]:
    """Noise-aware optimization, prototyped with Optuna ask/tell (see OURS_DEFAULTS)."""
    unknown = set(settings) - set(OURS_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    s = {**OURS_DEFAULTS, **settings}
    noisy = NoisyProblem(problem, sd, seed, rho)
    space = space_of(problem)
    lo, hi = np.array(problem.low), np.array(problem.high)
    pruner: optuna.pruners.BasePruner | None = None
    if s["race"] == "wilcoxon":
        pruner = optuna.pruners.WilcoxonPruner(p_threshold=s["p_threshold"])
    elif s["race"] == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    study = new_study(seed, pruner)
    pool: dict[bytes, Entry] = {}
    # confirm_m and holdout are set for a budget of 300; other budgets scale them (at least 2 and 3).
    if budget != 300:
        s["confirm_m"] = max(2, round(s["confirm_m"] * budget / 300))
        s["holdout"] = max(3, round(s["holdout"] * budget / 300))
    # Budget kept for after the search (released if the pipeline turns out deterministic).
    reserve = s["confirm_k"] * s["confirm_m"] + 2 * s["holdout"]
    search_budget = budget - reserve
    deterministic: bool | None = None
    incumbent: Entry | None = None
    sigma_e: float | None = None  # per-evaluation noise sd (after seed offsets)
    first_pair_sd: float | None = None
    stats = {"trials": 0, "stopped": 0, "intensified": 0, "incumbent_changes": 0}

    def entry_for(params: dict[str, float]) -> Entry:
        x = x_of(problem, params)
        key = x.tobytes()
        if key not in pool:
            pool[key] = Entry(x, dict(params))
        return pool[key]

    def run_replicate(entry: Entry, trial: optuna.Trial) -> float:
        r = entry.n  # search seeds 0, 1, 2, ... per parameter set (common to every set)
        value = noisy.evaluate(entry.x, r)
        entry.values[r] = value
        if pruner is not None:
            trial.report(value, step=r)
        return value

    def tell(trial: optuna.Trial, entry: Entry, stopped: bool) -> None:
        stats["trials"] += 1
        if stopped:
            stats["stopped"] += 1
        if stopped and s["stopped"] == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, entry.mean())

    def left() -> int:
        return search_budget - noisy.evaluations

    def should_stop(entry: Entry, trial: optuna.Trial, target: int) -> bool:
        if entry.n >= target:
            return False
        race = s["race"]
        if race == "z":
            assert incumbent is not None
            shared = [r for r in entry.values if r in incumbent.values]
            if not shared:
                return False
            diff = np.mean([entry.values[r] - incumbent.values[r] for r in shared])
            sd_pair = math.sqrt(2) * sigma_e if sigma_e is not None else (first_pair_sd or math.inf)
            return bool(diff > s["z"] * sd_pair / math.sqrt(len(shared)))
        if race == "quantile":
            n = entry.n
            others = [e.prefix_mean(n) for e in pool.values() if e is not entry and e.n >= n]
            return len(others) >= 5 and entry.prefix_mean(n) > float(np.quantile(others, s["q"]))
        if race in ("wilcoxon", "median"):
            return trial.should_prune()
        return False

    def replicate_cap() -> int:
        """r_max, or with "auto" the replicates that bring the noise sd of a mean down to the spread
        of true values among the trials so far: (sigma_e / signal sd)^2, between 1 and 5."""
        if s["r_max"] != "auto":
            return int(s["r_max"])
        if sigma_e is None or len(pool) < 11:
            return 3
        measured = [e for e in pool.values() if e.n > 0]
        ns = np.array([e.n for e in measured])
        means = np.array([e.mean() for e in measured])
        signal_var = max(float(means.var(ddof=1)) - sigma_e**2 * float(np.mean(1.0 / ns)), 1e-12)
        return int(np.clip(math.ceil(sigma_e**2 / signal_var), 1, 5))

    while left() > 0:
        trial = study.ask(space)
        entry = entry_for(trial.params)
        if deterministic is None:  # first trial: two replicates tell whether there is noise at all
            run_replicate(entry, trial)
            if left() > 0:
                run_replicate(entry, trial)
            deterministic = entry.values[0] == entry.values.get(1, entry.values[0])
            if deterministic:
                search_budget = budget - 2  # the winner and the baseline on one held-out seed each
            else:
                first_pair_sd = abs(entry.values[1] - entry.values[0])
            incumbent = entry
            tell(trial, entry, False)
            continue
        if deterministic:
            run_replicate(entry, trial)
            tell(trial, entry, False)
            continue
        assert incumbent is not None
        if entry is incumbent or entry.n > 0:  # an intensification trial, or TPE proposed known params
            run_replicate(entry, trial)
            tell(trial, entry, False)
            continue
        cap = replicate_cap()
        target = min(incumbent.n, cap) if s["start"] == "incumbent" else int(s["start"])
        stopped = False
        while entry.n < target and left() > 0:
            run_replicate(entry, trial)
            if should_stop(entry, trial, target):
                stopped = True
                break
        kept_up = not stopped and entry.n >= target
        if kept_up:
            shared = [r for r in entry.values if r in incumbent.values]
            if np.mean([entry.values[r] - incumbent.values[r] for r in shared]) < 0:
                incumbent = entry
                stats["incumbent_changes"] += 1
        tell(trial, entry, stopped)
        sigma_e = residual_sd(list(pool.values())) or sigma_e
        if s["intensify"] and (kept_up or incumbent.n < 2) and incumbent.n < max(cap, 2) and left() > 0:
            study.enqueue_trial(incumbent.params)
            stats["intensified"] += 1

    entries = list(pool.values())
    search_evals = noisy.evaluations
    info: dict[str, Any] = {
        "trials": stats["trials"],
        "stopped": stats["stopped"],
        "intensified": stats["intensified"],
        "deterministic": deterministic,
        "search_evals": search_evals,
    }

    def unit(x: np.ndarray) -> np.ndarray:
        return (x - lo) / (hi - lo)

    # -- choosing the winner ---------------------------------------------------------------------
    if deterministic:
        winner = min(entries, key=Entry.mean)
        search_estimate = winner.mean()
    else:
        confirm: dict[bytes, list[float]] = {}

        def fit_gp(extra: dict[bytes, list[float]], start: np.ndarray | None = None) -> GP:
            X, y, g = [], [], []
            for e in entries:
                for r, v in e.values.items():
                    X.append(unit(e.x))
                    y.append(v)
                    g.append(r)
            for key, values in extra.items():
                for j, v in enumerate(values):
                    X.append(unit(pool[key].x))
                    y.append(v)
                    g.append(CONFIRM_BASE + j)
            return GP(np.array(X), np.array(y), np.array(g)).fit(start, s["gp_restarts"])

        gp: GP | None = None
        if s["select"] == "gp":
            gp = fit_gp({})
            mean, sdev = gp.predict(np.array([unit(e.x) for e in entries]))
            score = mean + s["kappa"] * sdev
            info["gp"] = gp.params
            if s["candidates"] == "gpopt":
                g = gp

                def objective(u: np.ndarray) -> float:
                    m, v = g.predict(u[None, :])
                    return float(m[0] + s["kappa"] * v[0])

                found = []
                for i in np.argsort(score)[:5]:
                    u0 = unit(entries[i].x)
                    box = [(max(0.0, u - s["radius"]), min(1.0, u + s["radius"])) for u in u0]
                    res = scipy.optimize.minimize(
                        objective, u0, method="L-BFGS-B", bounds=box, options={"maxiter": 50}
                    )
                    x_new = lo + res.x * (hi - lo)
                    if all(np.max(np.abs(unit(x_new) - unit(e.x))) > 1e-3 for e in entries + found):
                        found.append(Entry(x_new, dict(zip(problem.names, x_new.tolist(), strict=True))))
                if found:
                    for e in found:
                        pool[e.x.tobytes()] = e
                    m_new, v_new = gp.predict(np.array([unit(e.x) for e in found]))
                    entries = entries + found
                    mean = np.concatenate([mean, m_new])
                    score = np.concatenate([score, m_new + s["kappa"] * v_new])
        else:
            eligible = max(1, min(s["min_n"], max(e.n for e in entries)))
            mean = np.array([e.mean() if e.n >= eligible else math.inf for e in entries])
            score = mean
        order = np.argsort(score)
        if s["confirm_k"] > 0:
            top = [entries[i] for i in order[: s["confirm_k"]]]
            for e in top:
                confirm[e.x.tobytes()] = [
                    noisy.evaluate(e.x, CONFIRM_BASE + j) for j in range(s["confirm_m"])
                ]
            if s["final"] == "gp" and gp is not None:
                gp = fit_gp(confirm, gp.theta)
                final_mean, _ = gp.predict(np.array([unit(e.x) for e in top]))
            else:
                final_mean = np.array([np.mean(confirm[e.x.tobytes()]) for e in top])
            best = int(np.argmin(final_mean))
            winner = top[best]
            search_estimate = float(final_mean[best])
        else:
            winner = entries[int(order[0])]
            search_estimate = float(mean[int(order[0])])
        info["winner_is_new"] = winner.n == 0

    # -- held-out estimate and the baseline test -------------------------------------------------
    h = 1 if deterministic else s["holdout"]
    h = min(h, max(0, (budget - noisy.evaluations) // 2))
    holdout = np.array([noisy.evaluate(winner.x, HOLDOUT_BASE + j) for j in range(h)])
    base = np.array([noisy.evaluate(problem.centre, HOLDOUT_BASE + j, candidate=False) for j in range(h)])
    info.update(
        search_estimate=search_estimate,
        holdout_estimate=float(holdout.mean()) if h else math.nan,
        true_value=noisy.true_value(winner.x),
        baseline_true=noisy.true_value(problem.centre),
        baseline=paired_test(holdout, base) if h else None,
        winner_n=winner.n,
    )
    assert noisy.evaluations <= budget, noisy.evaluations
    return result(noisy, winner.x, **info)


# -- running and reporting ---------------------------------------------------------------------

PLAIN: dict[str, Callable[..., dict[str, Any]]] = {
    "tpe_1x300": tpe_1x300,
    "tpe_5x60": tpe_5x60,
    "tpe_top10": tpe_top10,
}


def method_settings(name: str) -> dict[str, Any]:
    if name == "ours":
        return {}
    if name.startswith("ours:"):
        spec = name[5:]
        if spec in VARIANTS:
            return dict(VARIANTS[spec])
        out: dict[str, Any] = {}
        for item in spec.split(";"):
            key, value = item.split("=")
            default = OURS_DEFAULTS[key]
            if value == "auto":
                out[key] = value
                continue
            out[key] = (
                value == "true"
                if isinstance(default, bool)
                else type(default)(value)
                if not isinstance(default, str) or key != "start"
                else value
            )
        return out
    raise KeyError(name)


def run_one(
    task: tuple[str, float, str, int, int, float],
) -> tuple[tuple[str, float, str, int], dict[str, Any]]:
    problem, sd, method, seed, budget, rho = task
    started = time.perf_counter()
    if method in PLAIN:
        out = PLAIN[method](PROBLEMS[problem], sd, seed, budget, rho)
    else:
        out = ours(PROBLEMS[problem], sd, seed, budget, rho, **method_settings(method))
    out["seconds"] = time.perf_counter() - started
    return (problem, sd, method, seed), out


def iqr(values: np.ndarray) -> str:
    q1, q3 = np.percentile(values, [25, 75])
    return f"{q1:.3g}-{q3:.3g}"


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a) - np.asarray(b)
    if np.all(d == 0):
        return 1.0
    return float(scipy.stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join(
        [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *[line(r) for r in rows]]
    )


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return head + (" (uncommitted changes)" if dirty else "")
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 2 cells, 3 seeds, budget 100")
    parser.add_argument("--seeds", type=int, default=None, help="optimizer seeds per cell (default 50)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None, help="pipeline executions per run (default 300)")
    parser.add_argument("--cells", default=None, help="comma-separated, e.g. hartmann3/sd=1,branin/sd=51")
    parser.add_argument(
        "--methods", default=None, help="comma-separated; ours variants as ours:NAME or ours:key=v;key=v"
    )
    parser.add_argument(
        "--rho", type=float, default=0.5, help="share of the noise variance shared by all points on a seed"
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--dump", default=None, help="write every run's result as JSON lines to this file")
    parser.add_argument(
        "--cache",
        default=None,
        help="JSON-lines file reusing results of the plain recipes' identical runs (for research)",
    )
    args = parser.parse_args(argv)

    seeds = args.seeds or (3 if args.quick else 50)
    budget = args.budget or (100 if args.quick else 300)
    if args.cells:
        wanted = args.cells.split(",")
        cells = [c for c in CELLS if cell_name(*c) in wanted]
        if len(cells) != len(wanted):
            parser.error(f"unknown cell in {wanted}; known: {[cell_name(*c) for c in CELLS]}")
    else:
        cells = [("hartmann3", 0.0), ("hartmann3", 1.0)] if args.quick else list(CELLS)
    methods = args.methods.split(",") if args.methods else [*PLAIN, "ours"]
    for m in methods:
        if m not in PLAIN:
            method_settings(m)

    print("# Noise-aware optimization benchmark")
    print(
        f"date {dt.datetime.now().isoformat(timespec='minutes')}, {platform.machine()} {platform.system()}, "
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, optuna {optuna.__version__}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, git {git_state()}"
    )
    print(
        f"budget {budget} pipeline executions per run (every replicate counts); {seeds} optimizer seeds per cell "
        f"(seed s = TPESampler seed = problem noise seed); noise rho={args.rho:g} (share of the variance shared by all "
        f"points on a replicate seed); baseline = domain centre"
    )
    print(f"ours settings: {OURS_DEFAULTS}")
    for m in methods:
        if m.startswith("ours:"):
            print(f"{m}: {method_settings(m)}")
    print()

    tasks = [
        [p, sd, m, args.first_seed + i, budget, args.rho]
        for (p, sd) in cells
        for i in range(seeds)
        for m in methods
    ]
    started = time.perf_counter()
    results: dict[tuple[str, float, str, int], dict[str, Any]] = {}
    cached: dict[str, dict[str, Any]] = {}
    if args.cache and Path(args.cache).exists():
        for line in Path(args.cache).read_text().splitlines():
            item = json.loads(line)
            cached[item["task"]] = item["result"]
    todo = []
    for task in tasks:
        if task[2] in PLAIN and json.dumps(task) in cached:  # ours changes while it is designed
            results[tuple(task[:4])] = cached[json.dumps(task)]  # type: ignore[index]
        else:
            todo.append(task)
    tasks = todo
    cache_file = open(args.cache, "a") if args.cache else None  # noqa: SIM115

    def store(task_key: tuple[str, float, str, int], out: dict[str, Any]) -> None:
        results[task_key] = out
        if cache_file is not None and task_key[2] in PLAIN:
            full = (*task_key, budget, args.rho)
            cache_file.write(
                json.dumps({"task": json.dumps(list(full)), "result": out}, default=float) + "\n"
            )
            cache_file.flush()

    if args.processes > 1:
        with mp.get_context("fork").Pool(args.processes) as pool:
            for done, (key, out) in enumerate(pool.imap_unordered(run_one, tasks, chunksize=1), 1):
                store(key, out)
                if done % 20 == 0 or done == len(tasks):
                    print(
                        f"  {done}/{len(tasks)} runs, {time.perf_counter() - started:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    else:
        for task in tasks:
            key, out = run_one(task)
            store(key, out)
    elapsed = time.perf_counter() - started

    if args.dump:
        with open(args.dump, "w") as dump:
            for key, out in sorted(results.items()):
                dump.write(
                    json.dumps(
                        {"cell": cell_name(*key[:2]), "method": key[2], "seed": key[3], **out}, default=float
                    )
                    + "\n"
                )
    ours_methods = [m for m in methods if m not in PLAIN]
    plain_methods = [m for m in methods if m in PLAIN]
    summary_rows = []
    for problem, sd in cells:
        seed_list = [args.first_seed + i for i in range(seeds)]
        inf = {m: np.array([results[(problem, sd, m, s)]["inference"] for s in seed_list]) for m in methods}
        sea = {m: np.array([results[(problem, sd, m, s)]["search"] for s in seed_list]) for m in methods}
        header = ["method", "median inference regret", "IQR", "median search regret", "IQR", "evals", "s/run"]
        header += [f"p vs {m}" for m in ours_methods]
        rows = []
        for m in methods:
            ev = np.mean([results[(problem, sd, m, s)]["evals"] for s in seed_list])
            secs = np.mean([results[(problem, sd, m, s)]["seconds"] for s in seed_list])
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
        print(f"## {cell_name(problem, sd)}")
        print()
        print(markdown_table(header, rows))
        print()
        for o in ours_methods:
            outs = [results[(problem, sd, o, s)] for s in seed_list]
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
                f"beats the baseline (paired t, p<0.05) in {sig}/{len(base)} runs, median effect "
                f"{np.median([b['effect'] for b in base]):.3g}, its 95% CI covers the true effect in {cover}/{len(base)}"
            )
        print()
        if not ours_methods or not plain_methods:
            continue
        o = ours_methods[0]
        best_plain = min(plain_methods, key=lambda m: np.median(inf[m]))
        ratio = np.median(inf[o]) / np.median(inf[best_plain]) if np.median(inf[best_plain]) > 0 else math.nan
        if sd == 0:
            ref = "tpe_1x300" if "tpe_1x300" in inf else best_plain
            ok = np.median(inf[o]) <= 1.1 * np.median(inf[ref])
            bar = f"median <= 1.1 x {ref}: {np.median(inf[o]):.4g} vs {1.1 * np.median(inf[ref]):.4g}"
            goal = "n/a"
        else:
            checks = [
                (np.median(inf[o]) < np.median(inf[m]), wilcoxon_p(inf[o], inf[m])) for m in plain_methods
            ]
            ok = all(lower and p < 0.05 for lower, p in checks)
            bar = "lower median than every plain recipe, p < 0.05: " + ", ".join(
                f"{m} {'<' if lower else '>='} p={p:.2g}"
                for m, (lower, p) in zip(plain_methods, checks, strict=True)
            )
            goal = f"{ratio:.2f} x {best_plain} ({'met' if ratio <= 0.5 else 'not met'})"
        summary_rows.append([cell_name(problem, sd), "PASS" if ok else "FAIL", goal, bar])
    if summary_rows:
        print(f"## Summary ({ours_methods[0]})")
        print()
        print(markdown_table(["cell", "bar", "goal: <= 0.5 x best plain median", "detail"], summary_rows))
        passed = sum(1 for r in summary_rows if r[1] == "PASS")
        print()
        print(
            f"**Bar: {passed} of {len(summary_rows)} cells PASS.** Wall time {elapsed:.0f} s with {args.processes} processes."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
