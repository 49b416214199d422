"""Verifiers of the study: factories crystallize-ml calls with no arguments."""

import numpy as np
from scipy import stats

from crystallize_opt import verifier


@verifier
def mean_difference(baseline, treatment, alpha: float = 0.05):
    """Welch's t-test of every metric, treatment against baseline."""
    results = {}
    for name in baseline:
        b, t = np.asarray(baseline[name]), np.asarray(treatment[name])
        test = stats.ttest_ind(t, b, equal_var=False)
        results[name] = {"p_value": float(test.pvalue), "significant": bool(test.pvalue < alpha)}
    first = next(iter(results.values()))
    return {**first, "per_metric": results}
