"""Reading what a run stored, through the public records (as the CLI and the report do)."""

from __future__ import annotations

from optuna.trial import FrozenTrial

from crystallize_opt import TrialRecord


def record_of(trial: FrozenTrial) -> TrialRecord:
    """``trial``'s crystallize-opt record; fails the test when the trial has none."""
    record = TrialRecord.from_trial(trial)
    assert record is not None, f"trial {trial.number} has no crystallize-opt record"
    return record
