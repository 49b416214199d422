"""What every verifier shares: input checks, the run over one or several metrics (Holm), the
smallest reachable p-value and its warning, and the interval of the effect (:func:`ci_text`).

scipy.stats (about a second to import) is imported by the functions that call it, not here:
importing the package's API, as every worker process does, then costs nothing of it until
a test runs."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ..exceptions import ConfigurationError

ALTERNATIVES = ("two-sided", "less", "greater")

Array = npt.NDArray[np.float64]

# Relative spread below which paired differences count as equal. 1e-12 is ~4500 ulps: above the
# rounding error of a replicate mean of a few thousand values, far below any measured variation.
_ROUNDING = 1e-12


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Return the Holm-Bonferroni adjusted p-values, in the order of ``p_values`` (each <= 1)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _as_values(metric: str, side: str, values: Sequence[float]) -> Array:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metric {metric!r}: {side} values are not numbers ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"metric {metric!r}: {side} values must be a flat sequence of numbers")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"metric {metric!r}: {side} values contain NaN or infinity at positions {bad.tolist()}"
        )
    return arr


def _scaled(*arrays: Array) -> tuple[list[Array], float]:
    """Divide by a power of two (exact, no rounding) so that sums of squares cannot overflow."""
    peak = max(float(np.max(np.abs(a))) for a in arrays)
    scale = 1.0 if peak == 0.0 else math.ldexp(1.0, math.frexp(peak)[1] - 1)
    return [a / scale for a in arrays], scale


def _mean(a: Array) -> float:
    return float(a[0]) if np.ptp(a) == 0 else float(np.mean(a))


def _var(a: Array) -> float:
    return 0.0 if np.ptp(a) == 0 else float(np.var(a, ddof=1))


def _finite(metric: str, **values: float) -> None:
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"metric {metric!r}: values too large in magnitude to compute {key} (overflow)")


def _t_ci(estimate: float, se: float, df: float, alpha: float) -> tuple[float, float] | None:
    """The two-sided ``1 - alpha`` t-interval, or None when ``se`` is zero (no spread, no interval)."""
    from scipy import stats

    if se == 0.0:
        return None
    half = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
    return estimate - half, estimate + half


def _infinite_t(diff: float, alternative: str) -> tuple[float, float]:
    """Statistic and p-value when the standard error is zero (both samples constant)."""
    if diff == 0.0:
        return 0.0, 1.0
    p = {"two-sided": 0.0, "greater": 0.0 if diff > 0 else 1.0, "less": 0.0 if diff < 0 else 1.0}
    return math.copysign(math.inf, diff), p[alternative]


def _cohens_d(diff: float, sd: float) -> float:
    if sd == 0.0:
        return 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return diff / sd


@dataclass(frozen=True, repr=False)
class _Verifier:
    alpha: float = 0.05
    alternative: str = "two-sided"

    name: ClassVar[str] = "verifier"
    paired: ClassVar[bool] = False

    def __post_init__(self) -> None:
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha < 1.0:
            raise ConfigurationError(
                f"{self.name}: alpha={alpha!r} is invalid; expected a number strictly between 0 and 1"
            )
        if self.alternative not in ALTERNATIVES:
            raise ConfigurationError(
                f"{self.name}: alternative={self.alternative!r} is invalid; expected one of {list(ALTERNATIVES)}"
            )
        object.__setattr__(self, "alpha", float(alpha))

    def __repr__(self) -> str:
        return f"{self.name}(alpha={self.alpha!r}, alternative={self.alternative!r})"

    def __call__(
        self,
        baseline_metrics: Mapping[str, Sequence[float]],
        treatment_metrics: Mapping[str, Sequence[float]],
    ) -> dict[str, Any]:
        """Test every metric of ``treatment_metrics`` against the same metric of ``baseline_metrics``.

        Returns:
            The result dict described in the module docstring (one metric: flat; several:
            ``per_metric`` plus Holm-adjusted ``p_value``/``significant``).

        Raises:
            ValueError: if the two sides hold different metrics or none, or a metric's values
                are unusable (too few, NaN/inf, non-numeric, unequal lengths when paired).
        """
        names = list(baseline_metrics)
        missing_t = [m for m in names if m not in treatment_metrics]
        missing_b = [m for m in treatment_metrics if m not in baseline_metrics]
        if missing_t or missing_b:
            raise ValueError(
                f"{self.name}: both sides need the same metrics; baseline lacks {missing_b}, "
                f"treatment lacks {missing_t}"
            )
        if not names:
            raise ValueError(f"{self.name}: no metrics given")
        per_metric: dict[str, dict[str, Any]] = {}
        for metric in names:
            x = _as_values(metric, "baseline", baseline_metrics[metric])
            y = _as_values(metric, "treatment", treatment_metrics[metric])
            out: dict[str, Any] = {"test": self.name, "metric": metric}
            out.update(self._test(metric, x, y))
            out.update(alpha=self.alpha, alternative=self.alternative)
            out["significant"] = bool(out["p_value"] < self.alpha)
            out["min_p_value"] = self._min_p(metric, x, y)
            out["warnings"] = []
            if out["min_p_value"] >= self.alpha:
                out["warnings"].append(self._unreachable(metric, x, y, out["min_p_value"]))
            per_metric[metric] = out
        if len(names) == 1:
            return per_metric[names[0]]
        adjusted = holm_adjust([per_metric[m]["p_value"] for m in names])
        for metric, p_adj in zip(names, adjusted, strict=True):
            per_metric[metric]["p_value_holm"] = p_adj
        # Holm multiplies the smallest p-value by the number of metrics.
        min_p = min(1.0, len(names) * min(per_metric[m]["min_p_value"] for m in names))
        notes = [w for m in names for w in per_metric[m]["warnings"]]
        if min_p >= self.alpha and len(notes) < len(names):
            notes.append(
                f"{self.name} cannot reach a Holm-adjusted p < {self.alpha:g} over {len(names)} metrics: "
                f"the smallest adjusted p-value it can return is {min_p:.4g}, so the result is not "
                "significant whatever the effects; add replicates or test fewer metrics"
            )
        return {
            "test": self.name,
            "per_metric": per_metric,
            "p_value": min(adjusted),
            "significant": bool(min(adjusted) < self.alpha),
            "alpha": self.alpha,
            "alternative": self.alternative,
            "correction": "holm",
            "min_p_value": min_p,
            "warnings": notes,
        }

    def min_p_value(self, baseline: Sequence[float], treatment: Sequence[float]) -> float:
        """The smallest p-value this test can return for samples like ``baseline`` and ``treatment``.

        The p-value of the most extreme arrangement of these values (every rank, sign or
        difference in the tested direction), computed as the test computes it, so ties and zero
        differences count as they do in the test. ``min_p_value >= alpha`` means that the test
        cannot be significant, whatever the effect. For the t-tests it is 0.0 (a large enough
        effect reaches any p-value); for the rank tests it depends on the sample sizes: with
        distinct values, scipy's exact Wilcoxon test on n pairs (n <= 50) reaches ``2 / 2**n``
        two-sided (``1 / 2**n`` one-sided: 5 pairs give 0.0625 and 0.03125), and its exact
        Mann-Whitney test (no ties, a sample of 8 or fewer) ``2 / C(n_b + n_t, n_t)``
        (one-sided ``1 / C(...)``).

        Raises:
            ValueError: for values the test itself rejects (see the module docstring).
        """
        x = _as_values("values", "baseline", baseline)
        y = _as_values("values", "treatment", treatment)
        return self._min_p("values", x, y)

    def _min_p(self, metric: str, x: Array, y: Array) -> float:
        self._need_two(metric, x, y)
        return 0.0

    def _unreachable(self, metric: str, x: Array, y: Array, min_p: float) -> str:
        """The warning for ``min_p >= alpha``: the sizes that limit the test, and what helps."""
        sizes = self._sizes(metric, x, y)
        return (
            f"{self.name} cannot reach p < {self.alpha:g} on metric {metric!r} with {sizes}: the "
            f"smallest p-value it can return is {min_p:.4g}, so the result is not significant "
            "whatever the effect; add replicates or choose a test that suits them"
        )

    def _sizes(self, metric: str, x: Array, y: Array) -> str:
        return f"{len(x)} pairs" if self.paired else f"{len(x)} baseline and {len(y)} treatment values"

    def _test(self, metric: str, x: Array, y: Array) -> dict[str, Any]:
        raise NotImplementedError

    def _need_two(self, metric: str, x: Array, y: Array) -> None:
        if len(x) < 2 or len(y) < 2:
            raise ValueError(
                f"metric {metric!r}: {self.name} needs at least 2 values on each side, "
                f"got {len(x)} baseline and {len(y)} treatment"
            )

    def _welch(self, metric: str, x: Array, y: Array) -> dict[str, Any]:
        """Counts, means, Welch-Satterthwaite CI, Welch t and p-value, df, pooled-sd Cohen's d."""
        from scipy import stats

        (xs, ys), scale = _scaled(x, y)
        nx, ny = len(xs), len(ys)
        mx, my, vx, vy = _mean(xs), _mean(ys), _var(xs), _var(ys)
        diff = my - mx
        a, b = vx / nx, vy / ny
        se = math.sqrt(a + b)
        if se == 0.0:
            statistic, p_value, df = *_infinite_t(diff, self.alternative), float(nx + ny - 2)
        else:
            wa, wb = a / (a + b), b / (a + b)
            df = 1.0 / (wa * wa / (nx - 1) + wb * wb / (ny - 1))
            with np.errstate(over="ignore"):  # a tiny standard error may overflow t to +/-inf
                res = stats.ttest_ind(ys, xs, equal_var=False, alternative=self.alternative)
            statistic, p_value = float(res.statistic), float(res.pvalue)
            if math.isnan(p_value):  # scipy's variance underflowed where ours did not
                statistic, p_value = _infinite_t(diff, self.alternative)
        pooled = math.sqrt(((nx - 1) * vx + (ny - 1) * vy) / (nx + ny - 2))
        out: dict[str, Any] = {
            "statistic": statistic,
            "p_value": p_value,
            "n_baseline": nx,
            "n_treatment": ny,
        }
        out.update(_summary(metric, scale, (mx, my, diff), _t_ci(diff, se, df, self.alpha)))
        label = "difference of means (treatment - baseline)"
        _described(out, label, "Welch t", self.alpha, "both samples are constant: no spread")
        return {**out, "df": df, "cohens_d": _cohens_d(diff, pooled)}


def _summary(
    metric: str, scale: float, means: tuple[float, float, float], ci: tuple[float, float] | None
) -> dict[str, float | None]:
    """Undo the scaling of means, effect and CI; raise ValueError if any of them overflows."""
    keys = ("baseline_mean", "treatment_mean", "effect")
    out: dict[str, float | None] = {key: value * scale for key, value in zip(keys, means, strict=True)}
    out["ci_low"], out["ci_high"] = (None, None) if ci is None else (ci[0] * scale, ci[1] * scale)
    _finite(metric, **{key: value for key, value in out.items() if value is not None})
    return out


def _described(out: dict[str, Any], label: str, method: str, alpha: float, no_spread: str) -> dict[str, Any]:
    """Add ``effect_label``, ``ci_method``, ``ci_level`` and ``ci_note`` (``no_spread`` without a CI)."""
    out.update(effect_label=label, ci_method=method, ci_level=1.0 - alpha)
    out["ci_note"] = no_spread if out["ci_low"] is None else None
    return out


def _real(value: Any) -> float:
    """``value`` as a float if it is a number (not a bool), else NaN."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def ci_text(result: Mapping[str, Any], digits: int = 6) -> str:
    """``"95% CI [a, b]"`` (``digits`` significant digits), or ``"no CI: <ci_note>"``.

    The one rendering of a verifier result's interval for people. Reads ``ci_low``, ``ci_high``,
    ``ci_level`` (else ``1 - alpha``) and ``ci_note``; results stored before these keys existed
    read as before. Never raises.
    """
    low, high = _real(result.get("ci_low")), _real(result.get("ci_high"))
    if math.isnan(low) or math.isnan(high):
        return f"no CI: {result.get('ci_note') or 'not computed'}"
    level = _real(result.get("ci_level"))
    if math.isnan(level):
        level = 1.0 - _real(result.get("alpha"))
    head = f"{100 * level:.4g}% CI" if math.isfinite(level) else "CI"
    return f"{head} [{low:.{digits}g}, {high:.{digits}g}]"
