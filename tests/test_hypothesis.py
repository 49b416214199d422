"""Tests of Hypothesis: input building, pairing, error reporting, ranking, pickling."""

from __future__ import annotations

import logging
import math
import pickle

import numpy as np
import pytest
from scipy import stats

from crystallize_opt.exceptions import ConfigurationError
from crystallize_opt.hypothesis import Hypothesis, p_value_ranker
from crystallize_opt.result import ConditionMetrics, HypothesisResult
from crystallize_opt.verifiers import mann_whitney_u, welch_t_test, wilcoxon_signed_rank

LOGGER = "crystallize_opt.hypothesis"


def condition(name, values, partial=(), metric="m", order=None):
    """A condition whose replicate i recorded ``values[i]`` (a number or a list) for ``metric``."""
    reps = order if order is not None else range(len(values))
    by_rep = {i: {metric: v if isinstance(v, list) else [v]} for i, v in ((i, values[i]) for i in reps)}
    return ConditionMetrics(name, by_replicate=by_rep, partial=set(partial))


class Recorder:
    """A verifier that records what it was given (module level, so it pickles)."""

    def __init__(self, paired=False):
        self.paired = paired
        self.calls = []

    def __call__(self, baseline, treatment):
        self.calls.append((baseline, treatment))
        return {"p_value": 0.5}


def boom(baseline, treatment):
    raise RuntimeError("kaboom")


def first_metric_mean(result):
    return -result["treatment_mean"]


# --- construction ---------------------------------------------------------------------------


def test_default_name_and_fields():
    h = Hypothesis(welch_t_test(), ["acc", "loss"])
    assert h.name == "welch_t_test:acc+loss"
    assert h.metrics == ["acc", "loss"]
    assert h.ranker is p_value_ranker
    assert Hypothesis(welch_t_test(), "acc").metrics == ["acc"]
    assert Hypothesis(boom, "acc").name == "boom:acc"
    assert Hypothesis(Recorder(), "acc").name == "Recorder:acc"
    assert Hypothesis(welch_t_test(), "acc", name="mine").name == "mine"


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"verifier": 3, "metrics": "m"}, "verifier=3 is not callable"),
        ({"metrics": ""}, "metrics contains"),
        ({"metrics": []}, r"metrics=\[\] is invalid"),
        ({"metrics": ["a", ""]}, "metrics contains"),
        ({"metrics": ["a", 1]}, "metrics contains"),
        ({"metrics": 5}, "metrics=5 is invalid"),
        ({"metrics": ["a", "b", "a"]}, r"repeats \['a'\]"),
        ({"metrics": "m", "ranker": "p"}, "ranker='p' is not callable"),
        ({"metrics": "m", "name": ""}, "name='' is invalid"),
    ],
)
def test_constructor_validation(kwargs, pattern):
    kwargs.setdefault("verifier", welch_t_test())
    with pytest.raises(ConfigurationError, match=pattern):
        Hypothesis(**kwargs)


# --- inputs -----------------------------------------------------------------------------------


def test_unpaired_inputs_are_replicate_means_of_complete_replicates():
    rec = Recorder()
    base = condition("baseline", [[1.0, 3.0], 5.0, [100.0]], partial=[2])
    treat = condition("t", [[2.0, 4.0, 6.0], 7.0])
    Hypothesis(rec, "m").verify(base, {"t": treat})
    assert rec.calls == [({"m": [2.0, 5.0]}, {"m": [4.0, 7.0]})]


def test_unpaired_result_matches_scipy_on_replicate_means():
    base = condition("baseline", [[1.0, 2.0], 2.0, 1.5, 1.2])
    treat = condition("t", [3.0, [2.5, 3.5], 2.8])
    out = Hypothesis(welch_t_test(), "m").verify(base, {"t": treat})
    ref = stats.ttest_ind([3.0, 3.0, 2.8], [1.5, 2.0, 1.5, 1.2], equal_var=False)
    assert out.results["t"]["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert out.errors == {}


def test_paired_inputs_align_by_replicate_index():
    base_vals = [1.0, 2.0, 3.5, 4.0, 5.5, 6.0]
    treat_vals = [1.4, 2.9, 3.6, 5.1, 6.0, 7.2]
    # replicates stored in shuffled order; baseline replicate 3 partial, treatment lacks replicate 5
    base = condition("baseline", [*base_vals, 0.0], partial=[3], order=[4, 0, 6, 3, 2, 5, 1])
    base.by_replicate[6] = {"other": [1.0]}  # replicate 6 did not record "m"
    treat = condition("t", treat_vals, order=[3, 1, 4, 0, 2])
    h = Hypothesis(wilcoxon_signed_rank(), "m")
    rec = Recorder(paired=True)
    Hypothesis(rec, "m").verify(base, {"t": treat})
    aligned = [0, 1, 2, 4]
    assert rec.calls == [({"m": [base_vals[i] for i in aligned]}, {"m": [treat_vals[i] for i in aligned]})]
    out = h.verify(base, {"t": treat}).results["t"]
    ref = stats.wilcoxon([treat_vals[i] - base_vals[i] for i in aligned])
    assert out["p_value"] == pytest.approx(ref.pvalue)
    assert out["statistic"] == pytest.approx(ref.statistic)
    assert out["n_pairs"] == 4


def test_unpaired_verifier_is_not_aligned():
    rec = Recorder(paired=False)
    base = condition("baseline", [1.0, 2.0, 3.0])
    treat = condition("t", [10.0, 20.0, 30.0], partial=[0])
    Hypothesis(rec, "m").verify(base, {"t": treat})
    assert rec.calls == [({"m": [1.0, 2.0, 3.0]}, {"m": [20.0, 30.0]})]


# --- errors -----------------------------------------------------------------------------------


def test_metric_nobody_recorded_is_reported_for_every_treatment(caplog):
    base = ConditionMetrics("baseline", by_replicate={0: {"loss": [1.0], "acc": [0.5]}})
    treats = {
        "a": ConditionMetrics("a", by_replicate={0: {"acc": [0.6]}}),
        "b": ConditionMetrics("b", by_replicate={0: {"time": [3.0], "gone": []}}),
    }
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        res = Hypothesis(welch_t_test(), ["f1", "acc"], name="h").verify(base, treats)
    assert set(res.errors) == {"a", "b"} and res.results == {}
    for message in res.errors.values():
        assert "'h'" in message and "['f1']" in message
        assert "recorded metrics: ['acc', 'loss', 'time']" in message
    assert res.ranking == {"ranked": [], "best": None, "scores": {}}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "f1" in errors[0].getMessage()


def test_metric_missing_on_one_side():
    base = condition("baseline", [1.0, 2.0, 3.0])
    treats = {
        "has": condition("has", [2.0, 3.0, 4.0]),
        "lacks": condition("lacks", [2.0, 3.0, 4.0], metric="x"),
    }
    res = Hypothesis(welch_t_test(), "m").verify(base, treats)
    assert "has" in res.results and "lacks" not in res.results
    assert "treatment 'lacks' did not record metric 'm'" in res.errors["lacks"]
    res = Hypothesis(welch_t_test(), "x").verify(base, treats)
    assert "the baseline did not record metric 'x'" in res.errors["lacks"]
    assert "treatment 'has' did not record metric 'x'" in res.errors["has"]
    assert "treatment 'lacks'" not in res.errors["lacks"]  # it did record 'x'


def test_verifier_error_is_reported_not_raised(caplog):
    base = condition("baseline", [1.0, 2.0, 3.0])
    treats = {"one": condition("one", [2.0]), "good": condition("good", [2.0, 3.0, 4.5])}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        res = Hypothesis(welch_t_test(), "m").verify(base, treats)
    assert res.errors["one"].startswith("ValueError: metric 'm'")
    assert "got 3 baseline and 1 treatment" in res.errors["one"]
    assert list(res.results) == ["good"] and [name for name, _ in res.ranking["ranked"]] == ["good"]
    assert any("one" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    res = Hypothesis(boom, "m").verify(base, treats)
    assert res.errors == {"one": "RuntimeError: kaboom", "good": "RuntimeError: kaboom"}
    assert res.ranking["best"] is None


def test_several_non_numeric_values_in_a_replicate_are_an_error():
    base = condition("baseline", [1.0, 2.0, 3.0])
    treats = {"text": condition("text", [1.0, ["high", "low"], 2.0]), "ok": condition("ok", [2.0, 3.0, 4.0])}
    res = Hypothesis(welch_t_test(), "m").verify(base, treats)
    assert "cannot average" in res.errors["text"] and "'high'" in res.errors["text"]
    assert list(res.results) == ["ok"]


def test_a_value_recorded_once_that_is_no_number_reaches_the_verifier_as_recorded():
    # crystallize-ml hands recorded values on, e.g. an array of samples per replicate for a
    # scipy test; numbers are still given as floats (a replicate's mean).
    samples = [np.array([0.1, 0.4]) + r for r in range(3)]
    recorder = Recorder()
    base = condition("baseline", samples)
    Hypothesis(recorder, "m").verify(base, {"t": condition("t", [1, 2, 3])})
    ((got_base, got_treat),) = recorder.calls
    assert all(got is given for got, given in zip(got_base["m"], samples, strict=True))
    assert got_treat["m"] == [1.0, 2.0, 3.0] and all(type(v) is float for v in got_treat["m"])
    treats = {"t": condition("t", [s + 1 for s in samples])}
    res = Hypothesis(pooled_t_test, "m").verify(base, treats)
    assert not res.errors and 0 < res.results["t"]["p_value"] < 1


def pooled_t_test(baseline, treatment):
    """A user's verifier over per-replicate sample arrays (pooled), as in crystallize-ml's docs."""
    b, t = np.concatenate(baseline["m"]), np.concatenate(treatment["m"])
    return {"p_value": float(stats.ttest_ind(t, b, equal_var=False).pvalue)}


def test_non_mapping_verifier_output_is_an_error():
    res = Hypothesis(lambda b, t: 0.3, "m").verify(condition("baseline", [1.0]), {"t": condition("t", [2.0])})
    assert "expected a mapping" in res.errors["t"] and res.results == {}


# --- ranking ----------------------------------------------------------------------------------


def ranked_setup():
    base = condition("baseline", [1.0, 1.1, 0.9, 1.05, 0.95])
    treats = {
        "small": condition("small", [1.2, 1.3, 1.0, 1.25, 1.1]),
        "broken": condition("broken", [1.0]),
        "big": condition("big", [2.0, 2.2, 1.9, 2.1, 2.05]),
        "none": condition("none", [1.0, 1.1, 0.9, 1.05, 0.95]),
    }
    return base, treats


def test_default_ranking_by_p_value():
    base, treats = ranked_setup()
    res = Hypothesis(welch_t_test(), "m").verify(base, treats)
    assert [name for name, _ in res.ranking["ranked"]] == ["big", "small", "none"]
    assert res.ranking["best"] == "big"
    assert set(res.ranking["scores"]) == {"big", "small", "none"}
    assert res.ranking["scores"]["none"] == 1.0
    assert res.ranking["scores"]["big"] == res.results["big"]["p_value"]
    # crystallize-ml's shape: (name, score) pairs, best first
    assert res.ranking["ranked"][0] == ("big", res.results["big"]["p_value"])


def test_custom_ranker_and_stable_ties():
    base, treats = ranked_setup()
    res = Hypothesis(mann_whitney_u(), "m", ranker=first_metric_mean).verify(base, treats)
    assert [name for name, _ in res.ranking["ranked"]] == ["big", "small", "none"]
    res = Hypothesis(Recorder(), "m").verify(base, treats)  # every p_value is 0.5: a tie
    assert [name for name, _ in res.ranking["ranked"]] == ["small", "broken", "big", "none"]


def test_p_value_ranker():
    assert p_value_ranker({"p_value": 0.2}) == 0.2
    assert p_value_ranker({"p_value": math.nan}) == math.inf
    assert p_value_ranker({}) == math.inf
    assert p_value_ranker({"p_value": None}) == math.inf


def test_failing_or_nan_ranker_ranks_last():
    base, treats = ranked_setup()
    del treats["broken"]

    def ranker(result):
        if result["treatment_mean"] > 1.5:
            raise KeyError("nope")
        return math.nan if result["treatment_mean"] < 1.05 else 0.1

    res = Hypothesis(welch_t_test(), "m", ranker=ranker).verify(base, treats)
    assert [name for name, _ in res.ranking["ranked"]] == ["small", "big", "none"]
    assert res.ranking["scores"] == {"small": 0.1, "big": math.inf, "none": math.inf}
    assert "ranker failed" in res.errors["big"] and "big" in res.results


# --- serialisation ----------------------------------------------------------------------------


def test_pickle_round_trip():
    h = Hypothesis(wilcoxon_signed_rank(alpha=0.1, alternative="less"), ["m"])
    clone = pickle.loads(pickle.dumps(h))
    assert clone.name == h.name and clone.metrics == h.metrics
    assert clone.ranker is p_value_ranker and clone.verifier == h.verifier
    base, treats = ranked_setup()
    del treats["broken"]
    assert clone.verify(base, treats).to_dict() == h.verify(base, treats).to_dict()


def test_result_round_trips_through_dict():
    base, treats = ranked_setup()
    res = Hypothesis(welch_t_test(), "m").verify(base, treats)
    again = HypothesisResult.from_dict(res.to_dict())
    assert again.results == res.results and again.errors == res.errors and again.ranking == res.ranking


def test_a_test_that_cannot_reach_alpha_is_warned_about_in_the_result_and_the_log(caplog):
    base = condition("baseline", [1.0, 2.0, 3.0, 4.0, 5.0])
    treat = condition("t", [3.1, 4.2, 5.3, 6.4, 7.5])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = Hypothesis(wilcoxon_signed_rank(), "m").verify(base, {"t": treat})
    warning = out.results["t"]["warnings"][0]
    assert "cannot reach p < 0.05 on metric 'm' with 5 pairs" in warning
    assert f"hypothesis 'wilcoxon_signed_rank:m', treatment 't': {warning}" in caplog.messages

    caplog.clear()
    ten = [float(i) for i in range(10)]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = Hypothesis(wilcoxon_signed_rank(), "m").verify(
            condition("baseline", ten), {"t": condition("t", [v + 2.0 + 0.1 * v * v for v in ten])}
        )
    assert out.results["t"]["warnings"] == [] and out.results["t"]["significant"] is True
    assert caplog.messages == []
