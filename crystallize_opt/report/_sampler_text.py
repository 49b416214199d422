"""The sampler that ran a study, in words, from what crystallize-opt stored about it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna


def describe_sampler(study: optuna.Study, settings: Mapping[str, Any]) -> str:
    """The sampler that ran the study, as stored by crystallize-opt, else the loaded one's class."""
    stored = settings.get("sampler")
    if isinstance(stored, Mapping) and stored.get("class"):
        return _describe_stored_sampler(stored)
    return f"{type(study.sampler).__name__} (of the loaded study object; the sampler that ran it is not recorded)"


def _describe_stored_sampler(stored: Mapping[str, Any]) -> str:
    """``Class(seed=..., ...)`` of a stored sampler description; a hand-off, a choice by the
    noise check or a no-repeat fallback names both samplers and when each proposes."""
    options = stored.get("settings") or {}
    nested = options.get("samplers")
    if isinstance(nested, list) and len(nested) == 2 and all(isinstance(n, Mapping) for n in nested):
        first, then = (_describe_stored_sampler(n) for n in nested)
        if stored.get("class") == "NoiseCheckSampler":
            return f"for a deterministic pipeline {first}; for a noisy one {then}"
        if stored.get("class") == "NoRepeatSampler":
            return f"{first} ({then} where it would evaluate a point again)"
        return f"{first}, then {then} after {options.get('trials')!r} finished trials"
    shown = [
        f"{k}={v!r}"
        for k, v in options.items()
        if v is not None and k in ("seed", "multivariate", "constant_liar", "n_startup_trials")
    ]
    if options.get("deterministic") is True:  # GPSampler's ``deterministic_objective``, as it keeps it
        shown.append("deterministic_objective=True")
    return f"{stored.get('class')}({', '.join(shown)})"
