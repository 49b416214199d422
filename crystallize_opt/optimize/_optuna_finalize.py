"""The Optuna adapter's end of a search: the winner of a noise-aware search chosen once per
study (under the study's selection lease when workers share it), and the SQLite checkpoint."""

from __future__ import annotations

import os
import socket
import uuid

from optuna.storages import BaseStorage
from optuna.trial import TrialState

from ..coordination import StudyLease, fail_stale_trials, once_per_study, storage_is_shared
from ..storage import checkpoint, count_states
from ._finalize import EvaluateReplicates, Finalizer
from ._optuna_session import StudySession
from ._study import SELECTION_LEASE_ATTR


class StudyFinalizer(Finalizer):
    """The :class:`Finalizer` of an :class:`OptunaOptimizer`: stores the winner of the session's
    noise search as the session's :attr:`~StudySession.selection`.

    Args:
        session: the optimizer's study session.
        storage: the storage the study is kept in.
        heartbeat_interval: seconds between renewals of the selection lease.
        grace_period: seconds without renewal after which a lease (or a running trial) is stale.
        max_retries: how often a stale trial's parameters are queued again.
        poll_interval: seconds between looks at the study while waiting for other workers.
    """

    def __init__(
        self,
        session: StudySession,
        storage: BaseStorage,
        *,
        heartbeat_interval: float,
        grace_period: float,
        max_retries: int,
        poll_interval: float,
    ):
        self._session = session
        self._storage = storage
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period
        self._max_retries = max_retries
        self._poll_interval = poll_interval

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
        session, storage = self._session, self._storage
        search, run = session.noise_search, session.run
        if search is None or run is None:
            return
        if run.worker is not None and not run.worker.selects_winner:
            return
        study, master_seed = session.study, run.master_seed
        if not storage_is_shared(storage):
            session.selection = await search.select(study, master_seed, evaluate, session.seed_scheme)
            return

        def others_running() -> int:
            fail_stale_trials(study, self._grace_period, self._max_retries)
            return count_states(study, storage).get(TrialState.RUNNING, 0)

        # Workers started separately finish together: one of them chooses, once the last
        # search trial has ended, and the others take its stored choice.
        owner = session.worker_tag or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lease = StudyLease(
            study,
            SELECTION_LEASE_ATTR,
            owner,
            self._heartbeat_interval,
            self._grace_period,
            self._poll_interval,
        )
        session.selection = await once_per_study(
            lease,
            settled=lambda: search.settled(study),
            # select, not select_winner: it looks for a stored choice again once the lease is
            # held, since the previous holder may have stored it and let go in between.
            work=lambda: search.select(study, master_seed, evaluate, session.seed_scheme),
            others_running=others_running,
            poll_interval=self._poll_interval,
            what="choosing the winner",
        )

    def end_run(self) -> None:
        """Checkpoint a SQLite storage's write-ahead log into its database file, so the ``.db``
        file alone holds the whole study (see :func:`checkpoint`; never raises: a database
        another process is using is left to that process's checkpoint, and logged)."""
        checkpoint(self._storage)
