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


def test_reference_hypothesis_metrics_forms_and_cacheable_steps_from_yaml(
    tmp_path: Path, monkeypatch
) -> None:
    """crystallize-ml's `metrics:` forms: a list of lists (one verifier output per group) and
    null (every metric); `@pipeline_step(cacheable=True)` in steps.py stays cacheable."""
    from crystallize_opt import Experiment

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "groups"
    folder.mkdir()
    (folder / "config.yaml").write_text(
        "replicates: 2\ndatasource: {src: numbers}\nsteps: [add_delta, {measure: {scale: 2}}]\n"
        "treatments: {bigger: {delta: 5}, same: null}\n"
        "hypotheses:\n  - {name: grouped, verifier: diff, metrics: [[a], [b]]}\n"
        "  - {verifier: diff, metrics: null}\n"
    )
    (folder / "datasources.py").write_text(
        "from crystallize_opt import data_source\n@data_source\ndef numbers(ctx):\n    return ctx['replicate']\n"
    )
    (folder / "steps.py").write_text(
        "from crystallize_opt import pipeline_step\n"
        "@pipeline_step(cacheable=True)\ndef add_delta(data, ctx, delta=0):\n    return data + delta\n"
        "@pipeline_step()\ndef measure(data, ctx, scale=1):\n"
        "    ctx.metrics.add('a', data * scale)\n    ctx.metrics.add('b', data)\n    return data\n"
    )
    (folder / "verifiers.py").write_text(
        "from crystallize_opt import verifier\n@verifier\ndef diff(baseline, treatment):\n"
        "    return {'p_value': 0.5, 'd': sum(sum(treatment[k]) - sum(baseline[k]) for k in sorted(baseline))}\n"
    )
    exp = Experiment.from_yaml(folder / "config.yaml")
    assert [s.cacheable for s in exp.pipeline.steps] == [True, False]
    result = exp.run()
    grouped = result.get_hypothesis("grouped")
    assert [out["d"] for out in grouped.results["bigger"]] == [20.0, 10.0]  # groups a, b
    every = result.get_hypothesis("diff:*")
    assert every.results["bigger"]["d"] == 30.0 and every.results["same"]["d"] == 0.0
