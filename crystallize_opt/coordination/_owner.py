"""Which process owns a running trial or a study lease, and whether that process is certainly gone.

A worker killed outright (``kill -9``, the kernel's out-of-memory killer, a crash) leaves its
trial RUNNING and its lease claimed; from its heartbeat alone the others learn of its death
only once the grace period has passed (a minute by default). A process on this same host can
be looked up at once instead: an owner record names the host, the process id and the
process's start time, so a process id the kernel has since given to another process is not
taken for the owner.

Only Linux's ``/proc`` is read (no third-party package). Elsewhere, and for any record this
process cannot check with certainty (another host, another boot or process-id namespace, a
record from an older version without an owner), the owner counts as alive, and the heartbeat's
grace period decides as before.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

#: Trial system attribute: the owner record of the process that runs the trial (see
#: :func:`this_process`), plus ``"worker": "<run id>:<index>"`` for a managed worker.
OWNER_ATTR = "crystallize:owner"

_PROC = Path("/proc")
_cache: tuple[int, dict[str, Any]] | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """The start time of live process ``pid`` (clock ticks after boot); None when no such
    process lives: absent, or a zombie that only waits to be reaped.

    Raises:
        OSError: when ``/proc`` cannot say (unreadable for another reason than absence).
    """
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # After "pid (command) " come the fields from the third on; the command may hold spaces
    # and parentheses, hence the last ")". State is field 3, the start time field 22.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _pid_space() -> dict[str, Any]:
    """What two processes must share for one to look the other up by pid: the host name, the
    kernel boot (pids and start times restart with it) and the pid namespace (containers on
    one kernel number their processes apart). Values are None where this system cannot say."""
    try:
        namespace: str | None = os.readlink(_PROC / "self" / "ns" / "pid")
    except OSError:
        namespace = None
    return {
        "host": socket.gethostname(),
        "boot": _read(_PROC / "sys" / "kernel" / "random" / "boot_id"),
        "pidns": namespace,
    }


def this_process() -> dict[str, Any]:
    """The owner record of the calling process: ``{"host", "pid", "start", "boot", "pidns"}``
    (JSON-serializable; ``start``, ``boot`` and ``pidns`` are None where there is no ``/proc``).
    Returns a new dict each time."""
    global _cache
    pid = os.getpid()
    if _cache is None or _cache[0] != pid:  # computed again in a forked child
        try:
            start = _start_ticks(pid)
        except (OSError, ValueError, IndexError):
            start = None
        _cache = (pid, {**_pid_space(), "pid": pid, "start": start})
    return dict(_cache[1])


def owner_is_dead(record: object) -> bool:
    """True when ``record`` (an owner record from :func:`this_process`) names a process that
    certainly no longer exists: one of this host, boot and pid namespace whose pid is free, a
    zombie, or taken by a process started at another time. False in every other case,
    including records that are missing, malformed or from elsewhere: those are left to the
    heartbeat's grace period."""
    if not isinstance(record, dict):
        return False
    pid, start = record.get("pid"), record.get("start")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    if isinstance(start, bool) or not isinstance(start, int):
        return False
    here = this_process()
    if here["start"] is None or any(
        here[key] is None or record.get(key) != here[key] for key in ("host", "boot", "pidns")
    ):
        return False
    try:
        now = _start_ticks(pid)
    except (OSError, ValueError, IndexError):
        return False
    return now is None or now != start


def describe_owner(record: object) -> str:
    """``"process 1234 on host"`` for an owner record (for messages)."""
    if not isinstance(record, dict):
        return "its process"
    return f"process {record.get('pid')} on {record.get('host')}"
