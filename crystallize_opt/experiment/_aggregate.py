"""Collate replicate outcomes into a :class:`~crystallize_opt.Result` (the ResultAggregator)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._constants import BASELINE_CONDITION
from .._version import __version__
from ..context import curve_as_json
from ..hypothesis import Hypothesis
from ..result import ConditionMetrics, ConditionOutcome, ExperimentMetrics, ReplicateError, Result

if TYPE_CHECKING:
    from ._experiment import Experiment


def build_result(
    experiment: Experiment,
    outcomes: Sequence[Sequence[ConditionOutcome]],
    condition_names: Sequence[str],
    hypotheses: Sequence[Hypothesis],
    strategy: str,
) -> Result:
    """Group outcomes by condition, verify the hypotheses and record provenance."""
    by_condition = {name: ConditionMetrics(name) for name in condition_names}
    errors: list[ReplicateError] = []
    artifacts: dict[str, dict[str, list[Path]]] = {}
    ctx_changes: dict[str, dict[int, list[dict[str, Any]]]] = {name: {} for name in condition_names}
    reused: dict[str, list[int]] = {}
    curves: dict[str, dict[int, list[list[Any]]]] = {}
    for replicate_outcomes in outcomes:
        for outcome in replicate_outcomes:
            metrics = by_condition[outcome.condition]
            if outcome.metrics or outcome.error is None:
                metrics.by_replicate[outcome.replicate] = outcome.metrics
            if outcome.seed is not None:
                metrics.seeds[outcome.replicate] = int(outcome.seed)
            if outcome.error is not None:
                metrics.partial.add(outcome.replicate)
                errors.append(outcome.error)
            for name, _step, path in outcome.artifacts:
                artifacts.setdefault(name, {}).setdefault(outcome.condition, []).append(Path(path))
            ctx_changes[outcome.condition][outcome.replicate] = outcome.steps
            if outcome.reused:
                reused.setdefault(outcome.condition, []).append(outcome.replicate)
            if outcome.curve:
                curves.setdefault(outcome.condition, {})[outcome.replicate] = curve_as_json(outcome.curve)
    baseline = by_condition[BASELINE_CONDITION]
    treatments = {name: m for name, m in by_condition.items() if name != BASELINE_CONDITION}
    provenance = {
        "experiment": experiment.name,
        "package_version": __version__,
        "pipeline_signature": experiment.pipeline.signature(),
        "pipeline": experiment.pipeline.describe(),
        "datasource": experiment.datasource.fingerprint(),
        "master_seed": experiment.master_seed,
        "replicates": experiment.replicates,
        "strategy": strategy,
        "seeds": {name: dict(m.seeds) for name, m in by_condition.items()},
        "ctx_changes": ctx_changes,
        "reused": reused,
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
    if curves:  # condition -> replicate -> [[step, value], ...] (ctx.report)
        provenance["curves"] = curves
    experiment_metrics = ExperimentMetrics(
        baseline=baseline,
        treatments=treatments,
        hypotheses=[h.verify(baseline, treatments) for h in hypotheses],
    )
    return Result(metrics=experiment_metrics, errors=errors, provenance=provenance, artifacts=artifacts)
