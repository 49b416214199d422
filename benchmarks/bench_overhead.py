"""Optimization overhead of ``Experiment.optimize`` over a bare Optuna ask/tell loop.

One command, prints how it measured and a table with PASS/FAIL per goal (it never fails on speed):

    python benchmarks/bench_overhead.py [--trials 300] [--quick]

What is compared, on a trivial pipeline (a data source drawing one normal number from the
replicate's seeded generator, one step recording ``loss = (x - 1)**2 + data``):

* ``bare``: ``optuna.create_study`` + ``study.ask``/``study.tell`` in a Python loop; for R replicates
  the trivial objective is evaluated R times per trial (one seeded generator per replicate, the
  same seeds as ours) and the mean is told. Only the value is stored.
* ``ours``: ``exp.optimize(OptunaOptimizer(...), num_trials, replicates_per_trial=R)``.
* ``ours+cfg``: the same, with a nested config dict in ``initial_ctx`` that the step reads (as an
  injected parameter) in every replicate: what isolating context values costs (each read of a
  mutable value is a deep copy; the numbers ``ours`` reads are never copied).
* ``crystallize-ml`` (optional, ``pip install crystallize-ml==0.27.0``): the same sampler driven
  through crystallize-ml's own ``BaseOptimizer`` / ``Experiment.optimize`` API.

Every method gets the same seeded sampler and the same objective values, so all of them
evaluate the very same trials (checked and printed); the difference in time is orchestration.
``Experiment.optimize`` reseeds a seeded sampler before each trial from its seed and the trials
it proposed (so a resumed study proposes what an uninterrupted one would). The timed bare loop
is plain Optuna, without that reseeding, so its cost counts in ours' overhead; the "same trials"
check compares every method with one untimed bare run that reseeds by the same rule
(``TrialSeeding``), and the crystallize-ml adapter reseeds too.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.storages import InMemoryStorage

import crystallize_opt as co
from crystallize_opt.context import isolated
from crystallize_opt.optimize import TrialSeeding
from crystallize_opt.storage import resolve_storage

try:  # optional comparison; not a project dependency
    import crystallize as cml
    from crystallize.experiments.optimizers import BaseOptimizer as CmlBaseOptimizer
    from crystallize.experiments.optimizers import Objective as CmlObjective
except ImportError:  # pragma: no cover - depends on the environment
    cml = None

CML_VERSION = "0.27.0"
SPACE = {"x": FloatDistribution(-5.0, 5.0)}
METRIC = "loss"
SAMPLERS = ("random", "tpe")
STUDY_NAME = "bench"

# Pipeline executions, counted inside the steps.
EXECUTIONS = {"ours": 0, "ours+cfg": 0, "crystallize-ml": 0}
# A typical small nested config (11 leaves); ``scale`` keeps the objective values identical.
NESTED_CFG = {
    "scale": 1.0,
    "hidden": [64, 64, 32],
    "optimizer": {"name": "adam", "betas": [0.9, 0.999], "eps": 1e-8},
    "augment": {"flip": True, "crop": [32, 32]},
}


def make_sampler(kind: str) -> optuna.samplers.BaseSampler:
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=0)
    return optuna.samplers.TPESampler(seed=0)


def trial_seeding(sampler: optuna.samplers.BaseSampler) -> TrialSeeding:
    """The reseeding ``Experiment.optimize`` applies to ``sampler`` before each trial, for the
    loops that drive Optuna themselves (every trial of theirs completes, so the sampler has
    proposed as many trials as the study holds)."""
    seeding = TrialSeeding.of(sampler)
    assert seeding is not None, "a seeded Optuna sampler"
    return seeding


def objective_value(x: float, data: float) -> float:
    return (x - 1.0) ** 2 + data


@dataclass(frozen=True)
class Timing:
    """Seconds of one run: wall clock (what the goals judge) and this process's CPU time."""

    wall: float
    cpu: float


class Clock:
    """Started at creation; :meth:`elapsed` gives wall and CPU seconds since."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def elapsed(self) -> Timing:
        return Timing(time.perf_counter() - self.wall, time.process_time() - self.cpu)


# -- the three methods -------------------------------------------------------------------------


@co.data_source
def noise(ctx: co.FrozenContext) -> float:
    return float(ctx.rng.normal())


@co.pipeline_step
def loss(data: float, ctx: co.FrozenContext, x: float = 0.0) -> None:
    # ``x`` needs a default: Experiment.validate() wants every step parameter set for the baseline too.
    EXECUTIONS["ours"] += 1
    ctx.metrics.add(METRIC, objective_value(x, data))


@co.pipeline_step
def loss_cfg(data: float, ctx: co.FrozenContext, cfg: dict[str, Any], x: float = 0.0) -> None:
    EXECUTIONS["ours+cfg"] += 1
    ctx.metrics.add(METRIC, objective_value(x, data) * cfg["scale"])


def our_experiment() -> co.Experiment:
    return co.Experiment(datasource=noise(), pipeline=co.Pipeline([loss()]), name=STUDY_NAME)


def our_cfg_experiment() -> co.Experiment:
    return co.Experiment(
        datasource=noise(),
        pipeline=co.Pipeline([loss_cfg()]),
        name=STUDY_NAME,
        initial_ctx={"cfg": NESTED_CFG},
    )


def replicate_seeds(replicates: int) -> list[int]:
    """The seeds ``Experiment.optimize`` gives replicates 0..R-1 (common random numbers)."""
    master = our_experiment().master_seed
    return [co.replicate_seed(master, r) for r in range(replicates)]


def run_bare(
    sampler: str, storage: Any, trials: int, replicates: int, *, reseed: bool = False
) -> tuple[Timing, optuna.Study]:
    """A plain Optuna ask/tell loop; with ``reseed``, reseeding the sampler before each trial as
    ``Experiment.optimize`` does (the untimed reference of the "same trials" check)."""
    seeds = replicate_seeds(replicates)
    sampler_obj = make_sampler(sampler)
    seeding = trial_seeding(sampler_obj) if reseed else None
    started = Clock()
    if isinstance(storage, str):
        # The same storage set-up as ours (SQLite in WAL mode with synchronous=NORMAL), so the
        # comparison isolates what we write, not how the file is configured.
        storage = resolve_storage(storage)
    study = optuna.create_study(
        storage=storage, sampler=sampler_obj, study_name=STUDY_NAME, direction="minimize"
    )
    for number in range(trials):
        if seeding is not None:
            seeding.reseed(number)  # as ours does: the same trials
        trial = study.ask(SPACE)
        x = trial.params["x"]
        values = []
        for seed in seeds:
            data = float(np.random.default_rng(seed).normal())
            values.append(objective_value(x, data))
        study.tell(trial, math.fsum(values) / len(values))
    return started.elapsed(), study


def run_ours(
    sampler: str,
    storage: Any,
    trials: int,
    replicates: int,
    make: Callable[[], co.Experiment] = our_experiment,
) -> tuple[Timing, optuna.Study]:
    experiment = make()
    sampler_obj = make_sampler(sampler)
    started = Clock()
    optimizer = co.OptunaOptimizer(SPACE, co.Objective(METRIC), sampler=sampler_obj, storage=storage)
    experiment.optimize(optimizer, num_trials=trials, replicates_per_trial=replicates)
    return started.elapsed(), optimizer.study


def run_ours_cfg(sampler: str, storage: Any, trials: int, replicates: int) -> tuple[Timing, optuna.Study]:
    return run_ours(sampler, storage, trials, replicates, our_cfg_experiment)


if cml is not None:

    @cml.data_source
    def cml_noise(ctx: Any) -> float:
        # Same values as ours: replicate r draws from a generator seeded like our replicate r.
        return float(np.random.default_rng(CML_SEEDS[ctx.get("replicate")]).normal())

    @cml.pipeline_step()
    def cml_loss(data: float, ctx: Any, x: float = 0.0) -> None:
        EXECUTIONS["crystallize-ml"] += 1
        ctx.metrics.add(METRIC, objective_value(x, data))

    class CmlOptunaOptimizer(CmlBaseOptimizer):
        """Drives an Optuna study through crystallize-ml's optimizer contract (ask/tell/best)."""

        def __init__(self, study: optuna.Study, seeding: TrialSeeding):
            super().__init__(CmlObjective(metric=METRIC, direction="minimize"))
            self.study = study
            self._seeding = seeding
            self._asked = 0
            self._trial: optuna.Trial | None = None

        def ask(self) -> list[Any]:
            self._seeding.reseed(self._asked)  # as ours does: the same trials
            self._asked += 1
            self._trial = self.study.ask(SPACE)
            return [cml.Treatment(f"trial-{self._trial.number}", dict(self._trial.params))]

        def tell(self, objective_values: dict[str, float]) -> None:
            assert self._trial is not None
            self.study.tell(self._trial, objective_values[METRIC])
            self._trial = None

        def get_best_treatment(self) -> Any:
            return cml.Treatment("best", dict(self.study.best_params))


CML_SEEDS: list[int] = []


def cml_experiment() -> Any:
    """crystallize-ml's default plugins, made quiet: logging at WARNING and an explicit seed_fn.

    Its defaults print several log lines per trial to stderr (an INFO summary per run and a
    warning that no seed_fn was given); silencing them only makes crystallize-ml faster.
    """
    assert cml is not None
    from crystallize.plugins.plugins import default_seed_function

    plugins = [
        cml.SeedPlugin(seed=0, auto_seed=True, seed_fn=default_seed_function),
        cml.LoggingPlugin(log_level="WARNING"),
    ]
    return cml.Experiment(
        datasource=cml_noise(), pipeline=cml.Pipeline([cml_loss()]), plugins=plugins, name=STUDY_NAME
    )


def run_cml(sampler: str, storage: Any, trials: int, replicates: int) -> tuple[Timing, optuna.Study]:
    assert cml is not None
    CML_SEEDS[:] = replicate_seeds(replicates)
    with in_temp_cwd():  # crystallize-ml writes result files below ./data
        experiment = cml_experiment()
        sampler_obj = make_sampler(sampler)
        seeding = trial_seeding(sampler_obj)
        started = Clock()
        study = optuna.create_study(
            storage=storage, sampler=sampler_obj, study_name=STUDY_NAME, direction="minimize"
        )
        experiment.optimize(
            CmlOptunaOptimizer(study, seeding), num_trials=trials, replicates_per_trial=replicates
        )
        return started.elapsed(), study


RUNNERS: dict[str, Callable[[str, Any, int, int], tuple[Timing, optuna.Study]]] = {
    "bare": run_bare,
    "ours": run_ours,
    "ours+cfg": run_ours_cfg,
    "crystallize-ml": run_cml,
}


# -- measuring ---------------------------------------------------------------------------------


@contextlib.contextmanager
def in_temp_cwd() -> Iterator[Path]:
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def list_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def trial_signature(study: optuna.Study) -> list[tuple[float, float | None]]:
    return [(t.params["x"], t.value) for t in study.trials]


def same_trials(a: list[tuple[float, float | None]], b: list[tuple[float, float | None]]) -> bool:
    """Same parameters, and values equal up to rounding (crystallize-ml averages with sum, not fsum)."""
    return len(a) == len(b) and all(
        pa == pb and va is not None and vb is not None and math.isclose(va, vb, rel_tol=1e-12)
        for (pa, va), (pb, vb) in zip(a, b, strict=True)
    )


@dataclass
class Measurement:
    storage: str
    sampler: str
    replicates: int
    trials: int
    runs: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    cpu_seconds: dict[str, list[float]] = field(default_factory=dict)
    executions: dict[str, float] = field(default_factory=dict)
    identical: bool = True

    def per_trial_ms(self, method: str) -> float:
        """Best (smallest) of the runs, in ms per trial."""
        return min(self.seconds[method]) / self.trials * 1e3

    def spread_ms(self, method: str) -> float:
        """Median minus best, in ms per trial: how noisy the runs were."""
        return (statistics.median(self.seconds[method]) - min(self.seconds[method])) / self.trials * 1e3

    def added_ms(self, method: str) -> float:
        return self.per_trial_ms(method) - self.per_trial_ms("bare")

    def ratio(self, method: str) -> float:
        return self.per_trial_ms(method) / self.per_trial_ms("bare")

    def cpu_ratio(self, method: str) -> float:
        """Best CPU time of ``method`` over best of bare: barely moved by other processes' load
        (unlike wall time), but blind to waiting for the disk."""
        return min(self.cpu_seconds[method]) / min(self.cpu_seconds["bare"])


def measure(
    storage: str, sampler: str, replicates: int, trials: int, runs: int, methods: list[str]
) -> Measurement:
    """Run every method ``runs`` times, interleaved (the order rotates each round), fresh study each time."""
    result = Measurement(
        storage, sampler, replicates, trials, runs, {m: [] for m in methods}, {m: [] for m in methods}
    )
    with tempfile.TemporaryDirectory(prefix="bench-overhead-db-") as db_folder:
        reference_store: Any = (
            InMemoryStorage() if storage == "memory" else f"sqlite:///{Path(db_folder) / 'reference.db'}"
        )
        reference = trial_signature(run_bare(sampler, reference_store, trials, replicates, reseed=True)[1])
        for round_index in range(runs):
            order = methods[round_index % len(methods) :] + methods[: round_index % len(methods)]
            for method in order:
                if storage == "memory":
                    store: Any = InMemoryStorage()
                else:  # a fresh SQLite file per measurement
                    path = Path(db_folder) / f"{method}-{round_index}.db"
                    store = f"sqlite:///{path}"
                for key in EXECUTIONS:
                    EXECUTIONS[key] = 0
                gc.collect()
                timing, study = RUNNERS[method](sampler, store, trials, replicates)
                result.seconds[method].append(timing.wall)
                result.cpu_seconds[method].append(timing.cpu)
                if method in EXECUTIONS:
                    result.executions[method] = EXECUTIONS[method] / trials
                signature = trial_signature(study)
                if len(signature) != trials:
                    result.identical = False
                if method != "bare" and not same_trials(signature, reference):  # bare: plain Optuna
                    result.identical = False
                del study
                if storage != "memory":
                    path.unlink(missing_ok=True)
    return result


def files_written(trials: int, replicates: int) -> tuple[list[str], list[str] | None]:
    """Files created in an empty working directory by ours (and by crystallize-ml, if installed)."""
    with in_temp_cwd() as folder:
        experiment = our_experiment()  # default plugins, ArtifactPlugin(root_dir="data") included
        optimizer = co.OptunaOptimizer(
            SPACE, co.Objective(METRIC), sampler=make_sampler("random"), storage=":memory:"
        )
        experiment.optimize(optimizer, num_trials=trials, replicates_per_trial=replicates)
        ours = list_files(folder)
    theirs = None
    if cml is not None:
        with in_temp_cwd() as folder:
            CML_SEEDS[:] = replicate_seeds(replicates)
            experiment = cml_experiment()
            study = optuna.create_study(
                storage=InMemoryStorage(), sampler=make_sampler("random"), direction="minimize"
            )
            experiment.optimize(CmlOptunaOptimizer(study), num_trials=trials, replicates_per_trial=replicates)
            theirs = list_files(folder)
    return ours, theirs


def warm_up(methods: list[str]) -> None:
    """Import, JIT-free but cache-warming runs of every method and storage before measuring."""
    with tempfile.TemporaryDirectory(prefix="bench-overhead-warm-") as folder:
        for method in methods:
            for sampler in SAMPLERS:
                RUNNERS[method](sampler, InMemoryStorage(), 15, 2)
        for method in ("bare", "ours"):
            RUNNERS[method]("random", f"sqlite:///{Path(folder) / method}.db", 3, 1)


# -- reporting ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def git_state() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "crystallize_opt"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return commit + (" + uncommitted changes in crystallize_opt/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_line() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cml_version = getattr(cml, "__version__", None) if cml is not None else None
    if cml is not None and cml_version is None:
        from importlib.metadata import version

        cml_version = version("crystallize-ml")
    return (
        f"{dt.date.today().isoformat()}; nproc {cpus}; {platform.machine()} {platform.system()}; "
        f"Python {platform.python_version()}; optuna {optuna.__version__}; crystallize_opt {co.__version__} "
        f"(git {git_state()}); crystallize-ml {cml_version or 'not installed'}"
    )


def method_text(args: argparse.Namespace, methods: list[str]) -> str:
    cml_line = (
        "  crystallize-ml: the same sampler in an in-memory study driven through crystallize-ml's\n"
        "      BaseOptimizer/Experiment.optimize (a 20-line ask/tell adapter in this script), run in a temp\n"
        "      cwd (it writes result files); its data source draws the same seeded values as ours; its\n"
        "      logging set to WARNING and seed_fn given, so it prints nothing per trial (faster for it).\n"
        if "crystallize-ml" in methods
        else f"  crystallize-ml: not installed, comparison skipped (pip install crystallize-ml=={CML_VERSION})\n"
    )
    return (
        "Method\n"
        "  Pipeline: @data_source returning ctx.rng.normal(); @pipeline_step recording\n"
        "      loss = (x - 1)**2 + data; search space x ~ Float(-5, 5); minimize the mean loss.\n"
        "  bare: optuna.create_study + study.ask(space)/study.tell(mean) in a Python loop; per trial the\n"
        "      objective runs R times, each with np.random.default_rng(seed_r) on our replicate seeds; stores\n"
        "      only the value.\n"
        "  ours: OptunaOptimizer(space, Objective('loss'), sampler, storage) + exp.optimize(num_trials, R),\n"
        "      default plugins.\n"
        "  ours+cfg: ours with initial_ctx={'cfg': <nested dict, 11 leaves>} read by the step in every\n"
        "      replicate (each read deep-copies it: the cost of isolating replicates), in memory only.\n"
        f"{cml_line}"
        "  Same seeded sampler (RandomSampler(seed=0) isolates orchestration; TPESampler(seed=0) adds\n"
        "      1-4 ms of sampler work per trial) and the same objective values for every method: all evaluate\n"
        "      the same trials ('same trials' column: each method against an untimed bare run reseeding the\n"
        "      sampler before each trial by ours' rule, TrialSeeding; the timed bare loop is plain Optuna, so\n"
        "      ours' reseeding counts as overhead; crystallize-ml's adapter reseeds). Timed with time.perf_counter around study creation +\n"
        "      all trials (pipeline set-up included), gc.collect() before each run, after a warm-up run.\n"
        f"  In memory: {args.trials} trials, {args.runs} runs per method, interleaved (order rotates per\n"
        "      round), best run reported; 'spread' = median - best (noise indicator).\n"
        "  SQLite: both loops open the file through crystallize_opt's storage set-up (WAL journal,\n"
        "      synchronous=NORMAL, busy timeout), so only what each loop writes differs.\n"
        f"  SQLite: a fresh sqlite:/// temp file per run, {args.sqlite_trials} trials (fewer: SQLite costs 10-60 ms\n"
        f"      per trial here), {args.sqlite_runs} interleaved run(s) per method, best reported; samplers\n"
        f"      {', '.join(args.sqlite_samplers)}. Study creation and our one-time study set-up are in the total.\n"
        "  added = ours (or crystallize-ml) ms/trial - bare ms/trial; ratio = method / bare (wall time, what\n"
        "      the goals judge); CPU ratio = the same with time.process_time (information only).\n"
        "  Goals: in memory added <= 0.3 ms + 0.1 ms x (R-1) (ours and ours+cfg); SQLite ours/bare <= 1.3; crystallize-ml added\n"
        "      >= 10x ours added; pipeline executions per trial: ours <= half of crystallize-ml's;\n"
        "      no files written by an in-memory optimization.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300, help="trials per in-memory run (default 300)")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per method for in-memory storage (default 3)"
    )
    parser.add_argument("--sqlite-trials", type=int, default=100, help="trials per SQLite run (default 100)")
    parser.add_argument("--sqlite-runs", type=int, default=5, help="runs per method on SQLite (default 5)")
    parser.add_argument(
        "--replicates", type=int, nargs="+", default=[1, 5], help="replicates per trial (default 1 5)"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite measurements")
    parser.add_argument("--quick", action="store_true", help="small numbers, finishes in seconds (for CI)")
    args = parser.parse_args(argv)
    args.sqlite_samplers = SAMPLERS
    if args.quick:  # a smoke run: numbers are indicative only
        args.trials, args.runs, args.sqlite_trials, args.sqlite_runs = 40, 2, 8, 1
        args.sqlite_samplers = ("random",)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    methods = ["bare", "ours", "ours+cfg"] + (["crystallize-ml"] if cml is not None else [])
    print(f"Optimization overhead benchmark ({machine_line()})\n")
    print(method_text(args, methods))
    warm_up(methods)

    memory = [
        measure("memory", sampler, r, args.trials, args.runs, methods)
        for sampler in SAMPLERS
        for r in args.replicates
    ]
    sqlite = (
        []
        if args.no_sqlite
        else [
            measure("sqlite", sampler, r, args.sqlite_trials, args.sqlite_runs, ["bare", "ours"])
            for sampler in args.sqlite_samplers
            for r in args.replicates
        ]
    )

    results: list[bool] = []
    rows = []
    for m in memory:
        limit = 0.3 + 0.1 * (m.replicates - 1)
        ok = m.added_ms("ours") <= limit
        results.append(ok)
        rows.append(
            [
                "memory",
                m.sampler,
                str(m.replicates),
                str(m.trials),
                f"{m.per_trial_ms('bare'):.3f} (±{m.spread_ms('bare'):.3f})",
                f"{m.per_trial_ms('ours'):.3f} (±{m.spread_ms('ours'):.3f})",
                f"{m.added_ms('ours'):.3f}",
                f"{m.ratio('ours'):.3f}x",
                f"{m.cpu_ratio('ours'):.3f}x",
                "yes" if m.identical else "NO",
                f"added <= {limit:.1f} ms",
                verdict(ok),
            ]
        )
    for m in sqlite:
        ok = m.ratio("ours") <= 1.3
        results.append(ok)
        rows.append(
            [
                "sqlite",
                m.sampler,
                str(m.replicates),
                str(m.trials),
                f"{m.per_trial_ms('bare'):.2f} (±{m.spread_ms('bare'):.2f})",
                f"{m.per_trial_ms('ours'):.2f} (±{m.spread_ms('ours'):.2f})",
                f"{m.added_ms('ours'):.2f}",
                f"{m.ratio('ours'):.3f}x",
                f"{m.cpu_ratio('ours'):.3f}x",
                "yes" if m.identical else "NO",
                "ratio <= 1.3x",
                verdict(ok),
            ]
        )
    print(
        "Ours vs a bare Optuna ask/tell loop (ms per trial; best run, ± = median - best; CPU ratio = best\n"
        "CPU time of ours / of bare, for information: other processes' load barely moves it)\n"
    )
    header = [
        "storage",
        "sampler",
        "R",
        "trials",
        "bare",
        "ours",
        "added",
        "ratio",
        "CPU ratio",
        "same trials",
        "goal",
        "result",
    ]
    print(table(header, rows))

    rows = []
    for m in memory:
        limit = 0.3 + 0.1 * (m.replicates - 1)
        ok = m.added_ms("ours+cfg") <= limit
        results.append(ok)
        isolation = m.per_trial_ms("ours+cfg") - m.per_trial_ms("ours")
        rows.append(
            [
                m.sampler,
                str(m.replicates),
                f"{m.per_trial_ms('ours'):.3f} (±{m.spread_ms('ours'):.3f})",
                f"{m.per_trial_ms('ours+cfg'):.3f} (±{m.spread_ms('ours+cfg'):.3f})",
                f"{isolation:.3f}",
                f"{isolation / m.replicates * 1e3:.1f}",
                f"{m.added_ms('ours+cfg'):.3f}",
                "yes" if m.identical else "NO",
                f"added <= {limit:.1f} ms",
                verdict(ok),
            ]
        )
    copy_us = min(timeit.repeat(lambda: isolated(NESTED_CFG), number=2000, repeat=5)) / 2000 * 1e6
    number_us = min(timeit.repeat(lambda: isolated(0.5), number=20000, repeat=5)) / 20000 * 1e6
    print(
        "\nContext isolation, in memory (ms per trial): ours+cfg reads a nested config from the context\n"
        "in every replicate, each read a deep copy; ours reads only numbers, never copied. isolation =\n"
        f"ours+cfg - ours. One isolated read here: nested config {copy_us:.1f} us, a number {number_us:.2f} us\n"
    )
    header = [
        "sampler",
        "R",
        "ours",
        "ours+cfg",
        "isolation",
        "us/replicate",
        "added",
        "same trials",
        "goal",
        "result",
    ]
    print(table(header, rows))

    if cml is not None:
        rows = []
        for m in memory:
            ours_added, theirs_added = m.added_ms("ours"), m.added_ms("crystallize-ml")
            factor = theirs_added / ours_added if ours_added > 0 else math.inf
            ok_time = factor >= 10
            ok_exec = m.executions["ours"] <= m.executions["crystallize-ml"] / 2
            results += [ok_time, ok_exec]
            rows.append(
                [
                    m.sampler,
                    str(m.replicates),
                    f"{m.per_trial_ms('crystallize-ml'):.3f} (±{m.spread_ms('crystallize-ml'):.3f})",
                    f"{theirs_added:.3f}",
                    f"{ours_added:.3f}",
                    f"{factor:.0f}x" if math.isfinite(factor) else "inf (ours <= 0)",
                    verdict(ok_time),
                    f"{m.executions['ours']:g}",
                    f"{m.executions['crystallize-ml']:g}",
                    verdict(ok_exec),
                ]
            )
        print(f"\nOurs vs crystallize-ml {CML_VERSION}, in memory (ms per trial; added = over bare)\n")
        header = [
            "sampler",
            "R",
            "crystallize-ml",
            "its added",
            "our added",
            "its/our added (>= 10x)",
            "result",
            "our execs/trial",
            "its execs/trial",
            "result (ours <= half)",
        ]
        print(table(header, rows))
    else:
        print(
            f"\ncrystallize-ml comparison skipped: not installed (pip install crystallize-ml=={CML_VERSION})"
        )

    file_trials = args.trials
    ours_files, their_files = files_written(file_trials, 5)
    results.append(not ours_files)
    print(f"\nFiles written in an empty cwd by {file_trials} trials x 5 replicates (storage=':memory:')")
    print(
        f"  ours: {len(ours_files)} file(s) {ours_files[:10] if ours_files else ''} -> {verdict(not ours_files)}"
    )
    if their_files is not None:
        print(
            f"  crystallize-ml (for comparison, no goal): {len(their_files)} file(s), e.g. {their_files[:3]}"
        )

    print(
        f"\nSummary: {sum(results)} of {len(results)} goals PASS"
        + ("" if all(results) else " (see FAIL rows)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
