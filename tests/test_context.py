"""The run context: add-only keys, the engine's reserved keys, metrics and the seeded rng."""

from __future__ import annotations

import datetime
import pathlib
import threading

import numpy as np
import pytest

import crystallize_opt
from crystallize_opt import (
    Artifact,
    ContextMetrics,
    ContextMutationError,
    Experiment,
    FrozenContext,
    ParallelExecution,
    Pipeline,
    SeedPlugin,
    Treatment,
    pipeline_step,
)

from .engine_fixtures import demo_experiment, draw_twice, mutate_cfg, read_cfg, score


@pipeline_step()
def capture_keys(data, ctx):
    ctx.metrics.add("replicate", ctx[Experiment.REPLICATE_KEY])
    ctx.metrics.add("condition", ctx[Experiment.CONDITION_KEY])
    ctx.metrics.add("seed", ctx[Experiment.SEED_USED_KEY])
    ctx.metrics.add("is_generator", isinstance(ctx.rng, np.random.Generator))
    return data


@pipeline_step()
def overwrite_delta(data, ctx):
    ctx.add("delta", 99.0)
    return data


# --- the add-only mapping ------------------------------------------------------------------


def test_keys_can_be_added_and_read_back():
    ctx = FrozenContext({"a": 1})
    ctx.add("b", 2)
    ctx["c"] = 3
    assert dict(ctx) == {"a": 1, "b": 2, "c": 3}
    assert ctx.as_dict() == {"a": 1, "b": 2, "c": 3}
    assert "b" in ctx and len(ctx) == 3


def test_add_never_overwrites_and_names_the_key():
    ctx = FrozenContext({"learning_rate": 0.1})
    with pytest.raises(ContextMutationError, match="learning_rate"):
        ctx.add("learning_rate", 0.2)
    assert ctx["learning_rate"] == 0.1


def test_item_assignment_never_overwrites():
    ctx = FrozenContext()
    ctx["k"] = "first"
    with pytest.raises(ContextMutationError, match="'k'"):
        ctx["k"] = "second"
    assert ctx["k"] == "first"


def test_keys_cannot_be_deleted():
    ctx = FrozenContext({"gone": 1})
    with pytest.raises(ContextMutationError, match="gone"):
        del ctx["gone"]
    assert ctx["gone"] == 1


def test_context_mutation_error_is_a_key_error_and_a_crystallize_error():
    ctx = FrozenContext({"x": 1})
    with pytest.raises(KeyError):
        ctx.add("x", 2)
    with pytest.raises(crystallize_opt.CrystallizeError):
        ctx.add("x", 2)


def test_metrics_append_in_order_and_reject_bad_names():
    metrics = ContextMetrics()
    metrics.add("loss", 0.5)
    metrics.add("loss", 0.25)
    metrics.add("acc", 1.0)
    assert metrics.get("loss") == [0.5, 0.25]
    assert metrics.lists() == {"loss": [0.5, 0.25], "acc": [1.0]}
    assert metrics.as_dict() == {"loss": (0.5, 0.25), "acc": (1.0,)}
    assert metrics.get("missing") == []
    with pytest.raises(TypeError, match="non-empty string"):
        metrics.add("", 1.0)


def test_step_overwriting_a_treatment_key_fails_that_run_naming_the_key(workdir):
    exp = demo_experiment(pipeline=Pipeline([overwrite_delta()]), replicates=1)
    result = exp.run()
    (error,) = result.errors_for("plus_one")
    assert error.error_type == "ContextMutationError"
    assert "delta" in error.message
    assert error.step == "overwrite_delta"
    assert result.errors_for("baseline") == []  # the baseline has no delta to overwrite


# --- the engine's keys and constants -------------------------------------------------------


def test_public_constants():
    assert Experiment.REPLICATE_KEY == crystallize_opt.REPLICATE_KEY == "replicate"
    assert Experiment.CONDITION_KEY == crystallize_opt.CONDITION_KEY == "condition"
    assert Experiment.SEED_USED_KEY == crystallize_opt.SEED_USED_KEY == "seed_used"
    assert Experiment.BASELINE_CONDITION == crystallize_opt.BASELINE_CONDITION == "baseline"
    assert Experiment.METADATA_FILENAME == crystallize_opt.METADATA_FILENAME == "metadata.json"
    assert set(Experiment.VALID_EXECUTOR_TYPES) == {"thread", "process"}


def test_engine_keys_hold_replicate_condition_and_seed(workdir):
    exp = demo_experiment(pipeline=Pipeline([capture_keys()]), replicates=3)
    result = exp.run()
    seeds = SeedPlugin()
    for name, metrics in [
        ("baseline", result.metrics.baseline),
        ("plus_one", result.metrics.treatments["plus_one"]),
    ]:
        for rep in range(3):
            recorded = metrics.replicate(rep)
            assert recorded["replicate"] == [rep]
            assert recorded["condition"] == [name]
            assert recorded["seed"] == [seeds.replicate_seed(rep)]
            assert recorded["is_generator"] == [True]


# --- ctx.rng -------------------------------------------------------------------------------


def _draws(result, condition="baseline"):
    metrics = result.metrics.condition(condition)
    return [metrics.replicate(r)["draw"] for r in metrics.replicates]


def test_rng_differs_between_replicates_and_repeats_across_runs(workdir):
    first = demo_experiment(pipeline=Pipeline([draw_twice()]), replicates=3).run()
    second = demo_experiment(pipeline=Pipeline([draw_twice()]), replicates=3).run()
    draws = _draws(first)
    assert len({tuple(d) for d in draws}) == 3  # every replicate draws differently
    assert all(d[0] != d[1] for d in draws)  # successive draws advance the generator
    assert _draws(second) == draws


def test_rng_is_shared_by_the_conditions_of_one_replicate(workdir):
    result = demo_experiment(pipeline=Pipeline([draw_twice()]), replicates=2).run()
    assert _draws(result, "plus_one") == _draws(result, "baseline")


def test_rng_is_seeded_from_the_replicate_seed(workdir):
    result = demo_experiment(pipeline=Pipeline([draw_twice()]), replicates=2).run()
    for rep, draws in enumerate(_draws(result)):
        rng = np.random.default_rng(SeedPlugin().replicate_seed(rep))
        rng.normal(size=100)  # what the datasource drew first
        assert draws == [rng.random(), rng.random()]


def test_rng_draws_identical_in_threads(workdir):
    serial = demo_experiment(pipeline=Pipeline([draw_twice()]), replicates=4).run()
    threaded = demo_experiment(
        pipeline=Pipeline([draw_twice()]),
        replicates=4,
        plugins=[ParallelExecution(executor_type="thread", max_workers=2)],
    ).run()
    assert _draws(threaded) == _draws(serial)
    assert _draws(threaded, "plus_one") == _draws(serial, "plus_one")


def test_datasource_draws_from_the_same_seeded_rng(workdir):
    exp = demo_experiment(replicates=2, treatments=[Treatment("same", {})])
    result = exp.run()
    base = result.metrics.baseline
    assert base.replicate(0)["mean"] != base.replicate(1)["mean"]
    assert result.metrics.treatments["same"].metrics == base.metrics
    expected = float(np.random.default_rng(SeedPlugin().replicate_seed(1)).normal(size=100).mean())
    assert base.replicate(1)["mean"] == [pytest.approx(expected, abs=1e-12)]


# --- isolation: what one run does to a value it read stays in that read ----------------------


def test_reads_of_mutable_values_are_copies_and_immutable_values_are_not():
    cfg = {"lr": 0.1, "layers": [8, 8]}
    shape = (3, ("a", 1.5))
    ctx = FrozenContext({"cfg": cfg, "shape": shape, "name": "run"})
    ctx["cfg"]["lr"] = 999.0
    ctx.get("cfg")["layers"].append(1)
    ctx.as_dict()["cfg"]["lr"] = 5.0
    dict(ctx.items())["cfg"]["layers"].clear()
    assert ctx["cfg"] == {"lr": 0.1, "layers": [8, 8]}
    assert cfg == {"lr": 0.1, "layers": [8, 8]}  # the caller's object
    assert ctx["cfg"] is not ctx["cfg"]
    assert ctx["shape"] is shape  # immutable: handed out as it is, never copied
    default = ctx.get("missing", cfg)  # a container default is copied too, as in crystallize-ml
    assert default == cfg and default is not cfg
    marker = object()
    assert ctx.get("missing", marker) is marker  # any other default keeps its identity


def test_a_value_added_is_handed_to_later_readers_as_it_was_when_added():
    ctx = FrozenContext()
    model = {"weights": [0.0, 0.0]}
    ctx.add("model", model)
    model["weights"].append(1.0)  # the writer changing it afterwards does not reach the context
    later = ctx["model"]  # what a later step reading the key gets
    assert later == {"weights": [0.0, 0.0]}
    later["weights"][0] = 3.0  # and what that step does to it stays in its copy
    assert ctx["model"] == {"weights": [0.0, 0.0]}


def test_values_that_cannot_be_copied_are_shared():
    lock = threading.Lock()
    ctx = FrozenContext({"lock": lock})
    assert ctx["lock"] is lock


def _isolation_experiment(user_cfg, treatment, plugins):
    return demo_experiment(
        pipeline=Pipeline([mutate_cfg(), read_cfg(), score()]),
        initial_ctx={"cfg": user_cfg},
        treatments=[treatment],
        replicates=3,
        plugins=plugins,
    )


EXECUTIONS = {
    "serial": list,
    "threads": lambda: [ParallelExecution(executor_type="thread", max_workers=1)],
    "processes": lambda: [ParallelExecution(executor_type="process", max_workers=1)],
}


@pytest.mark.parametrize("execution", list(EXECUTIONS))
def test_a_step_mutating_a_nested_value_reaches_no_later_step_replicate_or_caller_object(workdir, execution):
    user_cfg = {"lr": 0.5, "layers": [4]}
    treatment = Treatment("small_lr", {"cfg": {"lr": 0.1, "layers": [8, 8]}})
    exp = _isolation_experiment(user_cfg, treatment, EXECUTIONS[execution]())
    result = exp.run()
    assert result.errors == []
    for condition, lr, layers in [("baseline", 0.5, 1), ("small_lr", 0.1, 2)]:
        metrics = result.metrics.condition(condition)
        for rep in range(3):  # one worker ran the replicates one after another
            assert metrics.replicate(rep)["lr_read"] == [lr]
            assert metrics.replicate(rep)["layers_read"] == [layers]
            assert metrics.replicate(rep)["lr_later"] == [lr]  # the same replicate's next step
    assert user_cfg == {"lr": 0.5, "layers": [4]}
    assert exp.initial_ctx == {"cfg": {"lr": 0.5, "layers": [4]}}
    assert treatment.params == {"cfg": {"lr": 0.1, "layers": [8, 8]}}
    # and replicates stay reproducible, in any execution mode
    again = _isolation_experiment(user_cfg, treatment, EXECUTIONS["serial"]()).run()
    assert again.metrics.baseline == result.metrics.baseline
    assert again.metrics.treatments == result.metrics.treatments


def test_a_step_mutating_an_explicit_argument_does_not_change_the_users_object(workdir):
    opts = ["a", "b"]
    exp = demo_experiment(
        pipeline=Pipeline([mutate_cfg(opts=opts), score()]),
        initial_ctx={"cfg": {"lr": 0.5, "layers": []}},
        replicates=3,
    )
    result = exp.run()
    assert result.errors == []
    assert [result.metrics.baseline.replicate(r)["opts_read"] for r in range(3)] == [[2]] * 3
    assert opts == ["a", "b"]


def test_apply_leaves_the_treatment_and_initial_ctx_as_they_were(workdir):
    treatment = Treatment("small_lr", {"cfg": {"lr": 0.1, "layers": [8]}})
    exp = _isolation_experiment({"lr": 0.5, "layers": [4]}, treatment, [])
    exp.apply(treatment)
    exp.apply()
    assert treatment.params == {"cfg": {"lr": 0.1, "layers": [8]}}
    assert exp.initial_ctx == {"cfg": {"lr": 0.5, "layers": [4]}}


def test_an_output_artifact_kept_in_the_context_still_writes_into_its_run():
    ctx = FrozenContext()
    ctx.add("out", Artifact("out.json").bind(ctx))
    ctx["out"].write(b"{}")
    assert [record.name for record in ctx.artifacts] == ["out.json"]


def test_paths_dates_and_numpy_scalars_are_handed_out_as_they_are():
    values = {"dir": pathlib.Path("/data"), "day": datetime.date(2026, 1, 2), "x": np.float64(0.5)}
    ctx = FrozenContext(values)
    assert all(ctx[key] is value for key, value in values.items())
