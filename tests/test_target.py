"""The exact target of a shared study, for a worker whose counts are stale (a multi-process
run hits this only by timing: tests/test_workers.py saw 13 complete trials of 12 about one run
in three)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from crystallize_opt.optimize._target import TrialTarget
from crystallize_opt.storage import resolve_storage


def test_a_trial_beyond_the_target_is_given_up_even_when_the_worker_last_read_few_finished(
    tmp_path: Path,
) -> None:
    storage = resolve_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    target = TrialTarget(poll_interval=60.0, grace_period=120.0, max_retries=1)
    # This worker read the counts when nothing had finished (its estimate: 0 finished)...
    assert target.shared_counts(study, storage, 12, force=True) == (0, 0)
    for _ in range(12):  # ...then the other workers finished the study's 12 trials.
        trial = study.ask()
        study.tell(trial, 1.0)
    late = study.ask()
    assert late.number == 12
    assert target.give_up_if_surplus(study, storage, late, 12)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states.count(TrialState.COMPLETE) == 12 and states[-1] == TrialState.FAIL


def test_a_trial_below_the_target_runs(tmp_path: Path) -> None:
    storage = resolve_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    target = TrialTarget(poll_interval=60.0, grace_period=120.0, max_retries=1)
    assert not target.give_up_if_surplus(study, storage, study.ask(), 1)


def test_after_giving_up_the_worker_waits_instead_of_asking_again(tmp_path: Path) -> None:
    storage = resolve_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    target = TrialTarget(poll_interval=60.0, grace_period=120.0, max_retries=1)
    assert target.next_action(study, storage, 12, rounds_done=0) == "ask"  # reads: 0 finished
    for _ in range(11):
        study.tell(study.ask(), 1.0)
    running = study.ask()  # another worker's trial 11, still running
    late = study.ask()
    assert target.give_up_if_surplus(study, storage, late, 12)
    # Its last read said 0 finished, within the poll interval; the give-up's read says 11 + 1 running.
    assert target.next_action(study, storage, 12, rounds_done=1) == "wait"
    study.tell(running, 1.0)
    assert target.next_action(study, storage, 12, rounds_done=2) == "stop"
