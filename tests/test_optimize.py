"""Optimization on real Optuna studies (in memory and SQLite)."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from crystallize_opt import (
    BaseOptimizer,
    ConfigurationError,
    EventLoopError,
    Objective,
    OptimizationError,
    OptunaOptimizer,
    ParallelExecution,
    ResumableCmaEsSampler,
    SeedPlugin,
    Treatment,
    replicate_seed,
)
from crystallize_opt.optimize import treatment_of

from . import optimize_fixtures as fx
from .optional import require_package
from .stored import record_of

SPACE = {"x": FloatDistribution(-5, 5), "kind": CategoricalDistribution(["a", "b"])}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fx.EXECUTIONS.clear()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_optimizer(storage: object = ":memory:", **kwargs: object) -> OptunaOptimizer:
    kwargs.setdefault("sampler", optuna.samplers.TPESampler(seed=0))
    kwargs.setdefault("search_space", SPACE)
    kwargs.setdefault("objective", Objective("loss"))
    return OptunaOptimizer(storage=storage, **kwargs)  # type: ignore[arg-type]


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


def test_noisy_quadratic_is_solved_close_to_its_optimum() -> None:
    exp = fx.quadratic_experiment()
    optimizer = make_optimizer()
    best = exp.optimize(optimizer, num_trials=60, replicates_per_trial=4)
    assert best.name.startswith("trial-")
    assert best.params["kind"] == "a"
    assert abs(best.params["x"] - 1.5) < 0.5
    fx.EXECUTIONS.clear()
    output = exp.apply(best)  # one pass of the pipeline under the best treatment
    assert [best.name] == fx.EXECUTIONS, "apply ran the pipeline once, as the best treatment"
    assert isinstance(output, float) and output == exp.apply(), "it returns the output: replicate 0's draw"
    assert optimizer.study.best_trial.number == int(best.name.split("-")[1])


def test_each_trial_runs_exactly_its_replicates_and_the_baseline_at_most_once_per_study(
    tmp_path: Path,
) -> None:
    storage = sqlite_url(tmp_path)
    exp = fx.quadratic_experiment()
    exp.optimize(make_optimizer(storage, run_baseline=True), num_trials=6, replicates_per_trial=3)
    assert fx.EXECUTIONS.count("baseline") == 3
    assert len([c for c in fx.EXECUTIONS if c.startswith("trial-")]) == 6 * 3
    fx.EXECUTIONS.clear()
    exp.optimize(make_optimizer(storage, run_baseline=True), num_trials=8, replicates_per_trial=3)
    assert fx.EXECUTIONS.count("baseline") == 0, "a continued study must not re-run the baseline"
    assert len(fx.EXECUTIONS) == 2 * 3
    baseline = optuna.load_study(study_name="quad", storage=storage).user_attrs["crystallize_baseline"]
    assert len(baseline["values"]["loss"]) == 3


def test_replicate_r_of_every_trial_uses_the_same_seed_as_replicate_r_of_run() -> None:
    exp = fx.quadratic_experiment(plugins=[SeedPlugin(seed=11)])
    optimizer = make_optimizer()
    exp.optimize(optimizer, num_trials=4, replicates_per_trial=3)
    expected = [replicate_seed(11, r) for r in range(3)]
    assert expected == [11, 11 + 31337, 11 + 2 * 31337]
    for trial in optimizer.study.trials:
        assert record_of(trial).seeds == expected
    run_seeds = exp.run(replicates=3).metrics.baseline.seeds
    assert [run_seeds[r] for r in range(3)] == expected


def test_independent_seeds_differ_between_trials() -> None:
    exp = fx.quadratic_experiment()
    optimizer = make_optimizer(common_random_numbers=False)
    exp.optimize(optimizer, num_trials=3, replicates_per_trial=2)
    seeds = [tuple(record_of(t).seeds) for t in optimizer.study.trials]
    assert len(set(seeds)) == 3
    assert all(len(set(s)) == 2 for s in seeds)


def test_everything_stored_is_readable_with_plain_optuna(tmp_path: Path) -> None:
    storage = sqlite_url(tmp_path)
    exp = fx.quadratic_experiment(plugins=[SeedPlugin(seed=3)])
    exp.optimize(make_optimizer(storage), num_trials=3, replicates_per_trial=4)
    study = optuna.load_study(study_name="quad", storage=storage)
    settings = study.user_attrs["crystallize"]
    assert settings["experiment"] == "quad"
    assert settings["objective"] == {
        "metrics": ["loss"],
        "directions": ["minimize"],
        "aggregate": "mean",
        "constraints": [],
    }
    assert set(settings["search_space"]["params"]) == {"x", "kind"}
    assert settings["sampler"]["class"] == "TPESampler"
    assert settings["replicates_per_trial"] == 4
    assert settings["master_seed"] == 3
    trial = study.trials[0]
    record = trial.user_attrs["crystallize"]
    assert record["treatment"] == {"name": "trial-0", "params": trial.params}
    assert len(record["values"]["loss"]) == 4 and len(record["values"]["size"]) == 4
    stats = record["stats"]["loss"]
    assert stats["n"] == 4
    assert stats["mean"] == pytest.approx(trial.value)
    assert stats["sem"] == pytest.approx(stats["std"] / 2)
    assert record["seeds"] == [replicate_seed(3, r) for r in range(4)]
    assert settings["seed_scheme"] == "crystallize-ml"
    assert record["failures"] == []
    assert record["duration"] > 0
    assert record["pipeline_signature"] == exp.pipeline.signature()
    assert record["package_version"]


def test_rerun_after_an_interrupted_run_reaches_exactly_the_target(tmp_path: Path) -> None:
    storage = sqlite_url(tmp_path)
    flag = tmp_path / "interrupt"
    flag.write_text("7")  # the 8th execution is interrupted: in the 3rd trial (2 replicates each)
    exp = fx.quadratic_experiment(fx.interrupt_after(), initial_ctx={"interrupt_file": str(flag)})
    with pytest.raises(KeyboardInterrupt):
        exp.optimize(make_optimizer(storage), num_trials=10, replicates_per_trial=2)
    study = optuna.load_study(study_name="quad", storage=storage)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.FAIL]
    assert "interrupted" in record_of(study.trials[3]).failure
    assert TrialState.RUNNING not in states
    best = exp.optimize(make_optimizer(storage), num_trials=10, replicates_per_trial=2)
    study = optuna.load_study(study_name="quad", storage=storage)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 10
    assert len(study.trials) == 11
    assert len({t.number for t in study.trials}) == 11
    assert best.name == f"trial-{study.best_trial.number}"


def test_continuing_a_study_with_another_objective_or_space_is_refused(tmp_path: Path) -> None:
    storage = sqlite_url(tmp_path)
    exp = fx.quadratic_experiment()
    exp.optimize(make_optimizer(storage), num_trials=2)
    with pytest.raises(ConfigurationError, match=r"objective: .*directions.*'minimize'.*'maximize'"):
        exp.optimize(make_optimizer(storage, objective=Objective("loss", "maximize")), num_trials=3)
    other_space = {"x": FloatDistribution(-1, 1), "kind": CategoricalDistribution(["a", "b"])}
    with pytest.raises(ConfigurationError, match=r"search space: parameter 'x' was .*-5.*now .*-1"):
        exp.optimize(make_optimizer(storage, search_space=other_space), num_trials=3)
    assert len(optuna.load_study(study_name="quad", storage=storage).trials) == 2, "nothing stored is lost"


def test_a_failing_replicate_fails_the_trial_with_its_reason_and_the_study_goes_on() -> None:
    exp = fx.quadratic_experiment(fx.fail_when(fail_above=2.0))
    optimizer = make_optimizer()
    best = exp.optimize(optimizer, num_trials=25, replicates_per_trial=2)
    failed = optimizer.study.get_trials(states=(TrialState.FAIL,))
    assert failed, "the seeded sampler proposes x > 2 at least once in 25 trials"
    for trial in failed:
        assert trial.params["x"] > 2.0
        assert "ValueError" in record_of(trial).failure
        assert "above 2.0" in record_of(trial).failure
    assert best.params["x"] <= 2.0
    complete = optimizer.study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) + len(failed) == len(optimizer.study.trials) == 25


def test_a_nan_objective_fails_the_trial() -> None:
    exp = fx.quadratic_experiment()
    exp.pipeline.steps.append(fx.nan_when(nan_above=0.0))
    optimizer = make_optimizer()
    exp.optimize(optimizer, num_trials=10)
    failed = optimizer.study.get_trials(states=(TrialState.FAIL,))
    assert failed and all(t.params["x"] > 0 for t in failed)
    assert all("not a finite number" in record_of(t).failure for t in failed)


def test_when_every_trial_fails_optimize_raises_quoting_the_first_failures() -> None:
    exp = fx.quadratic_experiment(fx.fail_when(fail_above=-100.0))
    with pytest.raises(
        OptimizationError, match=r"every trial failed.*trial-0: .*ValueError: x=.* is above -100"
    ):
        exp.optimize(make_optimizer(), num_trials=3)


def test_an_objective_metric_the_pipeline_never_records_is_a_configuration_error() -> None:
    exp = fx.quadratic_experiment()
    optimizer = make_optimizer(objective=Objective("accuracy"))
    with pytest.raises(
        ConfigurationError, match=r"never recorded .*'accuracy'.*recorded \['loss', 'size', 'x_excess'\]"
    ):
        exp.optimize(optimizer, num_trials=10)
    trials = optimizer.study.trials
    assert [t.state for t in trials] == [TrialState.FAIL], (
        "raised at the first trial, which is not left RUNNING"
    )


def test_multi_objective_returns_a_pareto_trial_and_exposes_the_front() -> None:
    exp = fx.quadratic_experiment()
    optimizer = make_optimizer(objective=Objective(["loss", "size"], ["minimize", "minimize"]))
    best = exp.optimize(optimizer, num_trials=30, replicates_per_trial=2)
    front = optimizer.pareto_treatments()
    assert best in front
    values = {t.number: t.values for t in optimizer.study.trials if t.state == TrialState.COMPLETE}
    for treatment in front:
        mine = values[int(treatment.name.split("-")[1])]
        dominated = any(
            other[0] <= mine[0] and other[1] <= mine[1] and other != mine for other in values.values()
        )
        assert not dominated
    # The documented rule: closest to the ideal point after scaling each objective over the front.
    front_values = [values[int(t.name.split("-")[1])] for t in front]
    lows = [min(v[i] for v in front_values) for i in range(2)]
    spans = [max(v[i] for v in front_values) - lows[i] or 1.0 for i in range(2)]
    distance = [math.hypot(*((v[i] - lows[i]) / spans[i] for i in range(2))) for v in front_values]
    assert front[distance.index(min(distance))] == best


def test_constraint_metrics_make_trials_infeasible() -> None:
    exp = fx.quadratic_experiment()
    optimizer = make_optimizer(objective=Objective("loss", constraints=["x_excess"]))
    best = exp.optimize(optimizer, num_trials=40, replicates_per_trial=2)
    assert best.params["x"] <= 1.0, "the unconstrained optimum x=1.5 violates x - 1 <= 0"
    assert best.params["x"] > 0.0
    stored = optimizer.study.trials[0].system_attrs
    assert any(key.startswith("constraints") for key in stored)


def test_records_of_earlier_versions_without_the_treatment_still_give_each_trials_treatment(
    tmp_path: Path,
) -> None:
    """Records before the treatment was always stored: none, or only params differing from
    Optuna's as a plain dict; the current one stores ``{"name", "params"}``."""
    study = optuna.create_study(study_name="old", storage=sqlite_url(tmp_path))
    records: list[dict[str, object]] = [
        {"seeds": [1]},
        {"seeds": [1], "treatment": {"x": 2.0, "constant": 5}},
        {"seeds": [1], "treatment": {"name": "trial-2", "params": {"x": 3.0, "constant": 6}}},
    ]
    for number, record in enumerate(records):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": 1.0 + number},
                distributions={"x": FloatDistribution(-5, 5)},
                value=float(number),
                user_attrs={"crystallize": record},
            )
        )
    stored = optuna.load_study(study_name="old", storage=sqlite_url(tmp_path)).trials
    assert [treatment_of(t).params for t in stored] == [
        {"x": 1.0},
        {"x": 2.0, "constant": 5},
        {"x": 3.0, "constant": 6},
    ]
    assert [treatment_of(t).name for t in stored] == ["trial-0", "trial-1", "trial-2"]


def test_conditional_search_space_from_a_callable() -> None:
    def space(trial: optuna.Trial) -> dict[str, object]:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        if kind == "a":
            return {"kind": kind, "x": trial.suggest_float("x_a", 0.0, 3.0)}
        return {"kind": kind, "x": trial.suggest_float("x_b", -3.0, 0.0)}

    exp = fx.quadratic_experiment()
    optimizer = make_optimizer(search_space=space)
    best = exp.optimize(optimizer, num_trials=30)
    assert set(best.params) == {"kind", "x"}
    for trial in optimizer.study.trials:
        params = record_of(trial).treatment_params
        assert (params["x"] >= 0) == (params["kind"] == "a")
    assert best.params["kind"] == "a"


def test_warm_start_evaluates_known_treatments_first_and_only_once(tmp_path: Path) -> None:
    storage = sqlite_url(tmp_path)
    known = Treatment("hand-tuned", {"x": 1.4, "kind": "a"})
    exp = fx.quadratic_experiment(treatments=[Treatment("zero", {"x": 0.0, "kind": "b"})])
    optimizer = make_optimizer(storage, warm_start=[known])
    optimizer.enqueue(exp.treatments)
    exp.optimize(optimizer, num_trials=4)
    trials = optimizer.study.trials
    assert trials[0].params == {"x": 1.4, "kind": "a"}
    assert trials[1].params == {"x": 0.0, "kind": "b"}
    exp.optimize(make_optimizer(storage, warm_start=[known]), num_trials=6)
    params = [t.params for t in optuna.load_study(study_name="quad", storage=storage).trials]
    assert params.count({"x": 1.4, "kind": "a"}) == 1
    with pytest.raises(ConfigurationError, match=r"sets \[lr\], which are not in the search space"):
        make_optimizer(warm_start=[Treatment("bad", {"lr": 0.1})])


def test_optimize_inside_an_event_loop_points_to_aoptimize() -> None:
    exp = fx.quadratic_experiment()

    async def notebook_cell() -> Treatment:
        with pytest.raises(EventLoopError, match="aoptimize"):
            exp.optimize(make_optimizer(), num_trials=2)
        return await exp.aoptimize(make_optimizer(), num_trials=3)

    assert asyncio.run(notebook_cell()).name.startswith("trial-")


@pytest.mark.parametrize("executor_type", ["thread", "process"])
def test_parallel_replicates_give_results_identical_to_serial(executor_type: str) -> None:
    serial = make_optimizer()
    fx.quadratic_experiment().optimize(serial, num_trials=5, replicates_per_trial=3)
    parallel = make_optimizer()
    plugins = [ParallelExecution(executor_type=executor_type, max_workers=2)]
    fx.quadratic_experiment(plugins=plugins).optimize(parallel, num_trials=5, replicates_per_trial=3)
    assert [record_of(t).values for t in parallel.study.trials] == [
        record_of(t).values for t in serial.study.trials
    ]
    assert [t.params for t in parallel.study.trials] == [t.params for t in serial.study.trials]


def test_replay_reproduces_a_stored_trial_exactly_and_detects_a_changed_pipeline(tmp_path: Path) -> None:
    storage = sqlite_url(tmp_path)
    exp = fx.quadratic_experiment(plugins=[SeedPlugin(seed=5)])
    optimizer = make_optimizer(storage)
    exp.optimize(optimizer, num_trials=4, replicates_per_trial=3)
    report = exp.replay_trial(make_optimizer(storage, study_name="quad"), 2)
    assert report.matches, report.differences
    assert report.treatment.params == optimizer.study.trials[2].params
    assert report.seeds == [replicate_seed(5, r) for r in range(3)]
    changed = fx.quadratic_experiment(plugins=[SeedPlugin(seed=5)], initial_ctx={"noise_sd": 2.0})
    report = changed.replay_trial(make_optimizer(storage, study_name="quad"), 2)
    assert not report.matches
    assert any("metric 'loss' replicate 0" in d for d in report.differences)


def test_reading_the_study_before_optimize_does_not_change_the_proposed_points() -> None:
    """Two identical scripts that look at ``optimizer.study`` before optimizing propose the same
    points: the default sampler is seeded from the experiment when the run is prepared, not
    built unseeded by the first read."""

    def script() -> list[dict[str, object]]:
        optimizer = make_optimizer(sampler=None, study_name="quad")
        assert optimizer.study.trials == []  # read before prepare
        fx.quadratic_experiment().optimize(optimizer, num_trials=12, replicates_per_trial=1)
        return [t.params for t in optimizer.study.trials]

    assert script() == script()


def test_asking_before_the_default_sampler_is_seeded_is_refused() -> None:
    optimizer = make_optimizer(sampler=None, study_name="quad")
    with pytest.raises(OptimizationError, match="seeded from the experiment"):
        optimizer.ask()
    given = make_optimizer(study_name="quad")  # with a sampler, manual ask/tell needs no run
    assert given.ask()[0].name == "trial-0"


def test_the_readmes_grid_search_runs_through_experiment_optimize(capsys: pytest.CaptureFixture[str]) -> None:
    """The hand-written optimizer the README and ``BaseOptimizer``'s docstring show, exactly as
    written there: only ask, tell and get_best_treatment, nothing else."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- grid-search", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {"exp": fx.quadratic_experiment()}
    exec(compile(block, "README.md (grid search)", "exec"), namespace)
    best = namespace["best"]
    assert isinstance(best, Treatment) and best.params == {"x": 1.5}
    assert capsys.readouterr().out == "{'x': 1.5}\n"
    grid = namespace["GridSearch"]
    assert isinstance(grid, type) and issubclass(grid, BaseOptimizer)
    assert {name for name in vars(grid) if not name.startswith("_")} == {"ask", "tell", "get_best_treatment"}


def test_a_hand_written_grid_search_works_unchanged() -> None:
    class GridSearch(BaseOptimizer):
        def __init__(self, values: list[float]):
            super().__init__(Objective("loss"))
            self.values, self.results, self.asked = values, [], 0

        def ask(self) -> list[Treatment]:
            treatment = Treatment(f"grid-{self.asked}", {"x": self.values[self.asked]})
            self.asked += 1
            return [treatment]

        def tell(self, objective_values: dict[str, float]) -> None:
            self.results.append(objective_values["loss"])

        def get_best_treatment(self) -> Treatment:
            best = min(range(len(self.results)), key=self.results.__getitem__)
            return Treatment(f"grid-{best}", {"x": self.values[best]})

    grid = GridSearch([-1.0, 0.0, 1.5, 3.0])
    best = fx.quadratic_experiment().optimize(grid, num_trials=4, replicates_per_trial=5)
    assert best.params == {"x": 1.5}
    assert len(grid.results) == 4


@pytest.mark.parametrize(
    "sampler",
    [
        optuna.samplers.RandomSampler(seed=0),
        optuna.samplers.NSGAIISampler(seed=0),
        optuna.samplers.QMCSampler(seed=0),
        optuna.samplers.GridSampler({"x": [0.0, 1.5, 3.0], "kind": ["a", "b"]}),
        optuna.samplers.BruteForceSampler(seed=0),
    ],
    ids=lambda s: type(s).__name__,
)
def test_any_optuna_sampler_drives_the_study(sampler: optuna.samplers.BaseSampler) -> None:
    space = SPACE
    if isinstance(sampler, (optuna.samplers.GridSampler, optuna.samplers.BruteForceSampler)):
        space = {"x": FloatDistribution(0.0, 3.0, step=1.5), "kind": CategoricalDistribution(["a", "b"])}
    optimizer = make_optimizer(sampler=sampler, search_space=space)
    best = fx.quadratic_experiment().optimize(optimizer, num_trials=12, replicates_per_trial=2)
    complete = optimizer.study.get_trials(states=(TrialState.COMPLETE,))
    if space is SPACE:
        assert len(complete) == 12
    else:  # a finite space of 6 points: the sampler stops when it has seen all of them
        assert len(complete) == 6
        assert best.params == {"x": 1.5, "kind": "a"}


@pytest.mark.parametrize("sampler_name", ["CmaEsSampler", "GPSampler"])
def test_samplers_with_optional_dependencies(sampler_name: str) -> None:
    require_package("cmaes" if sampler_name == "CmaEsSampler" else "torch", "samplers")
    sampler = getattr(optuna.samplers, sampler_name)(seed=0)
    space = {"x": FloatDistribution(-5, 5)}
    optimizer = make_optimizer(sampler=sampler, search_space=space)
    best = fx.quadratic_experiment().optimize(optimizer, num_trials=15, replicates_per_trial=2)
    assert abs(best.params["x"] - 1.5) < 1.5


@pytest.mark.parametrize(("sampler_name", "package"), [("GPSampler", "torch"), ("CmaEsSampler", "cmaes")])
def test_a_sampler_whose_package_is_missing_is_refused_before_anything_runs(
    sampler_name: str, package: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A None entry in sys.modules is how Python itself marks a module as not importable.
    monkeypatch.setitem(sys.modules, package, None)
    sampler = getattr(optuna.samplers, sampler_name)(seed=0)
    storage = tmp_path / "never.db"
    with pytest.raises(ConfigurationError) as info:
        make_optimizer(sampler=sampler, storage=f"sqlite:///{storage}")
    message = str(info.value)
    assert f"Optuna's {sampler_name} needs the {package!r} package" in message
    assert "crystallize-opt[samplers]" in message
    assert not storage.exists()


def test_a_subclass_of_a_sampler_that_needs_a_package_needs_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)
    with pytest.raises(ConfigurationError, match="ResumableCmaEsSampler needs the 'cmaes' package"):
        make_optimizer(sampler=ResumableCmaEsSampler(seed=0))


def test_a_pruner_stops_a_clearly_worse_trial_early() -> None:
    exp = fx.quadratic_experiment()
    optimizer = make_optimizer(
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
        search_space={"x": FloatDistribution(-5, 5)},
        warm_start=[Treatment("a", {"x": 1.5}), Treatment("b", {"x": 1.4}), Treatment("c", {"x": -5.0})],
    )
    exp.optimize(optimizer, num_trials=3, replicates_per_trial=4)
    states = [t.state for t in optimizer.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert len(record_of(optimizer.study.trials[2]).values["loss"]) == 1
    assert len(fx.EXECUTIONS) == 4 + 4 + 1


@pytest.mark.parametrize(
    ("aggregate", "reduce"),
    [("median", lambda v: sorted(v)[len(v) // 2]), (max, max)],
    ids=["median", "callable"],
)
def test_objective_aggregates(aggregate: object, reduce: object) -> None:
    optimizer = make_optimizer(objective=Objective("loss", aggregate=aggregate))  # type: ignore[arg-type]
    fx.quadratic_experiment().optimize(optimizer, num_trials=3, replicates_per_trial=5)
    for trial in optimizer.study.trials:
        assert trial.value == pytest.approx(reduce(record_of(trial).values["loss"]))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": ""}, "metric"),
        ({"metric": "a", "direction": "down"}, "direction"),
        ({"metric": ["a", "b"], "direction": ["minimize"]}, "2 metric"),
        ({"metric": "a", "aggregate": "mode"}, "aggregate"),
    ],
)
def test_invalid_objectives_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Objective(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("num_trials", "replicates"), [(0, 1), (3, 0), (2.5, 1), (3, True)])
def test_non_positive_counts_are_refused(num_trials: object, replicates: object) -> None:
    with pytest.raises(ConfigurationError, match="must be a positive integer"):
        fx.quadratic_experiment().optimize(
            make_optimizer(), num_trials=num_trials, replicates_per_trial=replicates
        )  # type: ignore[arg-type]


def test_parameters_without_default_come_from_the_trials_not_from_initial_ctx() -> None:
    from crystallize_opt import Experiment, Pipeline, data_source, pipeline_step

    @data_source
    def zero(ctx):  # type: ignore[no-untyped-def]
        return 0.0

    @pipeline_step()
    def needs_x(data, ctx, x):  # type: ignore[no-untyped-def]
        ctx.metrics.add("loss", (x - 2.0) ** 2)
        return data

    exp = Experiment(datasource=zero(), pipeline=Pipeline([needs_x()]), name="needs_x")
    best = exp.optimize(make_optimizer(search_space={"x": FloatDistribution(0, 4)}), num_trials=20)
    assert abs(best.params["x"] - 2.0) < 0.5


def test_progress_is_shown_only_when_asked_for(capfd: pytest.CaptureFixture[str]) -> None:
    exp = fx.quadratic_experiment()
    exp.optimize(make_optimizer(), num_trials=5)
    quiet = capfd.readouterr()
    assert quiet.out == "" and quiet.err == "", "the library prints nothing unless asked"
    exp.optimize(make_optimizer(study_name="shown"), num_trials=5, progress=True)
    shown = capfd.readouterr().err
    assert "5/5" in shown and "best=" in shown
