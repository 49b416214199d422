"""Plugins: hook order, defaults, custom execution, seeding and logging."""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import pytest

from crystallize_opt import (
    ArtifactPlugin,
    BasePlugin,
    ConfigurationError,
    LoggingPlugin,
    ParallelExecution,
    Pipeline,
    SeedPlugin,
    SerialExecution,
    Treatment,
    pipeline_step,
    replicate_seed,
)

from .engine_fixtures import RecordingPlugin, ReversedExecution, demo_experiment, fail_on, score, shift


@pipeline_step()
def global_draw(data, ctx):
    ctx.metrics.add("py", random.random())
    ctx.metrics.add("np", float(np.random.random()))
    return data


def _replicate_calls(condition, replicate, steps):
    calls = [("before_replicate", condition, replicate)]
    for step in steps:
        calls += [("before_step", step), ("after_step", step)]
    return [*calls, ("after_replicate", condition, replicate)]


# --- hooks ---------------------------------------------------------------------------------


def test_hooks_are_called_in_lifecycle_order(workdir):
    recorder = RecordingPlugin()
    exp = demo_experiment(plugins=[recorder], replicates=2)
    assert recorder.calls == [("init_hook",)]
    exp.run()
    steps = ["shift", "score"]
    expected = [("init_hook",), ("before_run",)]
    for rep in range(2):
        expected += _replicate_calls("baseline", rep, steps) + _replicate_calls("plus_one", rep, steps)
    expected.append(("after_run",))
    assert recorder.calls == expected


def test_after_step_is_skipped_for_a_failing_step_but_after_replicate_is_not(workdir):
    recorder = RecordingPlugin()
    exp = demo_experiment(
        plugins=[recorder],
        pipeline=Pipeline([fail_on(fail_replicates=(0,)), score()]),
        replicates=1,
        treatments=[],
    )
    exp.run()
    assert recorder.calls[2:] == [
        ("before_replicate", "baseline", 0),
        ("before_step", "fail_on"),
        ("after_replicate", "baseline", 0),
        ("after_run",),
    ]


class RunViewPlugin(BasePlugin):
    """Records what the run hooks see: replicates, treatments, the result's metrics and errors."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def before_run(self, experiment):
        self.seen.append(("before_run", experiment.replicates, [t.name for t in experiment.treatments]))

    def after_run(self, experiment, result):
        means = {name: m.metrics.get("mean") for name, m in result.metrics.treatments.items()}
        self.seen.append(
            ("after_run", result.metrics.baseline.metrics.get("mean"), means, len(result.errors))
        )


def test_apply_is_a_single_pass_with_the_hooks_of_a_one_replicate_run(workdir):
    recorder = RecordingPlugin()
    exp = demo_experiment(plugins=[recorder], replicates=3)
    exp.apply()
    assert recorder.calls == [
        ("init_hook",),
        ("before_run",),
        *_replicate_calls("baseline", 0, ["shift", "score"]),
        ("after_run",),
    ]
    assert recorder.calls[1:] == _one_replicate_run_calls(demo_experiment(replicates=3, treatments=[]))


def _one_replicate_run_calls(exp):
    recorder = RecordingPlugin()
    exp.plugins.insert(0, recorder)
    exp.run(replicates=1)
    return recorder.calls


def test_apply_run_hooks_see_one_replicate_of_the_treatment_and_its_result(workdir):
    view = RunViewPlugin()
    exp = demo_experiment(plugins=[view], replicates=3)
    output = exp.apply(Treatment("plus_two", {"delta": 2.0}))
    assert view.seen == [
        ("before_run", 1, ["plus_two"]),
        ("after_run", None, {"plus_two": [pytest.approx(float(output.mean()))]}, 0),
    ]
    assert (exp.replicates, [t.name for t in exp.treatments]) == (3, ["plus_one"])  # restored


def test_apply_calls_after_run_before_raising_the_pass_error(workdir):
    recorder = RecordingPlugin()
    exp = demo_experiment(plugins=[recorder], pipeline=Pipeline([fail_on(fail_replicates=(0,))]))
    with pytest.raises(ValueError, match="planned failure"):
        exp.apply()
    assert recorder.calls[-2:] == [("after_replicate", "baseline", 0), ("after_run",)]


def test_apply_between_versioned_runs_changes_no_version_or_metadata(workdir):
    artifacts = ArtifactPlugin(versioned=True)
    exp = demo_experiment(plugins=[artifacts], replicates=2)
    exp.run()
    metadata = (workdir / "data" / "demo" / "v0" / "metadata.json").read_text()
    exp.apply()
    assert artifacts.version == 0
    assert (workdir / "data" / "demo" / "v0" / "metadata.json").read_text() == metadata
    assert sorted(p.name for p in (workdir / "data" / "demo").iterdir()) == ["v0"]
    exp.run()
    assert artifacts.version == 1


# --- defaults and lookup -------------------------------------------------------------------


def test_default_plugins_are_added(workdir):
    exp = demo_experiment()
    kinds = [type(p) for p in exp.plugins]
    assert kinds == [SeedPlugin, LoggingPlugin, ArtifactPlugin, SerialExecution]
    assert exp.get_plugin(SeedPlugin).seed == 0
    assert exp.get_plugin(ArtifactPlugin).root_dir == "data"


def test_default_plugins_are_added_only_when_missing():
    seed = SeedPlugin(seed=42)
    artifacts = ArtifactPlugin(root_dir="elsewhere")
    parallel = ParallelExecution(executor_type="thread", max_workers=2)
    exp = demo_experiment(plugins=[seed, artifacts, parallel])
    assert exp.get_plugin(SeedPlugin) is seed
    assert exp.get_plugin(ArtifactPlugin) is artifacts
    assert exp.get_plugin(SerialExecution) is None  # ParallelExecution provides execution
    assert isinstance(exp.get_plugin(LoggingPlugin), LoggingPlugin)
    assert len(exp.plugins) == 4
    exp.set_default_plugins()
    assert len(exp.plugins) == 4


def test_custom_execution_plugin_replaces_serial_execution(workdir):
    custom = ReversedExecution()
    exp = demo_experiment(plugins=[custom], replicates=3)
    assert exp.get_plugin(SerialExecution) is None
    result = exp.run()
    assert custom.order == [2, 1, 0]
    assert result.metrics.baseline == demo_experiment(replicates=3).run().metrics.baseline


def test_plugin_without_execution_leaves_it_to_the_next(workdir):
    class Passive(BasePlugin):
        pass

    exp = demo_experiment(plugins=[Passive()], replicates=2)
    assert exp.get_plugin(SerialExecution) is not None
    assert exp.run().metrics.baseline.replicates == [0, 1]


def test_get_plugin_matches_subclasses_and_returns_none_when_absent():
    class MySeed(SeedPlugin):
        pass

    mine = MySeed(seed=9)
    exp = demo_experiment(plugins=[mine])
    assert exp.get_plugin(SeedPlugin) is mine
    assert exp.get_plugin(ReversedExecution) is None
    assert exp.master_seed == 9


# --- seeding -------------------------------------------------------------------------------


def test_default_master_seed_is_fixed(workdir):
    first = demo_experiment().run()
    second = demo_experiment().run()
    assert first.metrics.baseline == second.metrics.baseline
    assert first.metrics.treatments == second.metrics.treatments


def test_different_seeds_give_different_metrics(workdir):
    one = demo_experiment(plugins=[SeedPlugin(seed=1)]).run().metrics.baseline.metrics["mean"]
    two = demo_experiment(plugins=[SeedPlugin(seed=2)]).run().metrics.baseline.metrics["mean"]
    assert one != two
    assert demo_experiment(plugins=[SeedPlugin(seed=1)]).run().metrics.baseline.metrics["mean"] == one


def test_replicate_seed_is_the_reference_formula():
    """crystallize-ml's per-replicate seed, (master + replicate*31337) mod 2**32 (its ADR 0006)."""
    plugin = SeedPlugin(seed=42)
    assert plugin.replicate_seed(0) == 42
    assert plugin.replicate_seed(3) == (42 + 3 * 31337) % 2**32 == 94053
    assert [plugin.replicate_seed(r) for r in range(5)] == [replicate_seed(42, r) for r in range(5)]
    assert len({plugin.replicate_seed(r) for r in range(50)}) == 50
    top = SeedPlugin(seed=2**32 - 1)
    assert [top.replicate_seed(r) for r in range(3)] == [2**32 - 1, 31336, 31336 + 31337]
    assert replicate_seed(2**32 - 1, 1) == 31336


def test_replicate_seed_reaches_the_context_with_the_reference_formula(workdir):
    exp = demo_experiment(plugins=[SeedPlugin(seed=42)], replicates=4, treatments=[])
    seeds = exp.run().metrics.baseline.seeds
    assert seeds == {0: 42, 1: 42 + 31337, 2: 42 + 2 * 31337, 3: (42 + 3 * 31337) % 2**32}
    wrapped = demo_experiment(plugins=[SeedPlugin(seed=2**32 - 1)], replicates=2, treatments=[])
    assert wrapped.run().metrics.baseline.seeds == {0: 2**32 - 1, 1: 31336}


def test_replicate_seeds_without_a_seed_plugin_follow_the_same_formula(workdir):
    exp = demo_experiment(replicates=3, treatments=[])
    exp.plugins = [p for p in exp.plugins if not isinstance(p, SeedPlugin)]  # the engine's default
    seeds = exp.run().metrics.baseline.seeds
    assert seeds == {0: 0, 1: 31337, 2: 62674}  # the package's master seed is 0


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_must_be_a_non_negative_integer(bad):
    with pytest.raises(ConfigurationError, match="seed"):
        SeedPlugin(seed=bad)


def test_auto_seed_seeds_global_generators_per_replicate(workdir):
    exp = demo_experiment(pipeline=Pipeline([global_draw()]), plugins=[SeedPlugin(seed=3)], replicates=2)
    metrics = exp.run().metrics.baseline
    for rep in range(2):
        seed = replicate_seed(3, rep)
        random.seed(seed)
        np.random.seed(seed)
        assert metrics.replicate(rep) == {"py": [random.random()], "np": [float(np.random.random())]}


def test_custom_seed_function_receives_each_replicate_seed(workdir):
    seen: list[int] = []
    exp = demo_experiment(plugins=[SeedPlugin(seed=4, seed_fn=seen.append)], replicates=2, treatments=[])
    exp.run()
    assert seen == [4, 4 + 31337]
    seen.clear()
    demo_experiment(plugins=[SeedPlugin(seed=4, auto_seed=False, seed_fn=seen.append)]).run()
    assert seen == []


# --- execution plugin arguments ------------------------------------------------------------


def test_parallel_execution_rejects_bad_arguments():
    fiber = ParallelExecution(executor_type="fiber")  # checked when it runs, as in crystallize-ml
    with pytest.raises(ConfigurationError, match=r"executor_type must be one of .*'fiber'"):
        fiber.run_experiment_loop(demo_experiment(), lambda i: i)
    with pytest.raises(ConfigurationError, match="max_workers"):
        ParallelExecution(max_workers=0)
    with pytest.raises(ConfigurationError, match="start_method"):
        ParallelExecution(executor_type="process", start_method="teleport")


# --- logging -------------------------------------------------------------------------------


def test_logging_goes_through_the_package_logger_and_nothing_is_printed(workdir, caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="crystallize_opt")
    exp = demo_experiment(pipeline=Pipeline([shift(), fail_on(fail_replicates=(1,)), score()]), replicates=2)
    exp.run()
    records = [r for r in caplog.records if r.name.startswith("crystallize_opt")]
    assert records
    messages = [r.getMessage() for r in records]
    assert any("'demo'" in m and "2 replicate(s)" in m for m in messages)
    assert any(m.startswith("Completed in") and "2 error(s)" in m for m in messages)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any("replicate 1" in m and "fail_on" in m and "planned failure" in m for m in warnings)
    assert any("finished step shift" in m for m in messages)  # per-step detail at DEBUG
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_logging_reports_steps_at_info(workdir, caplog):
    caplog.set_level(logging.INFO, logger="crystallize_opt")
    demo_experiment(plugins=[LoggingPlugin(verbose=True)], replicates=1).run()
    assert any("finished step score" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


def test_quiet_logging_keeps_step_details_out_of_info(workdir, caplog):
    caplog.set_level(logging.INFO, logger="crystallize_opt")
    demo_experiment(replicates=1).run()
    assert not any("finished step score" in r.getMessage() for r in caplog.records)
    assert any(r.getMessage().startswith("Completed in") for r in caplog.records)


def test_bad_log_level_is_rejected():
    with pytest.raises(ConfigurationError, match="LOUD"):
        demo_experiment(plugins=[LoggingPlugin(log_level="LOUD")])


def test_after_replicate_receives_the_public_condition_outcome(workdir):
    """The hook's argument type is public (``crystallize_opt.ConditionOutcome``): a plugin can
    name it in its annotations and read the replicate's metrics, error and seed from it."""
    from crystallize_opt import BasePlugin, ConditionOutcome

    seen: list[ConditionOutcome] = []

    class Keep(BasePlugin):
        def after_replicate(self, experiment: Any, ctx: Any, outcome: ConditionOutcome) -> None:
            seen.append(outcome)

    exp = demo_experiment(
        plugins=[Keep()],
        pipeline=Pipeline([fail_on(fail_replicates=(1,)), score()]),
        replicates=2,
        treatments=[],
    )
    exp.run()
    assert all(type(o) is ConditionOutcome for o in seen)
    by_replicate = {o.replicate: o for o in seen}
    assert by_replicate[0].error is None and by_replicate[0].metrics
    assert by_replicate[1].error is not None and by_replicate[1].seed is not None
