"""Noise-aware optimization at a large budget: peak memory and the time of choosing the winner.

One command; prints how it measured and one table (never fails):

    python benchmarks/bench_noise_scale.py                      # budget 10,000, hartmann6 sd=0.5, seed 0
    python benchmarks/bench_noise_scale.py --budget 2000 --problem hartmann3 --sd 1
    python benchmarks/bench_noise_scale.py --methods ours --settings "max_replicates=5;racing_z=none"

Each method runs in its own fresh Python process (so that its peak resident memory is its own):

* ``plain``: a plain Optuna ask/tell loop, ``budget`` trials of one evaluation each (replicate 0),
  the best observed value returned (``tpe_1x300`` of ``bench_noise.py`` with the sampler below).
* ``ours``: ``Experiment.optimize`` with ``OptunaOptimizer(..., noise=True)`` and a budget of
  ``budget`` pipeline executions (``ours`` of ``bench_noise.py`` with the sampler below).

Both use ``RandomSampler(seed)`` by default (``--sampler tpe`` for ``TPESampler``): the subject is
the cost of the noise-aware bookkeeping and of the winner's selection, and TPE's own cost at 10,000
trials would dominate the run time. ``--sampler default`` gives ``ours`` the package's default
sampler (``default_sampler``: on this noisy continuous problem TPE below 5 parameters, CMA-ES
from 5 on, when ``cmaes`` is installed) and ``plain`` TPE:
the cost of the default search itself. Columns:

* **peak RSS**: the process's maximum resident set size (``resource.getrusage``), imports included;
* **selection**: wall time of the noise-aware winner selection (model fit, ranking, confirmation and
  held-out runs of the cheap pipeline), and the peak of the memory it allocated on top of what the
  search left (``tracemalloc``, started when the selection starts; numpy's arrays are traced);
* **search**: wall time of everything before the selection (the whole loop for ``plain``).

BLAS runs with its default threads here (the environment variables are not set), as a user's would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def child(
    method: str, problem_name: str, sd: float, seed: int, budget: int, sampler_name: str, settings: str = ""
) -> dict[str, Any]:
    """One method's run in this process: its timings and memory."""
    import logging
    import warnings

    import numpy as np
    import optuna

    sys.path.insert(0, str(HERE))
    import bench_noise as bn
    from _noise_problems import PROBLEMS, NoisyProblem

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    logging.getLogger("crystallize_opt").setLevel(logging.ERROR)

    def sampler() -> optuna.samplers.BaseSampler | None:
        if sampler_name == "default":  # ours: the package's default (None); plain: TPE
            return None if method != "plain" else optuna.samplers.TPESampler(seed=seed)
        if sampler_name == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        return optuna.samplers.RandomSampler(seed=seed)

    problem = PROBLEMS[problem_name]
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if method == "plain":
        noisy = NoisyProblem(problem, sd, seed)
        study = optuna.create_study(sampler=sampler())
        space = bn.space_of(problem)
        for _ in range(budget):
            trial = study.ask(space)
            study.tell(trial, noisy.evaluate(bn.x_of(problem, trial.params), bn.search_seed(seed, 0)))
        x = bn.x_of(problem, study.best_trial.params)
        out.update(search_s=time.perf_counter() - started, selection_s=None, selection_peak_mb=None)
        out.update(evals=noisy.evaluations, trials=budget, regret=noisy.regret(x))
    else:
        import crystallize_opt.optimize._noise._search as _search
        from crystallize_opt import (
            Experiment,
            NoiseHandling,
            Objective,
            OptunaOptimizer,
            Pipeline,
            SeedPlugin,
        )

        timing: dict[str, float] = {}
        select_winner = _search.select_winner

        async def timed_select(*args: Any, **kwargs: Any) -> Any:
            timing["search_end"] = time.perf_counter()
            tracemalloc.start()
            try:
                return await select_winner(*args, **kwargs)
            finally:
                timing["peak"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                timing["selection_end"] = time.perf_counter()

        _search.select_winner = timed_select  # type: ignore[assignment]
        noisy = NoisyProblem(problem, sd, seed)
        step = bn.EvaluateProblem(noisy)
        experiment = Experiment(
            datasource=bn.ReplicateSeed(),
            pipeline=Pipeline([step]),
            plugins=[SeedPlugin(seed=seed, auto_seed=False)],
            name=f"bench-noise-scale-{problem.name}",
        )
        optimizer = OptunaOptimizer(
            bn.space_of(problem),
            Objective(bn.METRIC),
            sampler=sampler(),
            storage=":memory:",
            noise=NoiseHandling(**(bn.method_settings(f"ours:{settings}") if settings else {})),
        )
        winner = experiment.optimize(optimizer, num_trials=budget, replicates_per_trial=1)
        selection = optimizer.selection
        assert selection is not None
        x = np.array(
            [float(winner.params.get(n, c)) for n, c in zip(problem.names, problem.centre, strict=True)]
        )
        out.update(
            search_s=timing["search_end"] - started,
            selection_s=timing["selection_end"] - timing["search_end"],
            selection_peak_mb=timing["peak"] / 2**20,
            evals=noisy.evaluations,
            trials=len(optimizer.study.get_trials(deepcopy=False)),
            regret=noisy.regret(x),
            parameter_sets=len(
                {json.dumps(t.params, sort_keys=True) for t in optimizer.study.get_trials(deepcopy=False)}
            ),
            winner=winner.name,
            rule=selection.rule,
        )
    out["total_s"] = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    out["peak_rss_mb"] = rss / 2**20 if sys.platform == "darwin" else rss / 1024
    return out


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=HERE
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, check=True, cwd=HERE
        ).stdout.strip()
        return head + (" (uncommitted changes)" if dirty else "")
    except Exception:
        return "unknown"


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--budget", type=int, default=10_000, help="pipeline executions per run (default 10,000)"
    )
    parser.add_argument("--problem", default="hartmann6")
    parser.add_argument("--sd", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sampler",
        choices=("random", "tpe", "default"),
        default="random",
        help="default: the package's own for ours (GP then TPE with PyTorch), TPE for plain",
    )
    parser.add_argument("--methods", default="plain,ours")
    parser.add_argument(
        "--settings",
        default="",
        help="NoiseHandling fields of ours, as field=value;field=value (default: none)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        out = child(args.child, args.problem, args.sd, args.seed, args.budget, args.sampler, args.settings)
        print(json.dumps(out))
        return 0

    import numpy as np
    import optuna
    import scipy

    print("# Noise-aware optimization at scale")
    print(
        f"date {dt.datetime.now().isoformat(timespec='minutes')}, {platform.machine()} {platform.system()}, "
        f"nproc {os.cpu_count()}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, "
        f"Python {platform.python_version()}, optuna {optuna.__version__}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, git {git_state()}"
    )
    print(
        f"budget {args.budget} executions, {args.problem} sd={args.sd:g}, seed {args.seed}, "
        f"{args.sampler} sampler; ours: NoiseHandling({args.settings.replace(';', ', ')}); "
        "each method in a fresh process"
    )
    print()
    rows = []
    for method in args.methods.split(","):
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child", method,
            "--budget", str(args.budget),
            "--problem", args.problem,
            "--sd", str(args.sd),
            "--seed", str(args.seed),
            "--sampler", args.sampler,
            "--settings", args.settings,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{method}: failed\n{done.stderr[-3000:]}")
            continue
        out = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(
            [
                method,
                str(out["evals"]),
                str(out["trials"]),
                fmt(out.get("parameter_sets"), "d"),
                f"{out['peak_rss_mb']:.0f}",
                fmt(out["selection_peak_mb"], ".0f"),
                fmt(out["selection_s"], ".2f"),
                f"{out['search_s']:.1f}",
                f"{out['total_s']:.1f}",
                f"{out['regret']:.4g}",
            ]
        )
    header = [
        "method",
        "executions",
        "trials",
        "parameter sets",
        "peak RSS MB",
        "selection peak MB",
        "selection s",
        "search s",
        "total s",
        "regret",
    ]
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    print()
    print(f"load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
