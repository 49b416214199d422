"""Sharing one study between processes: liveness, stale trials and the study lease.

Internal package (no public names); it sits on ``storage`` and below ``optimize``.

- ``_owner``: which process owns a running trial, and whether it is still alive;
- ``_heartbeat``: a running trial's heartbeat, and failing (and retrying) stale trials;
- ``_lease``: a study-wide lease, so that work done once per study (the winner selection)
  runs in one process.
- ``_clock``: the clock the other three read (passed explicitly; tests pass one they move).
"""
