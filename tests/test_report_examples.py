"""The example studies' reports in a real browser, and what optuna-dashboard shows of a study.

The studies are the repository's own folders (``studies/``), run by the command line with fewer
trials. Screenshots of each report's sections are kept under ``$CRYSTALLIZE_ARTIFACT_DIR`` when
set (CI keeps them), else in the test's temporary folder, for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from crystallize_opt.cli import main
from crystallize_opt.ranking import study_best
from crystallize_opt.records import TrialRecord, WinnerSelection
from crystallize_opt.report import dashboard_available, save_to_dashboard

from . import report_browser
from .report_browser import need

STUDIES = Path(__file__).resolve().parent.parent / "studies"
#: The example studies and the trials each runs here (fewer than their configs, for time).
EXAMPLES = {"quickstart": 15, "mlp_pareto": 8, "noisy_quadratic": 20}


def _artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("CRYSTALLIZE_ARTIFACT_DIR")
    folder = Path(chosen) / "report-screenshots" if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example study run in a copy of its folder; the folder by name."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = tmp_path_factory.mktemp("studies")
    folders = {}
    for name, trials in EXAMPLES.items():
        folder = root / name
        shutil.copytree(
            STUDIES / name, folder, ignore=shutil.ignore_patterns("*.db*", "*.html", "__pycache__")
        )
        argv = ["optimize", str(folder), "-q"] + ([] if trials is None else ["--trials", str(trials)])
        assert main(argv) == 0
        folders[name] = folder
    return folders


def _system_attrs(folder: Path) -> dict[str, object]:
    storage = optuna.storages.RDBStorage(f"sqlite:///{folder / 'study.db'}")
    return dict(storage.get_study_system_attrs(storage.get_study_id_from_name(folder.name)))


def _study(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_browser_example_reports_render_without_errors_and_are_screenshot(
    browser: report_browser.Browser | str,
    examples: dict[str, Path],
    name: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    session = need(browser)
    path = examples[name] / f"{name}-report.html"
    session.driver.set_window_size(1400, 1000)
    check = session.inspect_report(path)
    assert check.ready == "true" and check.errors == []
    assert [p for plot in check.plots for p in report_browser.drawn_problems(plot)] == []
    out = _artifacts(tmp_path_factory)
    sections = session.driver.find_elements("css selector", "section[id]")
    assert {"history", "replicates", "contour"} <= {s.get_attribute("id") for s in sections}
    for section in sections:
        section.screenshot(str(out / f"{name}-{section.get_attribute('id')}.png"))
    # The history's buttons switch between the focused and the full view in the browser.
    buttons = session.driver.find_elements("css selector", "#plot-history .updatemenu-button")
    if buttons:
        axes = (
            "var l = document.getElementById('plot-history').layout;"
            "return JSON.stringify(Object.keys(l).filter(k => k.startsWith('yaxis')).map(k => [l[k].range, l[k].type]));"
        )
        before = session.driver.execute_script(axes)
        buttons[-1].click()
        after = session.driver.execute_script(axes)
        assert before != after


def test_common_random_numbers_give_the_paired_replicate_plot(examples: dict[str, Path]) -> None:
    from crystallize_opt.report import build_figures

    study = _study(examples["quickstart"])
    figure = build_figures(study)["replicates"]
    best = study_best(study)
    assert best is not None and best.trial is not None
    # Every box is a difference to the best trial on the same seeds, named in the axis title.
    assert figure.layout.yaxis.title.text == f"loss - trial {best.trial.number}"
    record = TrialRecord.from_trial(best.trial)
    assert record is not None and record.seeds
    assert all(set(t.customdata) <= set(record.seeds) for t in figure.data)


def test_trials_carry_flat_mean_sem_and_n_beside_the_record(examples: dict[str, Path]) -> None:
    study = _study(examples["mlp_pareto"])
    trial = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])[0]
    record = TrialRecord.from_trial(trial)
    assert record is not None
    for metric in ("val_error", "n_parameters"):
        stats = record.metric_stats(metric)
        assert trial.user_attrs[f"{metric} mean"] == pytest.approx(stats["mean"])
        assert trial.user_attrs[f"{metric} n"] == stats["n"]


def _note(study: optuna.Study) -> str:
    import optuna_dashboard

    return str(optuna_dashboard.get_note(study))


@pytest.mark.skipif(
    not dashboard_available(), reason="optuna-dashboard is not installed (the dashboard extra)"
)
def test_optimize_stores_the_figures_and_a_note_with_the_same_winner(examples: dict[str, Path]) -> None:
    noisy, plain = _study(examples["noisy_quadratic"]), _study(examples["quickstart"])
    selection = WinnerSelection.from_study(noisy)
    assert selection is not None
    note = _note(noisy)
    assert f"Winner: {selection.winner.name}" in note and f"chosen by **{selection.rule}**" in note
    assert f"{float(selection.holdout_estimate or 0):.4g}" in note
    best = study_best(plain)
    assert best is not None and best.trial is not None
    assert f"Best: trial {best.trial.number}" in _note(plain)
    keys = [k for k in _system_attrs(examples["noisy_quadratic"]) if k.startswith("dashboard:plot_data:")]
    for figure_id in ("crystallize-history", "crystallize-replicates", "crystallize-winner-vs-baseline"):
        assert any(k.startswith(f"dashboard:plot_data:{figure_id}:") for k in keys)
    before = {k for k in _system_attrs(examples["quickstart"]) if "crystallize-history" in k}
    assert save_to_dashboard(plain) is True  # again: the figures are replaced, not added
    assert {k for k in _system_attrs(examples["quickstart"]) if "crystallize-history" in k} == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.skipif(
    not dashboard_available(), reason="optuna-dashboard is not installed (the dashboard extra)"
)
def test_browser_optuna_dashboard_shows_the_figures_and_the_winner(
    browser: report_browser.Browser | str, examples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    session = need(browser)
    from selenium.webdriver.support.ui import WebDriverWait

    folder = examples["noisy_quadratic"]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "crystallize_opt", "dashboard", str(folder), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        while line and "optuna-dashboard on" not in line:
            line = server.stdout.readline()
        url = line.split(": ", 1)[1].split(" ")[0]
        assert url.startswith(f"http://127.0.0.1:{port}/dashboard/studies/")
        deadline = time.monotonic() + 20
        while True:  # the server starts listening just after saying where
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "optuna-dashboard did not start listening"
                time.sleep(0.2)
        session.driver.set_window_size(1400, 2400)
        session.driver.get(url)
        text = lambda d: d.execute_script("return document.body.innerText")  # noqa: E731
        WebDriverWait(session.driver, 30).until(lambda d: "Optimization history" in text(d))
        page = text(session.driver)
        for title in ("Optimization history", "Winner and baseline", "Replicates of the top"):
            assert title in page
        out = _artifacts(tmp_path_factory)
        session.driver.save_screenshot(str(out / "optuna-dashboard-noisy_quadratic.png"))
        session.driver.get(url + "/note")
        selection = WinnerSelection.from_study(_study(folder))
        assert selection is not None
        WebDriverWait(session.driver, 30).until(lambda d: f"Winner: {selection.winner.name}" in text(d))
        session.driver.save_screenshot(str(out / "optuna-dashboard-noisy_quadratic-note.png"))
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_browser_shared_plotlyjs_writes_one_copy_per_folder_and_renders(
    browser: report_browser.Browser | str, examples: dict[str, Path], tmp_path: Path
) -> None:
    from crystallize_opt.report import write_report

    study = _study(examples["quickstart"])
    inline = write_report(study, tmp_path / "inline.html")
    first = write_report(study, tmp_path / "a.html", plotlyjs="shared")
    write_report(study, tmp_path / "b.html", plotlyjs="shared")
    library = tmp_path / "plotly.min.js"
    assert library.is_file() and sorted(p.name for p in tmp_path.glob("*.js")) == ["plotly.min.js"]
    assert first.stat().st_size + library.stat().st_size < inline.stat().st_size + 100_000
    assert first.stat().st_size < inline.stat().st_size / 5
    with pytest.raises(ValueError, match="plotlyjs must be one of inline, shared, got 'cdn'"):
        write_report(study, tmp_path / "c.html", plotlyjs="cdn")
    check = need(browser).inspect_report(first)
    assert check.ready == "true" and check.errors == []
