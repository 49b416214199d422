"""One compact Markdown table from ``bench_noise.py --dump`` files (several runs, one per cell).

    python benchmarks/bench_noise_table.py /tmp/bench/tuning_*.jsonl --ref ours

Per cell and method: the seeds, the median inference regret and its IQR, and the two-sided paired
Wilcoxon p-value against the method ``--ref`` (paired by seed, on the seeds both ran) with the pairs it wins, ties and
loses; per cell, the method with the lowest median is in bold.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_noise import PLAIN, SUITE, iqr, markdown_table, wilcoxon_one_sided, wilcoxon_p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dumps", nargs="+")
    parser.add_argument("--ref", default="ours", help="the method the others are tested against")
    args = parser.parse_args(argv)
    runs: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    sets: dict[str, str] = {}
    for path in args.dumps:
        for line in Path(path).read_text().splitlines():
            item = json.loads(line)
            runs[item["cell"]][item["method"]][item["seed"]] = item["inference"]
            sets[item["cell"]] = item.get("set", "?")
    rows = []
    for cell, by_method in runs.items():
        medians = {m: float(np.median(list(v.values()))) for m, v in by_method.items()}
        best = min(medians.values())
        for m, values in by_method.items():
            seeds = sorted(values)
            a = np.array([values[s] for s in seeds])
            p = wins = ""
            if m != args.ref and args.ref in by_method:  # paired on the seeds both ran
                common = sorted(set(values) & set(by_method[args.ref]))
                ref = np.array([by_method[args.ref][s] for s in common])
                b = np.array([values[s] for s in common])
                p = f"{wilcoxon_p(ref, b):.2g}"
                wins = f"{int(np.sum(ref < b))}/{int(np.sum(ref == b))}/{int(np.sum(ref > b))}"
            median = f"{medians[m]:.4g}"
            rows.append(
                [
                    cell,
                    sets[cell],
                    m,
                    str(len(seeds)),
                    f"**{median}**" if medians[m] == best else median,
                    iqr(a),
                    p,
                    wins,
                ]
            )
    header = ["cell", "set", "method", "seeds", "median inference regret", "IQR", f"p vs {args.ref}"]
    header.append(f"{args.ref} wins/ties/losses")
    print(markdown_table(header, rows))
    print()
    summary = []
    for cell, by_method in runs.items():
        if args.ref not in by_method or len(by_method) < 2:
            continue
        seeds = sorted(by_method[args.ref])
        ref = np.array([by_method[args.ref][s] for s in seeds])
        others = {
            m: np.array([v[s] for s in seeds])
            for m, v in by_method.items()
            if m != args.ref and set(seeds) <= set(v)
        }
        if cell in SUITE and SUITE[cell].sd == 0 and SUITE[cell].shape != "real":  # noise-free
            base = others.get("tpe_1x300")
            ok = base is not None and np.median(ref) <= 1.1 * np.median(base)
            summary.append(
                [cell, sets[cell], "PASS" if ok else "FAIL", "noise-free: median <= 1.1 x tpe_1x300", ""]
            )
            continue
        worse = {m: wilcoxon_one_sided(ref, a, "greater") for m, a in others.items()}
        better = {m: wilcoxon_one_sided(ref, a, "less") for m, a in others.items() if m in PLAIN}
        summary.append(
            [
                cell,
                sets[cell],
                "PASS" if all(p >= 0.05 for p in worse.values()) else "FAIL",
                ", ".join(f"{m} {p:.2g}" for m, p in worse.items()),
                ", ".join(f"{m} {'yes' if p < 0.05 else 'no'}" for m, p in better.items()),
            ]
        )
    print(
        markdown_table(
            [
                "cell",
                "set",
                f"bar: {args.ref} never significantly worse",
                f"one-sided p ({args.ref} worse than m)",
                f"{args.ref} significantly better (p<0.05) than",
            ],
            summary,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
