"""crystallize-ml's result family (issue 16, part B): ``Result.errors`` keyed
``"<condition>_rep_<i>"``, ``TreatmentMetrics``, ``ResultAggregator`` / ``ReplicateResult`` /
``AggregateData``, ``load_metrics`` / ``load_all_metrics``, ``print_tree``, ``to_df`` and
``to_parquet``, and ``Hypothesis``'s two-dict ``verify``, grouped metrics and ranking pairs."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import pytest

from crystallize_opt import (
    AggregateData,
    ArtifactPlugin,
    ConditionMetrics,
    ExperimentMetrics,
    Hypothesis,
    HypothesisResult,
    MissingMetricError,
    Pipeline,
    ReplicateError,
    ReplicateErrors,
    ReplicateResult,
    Result,
    ResultAggregator,
    Treatment,
    TreatmentMetrics,
    load_all_metrics,
    load_metrics,
    welch_t_test,
)

from .engine_fixtures import add_note, demo_experiment, fail_on, score, shift

HAS_PANDAS = importlib.util.find_spec("pandas") is not None
HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
NO_PANDAS = "pandas is not installed (pip install 'crystallize-opt[dataframes]'; the test extra has it)"


def failing_run():
    """Replicate 1 fails in both conditions; the others succeed."""
    return demo_experiment(pipeline=Pipeline([fail_on(fail_replicates=(1,)), shift(), score()])).run()


def record(condition: str, replicate: int, message: str = "boom") -> ReplicateError:
    return ReplicateError(condition, replicate, message, "ValueError", "Traceback ...")


# --- Result.errors: a list of records and crystallize-ml's mapping ---------------------------


def test_errors_are_keyed_by_condition_and_replicate(workdir):
    result = failing_run()
    assert "baseline_rep_1" in result.errors and "plus_one_rep_1" in result.errors
    assert "baseline_rep_0" not in result.errors
    error = result.errors["baseline_rep_1"]
    assert isinstance(error, ReplicateError)
    assert (error.condition, error.replicate, error.error_type) == ("baseline", 1, "ValueError")
    assert error.traceback_str == error.traceback and "planned failure" in error.traceback_str
    assert list(result.errors.keys()) == ["baseline_rep_1", "plus_one_rep_1"]
    assert dict(result.errors.items()) == {e.key: e for e in result.errors}
    assert result.errors.get("plus_one_rep_3") is None


def test_errors_still_behave_as_the_list_of_records(workdir):
    result = failing_run()
    assert len(result.errors) == 2
    first, second = result.errors
    assert result.errors[0] is first and result.errors[-1] is second
    assert [e.condition for e in result.errors] == ["baseline", "plus_one"]
    assert result.errors == [first, second] and result.errors != [second, first]
    assert first in result.errors
    assert result.errors_for("plus_one") == [second]
    assert result.errors_for("baseline", replicate=0) == []


def test_no_errors_equals_empty_list_and_empty_dict(workdir):
    result = demo_experiment(replicates=2).run()
    assert result.errors == [] and result.errors == {} and not result.errors


def test_assigned_errors_stay_both_list_and_mapping(workdir):
    result = failing_run()
    result.errors = [e for e in result.errors if e.condition == "baseline"]
    assert isinstance(result.errors, ReplicateErrors) and list(result.errors.keys()) == ["baseline_rep_1"]
    result.errors = {}
    assert result.errors == [] and "baseline_rep_1" not in result.errors


def test_unknown_error_key_names_the_keys():
    errors = ReplicateErrors([record("baseline", 0)])
    with pytest.raises(KeyError, match="baseline_rep_0"):
        errors["t1_rep_0"]


def test_two_errors_for_one_condition_and_replicate_are_refused():
    with pytest.raises(ValueError, match="baseline_rep_2"):
        ReplicateErrors([record("baseline", 2), record("baseline", 2, "again")])


def test_errors_given_as_crystallize_ml_mapping_are_kept_as_given():
    exc = RuntimeError("fail")
    result = Result(metrics=ExperimentMetrics(baseline=TreatmentMetrics({"a": [1]})), errors={"run": exc})
    assert result.errors == {"run": exc}
    assert result.errors["run"] is exc and list(result.errors) == [exc]
    assert Result(result.metrics, None, {"run": exc}).errors["run"] is exc  # its positional order
    loaded = Result.from_json(result.to_json())  # survives JSON as a record
    assert loaded.errors[0].message == "fail" and loaded.errors[0].error_type == "RuntimeError"


def test_errors_survive_the_json_round_trip_with_their_keys(workdir):
    result = failing_run()
    loaded = Result.from_json(result.to_json())
    assert loaded.errors == result.errors
    assert loaded.errors["plus_one_rep_1"].message == result.errors["plus_one_rep_1"].message
    assert pickle.loads(pickle.dumps(result.errors)) == result.errors


# --- TreatmentMetrics -------------------------------------------------------------------------


def test_treatment_metrics_gives_back_its_flat_lists():
    metrics = TreatmentMetrics({"acc": [0.9, 0.8, 0.7], "loss": [0.1]})
    assert isinstance(metrics, ConditionMetrics)
    assert metrics.metrics == {"acc": [0.9, 0.8, 0.7], "loss": [0.1]}
    assert metrics.per_replicate("acc") == {0: 0.9, 1: 0.8, 2: 0.7}
    assert metrics.replicate(0) == {"acc": [0.9], "loss": [0.1]}
    assert TreatmentMetrics({}).metrics == {}


def test_hand_built_experiment_metrics_read_like_crystallize_ml():
    hyp = HypothesisResult(name="h", results={"t1": {"p_value": 0.05}}, ranking={"best": "t1"})
    metrics = ExperimentMetrics(
        baseline=TreatmentMetrics({"a": [1, 2]}),
        treatments={"t1": TreatmentMetrics({"a": [3, 4]})},
        hypotheses=[hyp],
    )
    result = Result(metrics, {"model": "weights.bin"})  # crystallize-ml's order: metrics, artifacts
    assert result.metrics.baseline.metrics["a"] == [1, 2]
    assert result.metrics.treatments["t1"].metrics == {"a": [3, 4]}
    assert result.get_hypothesis("h") is hyp and hyp.get_for_treatment("t1") == {"p_value": 0.05}
    assert hyp.metrics == [] and hyp.errors == {}
    assert result.get_artifact("model") == "weights.bin" and result.get_artifact("other") is None


def test_hypotheses_verify_treatment_metrics_one_value_per_replicate():
    base = TreatmentMetrics({"m": [1.0, 1.1, 0.9, 1.0]}, name="baseline")
    treat = TreatmentMetrics({"m": [2.0, 2.1, 1.9, 2.2]}, name="t")
    out = Hypothesis(welch_t_test(), "m").verify(base, {"t": treat})
    assert out.results["t"]["treatment_mean"] == pytest.approx(2.05)
    assert out.results["t"]["p_value"] < 0.001


# --- ResultAggregator, ReplicateResult, AggregateData -------------------------------------------


def test_aggregator_concatenates_replicates_in_order():
    aggregator = ResultAggregator(Pipeline([score()]), replicates=3)
    err = RuntimeError("rep 2 failed")
    reps = [
        ReplicateResult({"acc": [0.9]}, 100, {"t": {"acc": [0.95]}}, {"t": 200}),
        ReplicateResult({"acc": [0.8], "loss": [0.2]}, 101, {}, {}, provenance={"baseline": [{"step": "s"}]}),
        ReplicateResult(None, None, {"t": {"acc": [0.85]}}, {"t": 202}, errors={"baseline_rep_2": err}),
    ]
    data = aggregator.aggregate_results(reps)
    assert data.baseline_metrics == {"acc": [0.9, 0.8], "loss": [0.2]}
    assert data.baseline_seeds == [100, 101]
    assert data.treatment_metrics_dict == {"t": {"acc": [0.95, 0.85]}}
    assert data.treatment_seeds_agg == {"t": [200, 202]}
    assert data.errors == {"baseline_rep_2": err}
    assert data.provenance_runs["baseline"] == {1: [{"step": "s"}]}
    assert aggregator.aggregate_results([]) == AggregateData()


def test_aggregator_builds_a_result_with_crystallize_ml_provenance():
    pipeline = Pipeline([score()])
    aggregator = ResultAggregator(pipeline, replicates=2)
    err = RuntimeError("failed")
    data = AggregateData(
        baseline_metrics={"m": [1, 2]},
        treatment_metrics_dict={"t": {"m": [3, 4]}},
        baseline_seeds=[10, 11],
        treatment_seeds_agg={"t": [20, 21]},
        errors={"t_rep_1": err},
    )
    data.provenance_runs["baseline"][0] = [{"step": "score"}]
    metrics = ExperimentMetrics(
        baseline=TreatmentMetrics(data.baseline_metrics),
        treatments={"t": TreatmentMetrics(data.treatment_metrics_dict["t"])},
    )
    result = aggregator.build_result(metrics, data)
    assert result.metrics is metrics
    assert result.errors["t_rep_1"] is err
    assert result.provenance["pipeline_signature"] == pipeline.signature()
    assert result.provenance["replicates"] == 2
    assert result.provenance["seeds"] == {"baseline": [10, 11], "t": [20, 21]}
    assert result.provenance["ctx_changes"] == {"baseline": {0: [{"step": "score"}]}}


# --- load_metrics / load_all_metrics ---------------------------------------------------------


def test_load_metrics_reads_what_a_run_stored(workdir):
    result = demo_experiment(replicates=3).run()
    version, baseline, treatments = load_metrics(workdir / "data" / "demo")
    assert version == 0
    assert baseline == result.metrics.baseline.metrics
    assert treatments == {"plus_one": result.metrics.treatments["plus_one"].metrics}


def test_apply_leaves_the_stored_metrics_alone(workdir):
    exp = demo_experiment(replicates=3)
    exp.run()
    stored = load_metrics(workdir / "data" / "demo")
    exp.apply()
    assert load_metrics(workdir / "data" / "demo") == stored
    assert not list((workdir / "data" / "demo").glob("**/apply/**/results.json"))


def test_versioned_runs_keep_each_version_metrics(workdir):
    exp = demo_experiment(replicates=2, treatments=[], plugins=[ArtifactPlugin(versioned=True)])
    first = exp.run()
    second = exp.run(treatments=[Treatment("plus_two", {"delta": 2.0})])
    version, baseline, treatments = load_all_metrics(workdir / "data" / "demo")
    assert version == 1 and baseline == second.metrics.baseline.metrics
    assert treatments == {"plus_two": (1, second.metrics.treatments["plus_two"].metrics)}
    assert load_metrics(workdir / "data" / "demo", version=0)[1] == first.metrics.baseline.metrics


def write_results(path: Path, metrics: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics}), encoding="utf-8")


def test_load_metrics_picks_the_latest_or_the_given_version(tmp_path):
    assert load_metrics(tmp_path) == (-1, {}, {})
    write_results(tmp_path / "v0" / "baseline" / "results.json", {"m": [1]})
    write_results(tmp_path / "v10" / "baseline" / "results.json", {"m": [10]})
    write_results(tmp_path / "v10" / "zeta" / "results.json", {"m": [12]})
    write_results(tmp_path / "v10" / "alpha" / "results.json", {"m": [11]})
    (tmp_path / "v10" / "replicate_0").mkdir()  # a folder without results: not a condition
    (tmp_path / "v2x").mkdir()  # not a version
    version, baseline, treatments = load_metrics(tmp_path)
    assert (version, baseline) == (10, {"m": [10]})
    assert list(treatments) == ["alpha", "zeta"]
    assert load_metrics(tmp_path, version=0) == (0, {"m": [1]}, {})


def test_load_all_metrics_takes_each_treatment_from_its_newest_version(tmp_path):
    assert load_all_metrics(tmp_path) == (-1, {}, {})
    write_results(tmp_path / "v0" / "baseline" / "results.json", {"m": [0]})
    write_results(tmp_path / "v0" / "shared" / "results.json", {"m": ["old"]})
    write_results(tmp_path / "v0" / "only_v0" / "results.json", {"m": [0]})
    write_results(tmp_path / "v1" / "baseline" / "results.json", {"m": [1]})
    write_results(tmp_path / "v1" / "shared" / "results.json", {"m": ["new"]})
    version, baseline, treatments = load_all_metrics(tmp_path)
    assert (version, baseline) == (1, {"m": [1]})
    assert treatments == {"only_v0": (0, {"m": [0]}), "shared": (1, {"m": ["new"]})}
    assert load_all_metrics(tmp_path, version=0)[2] == {
        "only_v0": (0, {"m": [0]}),
        "shared": (0, {"m": ["old"]}),
    }


def test_damaged_results_file_is_named(tmp_path):
    bad = tmp_path / "v0" / "baseline" / "results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"results\.json is not valid JSON"):
        load_metrics(tmp_path)


# --- print_tree ----------------------------------------------------------------------------------


def test_print_tree_shows_what_each_step_did(workdir, capsys):
    result = demo_experiment(pipeline=Pipeline([add_note(), score()]), replicates=2).run()
    result.print_tree()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Experiment Summary"
    assert "  Treatment 'baseline'" in lines and "  Treatment 'plus_one'" in lines
    assert "    Replicate 1" in lines
    assert "      Step add_note" in lines
    assert "note='rep1'" in out and "size: [100.0]" in out and "mean: [" in out


def test_print_tree_levels_in_another_order(workdir, capsys):
    result = demo_experiment(pipeline=Pipeline([add_note()]), replicates=1).run()
    result.print_tree("replicate > treatment > step > action")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:4] == ["  Replicate 0", "    Treatment 'baseline'", "      Step add_note"]


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [
        ("treatment > unknown > step", "Invalid format spec"),
        ("", "Invalid format spec"),
        ("action", "Invalid format spec"),
        ("treatment > step", "Invalid format spec"),
        ("treatment > action > replicate > step", "'action' must be the final element"),
    ],
)
def test_print_tree_refuses_bad_formats(fmt, pattern):
    result = Result(metrics=ExperimentMetrics(baseline=TreatmentMetrics({})))
    with pytest.raises(ValueError, match=pattern):
        result.print_tree(fmt)


def test_print_tree_reads_crystallize_ml_step_records(capsys):
    changes = {"reads": {"x": 1}, "wrote": {"k": {"before": None, "after": "v"}}, "metrics": {}}
    provenance = {"ctx_changes": {"t": {0: [{"step": "WriteStep", "ctx_changes": changes}]}}}
    Result(metrics=ExperimentMetrics(baseline=TreatmentMetrics({})), provenance=provenance).print_tree()
    out = capsys.readouterr().out
    assert "Step WriteStep" in out and "x=1" in out and "k: None -> v" in out


# --- to_df / to_parquet --------------------------------------------------------------------------


def two_hypotheses() -> ExperimentMetrics:
    return ExperimentMetrics(
        baseline=TreatmentMetrics({"a": [1.0, 2.0]}, name="baseline"),
        treatments={"t1": TreatmentMetrics({"a": [3.0, 4.0]}), "t2": TreatmentMetrics({"a": ["x"]})},
        hypotheses=[
            HypothesisResult(name="h1", results={"t1": {"p": 0.05}, "t2": {"p": 0.01}}),
            HypothesisResult(name="h2", results={"t1": {"score": 10}}),
        ],
    )


@pytest.mark.skipif(not HAS_PANDAS, reason=NO_PANDAS)
def test_to_df_has_a_row_per_hypothesis_and_treatment():
    frame = two_hypotheses().to_df()
    assert len(frame) == 3
    assert list(frame["hypothesis"]) == ["h1", "h1", "h2"]
    assert list(frame["condition"]) == ["t1", "t2", "t1"]
    assert frame.iloc[2]["score"] == 10


@pytest.mark.skipif(
    not (HAS_PANDAS and HAS_PYARROW), reason=NO_PANDAS.replace("pandas", "pandas or pyarrow", 1)
)
def test_to_parquet_writes_a_row_per_condition_and_metric(tmp_path):
    import pandas

    Result(metrics=two_hypotheses()).to_parquet(tmp_path / "r.parquet")
    frame = pandas.read_parquet(tmp_path / "r.parquet")
    assert list(frame["condition"]) == ["baseline", "t1", "t2"]
    assert list(frame["mean"][:2]) == [1.5, 3.5] and pandas.isna(frame["mean"][2])  # "x" has no mean
    # one non-number: every value is stored as its JSON text, so the column has one type
    assert [json.loads(v) for v in frame["values"][2]] == ["x"]
    assert [json.loads(v) for v in frame["values"][0]] == [1.0, 2.0]


@pytest.mark.skipif(
    not (HAS_PANDAS and HAS_PYARROW), reason=NO_PANDAS.replace("pandas", "pandas or pyarrow", 1)
)
def test_to_parquet_keeps_numbers_as_floats(workdir):
    import pandas

    result = demo_experiment(replicates=2).run()
    result.to_parquet(workdir / "r.parquet")
    frame = pandas.read_parquet(workdir / "r.parquet")
    assert list(frame["condition"]) == ["baseline", "plus_one"] and set(frame["metric"]) == {"mean"}
    assert list(frame["values"][1]) == result.metrics.treatments["plus_one"].metrics["mean"]
    assert frame["mean"][1] == pytest.approx(sum(frame["values"][1]) / 2)


@pytest.mark.skipif(HAS_PANDAS, reason="pandas is installed: the methods work (tested above)")
def test_table_methods_without_pandas_name_the_extra(tmp_path):
    with pytest.raises(ImportError, match=r"crystallize-opt\[dataframes\]"):
        two_hypotheses().to_df()
    with pytest.raises(ImportError, match=r"to_parquet.*crystallize-opt\[dataframes\]"):
        Result(metrics=two_hypotheses()).to_parquet(tmp_path / "r.parquet")
    assert not (tmp_path / "r.parquet").exists()


# --- Hypothesis: crystallize-ml's forms -----------------------------------------------------------


def diff(baseline, treatment):
    key = next(iter(baseline))
    return {"key": key, "diff": sum(treatment[key]) - sum(baseline[key])}


def test_verify_with_two_dicts_returns_the_verifier_output():
    hyp = Hypothesis(verifier=diff, metrics="x")
    assert hyp.verify({"x": [1, 2], "y": [0]}, {"x": [5]}) == {"key": "x", "diff": 2}
    with pytest.raises(MissingMetricError, match="treatment has no metric 'x'"):
        hyp.verify({"x": [1]}, {"y": [2]})
    with pytest.raises(KeyError):  # MissingMetricError is a KeyError too
        hyp.verify({"y": [1]}, {"x": [2]})


def test_grouped_metrics_give_one_output_per_group():
    hyp = Hypothesis(verifier=diff, metrics=[["x"], ["y"]])
    assert hyp.groups == [["x"], ["y"]] and hyp.metrics == ["x", "y"]
    out = hyp.verify({"x": [1], "y": [10]}, {"x": [2], "y": [20]})
    assert out == [{"key": "x", "diff": 1}, {"key": "y", "diff": 10}]


def test_metrics_none_means_every_baseline_metric():
    def keys(baseline, treatment):
        return {"keys": list(baseline)}

    hyp = Hypothesis(verifier=keys)
    assert hyp.metrics == [] and hyp.name == "keys:*"
    assert hyp.verify({"a": [1], "b": [2]}, {"a": [3], "b": [4], "c": [5]}) == {"keys": ["a", "b"]}


def test_metrics_none_in_a_run_reports_a_baseline_without_metrics(workdir):
    exp = demo_experiment(
        pipeline=Pipeline([fail_on(fail_replicates=(0, 1), fail_condition="baseline"), shift(), score()]),
        replicates=2,
        hypotheses=[Hypothesis(welch_t_test(), name="all")],
    )
    hyp = exp.run().get_hypothesis("all")
    assert hyp.results == {} and hyp.ranking["best"] is None
    assert hyp.errors == {"plus_one": "hypothesis 'all': the baseline recorded no metric to test"}


def test_default_name_follows_the_ranker_when_one_is_given():
    def by_gain(result):
        return -result["diff"]

    class Ranker:
        def __call__(self, result):
            return 0.0

    assert Hypothesis(diff, "x", ranker=by_gain).name == "by_gain"
    assert Hypothesis(diff, "x", ranker=Ranker()).name == "hypothesis"
    assert Hypothesis(diff, "x", ranker=by_gain, name="mine").name == "mine"
    assert Hypothesis(diff, "x").name == "diff:x"  # no ranker: the verifier and metrics


def test_a_run_ranks_with_name_score_pairs_and_groups(workdir):
    grouped = Hypothesis(welch_t_test(), metrics=[["mean"], ["size"]], ranker=lambda r: r[0]["p_value"])
    plain = Hypothesis(welch_t_test(), metrics=None, name="all")
    result = demo_experiment(
        pipeline=Pipeline([shift(), add_note(), score()]), hypotheses=[grouped, plain]
    ).run()
    by_group = result.get_hypothesis("<lambda>")
    assert isinstance(by_group.results["plus_one"], list) and len(by_group.results["plus_one"]) == 2
    assert (
        by_group.results["plus_one"][0]["treatment_mean"] > by_group.results["plus_one"][0]["baseline_mean"]
    )
    ((name, score_value),) = by_group.ranking["ranked"]
    assert name == "plus_one" and score_value == by_group.results["plus_one"][0]["p_value"]
    every = result.get_hypothesis("all")
    assert every.metrics == ["size", "mean"]  # what the baseline recorded, in order
    assert every.errors == {} and every.ranking["best"] == "plus_one"


def test_ranking_pairs_survive_the_json_round_trip(workdir):
    result = demo_experiment(hypotheses=[Hypothesis(welch_t_test(), "mean")]).run()
    loaded = Result.from_json(result.to_json())
    assert loaded.metrics.hypotheses[0].ranking["ranked"] == result.metrics.hypotheses[0].ranking["ranked"]
    assert isinstance(loaded.metrics.hypotheses[0].ranking["ranked"][0], tuple)


def test_to_dict_has_crystallize_mls_keys_and_shapes_and_still_round_trips():
    baseline = TreatmentMetrics(metrics={"loss": [0.5, 0.4], "acc": [0.9, 0.92]})
    treated = {"a": TreatmentMetrics(metrics={"loss": [0.3, 0.25], "acc": [0.95, 0.96]})}
    hypotheses = [HypothesisResult(name="check", results={"a": {"improvement": 0.1}}, ranking={"a": 1})]
    result = Result(
        metrics=ExperimentMetrics(baseline=baseline, treatments=treated, hypotheses=hypotheses),
        artifacts={"model": b"binary"},
        errors={"a_rep_1": RuntimeError("boom")},
        provenance={"pipeline_signature": "abc"},
    )
    data = result.to_dict()
    assert {"timestamp", "metrics", "hypotheses", "artifacts", "provenance", "errors"} <= set(data)
    assert data["metrics"]["baseline"]["loss"] == [0.5, 0.4]
    assert data["metrics"]["treatments"]["a"]["acc"] == [0.95, 0.96]
    assert data["hypotheses"][0]["name"] == "check" and data["artifacts"] == ["model"]
    assert data["errors"] == {"a_rep_1": "boom"}
    loaded = Result.from_json(result.to_json())
    assert loaded.timestamp == result.timestamp and "a_rep_1" in loaded.errors
    assert loaded.to_dict()["metrics"] == data["metrics"]
    assert loaded.metrics.treatments["a"].metrics == {"loss": [0.3, 0.25], "acc": [0.95, 0.96]}
