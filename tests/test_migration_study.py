"""studies/from_crystallize_ml: a study folder in crystallize-ml 0.27's config format runs
unchanged from the command line (alias-mapping datasource, outputs with writer and loader,
treatments that steps read from the context, a verifier factory from verifiers.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from crystallize_opt import load_metrics

STUDY = Path(__file__).resolve().parents[1] / "studies" / "from_crystallize_ml"


def test_the_reference_format_study_runs_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / "from_crystallize_ml"
    shutil.copytree(STUDY, folder)
    done = subprocess.run(
        [sys.executable, "-m", "crystallize_opt", "run", str(folder)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for condition in ("baseline", "strong_penalty", "no_penalty"):
        assert condition in done.stdout
    assert "hypothesis penalty_changes_holdout_error" in done.stdout
    # Read back as a crystallize-ml user does, from the stored results.json files.
    _, baseline, treatments = load_metrics(tmp_path / "data" / "from_crystallize_ml")
    assert len(baseline["holdout_mse"]) == 8 and len(baseline["weight_norm"]) == 8
    # The treatments reach the step through the context: their coefficients differ.
    assert treatments["no_penalty"]["weight_norm"] != baseline["weight_norm"]
    stored = sorted((tmp_path / "data" / "from_crystallize_ml").rglob("coefficients.json"))
    assert len(stored) == 8 * 3, "one file per replicate and condition"
    assert len(json.loads(stored[0].read_text())) == 8, "written by outputs.py's json_writer"
