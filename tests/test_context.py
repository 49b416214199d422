"""The run context: add-only keys, the engine's reserved keys, metrics and the seeded rng."""

from __future__ import annotations

import numpy as np
import pytest

import crystallize_opt
from crystallize_opt import (
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

from .engine_fixtures import demo_experiment, draw_twice


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
    assert metrics.as_dict() == {"loss": [0.5, 0.25], "acc": [1.0]}
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
