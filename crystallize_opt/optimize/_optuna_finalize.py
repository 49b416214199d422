"""The Optuna adapter's end of a search: the winner of a noise-aware search chosen once per
study (under the study's selection lease when workers share it), and the SQLite checkpoint."""

from __future__ import annotations

import os
import socket
import uuid
from typing import TYPE_CHECKING

from optuna.trial import TrialState

from ..coordination import StudyLease, fail_stale_trials, once_per_study, storage_is_shared
from ..storage import checkpoint, count_states
from ._finalize import EvaluateReplicates, Finalizer
from ._study import SELECTION_LEASE_ATTR

if TYPE_CHECKING:
    from ._optuna import OptunaOptimizer


class StudyFinalizer(Finalizer):
    """The :class:`Finalizer` of an :class:`OptunaOptimizer`."""

    def __init__(self, optimizer: OptunaOptimizer):
        self._opt = optimizer

    async def finalize(self, evaluate: EvaluateReplicates) -> None:
        """With noise handling: choose the winner (confirmation round, held-out seeds, baseline
        test) and store it with the study as :attr:`selection`; a study that already holds the
        selection for exactly these trials is not evaluated again.

        In a shared study (any storage but in-memory) the winner is chosen once, by one worker,
        after every running trial has ended: workers started separately (``crystallize-opt
        worker``) wait for the other workers' trials, the first to claim the study's selection
        lease chooses, and the others wait for its stored choice (taking over when it dies). No
        search trial runs once the choice began: :meth:`ask` gives up a trial that its worker
        finds, once the trial is in the study, not needed for the search budget.
        """
        opt = self._opt
        if opt._noise_search is None or opt._run is None:
            return
        if opt._run.worker is not None and not opt._run.worker.selects_winner:
            return
        search, study, master_seed = opt._noise_search, opt.study, opt._run.master_seed
        if not storage_is_shared(opt.storage):
            opt._selection = await search.select(study, master_seed, evaluate)
            return

        def others_running() -> int:
            fail_stale_trials(study, opt.grace_period, opt.max_retries)
            return count_states(study, opt.storage).get(TrialState.RUNNING, 0)

        # Workers started separately finish together: one of them chooses, once the last
        # search trial has ended, and the others take its stored choice.
        owner = opt._worker_tag or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lease = StudyLease(
            study, SELECTION_LEASE_ATTR, owner, opt.heartbeat_interval, opt.grace_period, opt.poll_interval
        )
        opt._selection = await once_per_study(
            lease,
            settled=lambda: search.settled(study),
            # select, not select_winner: it looks for a stored choice again once the lease is
            # held, since the previous holder may have stored it and let go in between.
            work=lambda: search.select(study, master_seed, evaluate),
            others_running=others_running,
            poll_interval=opt.poll_interval,
            what="choosing the winner",
        )

    def end_run(self) -> None:
        """Checkpoint a SQLite storage's write-ahead log into its database file, so the ``.db``
        file alone holds the whole study (see :func:`checkpoint`; never raises: a database
        another process is using is left to that process's checkpoint, and logged)."""
        opt = self._opt
        checkpoint(opt.storage)
