"""The step cache during ``Experiment.optimize``: a slow step that reads no search parameter.

One command, prints how it measured and a table:

    python benchmarks/bench_cache.py [--trials 100] [--replicates 3] [--step-seconds 0.2] [--quick]

The pipeline (issue 16's scenario): a datasource draws ``--rows`` numbers from the replicate's
seeded generator (the data a loading/splitting step would give, different per replicate seed);
``preprocess`` sleeps ``--step-seconds`` (the stand-in for feature extraction) and standardises
the data; ``model`` reads the search parameter ``x`` and records ``loss = (x - 1)**2 + noise``.
Each method runs the same study (TPE, seed 0, in memory, ``--trials`` trials of
``--replicates`` replicates, replicate ``r`` of every trial on the same seed):

* ``no cache``: ``preprocess`` is an ordinary step: it runs once per trial and replicate;
* ``cache (cold)``: ``@pipeline_step(cacheable=True)``, an empty cache in a temporary folder:
  the step reads no search parameter, so it runs once per replicate seed;
* ``cache (warm disk)``: the same study again with a fresh :class:`StepCache` on the folder the
  cold run filled, as a new process would see it: the step never runs.

The table gives the preprocessing runs, the wall time, and whether every trial's parameters and
values equal the uncached study's (they must).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import FloatDistribution

import crystallize_opt as co

PREPROCESS_RUNS: list[int] = []
STEP_SECONDS = 0.2


@co.data_source
def seeded_rows(ctx: co.FrozenContext, rows: int = 100_000) -> np.ndarray:
    return ctx.rng.normal(loc=3.0, scale=2.0, size=rows)


def _preprocess(data: np.ndarray, ctx: co.FrozenContext) -> np.ndarray:
    PREPROCESS_RUNS.append(1)
    time.sleep(STEP_SECONDS)
    return (data - data.mean()) / data.std()


preprocess_uncached = co.pipeline_step()(_preprocess)
preprocess_cached = co.pipeline_step(cacheable=True)(_preprocess)


@co.pipeline_step()
def model(data: np.ndarray, ctx: co.FrozenContext, x: float = 0.0) -> np.ndarray:
    ctx.metrics.add("loss", float((x - 1.0) ** 2 + 0.1 * data[:100].mean()))
    return data


def run_study(step: co.PipelineStep, trials: int, replicates: int, rows: int) -> tuple[float, int, list[Any]]:
    """Optimize once; return (wall seconds, preprocessing runs, [(params, values)] per trial)."""
    PREPROCESS_RUNS.clear()
    exp = co.Experiment(
        datasource=seeded_rows(rows=rows), pipeline=co.Pipeline([step, model()]), name="bench-cache"
    )
    storage = optuna.storages.InMemoryStorage()
    optimizer = co.OptunaOptimizer(
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=0),
        search_space={"x": FloatDistribution(-3.0, 3.0)},
        objective=co.Objective("loss"),
    )
    started = time.perf_counter()
    exp.optimize(optimizer, num_trials=trials, replicates_per_trial=replicates)
    wall = time.perf_counter() - started
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return wall, len(PREPROCESS_RUNS), [(t.params, t.values) for t in study.trials]


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    global STEP_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--step-seconds", type=float, default=0.2)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20 trials, 0.05 s step")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.step_seconds = 20, 0.05
    STEP_SECONDS = args.step_seconds
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(
        f"Step cache during optimize ({platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}): {args.trials} trials x "
        f"{args.replicates} replicates, preprocessing {args.step_seconds} s on {args.rows} rows "
        "(float64), then a cheap model step reading the search parameter x\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        cache_dir = Path(folder) / "cache"
        co.set_step_cache(co.StepCache(None, memory_bytes=0))  # unused by the uncached step
        base_wall, base_runs, base_trials = run_study(
            preprocess_uncached(), args.trials, args.replicates, args.rows
        )
        co.set_step_cache(co.StepCache(cache_dir))
        cold = run_study(preprocess_cached(), args.trials, args.replicates, args.rows)
        co.set_step_cache(co.StepCache(cache_dir))  # memory empty, as in a new process
        warm = run_study(preprocess_cached(), args.trials, args.replicates, args.rows)
        co.set_step_cache(None)
    rows = [
        [
            "no cache",
            "@pipeline_step()",
            str(base_runs),
            f"{base_wall:.2f}",
            "1.00x",
            "(reference)",
        ]
    ]
    for name, (wall, runs, trials) in [("cache (cold)", cold), ("cache (warm disk)", warm)]:
        rows.append(
            [
                name,
                "@pipeline_step(cacheable=True)",
                str(runs),
                f"{wall:.2f}",
                f"{base_wall / wall:.2f}x",
                "yes" if trials == base_trials else "NO",
            ]
        )
    header = ["method", "step", "preprocessing runs", "wall s", "speed-up", "same trials and metrics"]
    print(table(header, rows))
    expected = args.replicates
    ok = cold[1] == expected and warm[1] == 0 and cold[2] == base_trials and warm[2] == base_trials
    print(
        f"\nexpected preprocessing runs: {args.trials * args.replicates} without cache, "
        f"{expected} cold (one per replicate seed), 0 warm: {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
