"""crystallize-ml's decorators and helpers, written from its specification
(docs/migrating-from-crystallize.md lists where crystallize-opt differs on purpose):
``treatment``, ``hypothesis``, ``verifier``, ``pipeline``, ``resource_factory``,
``inject_from_ctx``, ``Hypothesis.rank_treatments``, ``quick_experiment``, ``Experiment.id``,
``Experiment.debug``, ``find_experiments_root``, the exceptions."""

from __future__ import annotations

import asyncio
import pickle
import random
import statistics
import threading

import pytest

from crystallize_opt import (
    ConfigurationError,
    CrystallizeError,
    Experiment,
    FrozenContext,
    Hypothesis,
    LoggingPlugin,
    MissingMetricError,
    ParallelExecution,
    Pipeline,
    PipelineExecutionError,
    Treatment,
    data_source,
    find_experiments_root,
    hypothesis,
    inject_from_ctx,
    pipeline,
    pipeline_step,
    quick_experiment,
    resource_factory,
    standalone_context,
    treatment,
    verifier,
)

from .engine_fixtures import demo_experiment, points, score, shift

# --- module-level user code (pickled by reference) -------------------------------------------


@verifier
def mean_gain(baseline, treatment, metric: str = "mean", margin: float = 0.0):
    gain = statistics.fmean(treatment[metric]) - statistics.fmean(baseline[metric])
    return {"gain": gain, "p_value": 0.0 if gain > margin else 1.0}


@verifier
def needs_alpha(baseline, treatment, alpha):
    return {"alpha": alpha}


BUILT: list[tuple[str, object]] = []


def build_model(ctx):
    BUILT.append((threading.current_thread().name, ctx.get("size")))
    return {"size": ctx.get("size", 1)}


@pipeline_step()
def use_model(data, ctx, model):
    ctx.metrics.add("model_size", model["size"])
    return data


# --- treatment -------------------------------------------------------------------------------


def test_treatment_with_apply_returns_a_treatment():
    made = treatment("x2", {"delta": 2.0})
    assert made == Treatment("x2", {"delta": 2.0})


def test_treatment_without_apply_decorates_a_function_into_a_factory(workdir):
    @treatment("double")
    def double(ctx):
        ctx.add("delta", 2.0)

    made = double()
    assert isinstance(made, Treatment) and made.name == "double" and made.is_callable
    result = demo_experiment(treatments=[made], replicates=2).run()
    assert result.metrics.treatments["double"].replicates == [0, 1]


def test_treatment_decorator_refuses_a_reserved_name_at_once():
    with pytest.raises(ConfigurationError):
        treatment("../x")


# --- hypothesis and rank_treatments ------------------------------------------------------------


def test_hypothesis_decorates_a_ranker_into_a_hypothesis():
    @hypothesis(verifier=mean_gain(), metrics="mean")
    def by_gain(result):
        return -result["gain"]

    assert isinstance(by_gain, Hypothesis)
    assert by_gain.name == "by_gain" and by_gain.metrics == ["mean"]
    named = hypothesis(verifier=mean_gain(), metrics="mean", name="gain")(lambda r: 0.0)
    assert named.name == "gain"


def test_rank_treatments_sorts_ascending_and_names_the_best():
    h = Hypothesis(mean_gain(), "mean", ranker=lambda r: -r["gain"])
    ranking = h.rank_treatments({"a": {"gain": 1.0}, "b": {"gain": 3.0}, "c": {"gain": 2.0}})
    assert ranking == {"best": "b", "ranked": [("b", -3.0), ("c", -2.0), ("a", -1.0)]}
    assert h.rank_treatments({}) == {"best": None, "ranked": []}


def test_rank_treatments_ranks_a_failing_ranker_last():
    h = Hypothesis(mean_gain(), "mean", ranker=lambda r: r["p_value"])
    ranking = h.rank_treatments({"broken": {}, "fine": {"p_value": 0.2}})
    assert ranking["ranked"] == [("fine", 0.2), ("broken", float("inf"))]


def test_a_hypothesis_made_by_the_decorators_runs(workdir):
    @hypothesis(verifier=mean_gain(margin=0.5), metrics="mean")
    def lowest_p(result):
        return result["p_value"]

    result = demo_experiment(hypotheses=[lowest_p]).run()
    found = result.metrics.hypotheses[0]
    assert found.name == "lowest_p"
    assert found.results["plus_one"]["gain"] == pytest.approx(1.0)
    assert found.ranking["best"] == "plus_one"


# --- verifier ----------------------------------------------------------------------------------


def test_verifier_factory_fixes_parameters_and_defaults():
    v = mean_gain(margin=0.5)
    assert v.params == {"metric": "mean", "margin": 0.5}
    assert v({"mean": [1.0, 1.0]}, {"mean": [2.0, 2.0]}) == {"gain": 1.0, "p_value": 0.0}
    assert mean_gain()({"mean": [1.0]}, {"mean": [1.0]})["p_value"] == 1.0


def test_verifier_unknown_or_missing_parameters_raise_type_error():
    with pytest.raises(TypeError, match="marg"):
        mean_gain(marg=1.0)
    with pytest.raises(TypeError, match="alpha"):
        needs_alpha()
    assert needs_alpha(alpha=0.1)({}, {}) == {"alpha": 0.1}


def test_verifier_callable_survives_pickling():
    v = pickle.loads(pickle.dumps(mean_gain(margin=0.25)))
    assert v.params["margin"] == 0.25
    assert v({"mean": [0.0]}, {"mean": [1.0]})["gain"] == 1.0


def test_verifier_needs_two_sample_parameters():
    with pytest.raises(TypeError, match="first two"):

        @verifier
        def lonely(baseline):
            return {}


# --- pipeline ----------------------------------------------------------------------------------


def test_pipeline_builds_a_pipeline_from_steps():
    made = pipeline(shift(), score())
    assert isinstance(made, Pipeline) and [s.name for s in made] == ["shift", "score"]
    with pytest.raises(ValueError):
        pipeline()


def test_reference_names_that_match_module_names_are_the_functions():
    # Importing the modules by their full names must not hide the functions.
    import crystallize_opt.hypothesis
    import crystallize_opt.pipeline
    import crystallize_opt.treatment

    assert crystallize_opt.pipeline is pipeline and callable(pipeline)
    assert crystallize_opt.treatment is treatment
    assert crystallize_opt.hypothesis is hypothesis
    from crystallize_opt.pipeline import Pipeline as FromModule

    assert FromModule is Pipeline


# --- inject_from_ctx ---------------------------------------------------------------------------


def test_inject_from_ctx_fills_parameters_from_the_context_then_defaults():
    @inject_from_ctx
    def helper(data, ctx, lr, epochs=3):
        return data, lr, epochs

    ctx = standalone_context({"lr": 0.1})
    assert helper("d", ctx) == ("d", 0.1, 3)
    assert helper("d", ctx, lr=0.5, epochs=1) == ("d", 0.5, 1)
    with pytest.raises(TypeError, match="'lr'"):
        helper("d", standalone_context())
    with pytest.raises(TypeError, match="ctx"):
        helper("d", None)
    with pytest.raises(TypeError, match="FrozenContext"):
        helper("d", {"lr": 0.1})  # a plain dict is no context, as in crystallize-ml


# --- resource_factory --------------------------------------------------------------------------


def test_resource_factory_makes_a_resource_once_per_distinct_context(workdir):
    BUILT.clear()
    model = resource_factory(build_model)
    model.clear()
    exp = Experiment(
        datasource=points(size=3),
        pipeline=Pipeline([use_model()]),
        initial_ctx={"model": model},
        treatments=[Treatment("big", {"size": 5}), Treatment("also_big", {"size": 5})],
        replicates=3,
    )
    result = exp.run()
    assert result.errors == []
    # One resource for the baseline (no size), one for size 5: never the baseline's for "big".
    assert [size for _, size in BUILT] == [None, 5]
    assert result.metrics.baseline.metrics["model_size"] == [1, 1, 1]
    assert result.metrics.treatments["big"].metrics["model_size"] == [5, 5, 5]
    assert result.metrics.treatments["also_big"].metrics["model_size"] == [5, 5, 5]


def test_resource_factory_is_shared_by_threads(workdir):
    BUILT.clear()
    model = resource_factory(build_model, key="shared-model")
    model.clear()
    exp = Experiment(
        datasource=points(size=3),
        pipeline=Pipeline([use_model()]),
        initial_ctx={"model": model},
        plugins=[ParallelExecution(max_workers=3, executor_type="thread")],
        replicates=6,
    )
    assert exp.run().errors == []
    assert len(BUILT) == 1


def test_resource_factory_called_directly_and_its_checks():
    model = resource_factory(build_model, key="direct")
    model.clear()
    first = model(standalone_context({"size": 2}))
    assert model(standalone_context({"size": 2})) is first
    assert model(standalone_context({"size": 3})) is not first
    with pytest.raises(TypeError):
        resource_factory("not callable")  # type: ignore[arg-type]


# --- quick_experiment --------------------------------------------------------------------------


def test_quick_experiment_calls_a_function_without_parameters_with_nothing():
    counter = {"value": 0}

    def count() -> int:
        counter["value"] += 1
        return counter["value"]

    assert quick_experiment(count, replicates=3) == {"baseline": [1, 2, 3]}


def test_quick_experiment_runs_every_config_and_replicate_reproducibly():
    def draw(config):
        return random.random() + config.get("offset", 0)

    first = quick_experiment(draw, {"a": {}, "b": {"offset": 10}}, replicates=3, seed=7)
    again = quick_experiment(draw, {"a": {}, "b": {"offset": 10}}, replicates=3, seed=7)
    assert first == again and list(first) == ["a", "b"] and len(first["a"]) == 3
    # The same seed per replicate for every config (common random numbers).
    assert [b - 10 for b in first["b"]] == pytest.approx(first["a"])
    assert quick_experiment(draw) == {"baseline": [quick_experiment(draw)["baseline"][0]]}


def test_quick_experiment_passes_a_context_when_asked():
    def with_ctx(config, ctx):
        assert isinstance(ctx, FrozenContext)
        return (ctx["condition"], ctx["replicate"], ctx["seed"] == ctx["seed_used"], ctx["lr"])

    out = quick_experiment(with_ctx, {"fast": {"lr": 0.1}}, replicates=2)
    assert out == {"fast": [("fast", 0, True, 0.1), ("fast", 1, True, 0.1)]}
    with pytest.raises(ConfigurationError):
        quick_experiment(with_ctx, replicates=0)
    with pytest.raises(ConfigurationError):
        quick_experiment(with_ctx, {"a": 1})  # type: ignore[dict-item]


# --- Experiment.id and debug -------------------------------------------------------------------


def test_experiment_id_depends_on_pipeline_and_datasource_only():
    base = demo_experiment()
    assert len(base.id) == 64 and base.id == demo_experiment(replicates=9, treatments=[], name="x").id
    assert base.id != demo_experiment(pipeline=Pipeline([shift(delta=1.0), score()])).id
    assert base.id != demo_experiment(datasource=points(size=5)).id


def test_debug_runs_one_serial_verbose_replicate_and_restores_everything(workdir):
    logging_plugin = LoggingPlugin()
    parallel = ParallelExecution(max_workers=2)
    exp = demo_experiment(plugins=[logging_plugin, parallel])
    result = exp.debug("plus_one")
    assert result.metrics.baseline.replicates == [0]
    assert result.metrics.treatments["plus_one"].replicates == [0]
    assert result.metrics.hypotheses == []
    assert logging_plugin.verbose is False and parallel in exp.plugins and exp.replicates == 4
    assert list(exp.debug().metrics.treatments) == []


def test_debug_refuses_an_unknown_treatment_name(workdir):
    with pytest.raises(ConfigurationError, match=r"no treatment named 'nope'.*plus_one"):
        demo_experiment().debug("nope")


# --- find_experiments_root ---------------------------------------------------------------------


def test_find_experiments_root(tmp_path):
    inner = tmp_path / "experiments" / "one" / "deep"
    inner.mkdir(parents=True)
    assert find_experiments_root(inner) == tmp_path / "experiments"
    (tmp_path / "experiments" / "one" / "config.yaml").write_text("name: one\n")
    assert find_experiments_root(tmp_path / "experiments" / "one" / "config.yaml") == tmp_path / "experiments"
    assert find_experiments_root(tmp_path) == tmp_path / "experiments"
    with pytest.raises(FileNotFoundError, match="Could not locate 'experiments' directory"):
        find_experiments_root("/")


def test_find_experiments_root_not_strict_falls_back_to_the_start(tmp_path, caplog):
    lone = tmp_path / "lone"
    lone.mkdir()
    if find_experiments_root(lone, strict=False) != lone.resolve():  # an experiments folder above tmp
        pytest.skip("the temporary folder lies below a folder named experiments")
    # crystallize-ml's wording first, which its users match on
    assert "Could not locate 'experiments' dir: no folder named 'experiments'" in caplog.text
    (lone / "config.yaml").write_text("name: lone\n")
    assert find_experiments_root(lone / "config.yaml", strict=False) == lone.resolve()


# --- exceptions --------------------------------------------------------------------------------


def test_exceptions_subclass_ours_and_the_builtins_users_catch():
    assert issubclass(MissingMetricError, CrystallizeError) and issubclass(MissingMetricError, KeyError)
    assert str(MissingMetricError("metric 'x' missing")) == "metric 'x' missing"
    error = PipelineExecutionError("train", ValueError("bad"))
    assert isinstance(error, CrystallizeError) and isinstance(error, RuntimeError)
    assert error.step_name == "train" and isinstance(error.original_exception, ValueError)
    assert str(error) == "Step 'train' failed: ValueError: bad"
    back = pickle.loads(pickle.dumps(error))
    assert back.step_name == "train" and str(back) == str(error)


def test_a_step_error_is_recorded_with_its_step_and_own_type(workdir):
    @data_source
    def one(ctx):
        return 1

    @pipeline_step()
    def boom(data, ctx):
        raise ValueError("planned")

    result = Experiment(datasource=one(), pipeline=Pipeline([boom()])).run()
    (error,) = result.errors
    assert (error.step, error.error_type, error.message) == ("boom", "ValueError", "planned")


def test_steps_and_injected_helpers_without_a_ctx_parameter(workdir):
    @data_source
    def one(ctx):
        return 1

    @pipeline_step()
    def record(data, ctx):
        ctx.metrics.add("value", data)
        return data

    @pipeline_step()
    def add_inc(data, *, inc: int = 1):
        return data + inc

    @inject_from_ctx
    def scale(data, *, factor: int = 1):
        return data * factor

    ctx = FrozenContext({"inc": 2, "factor": 3})
    assert add_inc()(3, ctx) == 5 and add_inc(inc=10)(3, ctx) == 13
    assert scale(2, ctx) == 6 and scale(2, ctx=FrozenContext({})) == 2
    with pytest.raises(TypeError, match="must be called with ctx"):
        scale(2)
    result = Experiment(datasource=one(), pipeline=Pipeline([add_inc(), record()])).run()
    assert result.metrics.baseline.metrics["value"] == [2]


def test_a_decorated_step_can_be_awaited_through_acall():
    @pipeline_step()
    async def add_async(data, ctx, *, delta: int = 0):
        return data + delta

    @pipeline_step()
    def add_sync(data, ctx, *, delta: int = 0):
        return data + delta

    ctx = FrozenContext({"delta": 3})
    assert asyncio.run(add_async().__acall__(2, ctx)) == 5
    assert asyncio.run(add_async(delta=1).__acall__(2, ctx)) == 3
    assert asyncio.run(add_sync().__acall__(2, ctx)) == 5
