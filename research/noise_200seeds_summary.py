"""Recompute research/noise_200seeds_summary.txt from research/noise_200seeds_per_run.csv.

The CSV holds every run of the 200-seed comparison (6 noisy cells, 2 noise models, seeds 0-199): the
plain recipes from ``bench_noise.py --seeds 100 [--first-seed 100] [--rho 0]`` (identical on every
machine) and ours (``ours``) from ``bench_noise.py --seeds 200 --methods ours [--rho 0]`` at 6e4a6d5
(the noise-aware default sampler); ``ours_beb2d12`` is ours at beb2d12 (multivariate TPE throughout),
kept for comparison and not read here. Prints, per
noise model and seed range, ours' median / the best plain median, the largest paired Wilcoxon p of
ours against the three recipes (pairs ours wins) and the issue's bar.
"""

import collections
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from _noise_problems import CELLS, cell_name
from bench_noise import PLAIN, wilcoxon_p

NOISY_CELLS = [cell_name(problem, sd) for problem, sd in CELLS if sd > 0]


def main() -> None:
    runs: dict[tuple[str, str, str], dict[int, float]] = collections.defaultdict(dict)
    with open(Path(__file__).with_name("noise_200seeds_per_run.csv")) as handle:
        for row in csv.DictReader(handle):
            runs[(row["rho"], row["cell"], row["method"])][int(row["seed"])] = float(row["inference_regret"])
    for rho in ("0.5", "0"):
        for label, low, high in (("0-99", 0, 100), ("100-199", 100, 200), ("0-199", 0, 200)):
            print(f"rho {rho} seeds {label}")
            passed = 0
            for cell in NOISY_CELLS:
                seeds = [s for s in sorted(runs[(rho, cell, "ours")]) if low <= s < high]
                ours = [runs[(rho, cell, "ours")][s] for s in seeds]
                plain = {m: [runs[(rho, cell, m)][s] for s in seeds] for m in PLAIN}
                best = min(PLAIN, key=lambda m: np.median(plain[m]))
                worst = max(PLAIN, key=lambda m: wilcoxon_p(ours, plain[m]))
                ok = all(
                    np.median(ours) < np.median(plain[m]) and wilcoxon_p(ours, plain[m]) < 0.05 for m in PLAIN
                )
                passed += ok
                wins = sum(a < b for a, b in zip(ours, plain[worst], strict=True))
                print(
                    f"  | {cell} | {np.median(ours):.3g} / {np.median(plain[best]):.3g} ({best.replace('tpe_', '')}) "
                    f"= {np.median(ours) / np.median(plain[best]):.2f}, p {wilcoxon_p(ours, plain[worst]):.2g} "
                    f"({worst.replace('tpe_', '')}, {wins}/{len(seeds)}) | {'PASS' if ok else '**FAIL**'} |"
                )
            print(f"  passed {passed}/6")


if __name__ == "__main__":
    main()
