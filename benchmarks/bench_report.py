"""Size and write time of ``crystallize_opt.report.write_report`` on large studies.

One command, prints how it measured and a table with PASS/FAIL per goal (it always exits 0):

    python benchmarks/bench_report.py [--trials 10000] [--quick]

The study is synthetic and built in memory in a second or two (``optuna.create_trial`` +
``study.add_trials``), with everything shaped as ``OptunaOptimizer`` stores it: 6 parameters (a
log-scaled float, two floats, an int, a float, a 3-way categorical), 5 replicate values per trial
of two metrics with their statistics, seeds, duration and objective in the trial's
``"crystallize"`` user attribute, the study's settings and a baseline. About 5% of the trials are
pruned (3 replicates) and 2% failed, as in a real noisy study.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import gzip
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import plotly.offline
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

import crystallize_opt
from crystallize_opt.report import write_report

MAX_MB = 25.0
MAX_SECONDS = 60.0
REPLICATES = 5
SPACE = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "x": FloatDistribution(-5.0, 5.0),
    "y": FloatDistribution(-5.0, 5.0),
    "depth": IntDistribution(1, 12),
    "dropout": FloatDistribution(0.0, 0.5),
    "optimizer": CategoricalDistribution(["adam", "sgd", "rmsprop"]),
}


def _record(values: dict[str, list[float]], seeds: list[int], params: dict[str, Any]) -> dict[str, Any]:
    stats = {}
    for name, column in values.items():
        n = len(column)
        mean = math.fsum(column) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in column) / (n - 1)) if n > 1 else math.nan
        stats[name] = {"mean": mean, "std": std, "sem": std / math.sqrt(n) if n > 1 else math.nan, "n": n}
    return {
        "treatment": params,
        "replicates": list(range(len(seeds))),
        "seeds": seeds,
        "values": values,
        "stats": stats,
        "failures": [],
        "duration": 0.05 * len(seeds),
        "objective": {"loss": stats["loss"]["mean"]},
        "pipeline_signature": "0123456789abcdef",
        "package_version": crystallize_opt.__version__,
    }


def synthetic_study(n_trials: int, seed: int = 0) -> optuna.Study:
    """An in-memory study of ``n_trials`` trials shaped like crystallize-opt's (see the module doc)."""
    rng = np.random.default_rng(seed)
    study = optuna.create_study(study_name=f"bench-report-{n_trials}", direction="minimize")
    study.set_user_attr(
        "crystallize",
        {
            "experiment": "bench",
            "objective": {
                "metrics": ["loss"],
                "directions": ["minimize"],
                "aggregate": "mean",
                "constraints": [],
            },
            "sampler": {"class": "TPESampler", "settings": {"n_startup_trials": 10, "constant_liar": True}},
            "replicates_per_trial": REPLICATES,
        },
    )
    seeds = [int(s) for s in rng.integers(0, 2**32, REPLICATES)]
    base = (rng.normal(2.0, 0.5, REPLICATES)).tolist()
    study.set_user_attr(
        "crystallize_baseline", _record({"loss": base, "latency": [1.0] * REPLICATES}, seeds, {})
    )
    states = rng.choice([0, 1, 2], size=n_trials, p=[0.93, 0.05, 0.02])  # complete, pruned, failed
    trials = []
    for i in range(n_trials):
        params: dict[str, Any] = {
            "lr": float(10 ** rng.uniform(-5, -1)),
            "x": float(rng.uniform(-5, 5)),
            "y": float(rng.uniform(-5, 5)),
            "depth": int(rng.integers(1, 13)),
            "dropout": float(rng.uniform(0, 0.5)),
            "optimizer": str(rng.choice(["adam", "sgd", "rmsprop"])),
        }
        true = (
            (params["x"] - 1.5) ** 2 + 0.5 * (params["y"] + 1) ** 2 + 0.1 * abs(math.log10(params["lr"]) + 3)
        )
        true += 0.3 if params["optimizer"] == "sgd" else 0.0
        n = 3 if states[i] == 1 else REPLICATES
        values = {
            "loss": (true + rng.normal(0, 0.5, n)).tolist(),
            "latency": (params["depth"] * 0.1 + rng.normal(0, 0.01, n)).tolist(),
        }
        record = _record(values, seeds[:n], params)
        if states[i] == 2:
            record.update(
                values={}, stats={}, failure=f"trial-{i}, replicate 0 in step 'train': RuntimeError: diverged"
            )
            trials.append(
                optuna.create_trial(
                    state=TrialState.FAIL,
                    params=params,
                    distributions=SPACE,
                    user_attrs={"crystallize": record},
                )
            )
            continue
        state = TrialState.PRUNED if states[i] == 1 else TrialState.COMPLETE
        value = record["stats"]["loss"]["mean"]
        trials.append(
            optuna.create_trial(
                state=state,
                value=value,
                params=params,
                distributions=SPACE,
                user_attrs={"crystallize": record},
            )
        )
    study.add_trials(trials)
    return study


def measure(n_trials: int, folder: Path) -> dict[str, Any]:
    start = time.perf_counter()
    study = synthetic_study(n_trials)
    built = time.perf_counter() - start
    gc.collect()
    start = time.perf_counter()
    path = write_report(study, folder / f"report-{n_trials}.html")
    seconds = time.perf_counter() - start
    mb = path.stat().st_size / 2**20
    return {"trials": n_trials, "build": built, "mb": mb, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000, help="largest study (default 10000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 and 1000 trials")
    args = parser.parse_args(argv)
    sizes = [200, 1_000] if args.quick else sorted({1_000, max(1, args.trials // 2), args.trials})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print("Method")
    print(
        f"  - synthetic in-memory study per size (create_trial + add_trials): 6 params incl. a categorical, {REPLICATES}"
    )
    print(
        "    replicates x 2 metrics with stats/seeds per trial, ~5% pruned and ~2% failed, a baseline and study settings"
    )
    print(
        "  - timed: one call of write_report(study, path) per size (extraction, importances, figures, HTML, file write)"
    )
    print(
        "    with time.perf_counter after gc.collect(), sizes in one process in increasing order (the first one also pays"
    )
    print(
        "    plotly's one-time set-up); size = bytes of the HTML file / 2**20, of which plotly.js itself is"
    )
    print(f"    {len(plotly.offline.get_plotlyjs()) / 2**20:.2f} MB (inlined once so the file opens offline)")
    print(f"  - goals: HTML < {MAX_MB:g} MB and written in < {MAX_SECONDS:g} s for every size")
    print(
        f"  - {dt.date.today().isoformat()}, {platform.machine()} {platform.system()}, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()}, optuna {optuna.__version__}, crystallize_opt {crystallize_opt.__version__}"
    )
    print()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rows.append(measure(n, Path(tmp)))
    header = ["trials", "study built (s)", "HTML size (MB)", "write time (s)", "goal", "result"]
    table = []
    for r in rows:
        ok = r["mb"] < MAX_MB and r["seconds"] < MAX_SECONDS
        table.append(
            [
                f"{r['trials']:,}",
                f"{r['build']:.2f}",
                f"{r['mb']:.2f}",
                f"{r['seconds']:.2f}",
                f"< {MAX_MB:g} MB, < {MAX_SECONDS:g} s",
                "PASS" if ok else "FAIL",
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    passed = sum(row[-1] == "PASS" for row in table)
    print(f"\nSummary: {passed} of {len(table)} sizes PASS")
    print()
    print(
        "Size by how plotly.js is included (write_report(..., plotlyjs=...)); gzip: the inline file gzip -6"
    )
    print(
        "| trials | inline (MB) | inline, gzip (MB) | shared: page (MB) | shared: plotly.min.js once per folder (MB) |"
    )
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in [100, *sizes[-1:]]:
            study = synthetic_study(n)
            inline = write_report(study, Path(tmp) / f"inline-{n}.html")
            shared = write_report(study, Path(tmp) / f"shared-{n}.html", plotlyjs="shared")
            library = Path(tmp) / "plotly.min.js"
            zipped = len(gzip.compress(inline.read_bytes(), compresslevel=6))
            mb = 2**20
            print(
                f"| {n:,} | {inline.stat().st_size / mb:.2f} | {zipped / mb:.2f} | {shared.stat().st_size / mb:.2f} "
                f"| {library.stat().st_size / mb:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
