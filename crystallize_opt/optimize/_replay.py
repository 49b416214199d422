"""Replay: re-run a stored trial with its treatment and seeds and compare with what was stored."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import OptimizationError
from ..records import TrialRecord
from ..treatment import Treatment
from ._evaluation import TrialEvaluation
from ._loop import Evaluate, to_evaluation
from ._optuna import OptunaOptimizer


@dataclass
class ReplayReport:
    """A stored trial re-run on its own seeds.

    ``matches`` is True when every metric of every replicate came out exactly as stored (the
    check that a study is reproducible); ``differences`` says where not.
    """

    trial_number: int
    treatment: Treatment
    seeds: list[int]
    stored: dict[str, list[Any]]
    replayed: TrialEvaluation
    differences: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.differences


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def compare(stored: dict[str, list[Any]], replayed: dict[str, list[Any]]) -> list[str]:
    """Describe every metric and replicate where ``replayed`` differs from ``stored``."""
    out = [f"metric {m!r} was not recorded on replay" for m in sorted(set(stored) - set(replayed))]
    out += [f"metric {m!r} is new on replay" for m in sorted(set(replayed) - set(stored))]
    for metric in sorted(set(stored) & set(replayed)):
        old, new = stored[metric], replayed[metric]
        if len(old) != len(new):
            out.append(f"metric {metric!r}: {len(old)} stored replicate values, {len(new)} replayed")
            continue
        out += [
            f"metric {metric!r} replicate {i}: stored {a!r}, replayed {b!r}"
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            if not _same(a, b)
        ]
    return out


async def replay_trial(evaluate: Evaluate, optimizer: OptunaOptimizer, trial_number: int) -> ReplayReport:
    """Re-run trial ``trial_number`` of ``optimizer``'s study on its stored seeds.

    Raises:
        OptimizationError: if the trial does not exist or has no stored replicates.
        RecordError: if the trial's record is malformed.
    """
    trials = optimizer.study.get_trials(deepcopy=False)
    frozen = next((t for t in trials if t.number == trial_number), None)
    if frozen is None:
        raise OptimizationError(f"study {optimizer.study.study_name!r} has no trial {trial_number}")
    record = TrialRecord.from_trial(frozen)
    seeds = None if record is None else record.seeds
    replicates = None if record is None else record.replicates
    if record is None or not seeds or replicates is None:
        raise OptimizationError(
            f"trial {trial_number} has no stored replicates to replay (state {frozen.state.name})"
        )
    treatment = optimizer.treatment_for_trial(frozen)
    started = time.perf_counter()
    outcomes = await evaluate(
        treatment, dict(zip(replicates, seeds, strict=True)), f"trials/replay-{trial_number}"
    )
    replayed = to_evaluation(treatment, outcomes, time.perf_counter() - started)
    stored = {k: list(v) for k, v in (record.values or {}).items()}
    return ReplayReport(
        trial_number, treatment, list(seeds), stored, replayed, compare(stored, replayed.values)
    )
