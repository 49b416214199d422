"""The report of a noise-aware study: the "Winner and baseline" section, its numbers, its figure,
and the page in a real browser."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from crystallize_opt import (
    NoiseHandling,
    Objective,
    OptunaOptimizer,
    Treatment,
    WinnerSelection,
    pipeline_step,
)
from crystallize_opt.optimize import GP_SEARCH_TRIALS, stored_selection
from crystallize_opt.report import build_figures, write_report
from crystallize_opt.report._data import extract
from crystallize_opt.report._selection import MAX_CANDIDATES, comparison_text, selection_section

from . import optimize_fixtures as fx
from . import report_browser
from .optional import require_package
from .report_browser import need
from .test_report import _in

SPACE = {"x": FloatDistribution(-5, 5), "kind": CategoricalDistribution(["a", "b"])}


@pipeline_step()
def widen(data: float, ctx: Any, x: float = 0.0) -> float:
    """Scale the seed's noise with |x|: paired differences then vary from seed to seed (with
    purely additive noise the winner-baseline difference would be the same on every seed)."""
    return data * (1.0 + abs(x))


@pytest.fixture(autouse=True)
def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def noisy_study(tmp_path_factory: pytest.TempPathFactory) -> optuna.Study:
    """A noise-aware study with a confirmation round and 5 held-out seeds (budget 90 executions)."""
    with _in(tmp_path_factory.mktemp("noisy")):
        optimizer = OptunaOptimizer(
            search_space=SPACE,
            objective=Objective("loss"),
            storage=":memory:",
            study_name="noisy",
            sampler=optuna.samplers.TPESampler(seed=0),
            noise=NoiseHandling(confirm_seeds=3, holdout_seeds=5),
        )
        fx.quadratic_experiment(widen(), name="noisy").optimize(
            optimizer, num_trials=30, replicates_per_trial=3, progress=False
        )
    selection = optimizer.selection
    assert selection is not None and selection.comparison is not None
    assert selection.executions["confirmation"] > 0 and len(selection.holdout["seeds"]) == 5
    return optimizer.study


def _selection(study: optuna.Study) -> WinnerSelection:
    selection = stored_selection(study)
    assert selection is not None
    return selection


def _study_with(stored: Any) -> optuna.Study:
    """A plain study with one trial and ``stored`` as its selection attribute."""
    study = optuna.create_study(study_name="stored")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.set_user_attr(WinnerSelection.ATTR, stored)
    return study


def test_the_section_shows_winner_rule_estimates_and_the_test(
    noisy_study: optuna.Study, tmp_path: Path
) -> None:
    selection = _selection(noisy_study)
    data = extract(noisy_study)
    assert data.selection == selection
    page = write_report(noisy_study, tmp_path / "noisy.html").read_text(encoding="utf-8")
    assert "<section id='selection'><h2>Winner and baseline</h2>" in page
    assert page.index("id='selection'") < page.index("id='history'"), "the answer comes first"
    c = selection.comparison
    assert c is not None
    compared = comparison_text(selection)
    assert compared == (
        f"effect {c['effect']:+.4g} (winner - baseline), 95% CI [{c['ci_low']:.4g}, {c['ci_high']:.4g}], "
        f"paired t-test p = {c['p_value']:.3g}"
    )
    assert html.escape(compared) in page
    assert f">{html.escape(selection.winner.name)}<br>" in page
    assert (
        f"Best: the chosen winner</dt><dd>{html.escape(selection.winner.name)} (chosen by {selection.rule})"
        in page
    )
    assert (
        f"{selection.search_estimate:.4g} ({html.escape(selection.search_estimate_is)}, from the seeds that chose it"
        in page
    )
    assert f"{selection.holdout_estimate:.4g} (mean over 5 fresh seed(s)" in page
    rows = page.split("<table class='data candidates'>")[1].split("</table>")[0].count("<tr>") - 1
    assert rows == min(len(selection.candidates), MAX_CANDIDATES) and rows >= 2
    assert f"{selection.winner.name} (winner)" in page
    assert "confirmation mean (3 fresh seeds)" in page


def test_the_figure_pairs_each_held_out_seed(noisy_study: optuna.Study) -> None:
    selection = _selection(noisy_study)
    figure = build_figures(noisy_study)["selection"]
    pairs, means = figure.data
    holdout = selection.holdout
    n = len(holdout["seeds"])
    assert list(pairs.x) == ["baseline", "winner", None] * n
    expected = [v for b, w in zip(holdout["baseline"], holdout["winner"], strict=True) for v in (b, w, None)]
    assert list(pairs.y) == expected
    assert list(pairs.customdata) == [v for s in holdout["seeds"] for v in (s, s, None)]
    assert np.allclose(means.y, [np.mean(holdout["baseline"]), np.mean(holdout["winner"])])
    assert figure.layout.title.text == comparison_text(selection)
    assert np.isclose(np.mean(holdout["winner"]), selection.holdout_estimate)


def test_studies_without_a_readable_selection_have_no_section() -> None:
    plain = _study_with(None)
    assert extract(plain).selection is None and "selection" not in build_figures(plain)
    broken = _study_with({"winner": "not a mapping"})
    assert extract(broken).selection is None and selection_section(extract(broken)) is None


def test_a_selection_without_a_baseline_test_says_why(tmp_path: Path) -> None:
    selection = WinnerSelection(
        winner=Treatment("trial-0", {"x": 0.5}),
        rule="mean",
        search_estimate=0.5,
        holdout_estimate=0.7,
        holdout={"seeds": [1, 2, 3], "winner": [0.6, 0.7, 0.8], "baseline": None},
        comparison_note="the baseline failed on a held-out seed",
    )
    study = _study_with(selection.to_dict())
    section = selection_section(extract(study))
    assert section is not None and section.figure is None
    assert section.note == "No paired held-out values to draw: the baseline failed on a held-out seed."
    page = write_report(study, tmp_path / "note.html").read_text(encoding="utf-8")
    assert "not compared: the baseline failed on a held-out seed" in page


# -- in a real browser ------------------------------------------------------------------------


def test_browser_shows_the_winner_and_baseline_section_with_its_numbers(
    browser: report_browser.Browser | str, noisy_study: optuna.Study, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    session = need(browser)
    path = write_report(noisy_study, tmp_path / "noisy.html")
    check = session.inspect_report(path)
    assert check.errors == [], check.errors
    assert check.ready == "true"
    assert sorted(p["id"] for p in check.plots) == sorted(f"plot-{key}" for key in build_figures(noisy_study))
    assert [problem for plot in check.plots for problem in report_browser.drawn_problems(plot)] == []
    selection = _selection(noisy_study)
    n = len(selection.holdout["seeds"])
    plot = next(p for p in check.plots if p["id"] == "plot-selection")
    assert [t["points"] for t in plot["traces"]] == [3 * n, 2]
    assert plot["marks"]["scatter"] >= 2 * n + 2  # a marker per seed and condition, and the means

    text = session.driver.find_element(By.ID, "selection").text
    compared = comparison_text(selection)
    assert compared is not None and compared in text  # under the figure
    c = selection.comparison
    assert c is not None
    for number in (f"{c['effect']:+.4g}", f"{c['ci_low']:.4g}", f"{c['ci_high']:.4g}", f"{c['p_value']:.3g}"):
        assert number in text
    title = session.driver.execute_script(
        "return document.getElementById('plot-selection').querySelector('.gtitle').textContent"
    )
    assert title == compared  # the figure's own title, as drawn
    assert selection.winner.name in text and "Winner and baseline" in text


def test_a_held_out_test_without_spread_reads_no_ci_in_the_summary_and_the_report():
    from crystallize_opt import Treatment, WinnerSelection, paired_t_test

    # The same additive noise on both sides of each held-out seed: the differences are exact.
    noise = np.random.default_rng(3).normal(size=4)
    comparison = paired_t_test()({"loss": (2.0 + noise).tolist()}, {"loss": (0.5 + noise).tolist()})
    selection = WinnerSelection(Treatment("trial-3", {"x": 1.0}), "mean", 0.5, comparison=comparison)
    reason = "no CI: all 4 paired differences are equal (up to rounding): no spread"
    assert (
        f"vs baseline: effect -1.5 (winner - baseline), {reason}, paired t-test p = 0"
        in selection.summary("loss")
    )
    assert comparison_text(selection) == f"effect -1.5 (winner - baseline), {reason}, paired t-test p = 0"


def test_the_report_names_the_noise_aware_default_search(tmp_path: Path) -> None:
    """The default noise-aware sampler is made of several: the report names each and when it
    proposes."""
    require_package("torch", "samplers")
    with _in(tmp_path):
        optimizer = OptunaOptimizer(
            search_space=SPACE, objective=Objective("loss"), storage=":memory:", study_name="gp", noise=True
        )
        experiment = fx.quadratic_experiment(widen(), name="gp")
        experiment.optimize(optimizer, num_trials=6, replicates_per_trial=2, progress=False)
    shown = extract(optimizer.study).sampler
    tpe = "TPESampler(n_startup_trials=10, constant_liar=True)"
    assert shown == (
        "for a deterministic pipeline GPSampler(n_startup_trials=10, deterministic_objective=True) "
        f"({tpe} where it would evaluate a point again), then {tpe} after {GP_SEARCH_TRIALS} finished "
        f"trials; for a noisy one GPSampler(n_startup_trials=10), then {tpe} after {GP_SEARCH_TRIALS} "
        "finished trials"
    )
