"""HTML reports of studies: the extracted data, the figures, the page, and the page in a real browser."""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import plotly.offline
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from crystallize_opt import Objective, OptunaOptimizer
from crystallize_opt.ranking import front_ranks, pareto_mask
from crystallize_opt.records import SamplerHistory
from crystallize_opt.report import build_figures, write_report
from crystallize_opt.report._contour import GRID, kernel_surface
from crystallize_opt.report._data import ParamColumn, extract
from crystallize_opt.report._history import best_so_far
from crystallize_opt.report._html import page_html
from crystallize_opt.report._style import Section, subsample

from . import optimize_fixtures as fx
from . import report_browser
from .report_browser import need
from .stored import record_of

SPACE = {"x": FloatDistribution(-5, 5), "kind": CategoricalDistribution(["a", "b"])}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _in(folder: Path) -> Any:
    """Run the optimization inside ``folder`` (artifacts go to the working directory)."""

    class _Chdir:
        def __enter__(self) -> None:
            self.old = os.getcwd()
            os.chdir(folder)

        def __exit__(self, *exc: object) -> None:
            os.chdir(self.old)

    return _Chdir()


@pytest.fixture(scope="module")
def single_study(tmp_path_factory: pytest.TempPathFactory) -> optuna.Study:
    """Single objective, with a baseline, failed trials (x > 4 raises) and pruned trials."""
    with _in(tmp_path_factory.mktemp("single")):
        optimizer = OptunaOptimizer(
            search_space={**SPACE, "fail_above": 4.0},
            objective=Objective("loss"),
            storage=":memory:",
            study_name="single",
            sampler=optuna.samplers.TPESampler(seed=0),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3),
            run_baseline=True,
        )
        fx.quadratic_experiment(fx.fail_when(), name="single").optimize(
            optimizer, num_trials=30, replicates_per_trial=4
        )
    study = optimizer.study
    states = {t.state for t in study.trials}
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL} <= states
    return study


@pytest.fixture(scope="module")
def multi_optimizer(tmp_path_factory: pytest.TempPathFactory) -> OptunaOptimizer:
    """Two objectives with a constraint (x <= 1) and a baseline."""
    with _in(tmp_path_factory.mktemp("multi")):
        optimizer = OptunaOptimizer(
            search_space=SPACE,
            storage=":memory:",
            study_name="multi",
            run_baseline=True,
            objective=Objective(["loss", "size"], ["minimize", "minimize"], constraints=["x_excess"]),
            sampler=optuna.samplers.TPESampler(seed=1),
        )
        fx.quadratic_experiment(name="multi").optimize(optimizer, num_trials=40, replicates_per_trial=3)
    return optimizer


@pytest.fixture(scope="module")
def plain_study() -> optuna.Study:
    """A study made with plain Optuna: no crystallize user attributes, maximized, with failures."""
    study = optuna.create_study(
        study_name="plain <study>", direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3)
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("c", [1, 2, None])
        if x > 0.9:
            raise ValueError("too big")
        return -((x - 0.3) ** 2)

    study.optimize(objective, n_trials=40, catch=(ValueError,))
    assert any(t.state == TrialState.FAIL for t in study.trials)
    return study


@pytest.fixture(scope="module")
def three_objective_study() -> optuna.Study:
    """Plain Optuna, three objectives with mixed directions, and a conditional log-scaled parameter."""
    study = optuna.create_study(
        study_name="three",
        directions=["minimize", "maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )

    def objective(trial: optuna.Trial) -> tuple[float, float, float]:
        x = trial.suggest_float("x", 0, 1)
        q = (
            trial.suggest_float("q", 0.1, 10, log=True)
            if trial.suggest_categorical("kind", ["lin", "quad"]) == "quad"
            else 1.0
        )
        return x * q, (1 - x) ** 2 + q, abs(x - 0.5)

    study.optimize(objective, n_trials=120)
    return study


def synthetic_study(n: int, replicates: int = 5, seed: int = 0, name: str = "synthetic") -> optuna.Study:
    """``n`` complete trials with crystallize-shaped user attributes, added in memory (fast)."""
    rng = np.random.default_rng(seed)
    dists = {
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "x": FloatDistribution(-5, 5),
        "y": FloatDistribution(-5, 5),
        "depth": IntDistribution(1, 12),
        "dropout": FloatDistribution(0, 0.5),
        "opt": CategoricalDistribution(["adam", "sgd", "rmsprop"]),
    }
    study = optuna.create_study(study_name=name)
    study.set_user_attr(
        "crystallize", {"objective": {"metrics": ["loss"], "directions": ["minimize"], "aggregate": "mean"}}
    )
    lr, x, y = 10 ** rng.uniform(-5, -1, n), rng.uniform(-5, 5, n), rng.uniform(-5, 5, n)
    depth, dropout, opt = (
        rng.integers(1, 13, n),
        rng.uniform(0, 0.5, n),
        rng.choice(["adam", "sgd", "rmsprop"], n),
    )
    noise = rng.normal(scale=0.5, size=(n, replicates))
    trials = []
    for i in range(n):
        params = {
            "lr": float(lr[i]),
            "x": float(x[i]),
            "y": float(y[i]),
            "depth": int(depth[i]),
            "dropout": float(dropout[i]),
            "opt": str(opt[i]),
        }
        values = (
            (x[i] - 1.5) ** 2 + 0.5 * (y[i] + 1) ** 2 + (0.3 if opt[i] == "sgd" else 0.0) + noise[i]
        ).tolist()
        mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
        record = {
            "treatment": params,
            "values": {"loss": values},
            "seeds": list(range(replicates)),
            "stats": {
                "loss": {"mean": mean, "std": std, "sem": std / math.sqrt(replicates), "n": replicates}
            },
            "failures": [],
            "duration": 0.0,
            "objective": {"loss": mean},
        }
        trials.append(
            optuna.create_trial(
                params=params, distributions=dists, value=mean, user_attrs={"crystallize": record}
            )
        )
    study.add_trials(trials)
    return study


def _trace(fig: Any, name_prefix: str) -> Any:
    return next(t for t in fig.data if (t.name or "").startswith(name_prefix))


# -- the extracted data ---------------------------------------------------------------------


def test_extracted_means_sems_and_counts_are_the_stored_statistics(single_study: optuna.Study) -> None:
    data = extract(single_study)
    for row, trial in enumerate(sorted(single_study.trials, key=lambda t: t.number)):
        stats = record_of(trial).stats.get("loss")
        assert data.number[row] == trial.number
        if stats is None:  # failed before recording anything
            assert trial.state == TrialState.FAIL and math.isnan(data.mean[row, 0])
            continue
        assert data.mean[row, 0] == stats["mean"] and data.n[row, 0] == stats["n"]
        assert data.sem[row, 0] == stats["sem"] or (math.isnan(stats["sem"]) and math.isnan(data.sem[row, 0]))
    assert data.baseline is not None
    assert data.baseline.mean[0] == single_study.user_attrs["crystallize_baseline"]["stats"]["loss"]["mean"]
    assert data.failures and all("is above 4.0" in reason for _, reason in data.failures)


def test_history_error_bars_are_the_stored_sems(single_study: optuna.Study) -> None:
    fig = build_figures(single_study)["history"]
    complete = _trace(fig, "complete")
    by_number = {t.number: t for t in single_study.trials}
    sems = [record_of(by_number[int(n)]).stats["loss"]["sem"] for n in complete.x]
    means = [record_of(by_number[int(n)]).stats["loss"]["mean"] for n in complete.x]
    np.testing.assert_array_equal(np.asarray(complete.error_y.array), sems)
    np.testing.assert_array_equal(np.asarray(complete.y), means)
    assert _trace(fig, "pruned").x.size == sum(t.state == TrialState.PRUNED for t in single_study.trials)
    assert _trace(fig, "failed").x.size == sum(t.state == TrialState.FAIL for t in single_study.trials)
    baseline = single_study.user_attrs["crystallize_baseline"]["stats"]["loss"]["mean"]
    assert any(getattr(shape, "y0", None) == baseline for shape in fig.layout.shapes)


@pytest.mark.parametrize("which", ["single", "plain"])
def test_best_so_far_is_monotone_and_ends_at_the_best_value(
    which: str, single_study: optuna.Study, plain_study: optuna.Study
) -> None:
    study = single_study if which == "single" else plain_study
    x, best = best_so_far(extract(study))
    steps = np.diff(best)
    assert (
        np.all(steps <= 0) if study.direction == optuna.study.StudyDirection.MINIMIZE else np.all(steps >= 0)
    )
    assert np.all(np.diff(x) > 0)
    assert best[-1] == study.best_value


def test_ranking_puts_optunas_best_trial_first_and_the_table_lists_the_best_trials(
    single_study: optuna.Study, tmp_path: Path
) -> None:
    data = extract(single_study, top_k=5)
    assert data.number[data.best] == single_study.best_trial.number
    complete = sorted(
        (t for t in single_study.trials if t.state == TrialState.COMPLETE), key=lambda t: (t.value, t.number)
    )
    expected = [t.number for t in complete[:5]]
    assert data.number[data.top].tolist() == expected
    page = write_report(single_study, tmp_path / "r.html", top_k=5).read_text()
    table = page.split("<table class='data top'>")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td>", table)
    assert [int(trial) for _, trial in rows] == expected
    assert [int(rank) for rank, _ in rows] == [1, 2, 3, 4, 5]


def test_multi_objective_front_and_best_match_optuna_and_the_optimizer(
    multi_optimizer: OptunaOptimizer,
) -> None:
    study = multi_optimizer.study
    data = extract(study)
    assert sorted(data.number[data.pareto].tolist()) == sorted(t.number for t in study.best_trials)
    optimal = np.array([t.values for t in study.best_trials])  # Optuna's feasible Pareto front
    scaled = (optimal - optimal.min(axis=0)) / (optimal.max(axis=0) - optimal.min(axis=0))
    closest = study.best_trials[int(np.argmin(np.hypot(scaled[:, 0], scaled[:, 1])))]
    assert data.number[data.best] == closest.number
    assert f"trial-{data.number[data.best]}" == multi_optimizer.get_best_treatment().name
    assert not data.feasible.all()  # the constraint made some trials infeasible, which are never ranked
    assert data.feasible[data.ranking].all()
    figures = build_figures(study)
    assert set(figures) == {"history", "importance", "slice", "parallel", "contour", "pareto", "replicates"}
    front = _trace(figures["pareto"], "Pareto-optimal")
    assert sorted(front.customdata.tolist()) == sorted(t.number for t in study.best_trials)
    assert len(figures["history"].layout.annotations) >= 2  # one baseline label per objective


def test_three_objectives_get_pairwise_pareto_plots_and_conditional_parameters_are_kept(
    three_objective_study: optuna.Study,
) -> None:
    study = three_objective_study
    data = extract(study)
    assert sorted(data.number[data.pareto].tolist()) == sorted(t.number for t in study.best_trials)
    figures = build_figures(study)
    fronts = [t for t in figures["pareto"].data if (t.name or "").startswith("Pareto-optimal")]
    assert len(fronts) == 3  # one per pair of objectives
    q = next(p for p in data.params if p.name == "q")
    assert q.log and np.isnan(q.values).any() and np.isfinite(q.values).any()
    dims = {d.label: d for d in figures["parallel"].data[0].dimensions}
    q_axis = dims["q (log scale) (bottom: unset)"]
    assert np.isfinite(np.asarray(q_axis.values)).all()
    # The axis runs over log10(q), its ticks are labelled in q's own units.
    assert len(q_axis.ticktext) >= 2
    assert np.allclose(np.log10([float(t) for t in q_axis.ticktext]), q_axis.tickvals)
    assert [d.label for d in figures["parallel"].data[0].dimensions][-3:] == [
        "objective 0",
        "objective 1",
        "objective 2",
    ]


def test_pareto_mask_agrees_with_brute_force_including_duplicates() -> None:
    rng = np.random.default_rng(0)
    for k in (2, 3):
        points = np.round(rng.normal(size=(300, k)), 1)
        points[:20] = points[20:40]  # duplicates
        dominated = [bool(np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1))) for p in points]
        np.testing.assert_array_equal(pareto_mask(points), ~np.array(dominated))
        ranks, left, rank = front_ranks(points), np.ones(len(points), dtype=bool), 0
        while left.any():  # peel the fronts by brute force
            rows = np.flatnonzero(left)
            on_front = [
                not np.any(
                    np.all(points[rows] <= points[i], axis=1) & np.any(points[rows] < points[i], axis=1)
                )
                for i in rows
            ]
            np.testing.assert_array_equal(ranks[rows[on_front]], rank)
            left[rows[on_front]] = False
            rank += 1


def test_a_study_not_made_by_crystallize_falls_back_to_trial_values(
    plain_study: optuna.Study, tmp_path: Path
) -> None:
    data = extract(plain_study)
    finite = np.isfinite(data.value[:, 0])
    np.testing.assert_array_equal(data.mean[finite, 0], data.value[finite, 0])
    assert np.isnan(data.sem).all() and (data.n == 0).all() and data.baseline is None
    assert data.metrics == ("value",) and data.directions == ("maximize",)
    assert data.failures and data.failures[0][1] == "no reason stored"  # Optuna does not keep the exception
    figures = build_figures(plain_study)
    assert "replicates" not in figures and {"history", "slice", "parallel", "contour"} <= set(figures)
    page = write_report(plain_study, tmp_path / "plain.html").read_text()
    assert "plain &lt;study&gt;" in page and "<study>" not in page
    assert "No per-replicate values are stored" in page and "not made by crystallize-opt" in page


def test_median_aggregate_shows_both_the_mean_and_the_value_told_to_optuna(tmp_path: Path) -> None:
    study = synthetic_study(30)
    study.set_user_attr(
        "crystallize", {"objective": {"metrics": ["loss"], "directions": ["minimize"], "aggregate": "median"}}
    )
    page = write_report(study, tmp_path / "r.html").read_text()
    assert "loss (median)" in page and "best so far (median)" in page


# -- degenerate studies ---------------------------------------------------------------------


def test_a_study_without_trials_still_gets_a_report_that_says_so(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="empty")
    path = write_report(study, tmp_path / "deep" / "new" / "folder" / "r.html")
    assert path == tmp_path / "deep" / "new" / "folder" / "r.html" and path.exists()
    page = path.read_text()
    assert "none: no trial completed feasibly yet" in page and "No trial has a value yet" in page
    assert "Plotly.newPlot" not in page and path.stat().st_size < 50_000  # no figure, so no plotly.js
    assert build_figures(study) == {}


def test_a_study_whose_trials_all_failed_lists_the_failures(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="failing")
    for _ in range(3):
        trial = study.ask({"x": FloatDistribution(0, 1)})
        trial.set_user_attr("crystallize", {"failure": "replicate 0 raised <ValueError>"})
        study.tell(trial, state=TrialState.FAIL)
    page = write_report(study, tmp_path / "r.html").read_text()
    assert "3 failed trial(s)" in page and "replicate 0 raised &lt;ValueError&gt;" in page
    assert "3: 3 failed" in page


def test_importances_degenerate_cases_become_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = optuna.create_study()
    one.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert "at least 2 completed trials; this study has 1" in (extract(one).importances.note or "")
    single_param = optuna.create_study()
    single_param.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    data = extract(single_param)
    assert not data.importances.values and "Only one parameter (x)" in (data.importances.note or "")
    page = write_report(single_param, tmp_path / "r.html").read_text()
    assert "Only one parameter (x)" in page and "A contour needs two searched parameters" in page

    def broken(*args: object, **kwargs: object) -> dict[str, float]:
        raise RuntimeError("evaluator exploded")

    monkeypatch.setattr(optuna.importance, "get_param_importances", broken)
    data = extract(synthetic_study(10))
    assert "RuntimeError: evaluator exploded" in (data.importances.note or "")
    assert "contour" in build_figures(synthetic_study(10))  # falls back to the parameters' order


def test_top_k_must_be_positive(single_study: optuna.Study, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="top_k"):
        write_report(single_study, tmp_path / "r.html", top_k=0)


# -- figures and size -----------------------------------------------------------------------


def test_contour_size_does_not_grow_with_the_number_of_trials() -> None:
    sizes = []
    for n in (2_000, 8_000):
        fig = build_figures(synthetic_study(n))["contour"]
        assert np.asarray(fig.data[0].z).shape == (GRID, GRID)
        sizes.append(len(fig.to_json()))
    assert abs(sizes[1] - sizes[0]) < 0.02 * sizes[0]  # the surface is fixed; only the points vary


def test_kernel_surface_follows_the_data_and_is_blank_far_from_it() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, 400), rng.uniform(0, 1, 400)
    a[:200] = rng.uniform(0, 0.3, 200)  # denser on the left, and nothing in (0.2, 0.8) x (0.5, 1]
    keep = ~((a > 0.2) & (a < 0.8) & (b > 0.5))
    a, b = a[keep], b[keep]
    pa, pb = ParamColumn("a", a, None, log=False), ParamColumn("b", b, None, log=False)
    surface = kernel_surface(pa, pb, np.arange(a.size), 2 * a + b)
    assert surface is not None and surface.z.shape == (GRID, GRID)
    gx, gy = np.meshgrid(surface.x, surface.y)
    known = np.isfinite(surface.z)
    assert (
        np.nanmax(
            np.abs(surface.z - (2 * gx + gy))[known & (gx > 0.1) & (gx < 0.9) & (gy > 0.1) & (gy < 0.5)]
        )
        < 0.15
    )
    hole = (gx > 0.4) & (gx < 0.6) & (gy > 0.8)  # at least 2.5 bandwidths from every point
    assert hole.any() and not known[hole].any()
    assert known[(gy < 0.45) | (gx < 0.15) | (gx > 0.85)].all()


def test_subsample_is_deterministic_capped_and_keeps_the_best() -> None:
    rows = np.arange(10_000)
    priority = np.arange(10_000)[::-1]
    first, second = subsample(rows, 1000, priority), subsample(rows, 1000, priority)
    np.testing.assert_array_equal(first, second)
    assert first.size == 1000 and np.all(np.diff(first) > 0)
    assert set(range(9_800, 10_000)) <= set(first.tolist())
    np.testing.assert_array_equal(subsample(rows[:50], 1000, priority), rows[:50])


def test_numeric_arrays_are_base64_and_plotly_js_is_inlined_once(tmp_path: Path) -> None:
    study = synthetic_study(300)
    history = json.loads(build_figures(study)["history"].to_json())
    assert set(history["data"][0]["x"]) == {"dtype", "bdata"} and set(history["data"][0]["y"]) == {
        "dtype",
        "bdata",
    }
    page = write_report(study, tmp_path / "r.html", title="My <own> title").read_text()
    plotly_js = plotly.offline.get_plotlyjs()
    assert page.count(plotly_js[:2000]) == 1 and page.count(plotly_js[-2000:]) == 1
    assert "<title>My &lt;own&gt; title</title>" in page
    rest = page.replace(plotly_js, "")
    # Nothing is fetched online.
    assert "<script src" not in rest and "cdn.plot.ly" not in rest and "<link" not in rest


def test_ten_thousand_trials_stay_under_25_mb(tmp_path: Path) -> None:
    """The size goal; the write-time goal (under 60 s) is measured by benchmarks/bench_report.py,
    not asserted here, where a loaded machine would fail it."""
    study = synthetic_study(10_000)
    path = write_report(study, tmp_path / "big.html")
    size = path.stat().st_size
    assert size < 25 * 2**20, f"{size / 2**20:.1f} MB"


# -- in a real browser ------------------------------------------------------------------------


def _assert_page_renders(
    browser: report_browser.Browser, study: optuna.Study, path: Path
) -> report_browser.PageCheck:
    write_report(study, path)
    check = browser.inspect_report(path)
    assert check.errors == [], check.errors
    assert check.ready == "true"
    expected = build_figures(study)
    assert sorted(p["id"] for p in check.plots) == sorted(f"plot-{key}" for key in expected)
    problems = [problem for plot in check.plots for problem in report_browser.drawn_problems(plot)]
    assert problems == []
    return check


def test_browser_single_objective_report_with_baseline_failures_and_pruned(
    browser: report_browser.Browser | str, single_study: optuna.Study, tmp_path: Path
) -> None:
    check = _assert_page_renders(need(browser), single_study, tmp_path / "single.html")
    history = next(p for p in check.plots if p["id"] == "plot-history")
    # Every trial is drawn (failed ones as ticks along the bottom).
    assert history["marks"]["scatter"] >= len(single_study.trials)


def test_browser_multi_objective_report(
    browser: report_browser.Browser | str, multi_optimizer: OptunaOptimizer, tmp_path: Path
) -> None:
    check = _assert_page_renders(need(browser), multi_optimizer.study, tmp_path / "multi.html")
    assert any(p["id"] == "plot-pareto" for p in check.plots)


def test_browser_report_of_a_plain_optuna_study(
    browser: report_browser.Browser | str, plain_study: optuna.Study, tmp_path: Path
) -> None:
    check = _assert_page_renders(need(browser), plain_study, tmp_path / "plain.html")
    contour = next(p for p in check.plots if p["id"] == "plot-contour")
    assert contour["marks"]["heatmap"] >= 1  # "c" is categorical, so the surface is a heatmap


def test_browser_report_of_three_objectives_with_a_conditional_parameter(
    browser: report_browser.Browser | str, three_objective_study: optuna.Study, tmp_path: Path
) -> None:
    _assert_page_renders(need(browser), three_objective_study, tmp_path / "three.html")


def test_browser_report_of_ten_thousand_trials(browser: report_browser.Browser | str, tmp_path: Path) -> None:
    _assert_page_renders(need(browser), synthetic_study(10_000), tmp_path / "big.html")


def test_browser_check_catches_script_errors_and_empty_plots(
    browser: report_browser.Browser | str, plain_study: optuna.Study, tmp_path: Path
) -> None:
    """The checks above would see a broken page: an exception, and a plot that draws nothing."""
    session = need(browser)
    path = write_report(plain_study, tmp_path / "broken.html")
    page = path.read_text()
    path.write_text(page.replace("</main>", "</main><script>null.boom();</script>", 1))
    check = session.inspect_report(path)
    assert any("TypeError" in e or "boom" in e for e in check.errors), check.errors

    import plotly.graph_objects as go

    data = extract(plain_study)
    empty = Section("empty", "Empty", figure=go.Figure(go.Scatter(x=np.empty(0), y=np.empty(0))))
    path.write_text(page_html(data, [empty], "empty"))
    check = session.inspect_report(path)
    assert check.errors == [] and check.ready == "true"
    assert report_browser.drawn_problems(check.plots[0]) == ["plot-empty: no trace with points"]


def test_a_study_continued_by_other_samplers_warns_once_per_change_and_the_report_names_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Begun with TPE, continued twice with a RandomSampler, then with TPE again: each change
    warns once, the history records from which trial each sampler proposed, and the report says
    which sampler proposed which trials."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    samplers = [
        optuna.samplers.TPESampler(seed=0),
        optuna.samplers.RandomSampler(seed=1),
        optuna.samplers.RandomSampler(seed=1),
        optuna.samplers.TPESampler(seed=0, n_startup_trials=3),
    ]
    warned = []
    with _in(tmp_path):
        for total, sampler in zip((4, 8, 12, 16), samplers, strict=True):  # num_trials: the study's total
            optimizer = OptunaOptimizer(
                search_space=SPACE, objective=Objective("loss"), storage=url, study_name="s", sampler=sampler
            )
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
                fx.quadratic_experiment(name="s").optimize(
                    optimizer, num_trials=total, replicates_per_trial=1
                )
            warned.append(caplog.text.count("the search does not go on as it would have"))
    assert warned == [0, 1, 0, 1]
    assert "proposed by a TPESampler with other settings" not in caplog.text  # Random -> TPE: a class change
    study = optuna.load_study(study_name="s", storage=url)
    history = SamplerHistory.from_study(study)
    assert [(c["from_trial"], c["sampler"]["class"]) for c in history.changes or []] == [
        (4, "RandomSampler"),
        (12, "TPESampler"),
    ]
    assert extract(study).sampler == (
        "trials 0-3: TPESampler(n_startup_trials=10, constant_liar=True) | trials 4-11: RandomSampler() | "
        "from trial 12 on: TPESampler(n_startup_trials=3, constant_liar=True)"
    )


def test_a_sampler_with_other_settings_of_the_same_class_is_a_change_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with _in(tmp_path):
        for total, startup in ((3, 10), (5, 2)):
            optimizer = OptunaOptimizer(
                search_space=SPACE,
                objective=Objective("loss"),
                storage=url,
                study_name="s",
                sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=startup),
            )
            with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
                fx.quadratic_experiment(name="s").optimize(
                    optimizer, num_trials=total, replicates_per_trial=1
                )
    assert "proposed by a TPESampler with other settings than the one proposing the next ones" in caplog.text
    assert (
        "from trial 3 on: TPESampler(n_startup_trials=2"
        in extract(optuna.load_study(study_name="s", storage=url)).sampler
    )
