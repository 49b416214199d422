"""The Experiment: the issue's example, treatments, input checks, validate(), the builder,
apply() and running inside an event loop."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from crystallize_opt import (
    BasePlugin,
    ConfigurationError,
    EventLoopError,
    Experiment,
    ExperimentBuilder,
    Hypothesis,
    ParallelExecution,
    Pipeline,
    SeedPlugin,
    Treatment,
    data_source,
    pipeline_step,
    welch_t_test,
)

from .engine_fixtures import (
    apoints,
    ashift,
    demo_experiment,
    fail_on,
    needs_gain,
    points,
    score,
    shift,
    tag_replicate,
)

# --- the issue's example, as written -------------------------------------------------------


@data_source
def issue_points(ctx):
    return ctx.rng.normal(size=100)


@pipeline_step()
def issue_shift(data, ctx, delta: float = 0.0):
    return data + delta


@pipeline_step()
def issue_score(data, ctx):
    ctx.metrics.add("mean", float(data.mean()))
    return data


def test_issue_example_runs_as_written(workdir):
    exp = Experiment(
        datasource=issue_points(),
        pipeline=Pipeline([issue_shift(), issue_score()]),
        name="demo",
        treatments=[Treatment("plus_one", {"delta": 1.0})],
        replicates=8,
        hypotheses=[Hypothesis(verifier=welch_t_test(), metrics="mean")],
    )
    result = exp.run()
    assert result.errors == []
    treated = result.metrics.treatments["plus_one"].metrics["mean"]
    baseline = result.metrics.baseline.metrics["mean"]
    assert len(treated) == 8 and len(baseline) == 8
    # the seeds are shared, so the treatment shifts every replicate's mean by exactly 1
    assert treated == pytest.approx([b + 1.0 for b in baseline], abs=1e-12)
    assert len(set(baseline)) == 8
    (hypothesis,) = result.metrics.hypotheses
    verdict = hypothesis.get_for_treatment("plus_one")
    assert verdict is not None and verdict["significant"] is True and verdict["p_value"] < 1e-6
    assert hypothesis.ranking["best"] == "plus_one"

    output = exp.apply(Treatment("plus_two", {"delta": 2.0}))
    assert isinstance(output, np.ndarray) and output.shape == (100,)
    assert float(output.mean()) == pytest.approx(baseline[0] + 2.0, abs=1e-12)  # replicate 0's seed


def test_apply_defaults_and_explicit_data_and_seed(workdir):
    exp = demo_experiment()
    base0 = exp.run().metrics.baseline.replicate(0)["mean"][0]
    assert float(exp.apply().mean()) == pytest.approx(base0)
    assert exp.apply(data=np.zeros(4)).tolist() == [0.0] * 4
    assert exp.apply(Treatment("t", {"delta": 3.0}), data=np.ones(2)).tolist() == [4.0, 4.0]
    seeded = exp.apply(seed=123)
    assert seeded.tolist() == np.random.default_rng(123).normal(size=100).tolist()


def test_apply_raises_the_step_error(workdir):
    exp = demo_experiment(pipeline=Pipeline([fail_on(fail_replicates=(0,))]))
    with pytest.raises(ValueError, match="planned failure in replicate 0 of baseline"):
        exp.apply()


def test_apply_rejects_a_non_treatment(workdir):
    with pytest.raises(ConfigurationError, match="Treatment"):
        demo_experiment().apply({"delta": 1.0})  # type: ignore[arg-type]


def test_same_experiment_object_runs_twice_with_same_metrics(workdir):
    exp = demo_experiment(hypotheses=[Hypothesis(verifier=welch_t_test(), metrics="mean")])
    first = exp.run()
    second = exp.run()
    assert second.errors == []
    assert second.metrics.baseline == first.metrics.baseline
    assert second.metrics.treatments == first.metrics.treatments
    assert second.metrics.hypotheses[0].results == first.metrics.hypotheses[0].results


def test_run_overrides_apply_to_that_run_only(workdir):
    exp = demo_experiment(replicates=2)
    result = exp.run(treatments=[Treatment("plus_five", {"delta": 5.0})], replicates=3)
    assert list(result.metrics.treatments) == ["plus_five"]
    assert result.metrics.baseline.replicates == [0, 1, 2]
    assert exp.replicates == 2 and [t.name for t in exp.treatments] == ["plus_one"]
    again = exp.run()
    assert list(again.metrics.treatments) == ["plus_one"] and again.metrics.baseline.replicates == [0, 1]


def test_a_run_never_changes_the_experiment_object_plugins_see_the_runs_overrides(workdir):
    """The overrides of run()/apply() reach the plugins through the experiment they are given;
    the user's experiment object keeps its own fields during the run and after it."""
    exp = demo_experiment(replicates=2)
    seen: list[tuple[str, object, object]] = []

    class Inspect(BasePlugin):
        def before_run(self, experiment):
            seen.append(("given", experiment.replicates, tuple(t.name for t in experiment.treatments)))
            seen.append(("original", exp.replicates, tuple(t.name for t in exp.treatments)))
            seen.append(("applying", experiment.applying, exp.applying))

        def after_replicate(self, experiment, ctx, outcome):
            seen.append(("during", exp.replicates, tuple(t.name for t in exp.treatments)))

    exp.plugins.append(Inspect())
    exp.run(treatments=[Treatment("plus_five", {"delta": 5.0})], replicates=3)
    assert ("given", 3, ("plus_five",)) in seen
    assert {entry for entry in seen if entry[0] in ("original", "during")} == {
        ("original", 2, ("plus_one",)),
        ("during", 2, ("plus_one",)),
    }
    seen.clear()
    exp.apply(Treatment("plus_five", {"delta": 5.0}))
    assert ("given", 1, ("plus_five",)) in seen and ("applying", True, False) in seen
    assert ("original", 2, ("plus_one",)) in seen
    assert exp.replicates == 2 and [t.name for t in exp.treatments] == ["plus_one"] and not exp.applying


# --- treatments ----------------------------------------------------------------------------


def test_mapping_and_callable_treatments(workdir):
    def add_gain(ctx):
        ctx.add("delta", 2.0 + ctx["replicate"])

    exp = demo_experiment(
        treatments=[Treatment("mapped", {"delta": 1.0}), Treatment("called", add_gain)], replicates=2
    )
    result = exp.run()
    base = result.metrics.baseline.metrics["mean"]
    assert result.metrics.treatments["mapped"].metrics["mean"] == pytest.approx([b + 1 for b in base])
    assert result.metrics.treatments["called"].metrics["mean"] == pytest.approx([base[0] + 2, base[1] + 3])
    assert Treatment("called", add_gain).is_callable and Treatment("called", add_gain).params == {}


def test_treatment_value_overrides_initial_ctx(workdir):
    exp = demo_experiment(initial_ctx={"delta": 0.5}, treatments=[Treatment("big", {"delta": 10.0})])
    result = exp.run()
    plain = demo_experiment(treatments=[]).run().metrics.baseline.metrics["mean"]
    assert result.metrics.baseline.metrics["mean"] == pytest.approx([p + 0.5 for p in plain])
    assert result.metrics.treatments["big"].metrics["mean"] == pytest.approx([p + 10.0 for p in plain])


@pytest.mark.parametrize("key", ["replicate", "condition", "seed_used"])
def test_treatment_setting_a_reserved_key_is_rejected(key):
    with pytest.raises(ConfigurationError, match=key):
        Treatment("bad", {key: 1})


def test_initial_ctx_setting_a_reserved_key_is_rejected():
    with pytest.raises(ConfigurationError, match="replicate"):
        demo_experiment(initial_ctx={"replicate": 3})


def test_callable_treatment_setting_a_reserved_key_fails_that_condition(workdir):
    result = demo_experiment(treatments=[Treatment("sneaky", lambda ctx: ctx.add("seed_used", 1))]).run()
    errors = result.errors_for("sneaky")
    assert len(errors) == 4 and all("seed_used" in e.message for e in errors)
    assert result.errors_for("baseline") == []


def test_duplicate_treatment_names_are_rejected(workdir):
    with pytest.raises(ConfigurationError, match="plus_one"):
        demo_experiment(treatments=[Treatment("plus_one", {"delta": 1}), Treatment("plus_one", {"delta": 2})])
    exp = demo_experiment()
    with pytest.raises(ConfigurationError, match="'x'"):
        exp.run(treatments=[Treatment("x", {}), Treatment("x", {})])


def test_hypotheses_without_treatments_are_refused_before_the_run(workdir):
    exp = demo_experiment(treatments=[], hypotheses=[Hypothesis(verifier=welch_t_test(), metrics="mean")])
    with pytest.raises(ConfigurationError, match="at least one treatment"):
        exp.run()  # ValueError, as crystallize-ml's
    assert exp.run(hypotheses=[]).metrics.hypotheses == []


def test_a_treatment_named_baseline_is_applied_to_the_baseline(workdir):
    # As in crystallize-ml: no condition of its own; its values go to the baseline run.
    exp = demo_experiment(
        treatments=[Treatment("baseline", {"delta": 1.0}), Treatment("plus_two", {"delta": 2.0})]
    )
    result = exp.run(replicates=2)
    shifted = demo_experiment(treatments=[Treatment("plus_one", {"delta": 1.0})]).run(replicates=2)
    assert list(result.metrics.treatments) == ["plus_two"]
    assert result.metrics.baseline.metrics == shifted.metrics.treatments["plus_one"].metrics


# --- bad input -----------------------------------------------------------------------------


def test_missing_datasource_or_pipeline():
    with pytest.raises(TypeError, match="datasource"):
        Experiment(pipeline=Pipeline([score()]))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="pipeline"):
        Experiment(datasource=points())  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="datasource must be a DataSource, got NoneType"):
        Experiment(datasource=None, pipeline=Pipeline([score()]))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="pipeline must be a Pipeline, got NoneType"):
        Experiment(datasource=points(), pipeline=None)  # type: ignore[arg-type]


def test_wrong_type_datasource_or_pipeline():
    with pytest.raises(ConfigurationError, match=r"datasource must be a DataSource.*points\(\)"):
        Experiment(datasource=points, pipeline=Pipeline([score()]))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="pipeline must be a Pipeline, got list"):
        Experiment(datasource=points(), pipeline=[score()])  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", None, 10_001])
def test_replicates_must_be_a_positive_integer(bad):
    with pytest.raises(
        ConfigurationError, match=rf"replicates must be a positive integer of at most 10,000, got {bad!r}"
    ):
        demo_experiment(replicates=bad)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_replicates_override_must_be_a_positive_integer(workdir, bad):
    with pytest.raises(ConfigurationError, match="replicates"):
        demo_experiment().run(replicates=bad)


def test_wrong_type_entries_are_named():
    with pytest.raises(ConfigurationError, match=r"treatments\[0\] must be a Treatment, got dict"):
        demo_experiment(treatments=[{"delta": 1.0}])
    with pytest.raises(ConfigurationError, match=r"hypotheses\[0\] must be a Hypothesis, got str"):
        demo_experiment(hypotheses=["mean"])
    with pytest.raises(ConfigurationError, match=r"plugins\[0\] must be a BasePlugin, got str"):
        demo_experiment(plugins=["seed"])


def test_unknown_strategy_is_rejected(workdir):
    with pytest.raises(ConfigurationError, match="'again'"):
        demo_experiment().run(strategy="again")


def test_hypothesis_on_an_unrecorded_metric_lists_the_recorded_ones(workdir):
    exp = demo_experiment(hypotheses=[Hypothesis(verifier=welch_t_test(), metrics="accuracy")])
    result = exp.run()
    (hypothesis,) = result.metrics.hypotheses
    assert hypothesis.results == {}
    message = hypothesis.errors["plus_one"]
    assert "'accuracy'" in message and "['mean']" in message
    assert hypothesis.ranking["best"] is None


# --- validate ------------------------------------------------------------------------------


def test_validate_reports_a_parameter_no_condition_provides():
    exp = demo_experiment(
        pipeline=Pipeline([needs_gain(), score()]),
        treatments=[Treatment("has_gain", {"gain": 2.0}), Treatment("no_gain", {"delta": 1.0})],
    )
    with pytest.raises(ConfigurationError) as info:
        exp.validate()
    message = str(info.value)
    assert "'needs_gain'" in message and "'gain'" in message
    assert "baseline" in message and "no_gain" in message and "has_gain" not in message


def test_validate_accepts_parameters_from_initial_ctx_or_explicit_values():
    demo_experiment(pipeline=Pipeline([needs_gain(), score()]), initial_ctx={"gain": 1.0}).validate()
    demo_experiment(pipeline=Pipeline([needs_gain(gain=2.0), score()])).validate()


def test_steps_may_take_the_engine_keys_as_parameters(workdir):
    exp = demo_experiment(pipeline=Pipeline([tag_replicate()]), replicates=2)
    exp.validate()
    result = exp.run()
    assert result.errors == []
    assert result.metrics.baseline.metrics["replicate_seen"] == [0.0, 1.0]


# --- event loops ---------------------------------------------------------------------------


def test_run_inside_a_running_event_loop_points_to_arun(workdir):
    exp = demo_experiment(replicates=2)

    async def main():
        with pytest.raises(EventLoopError, match=r"already running.*await experiment\.arun"):
            exp.run()
        return await exp.arun()

    result = asyncio.run(main())
    assert result.errors == [] and len(result.metrics.baseline.metrics["mean"]) == 2
    assert result.metrics.baseline == exp.run().metrics.baseline


def test_arun_with_threads_inside_an_event_loop(workdir):
    exp = demo_experiment(replicates=2, plugins=[ParallelExecution(executor_type="thread", max_workers=2)])
    result = asyncio.run(exp.arun())
    assert result.errors == [] and result.metrics.baseline.replicates == [0, 1]


# --- the builder ---------------------------------------------------------------------------


def test_builder_matches_the_constructor(workdir):
    built = (
        Experiment.builder("x")
        .datasource(points())
        .add_step(shift())
        .add_step(score())
        .add_treatment(Treatment("plus_one", {"delta": 1.0}))
        .replicates(3)
        .seed(5)
        .build()
    )
    assert isinstance(Experiment.builder(), ExperimentBuilder)
    assert built.name == "x" and built.replicates == 3 and built.master_seed == 5
    direct = Experiment(
        datasource=points(),
        pipeline=Pipeline([shift(), score()]),
        name="x",
        treatments=[Treatment("plus_one", {"delta": 1.0})],
        replicates=3,
        plugins=[SeedPlugin(seed=5)],
    )
    built_result, direct_result = built.run(), direct.run()
    assert built_result.metrics.baseline == direct_result.metrics.baseline
    assert built_result.metrics.treatments == direct_result.metrics.treatments
    default_seed = demo_experiment(replicates=3).run().metrics.baseline.metrics
    assert built_result.metrics.baseline.metrics != default_seed


def test_builder_without_datasource_or_steps_errors():
    # "datasource must be provided": crystallize-ml's ValueError wording (ConfigurationError is one)
    with pytest.raises(ValueError, match=r"datasource must be provided: call \.datasource\(\.\.\.\)"):
        Experiment.builder("x").add_step(score()).build()
    with pytest.raises(ConfigurationError, match="add_step"):
        Experiment.builder("x").datasource(points()).build()


def test_builder_explicit_pipeline_is_used_as_given_and_later_steps_are_ignored(caplog):
    # crystallize-ml: build() uses the given Pipeline, else Pipeline(added steps)
    given = Pipeline([score()])
    with caplog.at_level("WARNING", logger="crystallize_opt"):
        exp = (
            Experiment.builder()
            .datasource(points())
            .add_step(shift())
            .pipeline(given)
            .add_step(shift())
            .build()
        )
    assert exp.pipeline is given and len(given.steps) == 1
    assert "ignored" in caplog.text
    listed = Experiment.builder().datasource(points()).pipeline([shift()]).add_step(score()).build()
    assert [s.name for s in listed.pipeline.steps] == ["shift", "score"]


def test_builder_seed_replaces_an_earlier_seed():
    exp = Experiment.builder().datasource(points()).add_step(score()).seed(1).seed(2).build()
    seeds = [p for p in exp.plugins if isinstance(p, SeedPlugin)]
    assert [p.seed for p in seeds] == [2]


def test_builder_validates_like_the_constructor():
    with pytest.raises(ConfigurationError, match="replicates"):
        Experiment.builder().datasource(points()).add_step(score()).replicates(0).build()


def test_apply_of_an_async_pipeline_inside_an_event_loop_raises(workdir):
    exp = demo_experiment(datasource=apoints(), pipeline=Pipeline([ashift(), score()]))

    async def main():
        with pytest.raises(EventLoopError, match="apply"):
            exp.apply()

    asyncio.run(main())
    assert len(exp.apply()) == 50  # outside a loop it works
