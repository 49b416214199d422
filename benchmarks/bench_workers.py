"""Throughput of parallel workers: trials per minute of N worker processes against one.

One command, prints how it measured, a table with PASS/FAIL per goal and the two goals of issue 5
judged on the storage that ``crystallize-opt optimize STUDY --workers N`` uses by default (the
journal file); it never fails on speed and always exits 0:

    python benchmarks/bench_workers.py [--quick] [--storages journal sqlite] [--pipelines cpu io]

Two pipelines, each trial one replicate:

* ``cpu``: a pure-Python loop calibrated to ~0.2 s on this machine (holds the GIL: only processes
  can run two at once); 1 worker against 2 (goal: >= 1.8x on a 2-core machine);
* ``io``: ``time.sleep(0.2)`` (a pipeline that waits on I/O); 1 worker against 8 (goal: >= 6x).

Each run is one ``Experiment.optimize(optimizer, num_trials, 1, workers=N)`` on a fresh study in a
temporary folder (``journal:///`` file, ``sqlite:///`` file), with ``TPESampler(seed=0)``; N
workers get N times the trials of one, so every run lasts about ``--seconds``.

Reported rate (the goals are judged on it): trials per minute in **steady state**, from the
storage's own timestamps: the trials completed between the moment the last worker started its
first trial (start-up is over) and the moment the first worker ended its last one (the others
then finish the tail), per minute of that window. Start-up (the ``optimize`` call to the last
worker's first trial) and the end-to-end rate (trials / wall time of the call) are shown beside
it. The 1-minute load average is printed with each row, and ``uptime`` before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
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
from optuna.trial import FrozenTrial, TrialState

import crystallize_opt as co
from crystallize_opt.coordination import worker_of
from crystallize_opt.storage import resolve_storage

TRIAL_SECONDS = 0.2
GOALS = {"cpu": (2, 1.8), "io": (8, 6.0)}  # pipeline -> (workers, minimum speed-up over 1 worker)
STORAGES = ("journal", "sqlite")
#: The storage that ``crystallize-opt optimize STUDY --workers N`` uses when none is named.
DEFAULT = "journal"
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
    startup: float
    steady_per_min: float
    window: float
    complete: int
    failed: int
    load: float

    @property
    def wall_per_min(self) -> float:
        return 60.0 * self.trials / self.wall


def storage_url(kind: str, folder: Path) -> str:
    return f"sqlite:///{folder / 'study.db'}" if kind == "sqlite" else f"journal:///{folder / 'study.log'}"


def steady_rate(trials: list[FrozenTrial]) -> tuple[float, float]:
    """Trials per minute while every worker runs, and the length (s) of that window.

    The window opens once the last worker has started its first trial (start-up is over) and
    closes when the first worker ends its last one (the others are then finishing the tail);
    the rate is the trials completed inside it per minute. Workers are told apart by the tag
    ``workers=N`` puts on their trials; one worker's window is its first start to its last end.
    """
    by_worker: dict[object, list[FrozenTrial]] = {}
    for trial in trials:
        by_worker.setdefault(worker_of(trial), []).append(trial)
    opened = max(min(t.datetime_start for t in own if t.datetime_start) for own in by_worker.values())
    closed = min(max(t.datetime_complete for t in own if t.datetime_complete) for own in by_worker.values())
    window = (closed - opened).total_seconds()
    if len(by_worker) == 1:
        inside = len(trials)
    else:
        inside = sum(1 for t in trials if t.datetime_complete and opened < t.datetime_complete <= closed)
    return 60.0 * inside / max(window, 1e-9), window


def run_once(pipeline: str, storage: str, workers: int, trials: int, iterations: int) -> Run:
    load = os.getloadavg()[0]
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
        called = dt.datetime.now()  # the storage stamps trials with naive local datetimes too
        started = time.perf_counter()
        exp.optimize(optimizer, num_trials=trials, replicates_per_trial=1, **kwargs)
        wall = time.perf_counter() - started
        study = optuna.load_study(study_name="bench", storage=resolve_storage(url))
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
        steady, window = steady_rate(done)
        firsts: dict[object, dt.datetime] = {}
        for trial in done:
            tag = worker_of(trial)
            if trial.datetime_start and (tag not in firsts or trial.datetime_start < firsts[tag]):
                firsts[tag] = trial.datetime_start
        startup = (max(firsts.values()) - called).total_seconds()
        return Run(pipeline, storage, workers, trials, wall, startup, steady, window, len(done), failed, load)


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


def uptime() -> str:
    """The ``uptime`` line (load averages over 1, 5 and 15 minutes)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def measure(storage: str, pipeline: str, seconds: float, repeats: int, iterations: int) -> dict[int, Run]:
    """Best run (steady rate) of 1 worker and of N workers; 1 and N alternate, so that both see the
    same background load. Empty when a run failed."""
    many = GOALS[pipeline][0]
    found: dict[int, Run] = {}
    try:
        for _ in range(repeats):
            for workers in (1, many):
                trials = max(4, round(seconds / TRIAL_SECONDS) * workers)
                run = run_once(pipeline, storage, workers, trials, iterations)
                if workers not in found or run.steady_per_min > found[workers].steady_per_min:
                    found[workers] = run
    except Exception as exc:  # a broken run is an ERROR row, not a crash of the benchmark
        print(f"{storage}/{pipeline}: a run failed: {type(exc).__name__}: {exc}")
        return {}
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs (numbers only indicative)")
    parser.add_argument(
        "--storages", nargs="+", choices=STORAGES, default=list(STORAGES), help="default: both"
    )
    parser.add_argument(
        "--pipelines", nargs="+", choices=list(GOALS), default=list(GOALS), help="default: both"
    )
    parser.add_argument("--seconds", type=float, help="target length of each run (default 12, quick 4)")
    parser.add_argument("--repeats", type=int, help="runs per configuration, best kept (default 2, quick 1)")
    args = parser.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 12.0)
    repeats = args.repeats or (1 if args.quick else 2)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    uptime_before = uptime()
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
        "trials/min (steady) = trials completed while every worker runs (from the last worker's first trial "
        "start to the first worker's last trial end, timestamps from the storage) per minute; the goals are "
        "judged on it.\nstart-up (s) = from the optimize() call to the last worker's first trial start; "
        "trials/min (end to end) = trials / wall time of optimize(), start-up and tail included."
    )
    print(f"uptime before: {uptime_before}" + (LOAD_WARNING if os.getloadavg()[0] > 0.7 else "") + "\n")

    rows: list[list[str]] = []
    verdicts: dict[tuple[str, str], tuple[bool, float]] = {}
    for storage in args.storages:
        for pipeline in args.pipelines:
            many, goal = GOALS[pipeline]
            found = measure(storage, pipeline, seconds, repeats, iterations)
            if len(found) < 2:
                verdicts[storage, pipeline] = (False, math.nan)
                rows.append([storage, pipeline, f"1, {many}", *[""] * 9, f">= {goal}x", "ERROR"])
                continue
            base, best = found[1], found[many]
            ratio = best.steady_per_min / base.steady_per_min
            ratio_wall = best.wall_per_min / base.wall_per_min
            ok = ratio >= goal and best.complete >= best.trials
            verdicts[storage, pipeline] = (ok, ratio)
            for run in (base, best):
                is_many = run is best
                rows.append(
                    [
                        storage,
                        pipeline,
                        str(run.workers),
                        str(run.trials),
                        f"{run.load:.2f}",
                        f"{run.wall:.1f}",
                        f"{run.startup:.2f}",
                        f"{run.steady_per_min:.0f} ({run.window:.0f} s)",
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
                "load (1 min)",
                "wall (s)",
                "start-up (s)",
                "trials/min steady (window)",
                "trials/min end to end",
                "complete/failed",
                "speed-up steady",
                "speed-up end to end",
                "goal",
                "result",
            ],
            rows,
        )
    )
    print(f"\nuptime after: {uptime()}")
    print(
        f"\nGoals of issue 5, on the storage `crystallize-opt optimize STUDY --workers N` uses by default ({DEFAULT}):"
    )
    for pipeline in args.pipelines:
        many, goal = GOALS[pipeline]
        what = "CPU-bound pipeline" if pipeline == "cpu" else "waiting (I/O-like) pipeline"
        if (DEFAULT, pipeline) not in verdicts:
            print(f"* {what}: {many} workers >= {goal}x of 1 worker: not measured (add --storages {DEFAULT})")
            continue
        ok, ratio = verdicts[DEFAULT, pipeline]
        print(
            f"* {what}: {many} workers >= {goal}x of 1 worker: {ratio:.2f}x (steady) on {DEFAULT} -> "
            f"{'PASS' if ok else 'FAIL'}"
        )
    others = {key: value for key, value in verdicts.items() if key[0] != DEFAULT}
    for (storage, pipeline), (ok, ratio) in others.items():
        print(f"  (for comparison, {storage} {pipeline}: {ratio:.2f}x -> {'PASS' if ok else 'FAIL'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
