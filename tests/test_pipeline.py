"""Pipelines and steps: class-based steps with setup/teardown, decorated steps and parameter
injection, construction errors, and asynchronous steps and datasources."""

from __future__ import annotations

import asyncio
import os

import pytest
from optuna.distributions import FloatDistribution

from crystallize_opt import (
    Artifact,
    ConfigurationError,
    Experiment,
    ExperimentRunError,
    FrozenContext,
    Objective,
    OptunaOptimizer,
    ParallelExecution,
    Pipeline,
    PipelineStep,
    Treatment,
    data_source,
    pipeline_step,
)

from .engine_fixtures import (
    LifecycleStep,
    SetupFailsStep,
    TeardownFailsStep,
    apoints,
    ashift,
    demo_experiment,
    file_pids,
    interrupt_once,
    lifecycle_files,
    needs_gain,
    points,
    score,
    shift,
)


@pipeline_step
def no_parentheses(data, ctx, factor: int = 3):
    ctx.metrics.add("factor", factor)
    return data


@pipeline_step()
def pick(data, ctx, value="default"):
    ctx.metrics.add("kind", type(value).__name__)
    ctx.metrics.add("value", value.name if isinstance(value, Artifact) else value)
    return data


# --- class-based steps ---------------------------------------------------------------------


def test_setup_and_teardown_run_once_per_run_in_process(workdir, traces):
    step = LifecycleStep(str(traces))
    exp = demo_experiment(pipeline=Pipeline([step]), replicates=3)
    result = exp.run()
    assert result.errors == []
    assert len(lifecycle_files(traces, "setup")) == 1
    assert len(lifecycle_files(traces, "teardown")) == 1
    assert len(lifecycle_files(traces, "call")) == 6  # 3 replicates x 2 conditions
    assert step.ready is False  # torn down
    exp.run()
    assert len(lifecycle_files(traces, "setup")) == 2
    assert len(lifecycle_files(traces, "teardown")) == 2


def test_setup_and_teardown_run_once_per_run_in_threads(workdir, traces):
    exp = demo_experiment(
        pipeline=Pipeline([LifecycleStep(str(traces))]),
        replicates=4,
        plugins=[ParallelExecution(executor_type="thread", max_workers=2)],
    )
    assert exp.run().errors == []
    assert len(lifecycle_files(traces, "setup")) == 1
    assert len(lifecycle_files(traces, "teardown")) == 1
    assert len(lifecycle_files(traces, "call")) == 8


def test_setup_and_teardown_surround_replicates_in_worker_processes(workdir, traces):
    exp = demo_experiment(
        pipeline=Pipeline([LifecycleStep(str(traces))]),
        replicates=3,
        plugins=[ParallelExecution(executor_type="process", max_workers=2)],
    )
    result = exp.run()
    assert result.errors == []  # the step raises when called without setup
    setups = lifecycle_files(traces, "setup")
    teardowns = lifecycle_files(traces, "teardown")
    calls = lifecycle_files(traces, "call")
    assert len(calls) == 6
    assert len(setups) == len(teardowns) == 3  # around each replicate in its worker
    assert os.getpid() not in file_pids(setups) | file_pids(teardowns) | file_pids(calls)
    assert file_pids(calls) <= file_pids(setups)


def test_apply_sets_up_and_tears_down_once(workdir, traces):
    exp = demo_experiment(pipeline=Pipeline([LifecycleStep(str(traces))]))
    exp.apply()
    assert len(lifecycle_files(traces, "setup")) == 1
    assert len(lifecycle_files(traces, "teardown")) == 1
    assert len(lifecycle_files(traces, "call")) == 1


def test_teardown_runs_even_when_a_replicate_fails(workdir, traces):
    exp = demo_experiment(pipeline=Pipeline([LifecycleStep(str(traces)), needs_gain(gain="x")]), replicates=2)
    result = exp.run()
    assert len(result.errors) == 4
    assert len(lifecycle_files(traces, "teardown")) == 1


def _run_in(mode):
    def run(exp):
        return exp.apply() if mode == "apply" else exp.run()

    return run


@pytest.mark.parametrize("mode", ["run", "threads", "apply"])
def test_a_failing_setup_still_tears_down_its_step_and_the_steps_set_up_before_it(workdir, traces, mode):
    plugins = [ParallelExecution(executor_type="thread", max_workers=2)] if mode == "threads" else []
    first = LifecycleStep(str(traces))
    exp = demo_experiment(pipeline=Pipeline([first, SetupFailsStep(str(traces))]), plugins=plugins)
    with pytest.raises(RuntimeError, match="setup of SetupFailsStep failed"):
        _run_in(mode)(exp)
    assert len(lifecycle_files(traces, "setup")) == 1
    assert len(lifecycle_files(traces, "teardown")) == 1  # the step set up before is torn down
    assert first.ready is False
    # the step whose setup raised is torn down too (it may hold what it acquired before failing)
    assert len(lifecycle_files(traces, "failed-teardown")) == 1
    assert lifecycle_files(traces, "call") == []


def test_a_failing_setup_before_an_optimization_tears_down_the_steps_set_up_before_it(workdir, traces):
    exp = demo_experiment(
        pipeline=Pipeline([LifecycleStep(str(traces)), SetupFailsStep(str(traces)), shift(), score()]),
        treatments=[],
    )
    optimizer = OptunaOptimizer(
        {"delta": FloatDistribution(-1.0, 1.0)}, Objective("mean"), storage=":memory:"
    )
    with pytest.raises(RuntimeError, match="setup of SetupFailsStep failed"):
        exp.optimize(optimizer, num_trials=2)
    assert len(lifecycle_files(traces, "setup")) == len(lifecycle_files(traces, "teardown")) == 1


def test_a_failing_setup_in_a_worker_process_tears_down_the_steps_set_up_there(workdir, traces):
    exp = demo_experiment(
        pipeline=Pipeline([LifecycleStep(str(traces)), SetupFailsStep(str(traces))]),
        replicates=2,
        plugins=[ParallelExecution(executor_type="process", max_workers=2)],
    )
    result = exp.run()
    assert len(result.errors) == 4  # both conditions of both replicates could not run
    assert all("setup of SetupFailsStep failed" in e.message for e in result.errors)
    assert len(lifecycle_files(traces, "setup")) == len(lifecycle_files(traces, "teardown")) == 2


@pytest.mark.parametrize("mode", ["run", "apply"])
def test_a_failing_teardown_is_raised_naming_the_step_after_every_step_is_torn_down(
    workdir, traces, mode, caplog
):
    exp = demo_experiment(pipeline=Pipeline([TeardownFailsStep(), LifecycleStep(str(traces))]))
    with pytest.raises(
        ExperimentRunError, match="teardown of step 'TeardownFailsStep' failed: OSError"
    ) as info:
        _run_in(mode)(exp)
    assert isinstance(info.value.__cause__, OSError)
    assert len(lifecycle_files(traces, "teardown")) == 1  # the next step was still torn down
    assert "teardown of step TeardownFailsStep failed" in caplog.text


def test_a_failing_teardown_never_hides_the_error_that_stopped_the_run(workdir, traces, caplog):
    exp = demo_experiment(pipeline=Pipeline([TeardownFailsStep(), SetupFailsStep(str(traces))]))
    with pytest.raises(RuntimeError, match="setup of SetupFailsStep failed") as info:
        exp.run()
    assert "teardown of step TeardownFailsStep failed" in caplog.text
    notes = getattr(info.value, "__notes__", None)
    if notes is not None:  # Python 3.11+
        assert any("'TeardownFailsStep' also failed: OSError" in note for note in notes)


def test_an_interrupt_during_the_replicates_still_tears_the_steps_down(workdir, traces):
    exp = demo_experiment(
        pipeline=Pipeline(
            [LifecycleStep(str(traces)), interrupt_once(marker_dir=str(traces), at_replicate=1)]
        ),
        treatments=[],
    )
    with pytest.raises(KeyboardInterrupt):
        exp.run()
    assert len(lifecycle_files(traces, "teardown")) == 1


def test_class_step_params_name_and_description():
    step = LifecycleStep("/somewhere", factor=2.0)
    assert step.name == "LifecycleStep"
    assert step.params == {"folder": "/somewhere", "factor": 2.0}
    described = Pipeline([step, shift(delta=1.5)]).describe()
    assert described[0] == {"name": "LifecycleStep", "params": {"folder": "'/somewhere'", "factor": "2.0"}}
    assert described[1] == {"name": "shift", "params": {"delta": "1.5"}}


def test_class_step_must_implement_call():
    class Incomplete(PipelineStep):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


# --- decorated steps and parameter injection -----------------------------------------------


def test_decorator_works_with_and_without_parentheses(workdir):
    step = no_parentheses()
    assert isinstance(step, PipelineStep) and isinstance(shift(), PipelineStep)
    assert step.name == "no_parentheses"
    result = demo_experiment(pipeline=Pipeline([no_parentheses(factor=7)]), replicates=1).run()
    assert result.metrics.baseline.replicate(0)["factor"] == [7]


def test_explicit_argument_beats_context(workdir):
    exp = demo_experiment(pipeline=Pipeline([shift(delta=5.0), score()]), replicates=2)
    result = exp.run()
    # the treatment's delta=1.0 is ignored: the explicit 5.0 wins in both conditions
    assert result.metrics.treatments["plus_one"].metrics == result.metrics.baseline.metrics
    plain = demo_experiment(replicates=2).run().metrics.baseline.metrics["mean"]
    assert result.metrics.baseline.metrics["mean"] == pytest.approx([m + 5.0 for m in plain])


def test_context_beats_default(workdir):
    result = demo_experiment(replicates=2).run()
    base = result.metrics.baseline.metrics["mean"]
    treated = result.metrics.treatments["plus_one"].metrics["mean"]
    assert treated == pytest.approx([b + 1.0 for b in base])  # default delta=0.0 in the baseline


def test_output_artifact_beats_context_and_explicit_beats_artifact(workdir):
    common = dict(
        outputs=[Artifact("value.json")],
        initial_ctx={"value": "from context"},
        treatments=[],
        replicates=1,
    )
    from_artifact = demo_experiment(pipeline=Pipeline([pick()]), **common).run()
    assert from_artifact.errors == []
    assert from_artifact.metrics.baseline.replicate(0) == {"kind": ["Artifact"], "value": ["value.json"]}
    explicit = demo_experiment(pipeline=Pipeline([pick(value="explicit")]), **common).run()
    assert explicit.metrics.baseline.replicate(0) == {"kind": ["str"], "value": ["explicit"]}
    from_ctx = demo_experiment(pipeline=Pipeline([pick()]), initial_ctx={"value": 4}, treatments=[]).run()
    assert from_ctx.metrics.baseline.replicate(0) == {"kind": ["int"], "value": [4]}
    default = demo_experiment(pipeline=Pipeline([pick()]), treatments=[]).run()
    assert default.metrics.baseline.replicate(0) == {"kind": ["str"], "value": ["default"]}


def test_datasource_parameters_are_injected_too(workdir):
    exp = demo_experiment(datasource=points(), initial_ctx={"size": 7}, treatments=[], replicates=1)
    assert len(exp.apply()) == 7
    assert len(demo_experiment(datasource=points(size=3)).apply()) == 3


def test_missing_parameter_is_named_before_running(workdir):
    exp = demo_experiment(pipeline=Pipeline([needs_gain()]))
    with pytest.raises(ConfigurationError, match="'gain'"):
        exp.run()


def test_missing_parameter_message_at_call_time(workdir):
    exp = demo_experiment(pipeline=Pipeline([needs_gain()]))
    with pytest.raises(TypeError, match=r"'needs_gain' needs parameter 'gain'.*initial_ctx or a treatment"):
        exp.apply()
    assert len(exp.apply(Treatment("g", {"gain": 2.0}))) == 100


def test_unknown_factory_argument_is_a_type_error():
    with pytest.raises(TypeError, match=r"'shift'.*\['delt'\].*\['delta'\]"):
        shift(delt=1.0)
    with pytest.raises(TypeError, match="sizee"):
        points(sizee=3)


def test_decorated_function_must_take_data_and_ctx():
    with pytest.raises(TypeError, match="must accept data"):

        @pipeline_step()
        def empty():
            return 1

    @pipeline_step()
    def lonely(data):  # no ctx parameter: called without it, as in crystallize-ml
        return data

    assert lonely()(3, FrozenContext({})) == 3

    with pytest.raises(TypeError, match="ctx"):

        @data_source
        def nothing():
            return 1


def test_step_params_enter_the_pipeline_signature():
    assert (
        Pipeline([shift(delta=1.0), score()]).signature() == Pipeline([shift(delta=1.0), score()]).signature()
    )
    assert (
        Pipeline([shift(delta=1.0), score()]).signature() != Pipeline([shift(delta=2.0), score()]).signature()
    )
    assert Pipeline([shift(), score()]).signature() != Pipeline([score(), shift()]).signature()


# --- pipeline construction errors ----------------------------------------------------------


def test_empty_pipeline_is_rejected():
    with pytest.raises(ValueError, match="at least one step"):
        Pipeline([])


def test_non_step_entry_is_rejected_naming_its_position():
    with pytest.raises(TypeError, match=r"step 1 is a int"):
        Pipeline([shift(), 3])  # type: ignore[list-item]


def test_forgotten_parentheses_on_a_decorated_step_get_a_hint():
    with pytest.raises(TypeError, match=r"must be called.*shift\(\)"):
        Pipeline([shift, score()])  # type: ignore[list-item]


def test_a_single_step_instead_of_a_list_is_rejected():
    with pytest.raises(TypeError, match="list of pipeline steps"):
        Pipeline(shift())  # type: ignore[arg-type]


# --- asynchronous steps and datasources ----------------------------------------------------


def _async_experiment(**overrides):
    return demo_experiment(datasource=apoints(), pipeline=Pipeline([ashift(), score()]), **overrides)


def _sync_twin(**overrides):
    return demo_experiment(datasource=points(size=50), pipeline=Pipeline([shift(), score()]), **overrides)


def test_async_pipeline_runs_through_run(workdir):
    result = _async_experiment(replicates=3).run()
    assert result.errors == []
    assert (
        result.metrics.treatments["plus_one"].metrics
        == _sync_twin(replicates=3).run().metrics.treatments["plus_one"].metrics
    )


def test_async_pipeline_runs_through_arun(workdir):
    result = asyncio.run(_async_experiment(replicates=3).arun())
    assert result.errors == []
    assert result.metrics.baseline.metrics == _sync_twin(replicates=3).run().metrics.baseline.metrics


def test_async_pipeline_in_threads(workdir):
    threaded = _async_experiment(
        replicates=3, plugins=[ParallelExecution(executor_type="thread", max_workers=2)]
    ).run()
    assert threaded.errors == []
    assert threaded.metrics.baseline.metrics == _async_experiment(replicates=3).run().metrics.baseline.metrics


def test_async_pipeline_apply(workdir):
    data = _async_experiment().apply(Treatment("far", {"delta": 10.0}))
    assert len(data) == 50 and data.mean() > 5


def test_async_steps_detected():
    assert Pipeline([ashift()]).is_async and not Pipeline([shift()]).is_async
    assert apoints().is_async and not points().is_async


def test_mixed_sync_and_async_steps(workdir):
    mixed = Experiment(
        datasource=points(size=50),
        pipeline=Pipeline([shift(), ashift(delta=2.0), score()]),
        treatments=[Treatment("plus_one", {"delta": 1.0})],
        replicates=2,
    )
    result = mixed.run()
    base = result.metrics.baseline.metrics["mean"]
    assert all(1.5 < b < 2.5 for b in base)  # the async step's explicit delta applies to both
    assert result.metrics.treatments["plus_one"].metrics["mean"] == pytest.approx([b + 1.0 for b in base])


def test_steps_and_datasources_made_from_plain_module_functions_survive_pickling(tmp_path, monkeypatch):
    """A step or data source made by calling the decorator on a function its module keeps plain
    (no ``@`` at the definition) crosses to a worker process: it is rebuilt from the module's
    function with its explicit arguments."""
    import pickle
    import sys

    (tmp_path / "plain_parts.py").write_text(
        "def scale(data, ctx, factor=1):\n    return data * factor\n\n"
        "def source(ctx, start=0):\n    return start\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "plain_parts", raising=False)
    import plain_parts  # type: ignore[import-not-found]

    from crystallize_opt import FrozenContext, data_source, pipeline_step

    step = pickle.loads(pickle.dumps(pipeline_step(plain_parts.scale)(factor=3)))
    source = pickle.loads(pickle.dumps(data_source(plain_parts.source)(start=2)))
    ctx = FrozenContext({})
    assert step(5, ctx) == 15
    assert source.fetch(ctx) == 2
