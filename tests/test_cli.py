"""The ``crystallize-opt`` command line, end to end in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from .servers import REPO, write_study

STUDIES = REPO / "studies"


def cli(*args: str, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crystallize_opt", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_help_everywhere() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("run", "optimize", "report", "best", "studies", "trials"):
        assert command in result.stdout
        sub = cli(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "usage: crystallize-opt " + command in sub.stdout


def test_run_prints_metrics_and_hypotheses(tmp_path: Path) -> None:
    study = write_study(tmp_path / "tiny")
    result = cli("run", str(study), "-o", str(tmp_path / "result.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["condition", "metric", "mean", "SEM", "n"]
    baseline_row = next(line for line in lines if line.startswith("baseline"))
    assert baseline_row.split()[1] == "loss" and baseline_row.split()[-1] == "3"
    assert any(line.startswith("one") for line in lines)
    assert "hypothesis welch_t_test:loss" in result.stdout
    saved = json.loads((tmp_path / "result.json").read_text())
    assert len(saved["metrics"]["treatments"]["one"]["by_replicate"]) == 3


def test_optimize_then_inspect_the_study(tmp_path: Path) -> None:
    study = write_study(tmp_path / "tiny")
    storage = f"sqlite:///{tmp_path / 'tiny.db'}"
    result = cli(
        "optimize", str(study), "--storage", storage, "--trials", "8", "--no-report", "-q", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("best trial-")
    assert "estimate:" in result.stdout and "(SEM, n=2)" in result.stdout
    assert f"study: 'tiny' in {storage}" in result.stdout
    stored = optuna.load_study(study_name="tiny", storage=storage)
    assert len(stored.get_trials(states=(TrialState.COMPLETE,))) == 8

    as_json = cli("best", "--storage", storage, "--study", "tiny", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    best = json.loads(as_json.stdout)
    ((name, params),) = best.items()
    assert name == f"trial-{stored.best_trial.number}" and params == stored.best_trial.params
    as_yaml = cli("best", str(study), "--storage", storage)
    assert yaml.safe_load(as_yaml.stdout) == best, "YAML ready to paste into treatments:"

    listing = cli("studies", "--storage", storage)
    assert listing.returncode == 0
    row = next(line for line in listing.stdout.splitlines() if line.startswith("tiny"))
    assert row.split()[1:3] == ["minimize", "8"]

    trials = cli("trials", "--storage", storage, "--study", "tiny", "--top", "3")
    assert trials.returncode == 0
    rows = trials.stdout.splitlines()[2:]
    assert len(rows) == 3 and rows[0].split()[0] == str(stored.best_trial.number)


def test_configuration_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    study = write_study(tmp_path / "tiny", extra_yaml="  bogus_key: 3\n")
    result = cli("optimize", str(study), "--storage", "sqlite:///" + str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "optimize.bogus_key" in result.stderr and "Traceback" not in result.stderr
    debug = cli("--debug", "optimize", str(study), "--storage", "sqlite:///" + str(tmp_path / "x.db"))
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    missing = cli("best", "--storage", "sqlite:///" + str(tmp_path / "x.db"), "--study", "nope")
    assert (
        missing.returncode == 2
        and f"the database file '{tmp_path / 'x.db'}' does not exist" in missing.stderr
    )
    usage = cli("optimize")
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_a_run_failure_exits_1(tmp_path: Path) -> None:
    study = write_study(tmp_path / "tiny", fail=True)
    result = cli(
        "optimize", str(study), "--storage", "sqlite:///" + str(tmp_path / "x.db"), "--no-report", "-q"
    )
    assert result.returncode == 1
    assert "every trial failed" in result.stderr and "this pipeline always fails" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_interrupted_optimization_resumes_to_exactly_its_target(tmp_path: Path) -> None:
    study = write_study(tmp_path / "tiny", sleep=0.05)
    storage = f"sqlite:///{tmp_path / 'tiny.db'}"
    args = [
        sys.executable,
        "-m",
        "crystallize_opt",
        "optimize",
        str(study),
        "--storage",
        storage,
        "--trials",
        "30",
        "--no-report",
        "-q",
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                done = optuna.load_study(study_name="tiny", storage=storage).get_trials(
                    states=(TrialState.COMPLETE,)
                )
            except KeyError:
                continue
            if len(done) >= 3:
                break
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "run the command again to resume" in stderr
    interrupted = optuna.load_study(study_name="tiny", storage=storage)
    states = [t.state for t in interrupted.trials]
    assert TrialState.RUNNING not in states
    assert 3 <= states.count(TrialState.COMPLETE) < 30

    resumed = cli("optimize", str(study), "--storage", storage, "--trials", "30", "--no-report", "-q")
    assert resumed.returncode == 0, resumed.stderr
    final = optuna.load_study(study_name="tiny", storage=storage)
    assert len(final.get_trials(states=(TrialState.COMPLETE,))) == 30
    assert sorted(t.number for t in final.trials) == list(range(len(final.trials)))


@pytest.mark.parametrize("name", ["quickstart", "logistic_regression", "mlp_pareto"])
def test_each_example_study_runs_a_few_trials_and_writes_its_report(name: str, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    report = tmp_path / "report.html"
    result = cli(
        "optimize",
        str(STUDIES / name),
        "--storage",
        storage,
        "--trials",
        "4",
        "--replicates",
        "2",
        "--report",
        str(report),
        "-q",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("best trial-")
    assert report.is_file() and report.stat().st_size > 100_000
    study = optuna.load_study(study_name=name, storage=storage)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
