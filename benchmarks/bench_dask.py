"""Throughput of N Dask workers against N local workers: steady-state trials per minute.

One command, prints how it measured and a table; it never fails on speed and always exits 0:

    python benchmarks/bench_dask.py [--workers 2] [--trials 150] [--rounds 2]

Same pipeline, storage and measure as ``bench_workers.py`` (its ``cpu`` pipeline: a pure-Python
loop calibrated to ~0.2 s, one replicate per trial; a journal file in a temporary folder;
``TPESampler(seed=0)``; steady-state rate from the storage's own timestamps, see
``bench_workers.steady_rate``). Local: ``Experiment.optimize(..., workers=N)``. Dask:
``Experiment.optimize(..., workers=N, cluster=client)`` on a ``LocalCluster`` of N worker
processes with one thread each, started once before the runs (its start-up is not counted;
a cluster outlives runs). Runs alternate local, Dask, local, Dask ... (``--rounds`` each) so
that changes in the machine's load hit both alike; the table shows every run and the median
per kind. Goal (issue 18): Dask within 10% of local.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_workers as bw
import cloudpickle
from optuna.trial import TrialState

import crystallize_opt as co
from crystallize_opt.storage import resolve_storage

cloudpickle.register_pickle_by_value(bw)  # the Dask workers cannot import this folder's module


def run_once(kind: str, workers: int, trials: int, iterations: int, client: object) -> list[str]:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        url = f"journal:///{Path(tmp) / 'study.log'}"
        optimizer = co.OptunaOptimizer(
            search_space=bw.SPACE,
            objective=co.Objective("loss"),
            sampler=optuna.samplers.TPESampler(seed=0),
            storage=url,
            study_name="bench",
        )
        extra = {"cluster": client} if kind == "dask" else {}
        started = time.perf_counter()
        bw.experiment("cpu", iterations).optimize(
            optimizer, num_trials=trials, replicates_per_trial=1, workers=workers, **extra
        )
        wall = time.perf_counter() - started
        study = optuna.load_study(study_name="bench", storage=resolve_storage(url))
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        steady, window = bw.steady_rate(done)
    return [
        kind,
        str(workers),
        str(len(done)),
        f"{steady:.0f}",
        f"{window:.1f}",
        f"{60 * trials / wall:.0f}",
        f"{load:.2f}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    iterations = bw.calibrate(bw.TRIAL_SECONDS)
    print(__doc__)
    print(f"machine: {os.cpu_count()} cores; {bw.uptime()}; code: {bw.git_state()}")
    print(f"cpu pipeline: {iterations} iterations ~ {bw.TRIAL_SECONDS} s; {args.trials} trials a run\n")
    rows = []
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        for _ in range(args.rounds):
            for kind in ("local", "dask"):
                rows.append(run_once(kind, args.workers, args.trials, iterations, client))
                print(" | ".join(rows[-1]), flush=True)
    medians = {k: statistics.median(float(r[3]) for r in rows if r[0] == k) for k in ("local", "dask")}
    headers = [
        "kind",
        "workers",
        "complete",
        "steady trials/min",
        "window s",
        "end-to-end trials/min",
        "load",
    ]
    print()
    print(bw.table(headers, rows))
    ratio = medians["dask"] / medians["local"]
    verdict = "PASS" if ratio >= 0.9 else "FAIL"
    print(
        f"\nmedian steady trials/min: local {medians['local']:.0f}, Dask {medians['dask']:.0f}: "
        f"Dask/local = {ratio:.3f} ({verdict}: goal >= 0.90)"
    )
    print(f"after: {bw.uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
