"""Ready statistical verifiers for :class:`~crystallize_opt.hypothesis.Hypothesis`, built on scipy.

A verifier is a callable ``verifier(baseline_metrics, treatment_metrics) -> dict``; each mapping
holds metric name -> values (one value per replicate). ``alternative`` always reads "treatment
versus baseline": ``"greater"`` tests whether the treatment is larger.

For one metric the result is a JSON-serialisable dict with ``test``, ``metric``, ``statistic``,
``p_value``, ``significant`` (``p_value < alpha``), ``alpha``, ``alternative``, ``n_baseline``,
``n_treatment``, ``baseline_mean``, ``treatment_mean``, ``effect`` and ``ci_low``/``ci_high`` (a
two-sided ``1 - alpha`` confidence interval of ``effect``), plus test-specific keys. Beyond the
reference API, every result also has:

* ``effect_label``: what ``effect`` and the interval are of, e.g. ``"mean paired difference
  (treatment - baseline)"``; ``ci_method`` (``"Welch t"``, ``"paired t"``) and ``ci_level``
  (``1 - alpha``);
* ``ci_note``: None, or why there is no interval: when the data have no spread (both samples
  constant, or paired differences that are all equal up to rounding), ``ci_low`` and ``ci_high``
  are None instead of an interval of width zero;
* ``min_p_value``: the smallest p-value the test can return for these sample sizes (and the
  data's ties and zero differences), from the verifier's :meth:`~_Verifier.min_p_value`;
* ``warnings``: a list of messages, empty unless something makes the result hard to read; it
  says so when ``min_p_value >= alpha``: the test cannot be significant whatever the effect.

:func:`ci_text` renders the interval (or its absence) for people; the CLI, the selection
summary and the report all use it. For several metrics the result is ``{"test", "per_metric":
{metric: dict}, "p_value", "significant", "alpha", "alternative", "correction": "holm",
"min_p_value", "warnings"}``: ``p_value`` is the smallest Holm-adjusted p-value, ``significant``
whether any adjusted p-value is below ``alpha``, and each per-metric dict gains ``p_value_holm``
(its own ``significant`` stays unadjusted); ``min_p_value`` is the smallest adjusted p-value
reachable and ``warnings`` collects the per-metric ones.

Degenerate data gives a defined outcome instead of scipy's NaN:

* both samples constant (every value equal) with the same value, or paired differences that are
  all zero: ``statistic`` 0.0, ``p_value`` 1.0, ``significant`` False (Mann-Whitney reports its
  all-ties U, ``n_baseline * n_treatment / 2``, with scipy's p-value 1.0);
* both samples constant with different values (t-based tests): ``statistic`` is +/-inf and the
  p-value is 0.0 or 1.0 depending on the direction and ``alternative``, as scipy reports it.
  A constant sample is recognised by its values being equal, not by a computed variance, so
  rounding noise in the mean cannot make equal constants look different. Paired differences
  count as equal when their spread is within floating-point rounding (``_ROUNDING`` of the
  largest value): the same noise added to both sides of a pair cancels only up to the last bit.

Too few values, NaN or infinite values, non-numeric values, unequal lengths for the paired test,
or values so large that the statistics overflow raise :class:`ValueError` naming the metric.
"""

from __future__ import annotations

from ._base import ALTERNATIVES, ci_text, holm_adjust
from ._decorator import VerifierCallable, verifier
from ._tests import MannWhitneyU, PairedTTest, WelchTTest, WilcoxonSignedRank

__all__ = [
    "ALTERNATIVES",
    "MannWhitneyU",
    "PairedTTest",
    "VerifierCallable",
    "WelchTTest",
    "WilcoxonSignedRank",
    "ci_text",
    "holm_adjust",
    "mann_whitney_u",
    "paired_t_test",
    "verifier",
    "welch_t_test",
    "wilcoxon_signed_rank",
]


def paired_t_test(alpha: float = 0.05, alternative: str = "two-sided") -> PairedTTest:
    """Return a picklable paired t-test verifier (``scipy.stats.ttest_rel`` of treatment vs baseline).

    Paired: index i of both sequences is the same replicate seed. The result has the keys listed
    in the module docstring (``effect``: mean paired difference treatment - baseline, with a
    paired-t CI) plus ``n_pairs``, ``df`` and ``cohens_d`` (mean difference over the sd of the
    differences). Differences that are all equal (up to rounding) give ``statistic`` +/-inf and
    p-value 0.0 (or 0.0 and 1.0 when they are all zero), as for the other t-based tests, and no
    CI (None, with ``ci_note``).

    Raises:
        ConfigurationError: as :func:`welch_t_test`.
    """
    return PairedTTest(alpha, alternative)


def welch_t_test(alpha: float = 0.05, alternative: str = "two-sided") -> WelchTTest:
    """Return a picklable Welch's unequal-variance t-test verifier (``scipy.stats.ttest_ind``).

    Its result has the keys listed in the module docstring (``effect``: difference of means, with
    a Welch-Satterthwaite CI) plus ``df`` and ``cohens_d`` (mean difference over the pooled sd).

    Raises:
        ConfigurationError: if ``alpha`` is not in (0, 1) or ``alternative`` is not one of
            ``"two-sided"``, ``"less"``, ``"greater"``.
    """
    return WelchTTest(alpha, alternative)


def mann_whitney_u(alpha: float = 0.05, alternative: str = "two-sided") -> MannWhitneyU:
    """Return a picklable Mann-Whitney U verifier (``scipy.stats.mannwhitneyu``).

    Its result has the keys listed in the module docstring (``statistic``: U of the treatment;
    ``effect``: difference of means, with a Welch CI) plus ``hodges_lehmann`` (median of all
    differences treatment_i - baseline_j) and ``rank_biserial`` (in [-1, 1], > 0 when the
    treatment tends to be larger).

    Raises:
        ConfigurationError: as :func:`welch_t_test`.
    """
    return MannWhitneyU(alpha, alternative)


def wilcoxon_signed_rank(alpha: float = 0.05, alternative: str = "two-sided") -> WilcoxonSignedRank:
    """Return a picklable Wilcoxon signed-rank verifier (``scipy.stats.wilcoxon`` of treatment - baseline).

    Paired: a metric's two sequences must have equal length, index i of both being replicate i.
    Zero differences are dropped by the rank test (scipy's default ``zero_method="wilcox"``). The
    result has the keys listed in the module docstring (``effect``: mean paired difference, with a
    paired-t CI, None when the differences are all equal) plus ``n_pairs`` and ``cohens_d`` (mean
    difference over the sd of the differences). Its ``min_p_value`` is the p-value of the
    differences' absolute values all in the tested direction, as scipy computes it (exact test,
    exact permutation test with ties or zeros up to 13 pairs, else the normal approximation).

    Raises:
        ConfigurationError: as :func:`welch_t_test`.
    """
    return WilcoxonSignedRank(alpha, alternative)
