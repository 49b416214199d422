"""Pipelines for the noise-aware optimization tests (module level: importable by worker processes)."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import optuna

from crystallize_opt import (
    Experiment,
    HandOffSampler,
    NoRepeatSampler,
    Pipeline,
    ResumableCmaEsSampler,
    data_source,
    pipeline_step,
)
from crystallize_opt.optimize import GP_SEARCH_TRIALS, NoiseCheckSampler


def noise_aware_default(seed: int, categorical: bool = False, cma: bool = False) -> NoiseCheckSampler:
    """The noise-aware default search written out (what ``default_sampler`` documents): for a
    deterministic pipeline an interpolating GP that never evaluates a point twice, for a noisy
    one GP on a space with a categorical parameter, CMA-ES on one of at least
    ``CMA_SEARCH_PARAMS`` numbers (``cma``), else TPE; each GP hands off to TPE (for a
    deterministic pipeline, the TPE that replaces the GP's repeats)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        interpolating = optuna.samplers.GPSampler(seed=seed, deterministic_objective=True)
    tpe = optuna.samplers.TPESampler(seed=seed)  # one sampler in both places
    deterministic = HandOffSampler(NoRepeatSampler(interpolating, tpe), tpe, GP_SEARCH_TRIALS)
    noisy: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
    if cma:
        noisy = ResumableCmaEsSampler(seed=seed, warn_independent_sampling=False)
    if categorical:
        noisy = HandOffSampler(
            optuna.samplers.GPSampler(seed=seed), optuna.samplers.TPESampler(seed=seed), GP_SEARCH_TRIALS
        )
    return NoiseCheckSampler(deterministic, noisy)


#: (condition, seed) of every pipeline execution in this process.
CALLS: list[tuple[str, int]] = []


@data_source
def seed_offset(ctx, noise_sd: float = 0.1):
    """What every parameter set shares on a seed, plus a little noise of its own."""
    return float(ctx.rng.normal(scale=noise_sd))


def own_noise(seed: int, x: float, y: float, sd: float) -> float:
    """Noise of one parameter set on one seed (the same point and seed always give the same)."""
    words = [seed, *struct.unpack("<4I", struct.pack("<2d", x, y))]
    return float(np.random.default_rng(words).normal(scale=sd)) if sd else 0.0


@pipeline_step()
def shifted_quadratic(data, ctx, x: float = 0.0, y: float = 0.0, own_sd: float = 0.0):
    """(x - 1)^2 + (y + 0.5)^2 + the seed's shared offset + noise of its own; optimum 0 at x = 1, y = -0.5."""
    seed = int(ctx["seed_used"])
    CALLS.append((str(ctx["condition"]), seed))
    value = (x - 1.0) ** 2 + (y + 0.5) ** 2 + data + own_noise(seed, x, y, own_sd)
    ctx.metrics.add("loss", value)
    ctx.metrics.add("score", -value)
    return data


@pipeline_step()
def deterministic_quadratic(data, ctx, x: float = 0.0, y: float = 0.0):
    CALLS.append((str(ctx["condition"]), int(ctx["seed_used"])))
    ctx.metrics.add("loss", (x - 1.0) ** 2 + (y + 0.5) ** 2)
    return data


def noisy_experiment(noise_sd: float = 0.1, own_sd: float = 0.0, name: str = "noisy") -> Experiment:
    return Experiment(
        datasource=seed_offset(noise_sd=noise_sd),
        pipeline=Pipeline([shifted_quadratic(own_sd=own_sd)]),
        name=name,
    )


def deterministic_experiment(name: str = "exact") -> Experiment:
    return Experiment(datasource=seed_offset(), pipeline=Pipeline([deterministic_quadratic()]), name=name)
