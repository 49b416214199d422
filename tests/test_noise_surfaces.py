"""A noise-aware study seen from every surface: the progress bar counts every execution of the
budget, and the winner is what the Python API, the command line, the report and the study's
attributes for Optuna's own tools show as "best"."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution

from crystallize_opt import (
    NoiseHandling,
    Objective,
    OptunaOptimizer,
    Treatment,
    WinnerSelection,
    rank_study,
    study_best,
)
from crystallize_opt.cli import main
from crystallize_opt.optimize import stored_selection
from crystallize_opt.report import build_figures, write_report

from . import noise_fixtures
from .noise_fixtures import noisy_experiment
from .test_cli import parse_table

SPACE = {"x": FloatDistribution(-3.0, 3.0), "y": FloatDistribution(-3.0, 3.0)}
#: ``done/total [`` of a tqdm bar as it is drawn.
BAR = re.compile(r"(\d+)/(\d+) \[")


@pytest.fixture(autouse=True)
def _quiet_and_counted() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    noise_fixtures.CALLS.clear()


def noise_optimizer(
    storage: str = ":memory:", study_name: str | None = None, **noise: int
) -> OptunaOptimizer:
    return OptunaOptimizer(
        SPACE,
        Objective("loss"),
        sampler=optuna.samplers.TPESampler(seed=3),
        storage=storage,
        study_name=study_name,
        noise=NoiseHandling(**noise) if noise else True,
    )


def last_bar(stderr: str) -> tuple[int, int, str]:
    """The last state the bar drew: done, total, and its line."""
    lines = [line for line in re.split(r"[\r\n]", stderr) if BAR.search(line)]
    assert lines, f"no progress bar on stderr: {stderr[-300:]!r}"
    found = BAR.search(lines[-1])
    assert found is not None
    return int(found[1]), int(found[2]), lines[-1]


def test_the_progress_bar_counts_search_confirmation_and_held_out_executions(
    capfd: pytest.CaptureFixture[str], tmp_path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optimizer = noise_optimizer(storage, "bar")
    noisy_experiment(noise_sd=0.3, own_sd=0.1).optimize(
        optimizer, num_trials=60, replicates_per_trial=2, progress=True
    )
    done, total, line = last_bar(capfd.readouterr().err)
    selection = optimizer.selection
    assert selection is not None
    executions = selection.executions
    assert executions["confirmation"] > 0 and executions["holdout"] > 0, "every phase ran"
    ran = len(noise_fixtures.CALLS)
    assert ran == executions["search"] + executions["confirmation"] + executions["holdout"] == 120
    assert (done, total) == (ran, 120), line
    assert "execution" in line and "best observed=" in line, "the value shown is a search figure, named so"

    # Run again with the same budget: the stored winner comes back, nothing runs, and the bar
    # starts (and ends) at the budget spent by the first run.
    noise_fixtures.CALLS.clear()
    noisy_experiment(noise_sd=0.3, own_sd=0.1).optimize(
        noise_optimizer(storage, "bar"), num_trials=60, replicates_per_trial=2, progress=True
    )
    assert noise_fixtures.CALLS == []
    done, total, line = last_bar(capfd.readouterr().err)
    assert (done, total) == (120, 120), line


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_with_workers_the_bar_counts_every_worker_s_executions_and_the_winner_s_choice(
    capfd: pytest.CaptureFixture[str], tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    optimizer = noise_optimizer(f"sqlite:///{tmp_path / 'study.db'}", "workers")
    noisy_experiment(noise_sd=0.3, own_sd=0.1).optimize(
        optimizer, num_trials=60, replicates_per_trial=1, workers=2, progress=True
    )
    selection = optimizer.selection
    assert selection is not None
    executions = selection.executions
    stderr = capfd.readouterr().err
    ran = executions["search"] + executions["confirmation"] + executions["holdout"]
    search_bar = stderr.split("choosing the winner")[0]
    done, total, line = last_bar(search_bar)
    assert (done, total) == (executions["search"], max(60, executions["search"])), line
    done, total, line = last_bar(stderr)
    assert "choosing the winner" in line
    # Workers' trials in flight may spend a few executions beyond the budget: the bar then ends
    # full at what ran.
    assert done == ran and total == max(60, ran), line


def test_a_plain_study_s_bar_still_counts_trials(capfd: pytest.CaptureFixture[str]) -> None:
    optimizer = OptunaOptimizer(
        SPACE, Objective("loss"), sampler=optuna.samplers.TPESampler(seed=3), storage=":memory:"
    )
    noisy_experiment().optimize(optimizer, num_trials=7, replicates_per_trial=2, progress=True)
    done, total, line = last_bar(capfd.readouterr().err)
    assert (done, total) == (7, 7) and "trial" in line and "best=" in line


class NoisyStudy:
    """A finished noise-aware study in a SQLite file, and what the Python API returned."""

    def __init__(self, storage: str, name: str, returned: Treatment, optimizer: OptunaOptimizer):
        self.storage, self.name, self.returned, self.optimizer = storage, name, returned, optimizer

    def load(self) -> optuna.Study:
        return optuna.load_study(study_name=self.name, storage=self.storage)

    @property
    def selection(self) -> WinnerSelection:
        selection = stored_selection(self.load())
        assert selection is not None
        return selection


@pytest.fixture(scope="module")
def lucky(tmp_path_factory: pytest.TempPathFactory) -> NoisyStudy:
    """Large noise of each parameter set's own (sd 1 against a bowl of depth ~2), 40 trials of
    2 replicates and a confirmation round: with this seed the trial with the best observed mean
    (Optuna's best trial) is not the winner the selection chose."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = tmp_path_factory.mktemp("lucky")
    storage = f"sqlite:///{folder / 'study.db'}"
    optimizer = OptunaOptimizer(
        SPACE,
        Objective("loss"),
        sampler=optuna.samplers.TPESampler(seed=2),
        storage=storage,
        study_name="lucky",
        noise=NoiseHandling(model_candidates=False, confirm_candidates=3, confirm_seeds=3, holdout_seeds=4),
    )
    returned = noisy_experiment(noise_sd=0.2, own_sd=1.0).optimize(
        optimizer, num_trials=40, replicates_per_trial=2
    )
    return NoisyStudy(storage, "lucky", returned, optimizer)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_the_study_is_one_where_the_luckiest_trial_is_not_the_winner(lucky: NoisyStudy) -> None:
    """The premise of the tests below (if a change of the search moves it, pick another seed)."""
    study, selection = lucky.load(), lucky.selection
    assert selection.executions["confirmation"] > 0 and selection.holdout_estimate is not None
    assert selection.winner_trial is not None, "the winner is a trial, so every surface can show it"
    assert study.best_trial.number != selection.winner_trial, (
        "Optuna's best trial is the luckiest, not the winner"
    )


def test_every_surface_shows_the_winner_as_best(lucky: NoisyStudy, capsys, tmp_path: Path) -> None:
    study, selection = lucky.load(), lucky.selection
    winner, number = selection.winner, selection.winner_trial
    assert number is not None
    order = selection.candidate_trials  # the selection's ranking: the winner first

    # Python API: what optimize returned, get_best_treatment, study_best and the ranking.
    assert lucky.returned == lucky.optimizer.get_best_treatment() == winner
    best = study_best(study)
    assert best is not None and best.treatment == winner and best.trial is not None
    assert best.trial.number == number and best.selection == selection
    ranked = [r.trial.number for r in rank_study(study)]
    assert ranked[: len(order)] == order and ranked[0] == number

    # The command line: best, trials --top and studies.
    assert json.loads(
        run_cli(capsys, "best", "--storage", lucky.storage, "--study", lucky.name, "--format", "json")
    )[winner.name] == json.loads(json.dumps(winner.params))
    listed = run_cli(capsys, "trials", "--storage", lucky.storage, "--study", lucky.name, "--top", "5")
    rows = parse_table(listed)
    assert [int(r["trial"]) for r in rows][: len(order)] == order
    assert rows[0]["rank"] == "1" and rows[0]["best"] == "*"
    assert [r["trial"] for r in rows if r["best"] == "*"] == [str(number)]
    assert f"`crystallize-opt best` returns {winner.name} (rank 1)" in listed
    assert "rank: the selection's candidates first" in listed
    studies = parse_table(run_cli(capsys, "studies", "--storage", lucky.storage))
    assert studies[0]["best"] == f"{selection.holdout_estimate:.6g} (winner, held-out)"

    # The report: the header's best, the top table's order and marks, the highlighted box and star.
    page = write_report(study, tmp_path / "report.html").read_text(encoding="utf-8")
    header = page.split("<dl class='summary'>")[1].split("</dl>")[0]
    assert "<dt>Best trial</dt>" not in header
    assert (
        f"<dt>Best: the chosen winner</dt><dd>{winner.name} (chosen by {selection.rule}): loss search estimate = "
        in header
    )
    assert f"({html.escape(selection.search_estimate_is)})" in header
    assert f"({selection.holdout_estimate_is}, unbiased)" in header
    observed = header.split("<dt>Best observed</dt><dd>")[1]
    assert observed.startswith(f"trial {study.best_trial.number}: ") and "not the winner" in observed
    assert f"told to Optuna {study.best_trial.value:.4g} (its parameters' pooled mean)" in observed
    table = page.split("<table class='data top'>")[1].split("</table>")[0]
    body = table.split("<tbody>")[1].split("</tr>")[:-1]
    numbers = [int(re.findall(r"<td>(\d+)</td>", row)[1]) for row in body]
    assert numbers[: len(order)] == order
    assert "<td class='text'>winner</td>" in body[0] and all("winner" not in row for row in body[1:])
    assert "ranked as the winner was chosen" in page
    figures = build_figures(study)
    # Common random numbers: the replicate plot shows the other top trials' paired differences to
    # the winner, which is its zero line.
    replicates = figures["replicates"]
    shown = [int(m) for t in replicates.data for m in re.findall(r"trial (\d+)", t.name or "")]
    assert shown and number not in shown
    zero_lines = [a.text for a in replicates.layout.annotations if a.text and a.text.startswith("#1: ")]
    assert zero_lines and all(re.match(rf"#1: trial {number} \(winner\)", text) for text in zero_lines)
    stars = [t for t in figures["history"].data if t.name and t.name.startswith("winner")]
    assert [t.name for t in stars] == [f"winner (trial {number})"]
    assert list(stars[0].x) == [number]


def test_optuna_s_own_tools_see_the_winner_in_the_study_s_user_attributes(lucky: NoisyStudy) -> None:
    """Optuna's best trial is the best value told to it and cannot be changed: the study's user
    attribute ``crystallize_winner`` names the winner and says so (``optuna studies`` and
    optuna-dashboard list a study's user attributes)."""
    selection = lucky.selection

    def optuna_cli(*args: str) -> Any:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "optuna"), *args, "--storage", lucky.storage, "-f", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    [listed] = optuna_cli("studies")
    label = listed["user_attrs"][WinnerSelection.WINNER_ATTR]
    assert label == json.loads(json.dumps(selection.winner_label()))
    assert label["trial"] == selection.winner_trial and label["params"] == json.loads(
        json.dumps(selection.winner.params)
    )
    assert label["holdout_estimate"] == selection.holdout_estimate
    assert label["holdout_estimate_is"] == "its mean on 4 held-out seed(s)"
    assert label["search_estimate_is"] == (
        "the response model's posterior mean, refitted with the confirmation replicates"
    )
    best_trial = optuna_cli("best-trial", "--study-name", lucky.name)
    assert best_trial["number"] != label["trial"], "what `optuna best-trial` shows is not the winner"
    assert "Optuna's best_trial" in label["note"] and "lucky draw" in label["note"]


def test_a_plain_study_s_best_is_the_best_trial_everywhere(capsys, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'plain.db'}"
    optimizer = OptunaOptimizer(
        SPACE,
        Objective("loss"),
        sampler=optuna.samplers.TPESampler(seed=1),
        storage=storage,
        study_name="plain",
    )
    returned = noisy_experiment(noise_sd=0.2, own_sd=1.0).optimize(
        optimizer, num_trials=12, replicates_per_trial=2
    )
    study = optuna.load_study(study_name="plain", storage=storage)
    number = study.best_trial.number
    assert returned.name == f"trial-{number}" and WinnerSelection.WINNER_ATTR not in study.user_attrs
    best = study_best(study)
    assert best is not None and best.selection is None and best.treatment == returned
    assert list(
        json.loads(run_cli(capsys, "best", "--storage", storage, "--study", "plain", "--format", "json"))
    ) == [returned.name]
    page = write_report(study, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert f"<dt>Best trial</dt><dd>trial {number}: " in page and "Best observed" not in page
    assert "<th>selection</th>" not in page
    replicates = build_figures(study)["replicates"]
    zero_lines = [a.text for a in replicates.layout.annotations if a.text and a.text.startswith("#1: ")]
    assert zero_lines and all(re.match(rf"#1: trial {number}\b", text) for text in zero_lines)


@pytest.mark.parametrize(
    ("rule", "confirmed", "said"),
    [
        ("model", [], "the response model's posterior mean"),
        ("mean", [], "its pooled mean"),
        ("mean", [11, 12], "its mean on the confirmation seeds"),
        ("best observed", [], "the mean of its replicates"),
    ],
)
def test_a_selection_stored_before_estimates_were_labelled_still_says_what_its_estimate_is(
    rule: str, confirmed: list[int], said: str
) -> None:
    stored = {
        "winner": {"name": "trial-4", "params": {"x": 1.0}},
        "rule": rule,
        "search_estimate": 0.5,
        "holdout_estimate": 0.7,
        "holdout": {"seeds": [1, 2], "winner": [0.6, 0.8], "baseline": [1.0, 1.1]},
        "confirmation_seeds": confirmed,
    }
    selection = WinnerSelection.from_json(stored)
    assert selection.search_estimate_is == said
    assert selection.holdout_estimate_is == "its mean on 2 held-out seed(s)"
    assert selection.summary("loss").splitlines()[1] == (
        f"loss: search estimate 0.5 ({said}), held-out estimate 0.7 (its mean on 2 held-out seed(s))"
    )
    assert selection.winner_trial == 4 and selection.candidate_trials == [4]
