"""A study-specific verifier factory: does the treatment's mean exceed the baseline's by a margin?

A verifier name in config.yaml refers to a factory called with the hypothesis' ``params``. The
verifier it returns travels to worker processes with the experiment, so it is built from a
module-level function (a closure would not pickle).
"""

from functools import partial
from statistics import fmean


def _exceeds(baseline, treatment, margin):
    worst = min(fmean(treatment[m]) - fmean(baseline[m]) for m in baseline)
    return {"effect": worst, "p_value": 0.0 if worst > margin else 1.0, "significant": worst > margin}


def shifted_more(margin: float = 0.0):
    return partial(_exceeds, margin=margin)
