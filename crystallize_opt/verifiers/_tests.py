"""The four ready tests: Welch t, Mann-Whitney U, paired t and Wilcoxon signed-rank.

scipy.stats (about a second to import) is imported by the functions that call it, not here:
importing the package's API, as every worker process does, then costs nothing of it until
a test runs."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ._base import (
    _ROUNDING,
    Array,
    _cohens_d,
    _described,
    _finite,
    _infinite_t,
    _mean,
    _scaled,
    _summary,
    _t_ci,
    _var,
    _Verifier,
)


@dataclass(frozen=True, repr=False)
class WelchTTest(_Verifier):
    """Welch's unequal-variance t-test; build it with :func:`welch_t_test`."""

    name: ClassVar[str] = "welch_t_test"
    paired: ClassVar[bool] = False

    def _test(self, metric: str, x: Array, y: Array) -> dict[str, Any]:
        self._need_two(metric, x, y)
        return self._welch(metric, x, y)


@dataclass(frozen=True, repr=False)
class MannWhitneyU(_Verifier):
    """The Mann-Whitney U test; build it with :func:`mann_whitney_u`."""

    name: ClassVar[str] = "mann_whitney_u"
    paired: ClassVar[bool] = False

    def _test(self, metric: str, x: Array, y: Array) -> dict[str, Any]:
        from scipy import stats

        self._need_two(metric, x, y)
        out = self._welch(metric, x, y)
        del out["df"], out["cohens_d"]
        res = stats.mannwhitneyu(y, x, alternative=self.alternative)
        out["statistic"], out["p_value"] = float(res.statistic), float(res.pvalue)
        (xs, ys), scale = _scaled(x, y)
        out["hodges_lehmann"] = float(np.median(np.subtract.outer(ys, xs))) * scale
        _finite(metric, hodges_lehmann=out["hodges_lehmann"])
        out["rank_biserial"] = 2.0 * out["statistic"] / (len(x) * len(y)) - 1.0
        return out

    def _min_p(self, metric: str, x: Array, y: Array) -> float:
        from scipy import stats

        self._need_two(metric, x, y)
        # U is largest when the treatment holds the top values (ties included as they fall).
        pooled = np.sort(np.concatenate([x, y]))
        low, high = pooled[: len(x)], pooled[len(x) :]
        if self.alternative == "less":
            low, high = pooled[len(y) :], pooled[: len(y)]
        return float(stats.mannwhitneyu(high, low, alternative=self.alternative).pvalue)

    def _unreachable(self, metric: str, x: Array, y: Array, min_p: float) -> str:
        if np.ptp(np.concatenate([x, y])) == 0:  # no replicate count helps here
            return (
                f"{self.name} cannot reach p < {self.alpha:g} on metric {metric!r}: every value, baseline "
                "and treatment, is the same, so there is nothing to rank"
            )
        return super()._unreachable(metric, x, y, min_p)


@dataclass(frozen=True)
class _Pairs:
    """Paired values scaled by ``scale`` (see :func:`_scaled`) and their differences ``y - x``."""

    n: int
    x: Array
    y: Array
    d: Array
    scale: float
    mean_d: float
    sd_d: float

    @classmethod
    def of(cls, name: str, metric: str, x: Array, y: Array) -> _Pairs:
        n = len(x)
        if n != len(y):
            raise ValueError(
                f"metric {metric!r}: {name} needs paired values of equal length, got {n} baseline and {len(y)} treatment"
            )
        if n < 2:
            raise ValueError(f"metric {metric!r}: {name} needs at least 2 pairs, got {n}")
        (xs, ys), scale = _scaled(x, y)
        d = ys - xs
        peak = max(float(np.max(np.abs(xs))), float(np.max(np.abs(ys))))
        if np.ptp(d) <= _ROUNDING * peak:  # equal up to rounding: the same noise on both sides
            level = _mean(d) if abs(_mean(d)) > _ROUNDING * peak else 0.0
            d = np.full(n, level)
        return cls(n, xs, ys, d, scale, _mean(d), math.sqrt(_var(d)))

    def summary(self, metric: str, statistic: float, p_value: float, alpha: float) -> dict[str, Any]:
        """The common result keys, with a paired-t CI of the mean difference (None without spread)."""
        n = self.n
        out: dict[str, Any] = {"statistic": statistic, "p_value": p_value, "n_baseline": n, "n_treatment": n}
        out["n_pairs"] = n
        ci = _t_ci(self.mean_d, self.sd_d / math.sqrt(n), float(n - 1), alpha)
        out.update(_summary(metric, self.scale, (_mean(self.x), _mean(self.y), self.mean_d), ci))
        why = f"all {n} paired differences are equal (up to rounding): no spread"
        _described(out, "mean paired difference (treatment - baseline)", "paired t", alpha, why)
        return {**out, "cohens_d": _cohens_d(self.mean_d, self.sd_d)}


@dataclass(frozen=True, repr=False)
class PairedTTest(_Verifier):
    """The paired t-test on treatment - baseline differences; build it with :func:`paired_t_test`."""

    name: ClassVar[str] = "paired_t_test"
    paired: ClassVar[bool] = True

    def _test(self, metric: str, x: Array, y: Array) -> dict[str, Any]:
        from scipy import stats

        pairs = _Pairs.of(self.name, metric, x, y)
        if pairs.sd_d == 0.0:
            statistic, p_value = _infinite_t(pairs.mean_d, self.alternative)
        else:
            with warnings.catch_warnings():  # nearly equal differences: scipy warns, the result holds
                warnings.simplefilter("ignore", RuntimeWarning)
                res = stats.ttest_rel(pairs.y, pairs.x, alternative=self.alternative)
            statistic, p_value = float(res.statistic), float(res.pvalue)
        return {**pairs.summary(metric, statistic, p_value, self.alpha), "df": float(pairs.n - 1)}

    def _min_p(self, metric: str, x: Array, y: Array) -> float:
        _Pairs.of(self.name, metric, x, y)
        return 0.0


@dataclass(frozen=True, repr=False)
class WilcoxonSignedRank(_Verifier):
    """The Wilcoxon signed-rank test on paired differences; build it with :func:`wilcoxon_signed_rank`."""

    name: ClassVar[str] = "wilcoxon_signed_rank"
    paired: ClassVar[bool] = True

    def _test(self, metric: str, x: Array, y: Array) -> dict[str, Any]:
        from scipy import stats

        pairs = _Pairs.of(self.name, metric, x, y)
        statistic, p_value = 0.0, 1.0  # all differences zero
        if np.any(pairs.d):
            res = stats.wilcoxon(pairs.d, alternative=self.alternative)
            statistic, p_value = float(res.statistic), float(res.pvalue)
        return pairs.summary(metric, statistic, p_value, self.alpha)

    def _min_p(self, metric: str, x: Array, y: Array) -> float:
        from scipy import stats

        d = _Pairs.of(self.name, metric, x, y).d
        if not np.any(d):
            return 1.0
        # Every difference in the tested direction; scipy picks exact, permutation or normal
        # approximation from the ties and zeros of |d|, as it does for the test itself.
        extreme = -np.abs(d) if self.alternative == "less" else np.abs(d)
        return float(stats.wilcoxon(extreme, alternative=self.alternative).pvalue)

    def _unreachable(self, metric: str, x: Array, y: Array, min_p: float) -> str:
        if not np.any(_Pairs.of(self.name, metric, x, y).d):  # no replicate count helps here
            return (
                f"{self.name} cannot reach p < {self.alpha:g} on metric {metric!r}: every paired "
                "difference is zero (the treatment equals the baseline), so there is nothing to test"
            )
        return super()._unreachable(metric, x, y, min_p)

    def _sizes(self, metric: str, x: Array, y: Array) -> str:
        zeros = int(np.count_nonzero(_Pairs.of(self.name, metric, x, y).d == 0))
        return f"{len(x)} pairs" + (f" ({zeros} with zero difference, which it drops)" if zeros else "")
