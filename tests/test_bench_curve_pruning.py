"""The learning-curve pruning benchmark (``benchmarks/bench_curve_pruning.py``) in its ``--quick``
form: it trains real scikit-learn models, prints every method's row and the issue's bars, dumps
every run's regret, and the noise-aware method stays within the epoch budget. Nothing here is
timed, and quality is not checked (two seeds decide nothing)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .optional import require_package

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_curve_pruning.py"
METHODS = ("noprune_r3", "single_noprune", "single_hyperband", "ours_pooled_hyperband", "noise_hyperband")
FRACTIONS = 3  # regret is reported at B/9, B/3 and B


def test_quick_run_reports_every_method_within_the_budget(tmp_path: Path) -> None:
    require_package("sklearn", "test")
    dump = tmp_path / "runs.jsonl"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--dump", str(dump)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(BENCH.parent.parent)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    for method in METHODS:
        assert re.search(rf"^{method} +\d+ ", text, re.MULTILINE), f"no row for {method}:\n{text}"
    assert "bar 1 ours_pooled_hyperband" in text and "bar 2 noise_hyperband vs single_hyperband" in text

    runs = [json.loads(line) for line in dump.read_text().splitlines()]
    assert sorted({r["method"] for r in runs}) == sorted(METHODS)
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        assert len(mine) == 2 * FRACTIONS, method  # two seeds, one problem
        assert all(0.0 <= r["regret"] < 1.0 for r in mine), mine  # a share of validation error

    spent = re.search(r"^noise_hyperband: epochs trained .*$", text, re.MULTILINE)
    assert spent is not None, text
    shares = [float(s) for s in re.findall(r"B\*[\d.]+: ([\d.]+)B", spent.group(0))]
    assert len(shares) == FRACTIONS and all(0.0 < s <= 1.0 for s in shares), spent.group(0)
