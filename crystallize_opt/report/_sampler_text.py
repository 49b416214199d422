"""The samplers that ran a study, in words, from what crystallize-opt stored about them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from ..records import SamplerHistory


def describe_sampler(study: optuna.Study, settings: Mapping[str, Any]) -> str:
    """The sampler that ran the study, as stored by crystallize-opt (each sampler with its trials
    when the study changed sampler: :class:`~crystallize_opt.records.SamplerHistory`), else the
    loaded one's class.

    Raises:
        RecordError: if the stored sampler history is malformed.
    """
    stored = settings.get("sampler")
    if not (isinstance(stored, Mapping) and stored.get("class")):
        return f"{type(study.sampler).__name__} (of the loaded study object; the sampler that ran it is not recorded)"
    spans = SamplerHistory.from_study(study).spans(stored)
    if len(spans) == 1:
        return _describe_stored_sampler(stored)
    # " | " between spans: a noise check's own description already holds a "; ".
    return " | ".join(
        (f"from trial {first} on: " if last is None else f"trials {first}-{last}: ")
        + _describe_stored_sampler(description or {})
        for first, last, description in spans
    )


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
