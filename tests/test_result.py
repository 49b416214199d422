"""What a run returns: metrics per condition and replicate, errors, hypotheses, provenance,
and the JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crystallize_opt import (
    Artifact,
    Hypothesis,
    Pipeline,
    Result,
    SeedPlugin,
    Treatment,
    data_source,
    replicate_seed,
    welch_t_test,
)

from .engine_fixtures import (
    add_note,
    curve,
    demo_experiment,
    fail_on,
    points,
    record_then_fail,
    save,
    score,
    shift,
)


@data_source
def broken_source(ctx):
    raise OSError("disk unavailable")


def exploding_verifier(baseline, treatment):
    raise ArithmeticError("verifier exploded")


# --- metrics -------------------------------------------------------------------------------


def test_metrics_keep_replicate_boundaries(workdir):
    result = demo_experiment(pipeline=Pipeline([curve()]), replicates=3).run()
    base = result.metrics.baseline
    assert base.replicates == [0, 1, 2]
    assert base.replicate(0) == {"loss": [0.0, 0.5]}
    assert base.replicate(2) == {"loss": [2.0, 2.5]}
    assert base.metrics == {"loss": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]}
    assert base.per_replicate("loss") == {0: 0.25, 1: 1.25, 2: 2.25}
    with pytest.raises(KeyError, match="replicate 7"):
        base.replicate(7)


def test_metrics_by_condition_name(workdir):
    result = demo_experiment(replicates=2).run()
    assert result.metrics.condition("baseline") is result.metrics.baseline
    assert result.metrics.condition("plus_one") is result.metrics.treatments["plus_one"]
    with pytest.raises(KeyError, match="plus_one"):
        result.metrics.condition("nope")


def test_summary_over_complete_replicates(workdir):
    result = demo_experiment(pipeline=Pipeline([curve()]), replicates=3).run()
    summary = result.metrics.baseline.summary("loss")
    assert (
        summary["n"] == 3 and summary["mean"] == pytest.approx(1.25) and summary["std"] == pytest.approx(1.0)
    )


# --- errors and partial replicates ---------------------------------------------------------


def test_errors_carry_condition_replicate_step_and_traceback(workdir):
    exp = demo_experiment(pipeline=Pipeline([shift(), fail_on(fail_replicates=(1,)), score()]), replicates=3)
    result = exp.run()
    assert [(e.condition, e.replicate) for e in result.errors] == [("baseline", 1), ("plus_one", 1)]
    error = result.errors_for("plus_one", 1)[0]
    assert error.step == "fail_on"
    assert error.error_type == "ValueError"
    assert error.message == "planned failure in replicate 1 of plus_one"
    assert "Traceback (most recent call last)" in error.traceback
    assert "in fail_on" in error.traceback and "ValueError: planned failure" in error.traceback
    assert "fail_on" in str(error) and "replicate 1" in str(error)
    assert result.errors_for("plus_one", 0) == []
    assert result.metrics.baseline.replicates == [0, 2]  # replicate 1 recorded nothing


def test_datasource_error_has_no_step(workdir):
    result = demo_experiment(datasource=broken_source(), replicates=1).run()
    error = result.errors_for("baseline")[0]
    assert error.step is None and error.error_type == "OSError" and "disk unavailable" in error.message
    assert "broken_source" in error.traceback


def test_failing_baseline_does_not_skip_the_treatments(workdir):
    exp = demo_experiment(
        pipeline=Pipeline([shift(), fail_on(fail_replicates=(1,), fail_condition="baseline"), score()]),
        replicates=3,
    )
    result = exp.run()
    assert [(e.condition, e.replicate) for e in result.errors] == [("baseline", 1)]
    assert result.metrics.treatments["plus_one"].replicates == [0, 1, 2]
    assert result.metrics.baseline.replicates == [0, 2]


def test_failing_step_keeps_earlier_metrics_marked_partial(workdir):
    result = demo_experiment(pipeline=Pipeline([record_then_fail()]), replicates=3, treatments=[]).run()
    base = result.metrics.baseline
    assert base.replicate(1) == {"before": [1.0]}
    assert base.replicate(0) == {"before": [1.0], "after": [2.0]}
    assert base.partial == {1}
    assert base.per_replicate("before") == {0: 1.0, 2: 1.0}  # partial replicates left out
    assert base.per_replicate("before", complete_only=False) == {0: 1.0, 1: 1.0, 2: 1.0}
    assert base.metrics == {
        "before": [1.0, 1.0],
        "after": [2.0, 2.0],
    }  # flat lists: finished ones, as the reference
    assert result.errors[0].step == "record_then_fail"


def test_hypotheses_use_complete_replicates_only(workdir):
    exp = demo_experiment(
        pipeline=Pipeline([shift(), score(), fail_on(fail_replicates=(2,))]),
        replicates=5,
        hypotheses=[Hypothesis(verifier=welch_t_test(), metrics="mean")],
    )
    verdict = exp.run().metrics.hypotheses[0].get_for_treatment("plus_one")
    assert verdict["n_baseline"] == 4 and verdict["n_treatment"] == 4


def test_verifier_that_raises_is_reported_not_raised(workdir):
    exp = demo_experiment(hypotheses=[Hypothesis(verifier=exploding_verifier, metrics="mean", name="boom")])
    result = exp.run()
    hypothesis = result.get_hypothesis("boom")
    assert hypothesis is not None
    assert hypothesis.results == {}
    assert "ArithmeticError" in hypothesis.errors["plus_one"]
    assert "verifier exploded" in hypothesis.errors["plus_one"]
    assert result.get_hypothesis("other") is None


# --- hypotheses ----------------------------------------------------------------------------


def test_hypothesis_results_are_ranked_best_first(workdir):
    exp = demo_experiment(
        treatments=[
            Treatment("tiny", {"delta": 0.001}),
            Treatment("big", {"delta": 1.0}),
            Treatment("medium", {"delta": 0.2}),
        ],
        replicates=8,
        hypotheses=[Hypothesis(verifier=welch_t_test(), metrics="mean", name="mean_shift")],
    )
    hypothesis = exp.run().get_hypothesis("mean_shift")
    assert [name for name, _ in hypothesis.ranking["ranked"]] == ["big", "medium", "tiny"]
    assert hypothesis.ranking["best"] == "big"
    assert hypothesis.results["big"]["significant"] is True
    assert hypothesis.results["tiny"]["significant"] is False
    assert hypothesis.results["big"]["effect"] == pytest.approx(1.0)


# --- provenance ----------------------------------------------------------------------------


def test_provenance_records_seeds_per_replicate(workdir):
    exp = demo_experiment(plugins=[SeedPlugin(seed=21)], replicates=3)
    result = exp.run()
    seeds = result.provenance["seeds"]
    expected = {r: SeedPlugin(seed=21).replicate_seed(r) for r in range(3)}
    assert expected == {r: replicate_seed(21, r) for r in range(3)} == {0: 21, 1: 31358, 2: 62695}
    assert seeds == {"baseline": expected, "plus_one": expected}
    assert result.metrics.baseline.seeds == expected
    assert result.provenance["master_seed"] == 21


def test_provenance_records_each_steps_context_changes(workdir):
    exp = demo_experiment(pipeline=Pipeline([shift(), add_note(), score()]), replicates=2)
    result = exp.run()
    changes = result.provenance["ctx_changes"]
    assert set(changes) == {"baseline", "plus_one"}
    rep1 = changes["plus_one"][1]
    assert [s["step"] for s in rep1] == ["shift", "add_note", "score"]
    assert rep1[0]["ctx_added"] == {} and rep1[0]["metrics_added"] == {}
    assert rep1[1]["ctx_added"] == {"note": "'rep1'"}
    assert rep1[1]["metrics_added"] == {"size": [100.0]}
    assert rep1[2]["ctx_added"] == {}
    assert rep1[2]["metrics_added"] == {"mean": result.metrics.treatments["plus_one"].replicate(1)["mean"]}


def test_provenance_identifies_the_pipeline_and_run(workdir):
    exp = demo_experiment(replicates=2)
    result = exp.run()
    prov = result.provenance
    assert prov["pipeline_signature"] == exp.pipeline.signature()
    assert prov["pipeline"] == [{"name": "shift", "params": {}}, {"name": "score", "params": {}}]
    assert prov["experiment"] == "demo" and prov["replicates"] == 2 and prov["strategy"] == "rerun"
    assert prov["reused"] == {}
    other = demo_experiment(pipeline=Pipeline([shift(delta=2.0), score()]), replicates=2).run()
    assert other.provenance["pipeline_signature"] != prov["pipeline_signature"]


# --- serialisation -------------------------------------------------------------------------


def _rich_result():
    exp = demo_experiment(
        datasource=points(),
        pipeline=Pipeline(
            [shift(), add_note(), score(), fail_on(fail_replicates=(1,), fail_condition="plus_one")]
        ),
        replicates=3,
        hypotheses=[
            Hypothesis(verifier=welch_t_test(), metrics="mean"),
            Hypothesis(exploding_verifier, "mean"),
        ],
    )
    return exp.run()


def test_json_round_trip_preserves_metrics_errors_and_provenance(workdir):
    result = _rich_result()
    assert result.errors  # the round trip covers errors too
    loaded = Result.from_json(result.to_json())
    assert loaded.metrics.baseline == result.metrics.baseline
    assert loaded.metrics.treatments == result.metrics.treatments
    assert loaded.metrics.treatments["plus_one"].partial == {1}
    assert loaded.errors == result.errors
    assert loaded.provenance == result.provenance
    assert loaded.provenance["seeds"]["baseline"][0] == result.metrics.baseline.seeds[0]
    assert [h.to_dict() for h in loaded.metrics.hypotheses] == [
        h.to_dict() for h in result.metrics.hypotheses
    ]
    assert loaded.to_dict() == result.to_dict()


def test_json_file_round_trip(workdir):
    result = _rich_result()
    path = workdir / "result.json"
    text = result.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text) == json.loads(json.dumps(result.to_dict()))
    for source in (path, str(path)):
        loaded = Result.from_json(source)
        assert loaded.metrics.baseline == result.metrics.baseline
        assert loaded.errors == result.errors


def test_from_json_rejects_other_content(workdir):
    with pytest.raises(ValueError, match="crystallize-opt result"):
        Result.from_json('{"format": "something else"}')
    with pytest.raises(FileNotFoundError):
        Result.from_json(Path("missing.json"))


def test_artifact_paths_survive_the_round_trip(workdir):
    exp = demo_experiment(pipeline=Pipeline([score(), save()]), outputs=[Artifact("out.json")], replicates=2)
    result = exp.run()
    loaded = Result.from_json(result.to_json())
    assert loaded.artifacts == result.artifacts
    assert all(isinstance(p, Path) for p in loaded.artifacts["out.json"]["baseline"])
