"""Sharing one study between processes: liveness, stale trials and the study lease.

Internal package: the names below are its interface to the other packages (not the user API;
they may change between releases). It sits on ``storage`` and below ``optimize``.

- ``_owner``: which process owns a running trial, and whether it is still alive;
- ``_heartbeat``: a running trial's heartbeat (and the sender thread that stamps the leases);
- ``_stale``: failing (and retrying) the running trials whose worker died;
- ``_lease``: a study-wide lease, so that work done once per study (the winner selection)
  runs in one process.
- ``_clock``: the clock the others read (passed explicitly; tests pass one they move).
"""

from ._clock import SYSTEM_CLOCK, Clock, SystemClock
from ._heartbeat import HEARTBEAT_ATTR, TrialHeartbeat, storage_is_shared
from ._lease import StudyLease, once_per_study
from ._owner import OWNER_ATTR, owner_is_dead, this_process
from ._stale import fail_stale_trials, fail_trials_of_workers, worker_of

__all__ = [
    "HEARTBEAT_ATTR",
    "OWNER_ATTR",
    "SYSTEM_CLOCK",
    "Clock",
    "StudyLease",
    "SystemClock",
    "TrialHeartbeat",
    "fail_stale_trials",
    "fail_trials_of_workers",
    "once_per_study",
    "owner_is_dead",
    "storage_is_shared",
    "this_process",
    "worker_of",
]
