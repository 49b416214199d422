"""The ``crystallize-opt`` command line, end to end in subprocesses."""

from __future__ import annotations

import json
import os
import re
import shutil
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
from .stored import record_of

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


def parse_table(output: str) -> list[dict[str, str]]:
    """The rows of the first table the CLI printed, by column name (columns sliced at the
    dashes under the header; a repeated name gets its left neighbour's name as prefix)."""
    lines = output.splitlines()
    header, dashes = lines[0], lines[1]
    spans, start = [], 0
    for width in (len(d) for d in dashes.split("  ")):
        spans.append((start, start + width))
        start += width + 2
    names: list[str] = []
    for a, b in spans:
        name = header[a:b].strip()
        names.append(f"{names[-1]} {name}" if name in names else name)
    rows = []
    for line in lines[2:]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in spans[:-1]] + [line[spans[-1][0] :].strip()]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


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
    assert len(saved["conditions"]["treatments"]["one"]["by_replicate"]) == 3
    assert len(saved["metrics"]["treatments"]["one"]["loss"]) == 3  # crystallize-ml's shape


def test_optimize_then_inspect_the_study(tmp_path: Path) -> None:
    study = write_study(tmp_path / "tiny")
    storage = f"sqlite:///{tmp_path / 'tiny.db'}"
    result = cli(
        "optimize", str(study), "--storage", storage, "--trials", "8", "--no-report", "-q", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("best trial-")
    estimate = next(line for line in result.stdout.splitlines() if line.startswith("estimate:"))
    assert estimate.startswith("estimate: loss = ") and estimate.endswith("(mean ± SEM over n=2 replicates)")
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
    rows = parse_table(trials.stdout)
    assert [row["rank"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["trial"] == str(stored.best_trial.number) and rows[0]["best"] == "*"


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


def plotlyjs_of(report: Path) -> str:
    """How the report HTML file gets plotly.js: ``inline`` (inside the page) or ``shared`` (loaded
    from the ``plotly.min.js`` beside it, which holds plotly.js)."""
    import plotly.offline

    code = plotly.offline.get_plotlyjs()
    page = report.read_text(encoding="utf-8")
    library = report.parent / "plotly.min.js"
    if code[:2000] in page:
        assert "<script src='plotly.min.js'" not in page
        return "inline"
    assert "<script src='plotly.min.js'" in page and library.read_text(encoding="utf-8") == code
    return "shared"


def test_the_config_chooses_how_reports_get_plotlyjs_and_the_option_wins(tmp_path: Path) -> None:
    study = write_study(tmp_path / "tiny", trials=2, extra_yaml="report: {plotlyjs: shared}\n")
    optimized = cli("optimize", str(study), "-q", cwd=tmp_path)
    assert optimized.returncode == 0, optimized.stderr
    assert plotlyjs_of(study / "tiny-report.html") == "shared"
    given = cli(
        "optimize", str(study), "-q", "--plotlyjs", "inline", "--report", str(tmp_path / "o" / "r.html")
    )
    assert given.returncode == 0, given.stderr
    assert (
        plotlyjs_of(tmp_path / "o" / "r.html") == "inline" and not (tmp_path / "o" / "plotly.min.js").exists()
    )

    from_config = cli("report", str(study), "-o", str(tmp_path / "a" / "r.html"))
    assert from_config.returncode == 0, from_config.stderr
    assert plotlyjs_of(tmp_path / "a" / "r.html") == "shared"
    option = cli("report", str(study), "-o", str(tmp_path / "b" / "r.html"), "--plotlyjs", "inline")
    assert option.returncode == 0, option.stderr
    assert (
        plotlyjs_of(tmp_path / "b" / "r.html") == "inline" and not (tmp_path / "b" / "plotly.min.js").exists()
    )

    config = study / "config.yaml"
    config.write_text(config.read_text().replace("plotlyjs: shared", "plotlyjs: cdn"))
    for command in (["optimize", str(study)], ["report", str(study)]):
        refused = cli(*command)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.strip() == (
            f"crystallize-opt: error: {config}: report.plotlyjs: expected one of [inline, shared], got 'cdn'"
        )


def test_a_run_failure_exits_1(tmp_path: Path) -> None:
    study = write_study(tmp_path / "tiny", fail=True)
    result = cli(
        "optimize", str(study), "--storage", "sqlite:///" + str(tmp_path / "x.db"), "--no-report", "-q"
    )
    assert result.returncode == 1
    assert "every trial failed" in result.stderr and "this pipeline always fails" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # interrupts a running process
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


def write_pareto_study(folder: Path) -> Path:
    """Two objectives that conflict on [0, 1] (``loss = (x - 1)^2``, ``size = |x|``) and a
    constraint ``x <= 0.8``, so the trials with the lowest loss are infeasible."""
    folder.mkdir(parents=True)
    (folder / "datasources.py").write_text(
        "from crystallize_opt import data_source\n\n\n@data_source\ndef noise(ctx):\n"
        "    return float(ctx.rng.normal(scale=0.01))\n"
    )
    (folder / "steps.py").write_text(
        "from crystallize_opt import pipeline_step\n\n\n@pipeline_step()\n"
        "def measure(noise, ctx, x: float = 0.0):\n"
        "    ctx.metrics.add('loss', (x - 1.0) ** 2 + noise)\n"
        "    ctx.metrics.add('size', abs(x) + noise)\n"
        "    ctx.metrics.add('excess', x - 0.8)\n"
        "    return noise\n"
    )
    (folder / "config.yaml").write_text(
        "name: pareto\nreplicates: 2\nseed: 3\ndatasource: noise\nsteps: [measure]\noptimize:\n"
        "  objective: {metric: [loss, size], direction: [minimize, minimize], constraints: [excess]}\n"
        "  trials: 24\n  replicates_per_trial: 2\n  sampler: {name: random, seed: 1}\n"
        "  search_space:\n    x: {type: float, low: -0.5, high: 1.5}\n"
    )
    return folder


def test_trials_top_ranks_as_best_and_the_report_do_with_several_objectives_and_constraints(
    tmp_path: Path,
) -> None:
    study = write_pareto_study(tmp_path / "pareto")
    storage = f"sqlite:///{tmp_path / 'pareto.db'}"
    run = cli("optimize", str(study), "--storage", storage, "--no-report", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "estimate: loss = " in run.stdout and "estimate: size = " in run.stdout
    stored = optuna.load_study(study_name="pareto", storage=storage)
    complete = [t for t in stored.trials if t.state == TrialState.COMPLETE]
    feasible = [t for t in complete if t.constraints["excess"] <= 0]
    assert 5 <= len(feasible) < len(complete), "the study needs feasible and infeasible trials"

    (best,) = json.loads(cli("best", str(study), "--storage", storage, "--format", "json").stdout)
    listed = cli("trials", str(study), "--storage", storage, "--top", str(len(complete)))
    assert listed.returncode == 0, listed.stderr
    rows = parse_table(listed.stdout)
    assert {"loss", "size", "feasible", "front"} <= set(rows[0]), "every objective, feasibility, front"
    assert rows[0]["trial"] == best.removeprefix("trial-") and rows[0]["best"] == "*"
    assert [row["best"] for row in rows].count("*") == 1
    top1 = parse_table(cli("trials", str(study), "--storage", storage, "--top", "1").stdout)
    assert [row["trial"] for row in top1] == [best.removeprefix("trial-")]
    # Feasible first; then by front (1 = Optuna's feasible Pareto front), never a dominated trial first.
    assert [row["feasible"] for row in rows] == ["yes"] * len(feasible) + ["no"] * (
        len(complete) - len(feasible)
    )
    fronts = [int(row["front"]) for row in rows[: len(feasible)]]
    assert fronts == sorted(fronts)
    assert {int(row["trial"]) for row in rows if row["front"] == "1"} == {
        t.number for t in stored.best_trials
    }
    by_number = {t.number: t for t in complete}
    for row in rows:  # each metric's column is that metric's replicate mean
        stats = record_of(by_number[int(row["trial"])]).stats
        assert float(row["loss"]) == pytest.approx(stats["loss"]["mean"], rel=1e-5)
        assert float(row["size"]) == pytest.approx(stats["size"]["mean"], rel=1e-5)

    report = tmp_path / "report.html"
    assert cli("report", str(study), "--storage", storage, "-o", str(report)).returncode == 0
    table_html = report.read_text().split("<table class='data top'>")[1].split("</table>")[0]
    in_report = [trial for _, trial in re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td>", table_html)]
    assert in_report == [row["trial"] for row in rows[: min(10, len(feasible))]]


def _hypothesis_table(stdout: str) -> list[str]:
    """The lines of ``run``'s hypothesis section, from its heading on."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("hypothesis "))
    return lines[start:]


def test_run_quickstart_is_a_design_that_can_succeed(tmp_path: Path) -> None:
    result = cli("run", str(STUDIES / "quickstart"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    section = _hypothesis_table(result.stdout)
    row = next(line for line in section if line.startswith("near_optimum"))
    assert row.split()[2] == "True", result.stdout  # significant
    assert "warning" not in result.stdout and "cannot reach" not in result.stderr
    # The same seed gives both conditions the same noise: no interval of width zero, a reason instead.
    assert "no CI: all 10 paired differences are equal" in row
    assert "effect: mean paired difference (treatment - baseline); CI: paired t interval" in section


def test_run_warns_when_the_test_cannot_reach_alpha(tmp_path: Path) -> None:
    study = tmp_path / "five"
    shutil.copytree(STUDIES / "quickstart", study)
    config = (study / "config.yaml").read_text(encoding="utf-8")
    (study / "config.yaml").write_text(config.replace("replicates: 10", "replicates: 5"), encoding="utf-8")
    result = cli("run", str(study), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    section = "\n".join(_hypothesis_table(result.stdout))
    assert (
        "warning (near_optimum): wilcoxon_signed_rank cannot reach p < 0.05 on metric 'loss' with 5 pairs: "
        "the smallest p-value it can return is 0.0625" in section
    )
    assert "cannot reach p < 0.05" in result.stderr  # logged through the crystallize_opt logger too
