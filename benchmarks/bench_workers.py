"""Throughput of parallel workers: trials per minute of N worker processes against one.

One command, prints how it measured and a table with PASS/FAIL per goal (it never fails on speed):

    python benchmarks/bench_workers.py [--quick] [--storages sqlite journal] [--repeats 2]

Two pipelines, each trial one replicate:

* ``cpu``: a pure-Python loop calibrated to ~0.2 s on this machine (holds the GIL: only processes
  can run two at once); 1 worker against 2 (goal: >= 1.8x on a 2-core machine);
* ``io``: ``time.sleep(0.2)`` (a pipeline that waits on I/O); 1 worker against 8 (goal: >= 6x).

Each run is one ``Experiment.optimize(optimizer, num_trials, 1, workers=N)`` on a fresh study in a
temporary folder (``sqlite:///`` file, ``journal:///`` file), with ``TPESampler(seed=0)``.
Trials per minute are measured in steady state from the storage's own timestamps: complete trials
/ (last trial's end - first trial's start), so the one-time start-up of the worker processes is
left out; the end-to-end rate (trials / wall time of the whole call, start-up included) is shown
beside it. Each N runs about as long as the others: N workers get N times the trials of one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

import crystallize_opt as co
from crystallize_opt.optimize._storage import resolve_storage

TRIAL_SECONDS = 0.2
GOALS = {"cpu": (2, 1.8), "io": (8, 6.0)}  # pipeline -> (workers, minimum speed-up over 1 worker)
SPACE = {"x": FloatDistribution(-5.0, 5.0)}
LOAD_WARNING = " (other work is running on this machine: CPU-bound speed-ups will be understated)"


def spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def calibrate(seconds: float) -> int:
    """Iterations of :func:`spin` that take ``seconds`` on one core (best of three)."""
    probe = 200_000
    best = min(_time_spin(probe) for _ in range(3))
    return max(1, int(probe * seconds / best))


def _time_spin(iterations: int) -> float:
    started = time.perf_counter()
    spin(iterations)
    return time.perf_counter() - started


@co.data_source
def zero(ctx: co.FrozenContext) -> float:
    return 0.0


@co.pipeline_step()
def cpu_work(data: float, ctx: co.FrozenContext, x: float = 0.0, iterations: int = 0) -> float:
    spin(iterations)
    ctx.metrics.add("loss", (x - 1.0) ** 2)
    return data


@co.pipeline_step()
def io_wait(data: float, ctx: co.FrozenContext, x: float = 0.0, seconds: float = 0.0) -> float:
    time.sleep(seconds)
    ctx.metrics.add("loss", (x - 1.0) ** 2)
    return data


def experiment(kind: str, iterations: int) -> co.Experiment:
    step = cpu_work(iterations=iterations) if kind == "cpu" else io_wait(seconds=TRIAL_SECONDS)
    return co.Experiment(datasource=zero(), pipeline=co.Pipeline([step]), name=f"bench-{kind}")


@dataclass
class Run:
    pipeline: str
    storage: str
    workers: int
    trials: int
    wall: float
    steady_per_min: float
    complete: int
    failed: int

    @property
    def wall_per_min(self) -> float:
        return 60.0 * self.trials / self.wall


def storage_url(kind: str, folder: Path) -> str:
    return f"sqlite:///{folder / 'study.db'}" if kind == "sqlite" else f"journal:///{folder / 'study.log'}"


def run_once(pipeline: str, storage: str, workers: int, trials: int, iterations: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        url = storage_url(storage, Path(tmp))
        optimizer = co.OptunaOptimizer(
            search_space=SPACE,
            objective=co.Objective("loss"),
            sampler=optuna.samplers.TPESampler(seed=0),
            storage=url,
            study_name="bench",
        )
        exp = experiment(pipeline, iterations)
        kwargs = {"workers": workers} if workers > 1 else {}
        started = time.perf_counter()
        exp.optimize(optimizer, num_trials=trials, replicates_per_trial=1, **kwargs)
        wall = time.perf_counter() - started
        study = optuna.load_study(study_name="bench", storage=resolve_storage(url))
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
        first = min(t.datetime_start for t in done if t.datetime_start)
        last = max(t.datetime_complete for t in done if t.datetime_complete)
        steady = 60.0 * len(done) / max((last - first).total_seconds(), 1e-9)
        return Run(pipeline, storage, workers, trials, wall, steady, len(done), failed)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([line, rule, *body])


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "crystallize_opt"], capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + (
        " with uncommitted changes in crystallize_opt/" if dirty.stdout.strip() else ""
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs (numbers only indicative)")
    parser.add_argument("--storages", nargs="+", choices=["sqlite", "journal"], default=["sqlite", "journal"])
    parser.add_argument("--seconds", type=float, help="target length of each run (default 12, quick 4)")
    parser.add_argument("--repeats", type=int, help="runs per configuration, best kept (default 2, quick 1)")
    args = parser.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 12.0)
    repeats = args.repeats or (1 if args.quick else 2)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    load_before = os.getloadavg()[0]
    iterations = calibrate(TRIAL_SECONDS)
    print(
        f"bench_workers: {dt.date.today()}, {platform.machine()} {platform.system()}, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()}, optuna {optuna.__version__}, crystallize_opt {co.__version__} "
        f"(git {git_state()})"
    )
    print(
        f"pipelines: cpu = pure-Python loop of {iterations:,} iterations (~{TRIAL_SECONDS} s on one core), "
        f"io = time.sleep({TRIAL_SECONDS}); 1 replicate per trial; TPESampler(seed=0); "
        f"each run ~{seconds:g} s of trials; best of {repeats} run(s) per row, 1 and N workers alternating"
    )
    print(
        "trials/min (steady) = complete trials / (last trial end - first trial start), from the storage; "
        "trials/min (end to end) = trials / wall time of optimize(), worker start-up included"
    )
    print(
        f"1-minute load average before: {load_before:.2f}"
        + (LOAD_WARNING if load_before > 0.7 else "")
        + "\n"
    )

    rows: list[list[str]] = []
    verdicts: list[bool] = []
    for storage in args.storages:
        for pipeline, (many, goal) in GOALS.items():
            found: dict[int, Run] = {}
            try:  # 1 and N workers alternate, so both see the same background load
                for _ in range(repeats):
                    for workers in (1, many):
                        trials = max(4, round(seconds / TRIAL_SECONDS) * workers)
                        run = run_once(pipeline, storage, workers, trials, iterations)
                        if workers not in found or run.steady_per_min > found[workers].steady_per_min:
                            found[workers] = run
            except Exception as exc:  # a broken run is an ERROR row, not a crash of the benchmark
                print(f"{storage}/{pipeline}: a run failed: {type(exc).__name__}: {exc}")
                found.clear()
            if len(found) < 2:
                verdicts.append(False)
                rows.append(
                    [storage, pipeline, f"1, {many}", "", "", "", "", "", "", "", f">= {goal}x", "ERROR"]
                )
                continue
            base, best = found[1], found[many]
            ratio = best.steady_per_min / base.steady_per_min
            ratio_wall = best.wall_per_min / base.wall_per_min
            ok = ratio >= goal and best.complete >= best.trials
            verdicts.append(ok)
            for run in (base, best):
                is_many = run is best
                rows.append(
                    [
                        storage,
                        pipeline,
                        str(run.workers),
                        str(run.trials),
                        f"{run.wall:.1f}",
                        f"{run.steady_per_min:.0f}",
                        f"{run.wall_per_min:.0f}",
                        f"{run.complete}/{run.failed}",
                        f"{ratio:.2f}x" if is_many else "",
                        f"{ratio_wall:.2f}x" if is_many else "",
                        f">= {goal}x" if is_many else "",
                        ("PASS" if ok else "FAIL") if is_many else "",
                    ]
                )
    print(
        table(
            [
                "storage",
                "pipeline",
                "workers",
                "trials",
                "wall (s)",
                "trials/min (steady)",
                "trials/min (end to end)",
                "complete/failed",
                "speed-up (steady)",
                "speed-up (end to end)",
                "goal",
                "result",
            ],
            rows,
        )
    )
    load_after = os.getloadavg()[0]
    print(
        f"\nSummary: {sum(verdicts)} of {len(verdicts)} goals PASS (goal judged on the steady-state speed-up); "
        f"1-minute load average after: {load_after:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
