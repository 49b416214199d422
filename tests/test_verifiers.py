"""Tests of the ready scipy-based verifiers."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from crystallize_opt.exceptions import ConfigurationError
from crystallize_opt.verifiers import (
    MannWhitneyU,
    WelchTTest,
    WilcoxonSignedRank,
    ci_text,
    holm_adjust,
    mann_whitney_u,
    paired_t_test,
    welch_t_test,
    wilcoxon_signed_rank,
)

BASE = [1.2, 0.8, 1.1, 0.95, 1.3, 1.05, 0.9]
TREAT = [1.6, 1.4, 1.75, 1.2, 1.5, 1.35, 1.8]
ALTS = ["two-sided", "less", "greater"]
FACTORIES = [welch_t_test, mann_whitney_u, wilcoxon_signed_rank]
COMMON_KEYS = {
    "test",
    "metric",
    "statistic",
    "p_value",
    "significant",
    "alpha",
    "alternative",
    "n_baseline",
    "n_treatment",
    "baseline_mean",
    "treatment_mean",
    "effect",
    "ci_low",
    "ci_high",
}


# --- factories -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "cls", "name", "paired"),
    [
        (welch_t_test, WelchTTest, "welch_t_test", False),
        (mann_whitney_u, MannWhitneyU, "mann_whitney_u", False),
        (wilcoxon_signed_rank, WilcoxonSignedRank, "wilcoxon_signed_rank", True),
    ],
)
def test_factory_attributes_repr_and_pickle(factory, cls, name, paired):
    v = factory(alpha=0.01, alternative="greater")
    assert isinstance(v, cls)
    assert v.name == name
    assert v.paired is paired
    assert repr(v) == f"{name}(alpha=0.01, alternative='greater')"
    clone = pickle.loads(pickle.dumps(v))
    assert clone == v and clone is not v
    assert clone({"m": BASE}, {"m": TREAT}) == v({"m": BASE}, {"m": TREAT})


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, math.nan, "0.05", True, None, np.float32(2.0)])
def test_invalid_alpha_rejected(factory, alpha):
    with pytest.raises(ConfigurationError, match=r"alpha=.*strictly between 0 and 1"):
        factory(alpha=alpha)


@pytest.mark.parametrize("factory", FACTORIES)
def test_numpy_alpha_accepted_as_plain_float(factory):
    v = factory(alpha=np.float32(0.25))
    assert type(v.alpha) is float and v.alpha == 0.25


@pytest.mark.parametrize("factory", FACTORIES)
def test_invalid_alternative_rejected(factory):
    with pytest.raises(ConfigurationError, match=r"alternative='bigger'.*'two-sided', 'less', 'greater'"):
        factory(alternative="bigger")


# --- p-values equal scipy's --------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ALTS)
def test_welch_matches_scipy(alternative):
    out = welch_t_test(alternative=alternative)({"m": BASE}, {"m": TREAT})
    ref = stats.ttest_ind(TREAT, BASE, equal_var=False, alternative=alternative)
    assert out["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert out["df"] == pytest.approx(ref.df, rel=1e-12)
    assert out["significant"] == (ref.pvalue < 0.05)
    assert out.keys() >= COMMON_KEYS
    assert out["metric"] == "m" and out["test"] == "welch_t_test" and out["alternative"] == alternative
    assert out["n_baseline"] == 7 and out["n_treatment"] == 7


@pytest.mark.parametrize("alternative", ALTS)
def test_mann_whitney_matches_scipy(alternative):
    out = mann_whitney_u(alternative=alternative)({"m": BASE}, {"m": TREAT})
    ref = stats.mannwhitneyu(TREAT, BASE, alternative=alternative)
    assert out["statistic"] == pytest.approx(ref.statistic)
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert out.keys() >= COMMON_KEYS


@pytest.mark.parametrize("alternative", ALTS)
def test_wilcoxon_matches_scipy(alternative):
    out = wilcoxon_signed_rank(alternative=alternative)({"m": BASE}, {"m": TREAT})
    ref = stats.wilcoxon(np.subtract(TREAT, BASE), alternative=alternative)
    assert out["statistic"] == pytest.approx(ref.statistic)
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert out["n_pairs"] == 7
    assert out.keys() >= COMMON_KEYS


def test_direction_of_alternative_is_treatment_versus_baseline():
    greater = welch_t_test(alternative="greater")({"m": BASE}, {"m": TREAT})
    less = welch_t_test(alternative="less")({"m": BASE}, {"m": TREAT})
    assert greater["p_value"] < 0.001 < 0.999 < less["p_value"]
    assert greater["statistic"] > 0 and greater["effect"] > 0


# --- effect sizes and confidence intervals ------------------------------------------------------


def test_welch_ci_and_cohens_d_by_hand():
    x, y = np.array(BASE), np.array(TREAT)
    a, b = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    df = (a + b) ** 2 / (a**2 / (len(x) - 1) + b**2 / (len(y) - 1))
    half = stats.t.ppf(0.95, df) * math.sqrt(a + b)  # alpha=0.1 -> 90% CI
    diff = y.mean() - x.mean()
    out = welch_t_test(alpha=0.1)({"m": BASE}, {"m": TREAT})
    assert out["effect"] == pytest.approx(diff, rel=1e-12)
    assert out["baseline_mean"] == pytest.approx(x.mean()) and out["treatment_mean"] == pytest.approx(
        y.mean()
    )
    assert out["ci_low"] == pytest.approx(diff - half, rel=1e-12)
    assert out["ci_high"] == pytest.approx(diff + half, rel=1e-12)
    pooled = math.sqrt((6 * x.var(ddof=1) + 6 * y.var(ddof=1)) / 12)
    assert out["cohens_d"] == pytest.approx(diff / pooled, rel=1e-12)


def test_wilcoxon_paired_t_ci_and_cohens_d_by_hand():
    d = np.subtract(TREAT, BASE)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    out = wilcoxon_signed_rank()({"m": BASE}, {"m": TREAT})
    assert out["effect"] == pytest.approx(d.mean(), rel=1e-12)
    assert out["ci_low"] == pytest.approx(d.mean() - half, rel=1e-12)
    assert out["ci_high"] == pytest.approx(d.mean() + half, rel=1e-12)
    assert out["cohens_d"] == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-12)


def test_mann_whitney_effects():
    out = mann_whitney_u()({"m": [1.0, 2.0, 3.0]}, {"m": [2.5, 10.0]})
    # pairwise differences t - b: 1.5, 0.5, -0.5, 9, 8, 7 -> median 4.25
    assert out["hodges_lehmann"] == pytest.approx(4.25)
    # U of the treatment: pairs with t > b: 2.5>1, 2.5>2, and 10 beats all three -> 5 of 6
    assert out["statistic"] == pytest.approx(5.0)
    assert out["rank_biserial"] == pytest.approx(2 * 5 / 6 - 1)
    assert out["effect"] == pytest.approx(6.25 - 2.0)
    welch = welch_t_test()({"m": [1.0, 2.0, 3.0]}, {"m": [2.5, 10.0]})
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((welch["ci_low"], welch["ci_high"]))
    reverse = mann_whitney_u()({"m": [2.5, 10.0]}, {"m": [1.0, 2.0, 3.0]})
    assert reverse["rank_biserial"] == pytest.approx(-out["rank_biserial"])


@pytest.mark.parametrize("factory", [welch_t_test, wilcoxon_signed_rank])
def test_ci_coverage_close_to_nominal(factory):
    rng = np.random.default_rng(12345)
    shift, alpha, runs = 0.7, 0.1, 400
    verifier = factory(alpha=alpha)
    hits = 0
    for _ in range(runs):
        base = rng.normal(0.0, 1.0, size=8)
        if verifier.paired:  # correlated pairs, as replicates sharing a seed would be
            treat = base + shift + rng.normal(0.0, 0.5, size=8)
        else:
            treat = rng.normal(shift, 2.0, size=6)
        out = verifier({"m": base.tolist()}, {"m": treat.tolist()})
        hits += out["ci_low"] <= shift <= out["ci_high"]
    # binomial sd at 400 runs is 0.015: allow ~4 sd either side of 0.9
    assert 0.84 <= hits / runs <= 0.96


# --- several metrics --------------------------------------------------------------------------


def test_holm_adjust():
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([0.2]) == [0.2]


def test_several_metrics_are_holm_adjusted():
    base = {"a": BASE, "b": [1.0, 2.0, 3.0, 4.0]}
    treat = {"a": TREAT, "b": [1.5, 2.5, 2.0, 4.5]}
    out = welch_t_test()(base, treat)
    assert set(out) >= {"test", "per_metric", "p_value", "significant", "alpha"}
    assert list(out["per_metric"]) == ["a", "b"]
    p_a, p_b = out["per_metric"]["a"]["p_value"], out["per_metric"]["b"]["p_value"]
    assert p_a == pytest.approx(stats.ttest_ind(TREAT, BASE, equal_var=False).pvalue)
    assert out["p_value"] == pytest.approx(min(1.0, 2 * min(p_a, p_b)))
    assert out["per_metric"]["b"]["p_value_holm"] == pytest.approx(max(2 * p_a, p_b))
    assert out["significant"] is True and out["per_metric"]["b"]["significant"] is False


def test_holm_can_remove_significance():
    # p just under alpha alone, but doubled by Holm for two metrics
    x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    y = [v + 2.5 for v in x]
    p = stats.ttest_ind(y, x, equal_var=False).pvalue
    assert 0.025 < p < 0.05
    out = welch_t_test()({"a": x, "b": x}, {"a": y, "b": y})
    assert out["per_metric"]["a"]["significant"] is True
    assert out["significant"] is False and out["p_value"] == pytest.approx(2 * p)


def test_result_is_json_serialisable_plain_types():
    for factory in FACTORIES:
        out = factory()({"a": BASE, "b": TREAT}, {"a": TREAT, "b": BASE})
        assert json.loads(json.dumps(out, allow_nan=False)) == out
        for value in out["per_metric"]["a"].values():
            assert type(value) in (str, float, int, bool, type(None)) or (
                type(value) is list and all(type(v) is str for v in value)
            ), value


# --- degenerate input -------------------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
def test_identical_constant_samples(factory):
    out = factory()({"m": [0.1, 0.1, 0.1]}, {"m": [0.1, 0.1, 0.1]})
    assert out["p_value"] == 1.0 and out["significant"] is False
    assert out["statistic"] == (4.5 if factory is mann_whitney_u else 0.0)  # MWU: all-ties U = 3*3/2
    assert out["effect"] == 0.0 and out["ci_low"] is None and out["ci_high"] is None
    assert "no spread" in out["ci_note"]


def test_constant_samples_of_different_sizes_are_not_significant():
    # scipy reports p ~ 0.29 here: rounding makes the means differ by one ulp
    out = welch_t_test()({"m": [0.1] * 3}, {"m": [0.1] * 5})
    assert (out["statistic"], out["p_value"], out["effect"], out["cohens_d"]) == (0.0, 1.0, 0.0, 0.0)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # from the scipy reference call
@pytest.mark.parametrize(("alternative", "p"), [("two-sided", 0.0), ("greater", 0.0), ("less", 1.0)])
def test_different_constant_samples(alternative, p):
    out = welch_t_test(alternative=alternative)({"m": [1.0, 1.0]}, {"m": [2.0, 2.0, 2.0]})
    ref = stats.ttest_ind([2.0, 2.0, 2.0], [1.0, 1.0], equal_var=False, alternative=alternative)
    assert out["statistic"] == math.inf == ref.statistic
    assert out["p_value"] == p == ref.pvalue
    assert out["effect"] == 1.0 and out["ci_low"] is None and out["ci_high"] is None
    assert out["ci_note"] == "both samples are constant: no spread"


@pytest.mark.parametrize("alternative", ALTS)
def test_wilcoxon_all_zero_differences(alternative):
    out = wilcoxon_signed_rank(alternative=alternative)({"m": [1.0, 2.0, 3.0]}, {"m": [1.0, 2.0, 3.0]})
    assert (out["statistic"], out["p_value"], out["significant"]) == (0.0, 1.0, False)
    assert out["cohens_d"] == 0.0 and out["effect"] == 0.0


@pytest.mark.parametrize(
    ("factory", "base", "treat", "pattern"),
    [
        (welch_t_test, [1.0], [1.0, 2.0], r"metric 'm'.*at least 2 values.*got 1 baseline and 2 treatment"),
        (mann_whitney_u, [1.0, 2.0], [], r"metric 'm'.*got 2 baseline and 0 treatment"),
        (wilcoxon_signed_rank, [1.0], [2.0], r"metric 'm'.*at least 2 pairs, got 1"),
        (wilcoxon_signed_rank, [1.0, 2.0, 3.0], [1.0, 2.0], r"metric 'm'.*equal length.*3 baseline and 2"),
        (welch_t_test, [1.0, math.nan], [1.0, 2.0], r"metric 'm': baseline values contain NaN or inf"),
        (mann_whitney_u, [1.0, 2.0], [1.0, -math.inf], r"metric 'm': treatment values contain NaN"),
        (welch_t_test, [1.0, "x"], [1.0, 2.0], r"metric 'm': baseline values are not numbers"),
        (welch_t_test, [1.0, 2.0], [[1.0], [2.0]], r"metric 'm': treatment values must be a flat"),
        (welch_t_test, [-1e308, -1e308], [1e308, 1e308], r"metric 'm'.*too large.*overflow"),
    ],
)
def test_bad_values_raise_value_error(factory, base, treat, pattern):
    with pytest.raises(ValueError, match=pattern):
        factory()({"m": base}, {"m": treat})


def test_mismatched_or_no_metrics_raise_value_error():
    with pytest.raises(ValueError, match=r"baseline lacks \['b'\], treatment lacks \[\]"):
        welch_t_test()({"a": BASE}, {"a": TREAT, "b": TREAT})
    with pytest.raises(ValueError, match="no metrics"):
        welch_t_test()({}, {})


def test_huge_but_finite_values_do_not_overflow():
    base, treat = [1e200, 2e200, 3e200], [4e200, 5e200, 7e200]
    out = welch_t_test()({"m": base}, {"m": treat})
    ref = stats.ttest_ind(np.divide(treat, 1e200), np.divide(base, 1e200), equal_var=False)
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert out["effect"] == pytest.approx(10e200 / 3)
    assert math.isfinite(out["ci_low"]) and out["ci_low"] < out["effect"] < out["ci_high"]


# --- properties -------------------------------------------------------------------------------

any_floats = st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=8)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=300, deadline=None)
@given(
    factory=st.sampled_from(FACTORIES),
    alternative=st.sampled_from(ALTS),
    base=any_floats,
    treat=any_floats,
)
def test_only_value_error_and_p_in_unit_interval(factory, alternative, base, treat):
    try:
        out = factory(alternative=alternative)({"m": base}, {"m": treat})
    except ValueError:
        return
    assert 0.0 <= out["p_value"] <= 1.0
    assert out["significant"] == (out["p_value"] < 0.05)
    assert out["min_p_value"] <= out["p_value"]
    assert bool(out["warnings"]) == (out["min_p_value"] >= 0.05)
    if out["ci_low"] is None:
        assert out["ci_high"] is None and out["ci_note"]
    else:
        assert out["ci_low"] <= out["effect"] <= out["ci_high"] and out["ci_note"] is None
    assert all(not isinstance(v, float) or not math.isnan(v) for v in out.values())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=150, deadline=None)
@given(base=st.lists(finite, min_size=2, max_size=10), treat=st.lists(finite, min_size=2, max_size=10))
def test_welch_equals_scipy_on_non_constant_data(base, treat):
    if len(set(base)) < 2 or len(set(treat)) < 2:
        return
    out = welch_t_test()({"m": base}, {"m": treat})
    # The p-value does not depend on the scale; scipy loses precision at extreme magnitudes
    # (e.g. values near 1e-85), so the reference is computed on data scaled to order one.
    scale = max(abs(v) for v in base + treat)
    ref = stats.ttest_ind([v / scale for v in treat], [v / scale for v in base], equal_var=False)
    if math.isnan(ref.pvalue):  # scipy's variance underflowed (subnormal values); ours is rescaled
        assert 0.0 <= out["p_value"] <= 1.0
        return
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    if out["cohens_d"] != 0.0:  # sign of the effect matches the sign of the statistic
        assert math.copysign(1.0, out["cohens_d"]) == math.copysign(1.0, out["statistic"])


# --- the smallest reachable p-value -------------------------------------------------------------


def _continuous(n_base: int, n_treat: int, shift: float) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(n_base * 100 + n_treat)
    base = rng.normal(size=max(n_base, n_treat))
    return base[:n_base].tolist(), (base[:n_treat] + shift + 0.3 * rng.normal(size=n_treat)).tolist()


@pytest.mark.parametrize(
    ("factory", "alternative", "n_base", "n_treat", "min_p"),
    [
        (wilcoxon_signed_rank, "two-sided", 5, 5, 2 / 2**5),  # the quickstart's old design
        (wilcoxon_signed_rank, "two-sided", 6, 6, 2 / 2**6),
        (wilcoxon_signed_rank, "two-sided", 10, 10, 2 / 2**10),
        (wilcoxon_signed_rank, "greater", 4, 4, 1 / 2**4),
        (wilcoxon_signed_rank, "less", 5, 5, 1 / 2**5),
        (mann_whitney_u, "two-sided", 3, 3, 2 / math.comb(6, 3)),
        (mann_whitney_u, "two-sided", 3, 4, 2 / math.comb(7, 3)),
        (mann_whitney_u, "two-sided", 5, 5, 2 / math.comb(10, 5)),
        (mann_whitney_u, "greater", 3, 3, 1 / math.comb(6, 3)),
        (welch_t_test, "two-sided", 2, 2, 0.0),
        (paired_t_test, "two-sided", 2, 2, 0.0),
    ],
)
def test_min_p_value_and_the_warning_when_alpha_is_out_of_reach(factory, alternative, n_base, n_treat, min_p):
    verifier = factory(alternative=alternative)
    # A large effect in the tested direction: the most extreme arrangement, so p is the minimum.
    base, treat = _continuous(n_base, n_treat, -10.0 if alternative == "less" else 10.0)
    out = verifier({"loss": base}, {"loss": treat})
    assert verifier.min_p_value(base, treat) == out["min_p_value"] == pytest.approx(min_p, rel=1e-12)
    if min_p > 0.0:
        assert out["p_value"] == pytest.approx(min_p, rel=1e-9)  # the bound is what the test computes
    if min_p >= 0.05:
        assert out["significant"] is False
        sizes = f"{n_base} pairs" if verifier.paired else f"{n_base} baseline and {n_treat} treatment values"
        assert out["warnings"] == [
            f"{verifier.name} cannot reach p < 0.05 on metric 'loss' with {sizes}: the smallest p-value it "
            f"can return is {min_p:.4g}, so the result is not significant whatever the effect; add "
            "replicates or choose a test that suits them"
        ]
    else:
        assert out["warnings"] == []


def test_min_p_value_follows_the_alpha_and_ties_and_zeros_as_the_test_does():
    base, treat = _continuous(5, 5, 10.0)
    assert wilcoxon_signed_rank(alpha=0.1)({"m": base}, {"m": treat})["warnings"] == []
    # Tied and zero differences: scipy leaves the exact test; the bound follows it.
    base = [0.0] * 7
    treat = [1.0, 1.0, 2.0, 2.0, 3.0, 0.0, 4.0]
    out = wilcoxon_signed_rank()({"m": base}, {"m": treat})
    reference = stats.wilcoxon(treat, alternative="two-sided").pvalue
    assert out["p_value"] == out["min_p_value"] == pytest.approx(reference)
    # Mann-Whitney with ties across the samples: scipy's asymptotic p of the most separated split.
    base, treat = [1.0, 2.0, 2.0, 3.0], [3.0, 4.0, 4.0, 5.0]
    out = mann_whitney_u()({"m": base}, {"m": treat})
    assert out["min_p_value"] == pytest.approx(stats.mannwhitneyu(treat, base).pvalue)


def test_the_warning_says_when_no_replicate_count_would_help():
    out = wilcoxon_signed_rank()({"m": [1.0, 2.0, 3.0]}, {"m": [1.0, 2.0, 3.0]})
    assert out["min_p_value"] == 1.0
    assert out["warnings"] == [
        "wilcoxon_signed_rank cannot reach p < 0.05 on metric 'm': every paired difference is zero "
        "(the treatment equals the baseline), so there is nothing to test"
    ]
    out = mann_whitney_u()({"m": [2.0] * 4}, {"m": [2.0] * 4})
    assert out["min_p_value"] == 1.0
    assert out["warnings"] == [
        "mann_whitney_u cannot reach p < 0.05 on metric 'm': every value, baseline and treatment, is "
        "the same, so there is nothing to rank"
    ]
    # Zero differences are dropped by the test: 7 pairs, 2 of them non-zero.
    out = wilcoxon_signed_rank()({"m": [1.0] * 7}, {"m": [1.0] * 5 + [2.0, 3.0]})
    assert out["min_p_value"] == pytest.approx(0.5)
    assert (
        "with 7 pairs (5 with zero difference, which it drops): the smallest p-value it can return is 0.5"
        in (out["warnings"][0])
    )


def test_holm_over_several_metrics_warns_when_the_adjusted_p_is_out_of_reach():
    base, treat = _continuous(6, 6, 10.0)
    out = wilcoxon_signed_rank()({"a": base, "b": base}, {"a": treat, "b": treat})
    assert out["per_metric"]["a"]["warnings"] == [] and out["per_metric"]["a"]["min_p_value"] == 1 / 32
    assert out["min_p_value"] == 2 / 32 and out["significant"] is False
    assert out["warnings"] == [
        "wilcoxon_signed_rank cannot reach a Holm-adjusted p < 0.05 over 2 metrics: the smallest adjusted "
        "p-value it can return is 0.0625, so the result is not significant whatever the effects; add "
        "replicates or test fewer metrics"
    ]
    base, treat = _continuous(7, 7, 10.0)
    assert wilcoxon_signed_rank()({"a": base, "b": base}, {"a": treat, "b": treat})["warnings"] == []


# --- the confidence interval ---------------------------------------------------------------------


@pytest.mark.parametrize("factory", [wilcoxon_signed_rank, paired_t_test])
def test_paired_differences_equal_up_to_rounding_give_no_interval(factory):
    # The quickstart's case: the same seeded noise on both sides of a pair cancels up to the last bit.
    noise = np.random.default_rng(0).normal(scale=0.3, size=10)
    base, treat = (1.9 + noise).tolist(), (0.0 + noise).tolist()
    assert len(set(np.subtract(treat, base).tolist())) > 1  # not exactly equal
    out = factory()({"loss": base}, {"loss": treat})
    assert out["effect"] == pytest.approx(-1.9)
    assert out["ci_low"] is None and out["ci_high"] is None
    assert out["ci_note"] == "all 10 paired differences are equal (up to rounding): no spread"
    assert out["cohens_d"] == -math.inf  # not -6e15 from rounding noise
    assert ci_text(out) == "no CI: all 10 paired differences are equal (up to rounding): no spread"
    if factory is paired_t_test:
        assert (out["statistic"], out["p_value"]) == (-math.inf, 0.0)


def test_rounding_noise_around_zero_is_no_effect():
    noise = np.random.default_rng(1).normal(scale=0.3, size=8)
    base, treat = (0.7 + noise).tolist(), ((noise + 0.1) + 0.6).tolist()
    assert any(np.subtract(treat, base))  # rounding: not all exactly zero
    for factory in (wilcoxon_signed_rank, paired_t_test):
        out = factory()({"m": base}, {"m": treat})
        assert (out["effect"], out["p_value"], out["significant"]) == (0.0, 1.0, False)


@pytest.mark.parametrize(
    ("factory", "label", "method"),
    [
        (welch_t_test, "difference of means (treatment - baseline)", "Welch t"),
        (mann_whitney_u, "difference of means (treatment - baseline)", "Welch t"),
        (wilcoxon_signed_rank, "mean paired difference (treatment - baseline)", "paired t"),
        (paired_t_test, "mean paired difference (treatment - baseline)", "paired t"),
    ],
)
def test_varying_data_give_a_real_labelled_interval(factory, label, method):
    out = factory(alpha=0.1)({"m": BASE}, {"m": TREAT})
    assert out["ci_low"] < out["effect"] < out["ci_high"] and out["ci_note"] is None
    assert (out["effect_label"], out["ci_method"], out["ci_level"]) == (label, method, 0.9)
    assert ci_text(out) == f"90% CI [{out['ci_low']:.6g}, {out['ci_high']:.6g}]"


def test_ci_text_reads_results_stored_before_the_new_keys():
    old = {"alpha": 0.05, "effect": -1.0, "ci_low": -1.5, "ci_high": -0.5}
    assert ci_text(old) == "95% CI [-1.5, -0.5]"
    assert ci_text(old, digits=2) == "95% CI [-1.5, -0.5]"
    assert ci_text({"ci_low": None}) == "no CI: not computed"
