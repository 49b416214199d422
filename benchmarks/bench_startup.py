"""Start-up time of the ``crystallize-opt`` command line: ``--help`` and an argument error.

One command, prints how it measured and a table with PASS/FAIL per goal (it always exits 0):

    python benchmarks/bench_startup.py [--runs 15]

Each command runs as a fresh process, as a user types it: the console scripts of this
environment (``crystallize-opt``, ``optuna``; ``python -m`` where a script is missing). The
commands run interleaved, round after round (the machine is shared and its load moves), and the
table gives the median, best and worst wall time of the runs, and the median CPU time (user +
system, of the process and its children; it hardly moves with the load of other processes).
``optuna --help`` is there for reference: it is what Optuna's own command line costs, and
``python -c pass`` is the interpreter's own start-up, the floor for any Python command.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: Goal of the issue: --help and argument errors answer within 0.3 s.
GOAL_SECONDS = 0.3


def script(name: str, module: str) -> list[str]:
    """The console script ``name`` of this environment, else ``python -m module``."""
    path = Path(sys.executable).parent / name
    return [str(path)] if path.exists() else [sys.executable, "-m", module]


def commands() -> list[tuple[str, list[str], int, bool]]:
    """(label, command, expected exit code, judged by the goal)."""
    ours = script("crystallize-opt", "crystallize_opt")
    return [
        ("crystallize-opt --help", [*ours, "--help"], 0, True),
        ("crystallize-opt optimize --help", [*ours, "optimize", "--help"], 0, True),
        ("crystallize-opt optimize (argument error)", [*ours, "optimize"], 2, True),
        ("optuna --help (reference)", [*script("optuna", "optuna.cli"), "--help"], 0, False),
        ("python -c pass (interpreter)", [sys.executable, "-c", "pass"], 0, False),
    ]


def run_once(command: list[str], expected: int) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command``.

    Raises:
        RuntimeError: if it exits with another code than ``expected``.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != expected:
        raise RuntimeError(f"{command} exited {result.returncode}, expected {expected}:\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    args = parser.parse_args(argv)

    cases = commands()
    print(__doc__.strip().split("\n\n")[0])
    print(f"\nmethod: {args.runs} runs of each command, interleaved, after one warm-up run of each;")
    print("wall time with time.perf_counter around subprocess.run, CPU time from RUSAGE_CHILDREN.")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for _, command, code, _ in cases:  # warm-up: file caches, .pyc files
        run_once(command, code)
    walls: dict[str, list[float]] = {label: [] for label, *_ in cases}
    cpus: dict[str, list[float]] = {label: [] for label, *_ in cases}
    for _ in range(args.runs):
        for label, command, code, _ in cases:
            wall, cpu = run_once(command, code)
            walls[label].append(wall)
            cpus[label].append(cpu)
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")

    header = f"{'command':<44} {'median s':>9} {'best s':>7} {'worst s':>8} {'CPU s':>6}  goal"
    print(header)
    print("-" * len(header))
    for label, _, _, judged in cases:
        median = statistics.median(walls[label])
        verdict = ("PASS" if median <= GOAL_SECONDS else "FAIL") + f" (<= {GOAL_SECONDS} s)" if judged else ""
        print(
            f"{label:<44} {median:>9.3f} {min(walls[label]):>7.3f} {max(walls[label]):>8.3f} "
            f"{statistics.median(cpus[label]):>6.3f}  {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
