"""The command line on a noise-aware study: ``optimize`` and ``best`` show how the winner was
chosen and its test against the baseline; the example study ``studies/noisy_quadratic`` runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import optuna
import pytest
import yaml

from crystallize_opt import derive_seed, replicate_seed
from crystallize_opt.optimize import stored_selection

from .servers import Processes, cli_command, write_study
from .test_cli import STUDIES, cli, parse_table

EXAMPLE = STUDIES / "noisy_quadratic"


@pytest.fixture(scope="module")
def example_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], str, Path]:
    """The example study run in full by ``crystallize-opt optimize``, with its progress bar:
    the finished process, the storage URL and the report path."""
    folder = tmp_path_factory.mktemp("noisy_quadratic")
    storage = f"sqlite:///{folder / 'study.db'}"
    report = folder / "report.html"
    result = cli("optimize", str(EXAMPLE), "--storage", storage, "--report", str(report), cwd=folder)
    assert result.returncode == 0, result.stderr
    return result, storage, report


@pytest.fixture(scope="module")
def example_run(
    example_process: tuple[subprocess.CompletedProcess[str], str, Path],
) -> tuple[str, str, Path]:
    """The example's run: stdout, the storage URL and the report path."""
    result, storage, report = example_process
    return result.stdout, storage, report


def test_optimize_s_progress_bar_ends_at_the_budget(
    example_process: tuple[subprocess.CompletedProcess[str], str, Path],
) -> None:
    """It counts every execution: search, confirmation, and winner's and baseline's held-out runs."""
    result, storage, _ = example_process
    selection = stored_selection(optuna.load_study(study_name="noisy_quadratic", storage=storage))
    assert selection is not None
    executions = selection.executions
    drawn = [line for line in result.stderr.replace("\r", "\n").splitlines() if "execution" in line]
    assert drawn, result.stderr[-500:]
    assert "150/150 [" in drawn[-1] and "best observed=" in drawn[-1], drawn[-1]
    assert executions["search"] + executions["confirmation"] + executions["holdout"] == 150


def test_optimize_ends_with_the_selection_summary(example_run: tuple[str, str, Path]) -> None:
    stdout, storage, report = example_run
    study = optuna.load_study(study_name="noisy_quadratic", storage=storage)
    selection = stored_selection(study)
    assert selection is not None and selection.comparison is not None
    lines = stdout.splitlines()
    winner = selection.winner
    assert lines[0] == f"best {winner.name}: {json.dumps(winner.params)}"
    assert not any(line.startswith("estimate:") for line in lines), "a model winner has no trial estimate"
    summary = selection.summary("loss").splitlines()
    assert lines[-len(summary) - 1 : -1] == summary, stdout  # at the end, before the executions
    assert "held-out estimate" in summary[1] and "95% CI [" in summary[2] and "p = " in summary[2]
    executions = selection.executions
    assert lines[-1] == (
        f"executions: {executions['search']} search, {executions['confirmation']} confirmation, "
        f"{executions['holdout']} held-out (budget 150)"
    )
    assert f"report: {report}" in lines
    assert "Winner and baseline" in report.read_text(encoding="utf-8")


def test_best_prints_the_winner_with_the_selection(example_run: tuple[str, str, Path]) -> None:
    _, storage, _ = example_run
    study = optuna.load_study(study_name="noisy_quadratic", storage=storage)
    selection = stored_selection(study)
    assert selection is not None
    winner = selection.winner

    as_yaml = cli("best", str(EXAMPLE), "--storage", storage)
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout) == {winner.name: winner.params}, "ready to paste into treatments:"
    comments = [line[2:] for line in as_yaml.stdout.splitlines() if line.startswith("# ")]
    assert comments[: len(selection.summary("loss").splitlines())] == selection.summary("loss").splitlines()

    as_json = cli("best", "--storage", storage, "--study", "noisy_quadratic", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document == {winner.name: winner.params, "selection": json.loads(json.dumps(selection.to_dict()))}
    comparison = document["selection"]["comparison"]
    assert {"effect", "ci_low", "ci_high", "p_value"} <= set(comparison)

    listed = cli("trials", str(EXAMPLE), "--storage", storage, "--top", "3")
    assert listed.returncode == 0, listed.stderr
    marked = [row["trial"] for row in parse_table(listed.stdout) if row["best"] == "*"]
    assert marked == ([winner.name.removeprefix("trial-")] if winner.name.startswith("trial-") else [])
    assert f"`crystallize-opt best` returns {winner.name}" in listed.stdout, "trials names what best returns"


def test_a_study_without_noise_keeps_its_output(tmp_path: Path) -> None:
    folder = write_study(tmp_path / "tiny")
    storage = f"sqlite:///{tmp_path / 'tiny.db'}"
    result = cli("optimize", str(folder), "--storage", storage, "--no-report", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "estimate:" in result.stdout and "winner" not in result.stdout and "executions:" not in result.stdout
    )
    as_json = cli("best", "--storage", storage, "--study", "tiny", "--format", "json")
    assert list(json.loads(as_json.stdout)) == [
        f"trial-{optuna.load_study(study_name='tiny', storage=storage).best_trial.number}"
    ]


def test_a_bad_noise_setting_exits_2_naming_the_key(tmp_path: Path) -> None:
    folder = write_study(tmp_path / "tiny", extra_yaml="  noise: {racing_z: -1}\n")
    result = cli("optimize", str(folder), "--storage", f"sqlite:///{tmp_path / 'x.db'}", "--no-report", "-q")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "config.yaml: optimize.noise.racing_z: expected a positive number, got -1" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_separately_started_workers_choose_the_winner_themselves(tmp_path: Path) -> None:
    """``crystallize-opt worker`` processes have no parent to choose for them: the one that
    finishes the search stores the selection, and a later worker reuses it."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for _ in range(2):
        result = cli("worker", str(EXAMPLE), "--storage", storage, "--study", "joined", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    selection = stored_selection(optuna.load_study(study_name="joined", storage=storage))
    assert selection is not None and selection.executions["budget"] == 150
    assert selection.comparison is not None


#: A step that appends ``pid condition seed`` to ``executions.log`` for every execution.
LOGGING_STEP = """
import os
import time
from crystallize_opt import pipeline_step

@pipeline_step()
def loss(noise, ctx, x: float = 0.0):
    time.sleep(0.02)
    with open(os.environ["EXECUTIONS_LOG"], "a") as log:
        log.write(f"{os.getpid()} {ctx['condition']} {ctx['seed_used']}\\n")
    ctx.metrics.add("loss", (x - 1.0) ** 2 + noise)
    return noise
"""


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_workers_finishing_together_choose_the_winner_once(tmp_path: Path, monkeypatch) -> None:
    """Separately started workers that end their search together: one of them runs the
    confirmation and held-out executions (never two), after the last search trial, and every
    worker prints the same winner."""
    folder = write_study(tmp_path / "tiny", trials=50, replicates_per_trial=2, extra_yaml="  noise: true\n")
    (folder / "steps.py").write_text(LOGGING_STEP)
    log = tmp_path / "executions.log"
    monkeypatch.setenv("EXECUTIONS_LOG", str(log))
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = cli_command("worker", str(folder), "--storage", storage, "--study", "joined", "-q")
    with Processes(tmp_path) as processes:
        started = [processes.start(command) for _ in range(3)]
        outputs = []
        for process in started:
            code, output = processes.finish(process, timeout=120)
            assert code == 0, output
            outputs.append(output)

    selection = stored_selection(optuna.load_study(study_name="joined", storage=storage))
    assert selection is not None and selection.comparison is not None
    executions = selection.executions
    assert executions["budget"] == 100 and executions["confirmation"] > 0, executions
    lines = [line.split() for line in log.read_text().splitlines()]
    assert len(lines) == executions["search"] + executions["confirmation"] + executions["holdout"]
    # The confirmation and held-out phases run on seeds of their own streams (1 and 2); the
    # search on replicate seeds replicate_seed(7, r) (r may pass max_replicates by one when two
    # workers queue the same intensification at once: still a search execution). Master seed 7
    # draws no fresh seed again in these streams (see phase_seeds).
    choice_seeds = {str(derive_seed(7, j, 0, stream)) for j in range(64) for stream in (1, 2)}
    choosing = [pid for pid, _, seed in lines if seed in choice_seeds]
    assert len(choosing) == executions["confirmation"] + executions["holdout"]
    assert len(set(choosing)) == 1, "one worker ran every confirmation and held-out execution"
    search_seeds = {str(replicate_seed(7, r)) for r in range(8)}
    assert len({pid for pid, _, seed in lines if seed in search_seeds}) >= 2, "the search was shared"
    first_lines = {output.splitlines()[0] for output in outputs}
    assert first_lines == {f"best {selection.winner.name}: {json.dumps(selection.winner.params)}"}
