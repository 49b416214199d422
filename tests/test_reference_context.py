"""crystallize-ml's context API, written from its specification: ``standalone_context``,
``ctx.record`` with tags, ``ctx.logger``, ``FrozenContext(initial, logger=)``, ``ctx.metrics[m]``
as a tuple, ``ctx.as_dict()`` as a copy, and ``LoggingContext`` recording the keys read."""

from __future__ import annotations

import logging

import pytest

from crystallize_opt import (
    ContextMutationError,
    FrozenContext,
    LoggingContext,
    Pipeline,
    pipeline_step,
    standalone_context,
)

from .engine_fixtures import demo_experiment, shift


@pipeline_step()
def tagged(data, ctx):
    ctx.record("loss", 0.5, tags={"epoch": 1})
    ctx.record("loss", 0.25)
    ctx.logger.info("loss recorded")
    return data


def test_standalone_context_runs_a_step_by_hand():
    ctx = standalone_context({"delta": 2.0})
    assert isinstance(ctx, FrozenContext)
    assert shift()(1.0, ctx) == 3.0
    assert shift(delta=1.0)(1.0, standalone_context()) == 2.0


def test_standalone_context_rng_is_reproducible():
    a, b = standalone_context(), standalone_context()
    assert a.rng.random() == b.rng.random()


def test_record_is_metrics_add_and_keeps_tags():
    ctx = standalone_context()
    ctx.record("loss", 0.5, tags={"epoch": 1})
    ctx.record("loss", 0.25)
    ctx.metrics.add("loss", 0.125, tags={"epoch": 3})
    assert ctx.metrics["loss"] == (0.5, 0.25, 0.125)
    assert ctx.metrics.get_tags("loss") == ({"epoch": 1}, {}, {"epoch": 3})
    assert ctx.metrics.tags_as_dict() == {"loss": [{"epoch": 1}, None, {"epoch": 3}]}
    with pytest.raises(TypeError):
        ctx.record("loss", 1.0, tags=["not", "a", "mapping"])  # type: ignore[arg-type]


def test_metrics_item_is_a_tuple_and_empty_when_never_recorded():
    ctx = standalone_context()
    assert ctx.metrics["nothing"] == ()
    assert "nothing" not in ctx.metrics
    ctx.metrics.add("x", 1)
    assert isinstance(ctx.metrics["x"], tuple)
    assert ctx.metrics.get("x") == [1] and ctx.metrics.as_dict() == {"x": (1,)}
    assert ctx.metrics.get_tags("x") == ({},)


def test_tags_given_to_an_input_dict_are_copied():
    ctx = standalone_context()
    tags = {"epoch": 1}
    ctx.record("loss", 0.5, tags=tags)
    tags["epoch"] = 99
    assert ctx.metrics.get_tags("loss") == ({"epoch": 1},)


def test_logger_defaults_to_the_package_and_can_be_given():
    assert standalone_context().logger.name == "crystallize_opt.steps"
    mine = logging.getLogger("my.steps")
    assert standalone_context(logger=mine).logger is mine
    assert FrozenContext({"a": 1}, logger=mine).logger is mine
    assert FrozenContext({"a": 1}, mine)["a"] == 1


def test_steps_record_and_log_in_a_run(workdir, caplog):
    with caplog.at_level(logging.INFO, logger="crystallize_opt.steps"):
        result = demo_experiment(pipeline=Pipeline([tagged()]), treatments=[], replicates=2).run()
    assert result.metrics.baseline.metrics["loss"] == [0.5, 0.25, 0.5, 0.25]
    assert [r.getMessage() for r in caplog.records if r.name == "crystallize_opt.steps"] == [
        "loss recorded"
    ] * 2


def test_as_dict_is_a_read_only_copy_that_changes_nothing():
    ctx = standalone_context({"cfg": {"lr": 0.1}})
    view = ctx.as_dict()
    view["cfg"]["lr"] = 5.0
    with pytest.raises(TypeError):  # read-only, as crystallize-ml's MappingProxyType
        view["new"] = 1  # type: ignore[index]
    assert ctx["cfg"] == {"lr": 0.1} and "new" not in ctx
    assert dict(view) == {"cfg": {"lr": 5.0}}  # dict() of it is a plain dict of the copies


def test_get_copies_a_container_default_and_as_dict_of_metrics_is_read_only():
    ctx = standalone_context()
    default = {"a": [1, 2]}
    ctx.get("missing", default)["a"].append(3)
    assert default == {"a": [1, 2]}
    ctx.metrics.add("m", 1)
    view = ctx.metrics.as_dict()
    assert view == {"m": (1,)}
    with pytest.raises(TypeError):
        view["b"] = (2,)  # type: ignore[index]


def test_messages_and_attributes_as_in_the_reference(caplog):
    ctx = standalone_context({"a": 1})
    with pytest.raises(ContextMutationError, match="Cannot mutate existing key: 'a'"):
        ctx["a"] = 2
    ctx.custom = "mine"  # type: ignore[attr-defined]
    view = LoggingContext(ctx, logger=logging.getLogger("reads"))
    assert view.custom == "mine"
    with caplog.at_level(logging.DEBUG, logger="reads"):
        view["a"]
    assert any(r.getMessage() == "Read a -> 1" for r in caplog.records)


def test_logging_context_records_reads_and_misses(caplog):
    ctx = standalone_context({"lr": 0.1, "layers": [1, 2]})
    view = LoggingContext(ctx, logging.getLogger("reads"))
    assert isinstance(view, FrozenContext)
    with caplog.at_level(logging.DEBUG, logger="reads"):
        assert view["lr"] == 0.1
        assert view.get("absent", 3) == 3
        assert "other" not in view
    assert view.reads == {"lr": 0.1}
    assert view.missing == {"absent", "other"}
    assert any("lr" in r.getMessage() for r in caplog.records)
    with pytest.raises(KeyError):
        view["gone"]
    assert "gone" in view.missing


def test_logging_context_shares_the_wrapped_context():
    ctx = standalone_context({"a": 1})
    view = LoggingContext(ctx)
    view.add("b", 2)
    view.record("m", 1.0)
    assert ctx["b"] == 2 and ctx.metrics["m"] == (1.0,)
    assert view.rng is ctx.rng
    with pytest.raises(ContextMutationError):
        view.add("a", 5)
    assert sorted(view.as_dict()) == ["a", "b"] and set(view.reads) == {"a", "b"}


def test_logging_context_logs_a_missing_key_in_the_reference_form(caplog):
    view = LoggingContext(standalone_context({}), logger=logging.getLogger("reads"))
    with caplog.at_level(logging.DEBUG, logger="reads"):
        assert view.get("absent", 5) == 5
    assert [r.getMessage() for r in caplog.records] == ["Read absent -> (not set)"]
