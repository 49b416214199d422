"""Learning-curve pruning across replicates (issue 17): ``ctx.report`` records a replicate's
curve in ``run()``; under ``optimize`` with a pruner a trial stops in the middle of a replicate,
stored as PRUNED with where and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from crystallize_opt import (
    ConfigurationError,
    NoiseHandling,
    Objective,
    OptunaOptimizer,
    ParallelExecution,
    TrialPruned,
)
from crystallize_opt.config import load_study
from crystallize_opt.records import CurveLayout, StudySettings, TrialRecord
from crystallize_opt.report import build_figures, write_report

from .curve_fixtures import EPOCHS, curve_experiment

SPACE = {"lr": FloatDistribution(0.01, 0.6)}


def _optimizer(storage: str = ":memory:", **kwargs: Any) -> OptunaOptimizer:
    return OptunaOptimizer(
        SPACE, Objective("loss"), sampler=optuna.samplers.RandomSampler(seed=3), storage=storage, **kwargs
    )


def _records(optimizer: OptunaOptimizer) -> list[tuple[optuna.trial.FrozenTrial, TrialRecord]]:
    out = []
    for trial in optimizer.study.trials:
        record = TrialRecord.from_trial(trial)
        assert record is not None
        out.append((trial, record))
    return out


def test_run_records_each_replicates_curve_and_report_never_raises() -> None:
    result = curve_experiment().run(replicates=2)
    assert not result.errors
    curves = result.provenance["curves"]["baseline"]
    assert sorted(curves) == [0, 1]
    assert [step for step, _ in curves[0]] == list(range(EPOCHS))
    assert curves[0] != curves[1]  # each replicate's seed gives its own curve
    assert curves[0][-1][1] == pytest.approx(result.metrics.baseline.metrics["loss"][0])


def test_a_bad_step_number_is_a_clear_error() -> None:
    from crystallize_opt import FrozenContext

    ctx = FrozenContext({})
    ctx.report(1.0, step=3)
    with pytest.raises(ValueError, match="step 2 was reported after step 3"):
        ctx.report(1.0, step=2)
    with pytest.raises(TypeError, match="step must be an integer"):
        ctx.report(1.0, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value must be a real number"):
        ctx.report("low", step=4)  # type: ignore[arg-type]
    assert ctx.curve == [(3, 1.0)] and not ctx.should_prune()
    assert issubclass(TrialPruned, optuna.TrialPruned)


def test_median_pruner_stops_a_trial_mid_replicate_and_its_record_says_where_and_why() -> None:
    optimizer = _optimizer(pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    curve_experiment().optimize(optimizer, 10, 3, curve_pruning="paired")
    records = _records(optimizer)
    pruned = [(t, r) for t, r in records if t.state == TrialState.PRUNED]
    complete = [(t, r) for t, r in records if t.state == TrialState.COMPLETE]
    assert pruned and complete
    for trial, record in pruned:
        where = record.pruned
        assert where is not None and where["mode"] == "paired"
        assert where["pruner"]["class"] == "MedianPruner"
        assert where["step"] < EPOCHS - 1 or where["replicate"] < 2  # stopped inside the training
        assert where["optuna_step"] == where["replicate"] * EPOCHS + where["step"]
        assert where["compared"]["trials"] >= 2 and "median" in where["compared"]
        assert where["value"] > where["compared"]["median"]  # worse than the median (minimized)
        assert "MedianPruner stopped it at replicate" in where["reason"]
        # the stopped replicate's curve is kept, its metrics are not a replicate's result
        assert where["replicate"] not in (record.replicates or [])
        assert len(record.curve_of(where["replicate"])) == where["step"] + 1
        assert trial.last_step == where["optuna_step"]
    for trial, record in complete:
        assert record.replicates == [0, 1, 2] and record.pruned is None
        assert [len(record.curve_of(r)) for r in range(3)] == [EPOCHS] * 3
        assert trial.last_step == 3 * EPOCHS - 1
    layout = CurveLayout.from_study(optimizer.study)
    assert layout is not None and layout.steps_per_replicate == EPOCHS
    settings = StudySettings.from_study(optimizer.study)
    assert settings is not None and settings.curve_pruning == "paired"


def test_pooled_reports_the_mean_over_the_replicates_run_so_far() -> None:
    optimizer = _optimizer(pruner=optuna.pruners.MedianPruner(n_startup_trials=50))  # never prunes
    curve_experiment().optimize(optimizer, 2, 3, curve_pruning="pooled")
    paired = _optimizer(pruner=optuna.pruners.MedianPruner(n_startup_trials=50))
    curve_experiment().optimize(paired, 2, 3, curve_pruning="paired")
    for (trial, record), (paired_trial, _) in zip(_records(optimizer), _records(paired), strict=True):
        for replicate in range(3):
            for step, value in record.curve_of(replicate):
                so_far = [record.curve_of(r)[step][1] for r in range(replicate + 1)]
                assert trial.intermediate_values[replicate * EPOCHS + step] == pytest.approx(
                    sum(so_far) / len(so_far)
                )
                assert paired_trial.intermediate_values[replicate * EPOCHS + step] == pytest.approx(value)


def test_curve_pruning_without_pruner_or_of_an_unknown_mode_is_refused_with_what_to_do() -> None:
    noisy = _optimizer(pruner=optuna.pruners.MedianPruner(), noise=NoiseHandling(), curve_pruning="paired")
    assert noisy.curve_pruning == "paired"
    with pytest.raises(ConfigurationError, match="there is no pruner"):
        _optimizer(curve_pruning="pooled")
    with pytest.raises(ConfigurationError, match="curve_pruning must be one of"):
        _optimizer(pruner=optuna.pruners.MedianPruner(), curve_pruning="epochs")
    with pytest.raises(ConfigurationError, match="a pruner was given twice"):
        curve_experiment().optimize(
            _optimizer(pruner=optuna.pruners.MedianPruner()), 1, 1, pruner=optuna.pruners.HyperbandPruner()
        )


STUDY_FILES = {
    "datasources.py": "from tests.curve_fixtures import seeded_offset\n",
    "steps.py": "from tests.curve_fixtures import train\n",
}
CONFIG = """\
name: curves
datasource: seeded_offset
steps: [train]
optimize:
  objective: loss
  trials: 12
  replicates_per_trial: 3
  sampler: {name: random, seed: 5}
  pruner: {name: hyperband, min_resource: 1, max_resource: 18, reduction_factor: 3}
  curve_pruning: paired
  search_space:
    lr: {type: float, low: 0.01, high: 0.6}
"""


def test_a_study_folder_prunes_with_hyperband_on_epochs_and_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "curves"
    folder.mkdir()
    for name, text in STUDY_FILES.items():
        (folder / name).write_text(text)
    (folder / "config.yaml").write_text(CONFIG)
    study = load_study(folder / "config.yaml")
    assert study.optimize is not None and study.optimize.curve_pruning == "paired"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optimizer = study.optimize.make_optimizer(storage=storage)
    assert (
        isinstance(optimizer.pruner, optuna.pruners.HyperbandPruner) and optimizer.curve_pruning == "paired"
    )
    study.experiment.optimize(optimizer, 8, 3)
    records = _records(optimizer)
    pruned = [(t, r) for t, r in records if t.state == TrialState.PRUNED]
    assert pruned, [t.state for t, _ in records]
    for _, record in pruned:
        assert record.pruned is not None and record.pruned["pruner"]["class"] == "HyperbandPruner"
        assert record.pruned["optuna_step"] == record.pruned["replicate"] * EPOCHS + record.pruned["step"]
        assert "HyperbandPruner stopped it at replicate" in record.pruned["reason"]
    # Resumed: the study goes on to its target, pruned trials counting as finished.
    again = load_study(folder / "config.yaml").optimize
    assert again is not None
    resumed = again.make_optimizer(storage=storage)
    study.experiment.optimize(resumed, 12, 3)
    states = [t.state for t in resumed.study.trials]
    assert len(states) == 12 and states.count(TrialState.PRUNED) >= len(pruned)
    assert all(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)
    for trial, _ in _records(resumed)[8:]:
        if trial.state == TrialState.COMPLETE:
            assert trial.last_step == 3 * EPOCHS - 1  # the stored layout maps the resumed run's steps


@pytest.mark.parametrize(
    ("first_step", "every"),
    [(0, 1), (1, 1), (5, 5)],
    ids=["steps-from-0", "epochs-from-1", "every-fifth-epoch"],
)
def test_noise_aware_search_prunes_search_trials_on_their_curves_and_chooses_from_complete_ones(
    first_step: int, every: int
) -> None:
    optimizer = _optimizer(
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1), noise=True
    )
    assert optimizer.curve_pruning == "pooled"
    experiment = curve_experiment(first_step=first_step, every=every)
    winner = experiment.optimize(optimizer, 40, 2)  # a budget of 80 executions
    last_step = first_step + (EPOCHS - 1) * every
    layout = CurveLayout.from_study(optimizer.study)
    assert layout is not None and (layout.steps_per_replicate, layout.origin) == (
        last_step + 1,
        first_step - every,
    )
    records = _records(optimizer)
    pruned = [(t, r) for t, r in records if t.state == TrialState.PRUNED]
    assert pruned, "the median pruner stopped no search trial"
    for trial, record in pruned:
        where = record.pruned
        assert where is not None and where["step"] < last_step  # inside the training
        assert where["replicate"] not in (record.replicates or [])
        epochs_trained = (where["step"] - first_step) // every + 1
        assert len(record.curve_of(where["replicate"])) == epochs_trained
        # it cost the share of its epochs it ran, whatever the steps are numbered
        assert where["share"] == round(epochs_trained / EPOCHS, 3)
        assert record.executions == pytest.approx(len(record.replicates or []) + where["share"])
        assert trial.last_step == where["optuna_step"]  # Optuna keeps the value where it stopped
    selection = optimizer.selection
    assert selection is not None
    # every execution counts against the budget by its cost, the stopped ones by their share
    assert selection.executions["search"] == pytest.approx(sum(r.executions for _, r in records))
    assert selection.executions["search"] != int(selection.executions["search"])
    assert "pruned ones count the share of the curve they ran" in (selection.executions_text() or "")
    spent = sum(selection.executions[k] for k in ("search", "confirmation", "holdout"))
    # the last search trial starts with a share of an execution left and may train it whole
    assert selection.executions["budget"] == 80 and spent < 80 + 1
    # the model learns from finished replicates only: a parameter set the pruner stopped
    # before any finished (its partial curve is no estimate of the end) never wins
    finished = [t.params for t, r in records if r.replicates]
    stopped_only = [t.params for t, _ in pruned if t.params not in finished]
    assert stopped_only and winner.params not in stopped_only
    assert selection.executions["confirmation"] > 0  # candidates confirmed on fresh seeds


def test_noise_aware_search_with_curve_pruning_off_prunes_between_replicates_only() -> None:
    optimizer = _optimizer(
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1), noise=True, curve_pruning="off"
    )
    curve_experiment().optimize(optimizer, 6, 2)
    ran = [(t, r) for t, r in _records(optimizer) if r.replicates]
    assert len(ran) >= 3
    for trial, record in ran:
        assert [len(record.curve_of(r)) for r in record.replicates] == [EPOCHS] * len(record.replicates)
        # the pruner saw one value per replicate (step = replicate index), never the epochs
        assert set(trial.intermediate_values) <= set(record.replicates)


def test_workers_share_the_curve_layout_and_prune_on_one_sqlite_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optimizer = _optimizer(storage, pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    curve_experiment().optimize(optimizer, 10, 2, workers=2)
    records = _records(optimizer)
    finished = [t for t, _ in records if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 10
    assert any(t.state == TrialState.PRUNED for t in finished)
    assert {r.pruned["mode"] for t, r in records if r.pruned} == {"pooled"}  # the default
    layout = CurveLayout.from_study(optimizer.study)
    assert layout is not None and layout.steps_per_replicate == EPOCHS
    for trial in finished:
        if trial.state == TrialState.COMPLETE:
            assert sorted(trial.intermediate_values) == list(range(2 * EPOCHS))


def test_replicates_in_worker_processes_are_pruned_between_replicates_on_their_curves() -> None:
    """Process execution: the trial's pruner stays in this process, so a replicate's curve is
    reported when it comes back, and the pruner asked once, at its last point."""
    optimizer = _optimizer(pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    experiment = curve_experiment(plugins=[ParallelExecution(executor_type="process", max_workers=1)])
    experiment.optimize(optimizer, 8, 3)
    records = _records(optimizer)
    pruned = [r for t, r in records if t.state == TrialState.PRUNED]
    assert pruned
    for record in pruned:
        assert record.pruned is not None and record.pruned["step"] == EPOCHS - 1
        assert record.pruned["replicate"] in (record.replicates or [])  # it finished, then the trial stopped
    for trial, record in records:
        assert sorted(trial.intermediate_values) == list(range(len(record.replicates or []) * EPOCHS))


def test_the_report_plots_each_trials_curves_and_marks_pruned_ones(tmp_path: Path) -> None:
    optimizer = _optimizer(pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    curve_experiment().optimize(optimizer, 6, 2, curve_pruning="paired")
    figures = build_figures(optimizer.study)
    traces = figures["curves"].data
    pruned = [t for t, _ in _records(optimizer) if t.state == TrialState.PRUNED]
    assert pruned
    means = [t for t in traces if t.showlegend is not False and t.mode == "lines"]
    assert len(means) == 6  # one line per trial
    assert {t.name for t in means if t.line.dash == "dash"} == {f"trial {t.number} (pruned)" for t in pruned}
    marks = [t for t in traces if t.mode == "markers"]
    assert len(marks) == len(pruned) and all("stopped it at replicate" in t.hovertext[0] for t in marks)
    page = write_report(optimizer.study, tmp_path / "report.html").read_text()
    assert "Learning curves" in page


def test_a_loop_extending_a_study_may_pass_a_new_pruner_to_each_optimize_call() -> None:
    optimizer = _optimizer()
    for target in (2, 4):
        curve_experiment().optimize(
            optimizer, target, 2, pruner=optuna.pruners.MedianPruner(), curve_pruning="paired"
        )
    assert len(optimizer.study.trials) == 4 and optimizer.curve_pruning == "paired"


def test_a_noise_aware_search_pruned_on_curves_resumes_as_if_uninterrupted(tmp_path: Path) -> None:
    from crystallize_opt import Experiment, Pipeline
    from crystallize_opt.optimize import stored_selection

    from .curve_fixtures import seeded_offset, train
    from .optimize_fixtures import interrupt_after

    flag = tmp_path / "interrupt"

    def run(url: str) -> Any:
        experiment = Experiment(
            datasource=seeded_offset(),
            pipeline=Pipeline([interrupt_after(), train()]),
            name="curves",
            initial_ctx={"interrupt_file": str(flag)},
        )
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
        return experiment.optimize(_optimizer(url, pruner=pruner, noise=True), 24, 2)

    def ran(url: str) -> list[tuple[TrialState, dict[str, Any], float | None]]:
        trials = optuna.load_study(study_name="curves", storage=url).trials
        return [(t.state, t.params, t.value) for t in trials if t.state != TrialState.FAIL]

    straight_url = f"sqlite:///{tmp_path / 'straight.db'}"
    winner = run(straight_url)
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    for count in (3, 11, 20):  # executions from the start of each run: early, mid-search, late
        flag.write_text(str(count))
        with pytest.raises(KeyboardInterrupt):
            run(url)
    assert run(url).params == winner.params
    assert ran(url) == ran(straight_url)
    assert any(state == TrialState.PRUNED for state, _, _ in ran(url))
    studies = [optuna.load_study(study_name="curves", storage=u) for u in (url, straight_url)]
    resumed, reference = (stored_selection(s) for s in studies)
    assert resumed is not None and reference is not None
    assert resumed.executions == reference.executions and resumed.comparison == reference.comparison
    assert reference.executions["confirmation"] > 0  # the winner was confirmed on fresh seeds


def test_the_noise_check_trains_both_its_replicates_to_the_end() -> None:
    # Prunes every curve from Optuna step EPOCHS on (replicate 1 of a trial, at its first epoch):
    # the noise check's second replicate would be cut, and whether the pipeline is noisy unknown.
    pruner = optuna.pruners.ThresholdPruner(upper=0.05, n_warmup_steps=EPOCHS)
    optimizer = _optimizer(pruner=pruner, noise=True)
    curve_experiment().optimize(optimizer, 12, 1)
    first, record = _records(optimizer)[0]
    assert first.state == TrialState.COMPLETE and record.replicates == [0, 1]
    assert [len(record.curve_of(r)) for r in (0, 1)] == [EPOCHS, EPOCHS]
    assert first.last_step == 2 * EPOCHS - 1  # replicate 1's points still reached the pruner
