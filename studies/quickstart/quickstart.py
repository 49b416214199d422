"""Quickstart study: tune a noisy synthetic function with 100 trials of 3 seeded replicates.

Run from the repository root::

    python studies/quickstart/quickstart.py

The study lives in ``studies/quickstart/study.db`` (SQLite); rerunning continues it, so a
second run only adds trials when you raise ``--trials``.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

from crystallize_opt import Experiment, Objective, OptunaOptimizer, Pipeline, data_source, pipeline_step

HERE = Path(__file__).resolve().parent


@data_source
def measurement_noise(ctx, noise_sd: float = 0.3):
    """Each replicate's noise draw, from the replicate's seeded generator."""
    return float(ctx.rng.normal(scale=noise_sd))


@pipeline_step()
def noisy_objective(noise, ctx, x: float = 0.0, y: float = 0.0, shape: str = "bowl"):
    """A smooth valley with its minimum at x=1, y=-0.5 (shape 'bowl'), plus replicate noise."""
    value = (x - 1.0) ** 2 + 2.0 * (y + 0.5) ** 2 + (0.0 if shape == "bowl" else 0.4 + 0.1 * math.sin(5 * x))
    ctx.metrics.add("loss", value + noise)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--storage", default=f"sqlite:///{HERE / 'study.db'}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    experiment = Experiment(
        datasource=measurement_noise(), pipeline=Pipeline([noisy_objective()]), name="quickstart"
    )
    optimizer = OptunaOptimizer(
        search_space={
            "x": FloatDistribution(-3.0, 3.0),
            "y": FloatDistribution(-3.0, 3.0),
            "shape": CategoricalDistribution(["bowl", "ridge"]),
        },
        objective=Objective("loss", direction="minimize"),
        sampler=optuna.samplers.TPESampler(seed=0),
        storage=args.storage,
        study_name="quickstart",
    )
    best = experiment.optimize(optimizer, num_trials=args.trials, replicates_per_trial=args.replicates, progress=True)
    stats = optimizer.study.trials[int(best.name.split("-")[1])].user_attrs["crystallize"]["stats"]["loss"]
    print(f"best {best.name}: {best.params}")
    print(f"loss {stats['mean']:.4f} +/- {stats['sem']:.4f} (SEM, n={stats['n']})")
    print(f"study: {args.storage} (study name 'quickstart')")


if __name__ == "__main__":
    main()
