"""GPUs for worker processes: which CUDA devices each process sees, through the environment
variable ``CUDA_VISIBLE_DEVICES`` that CUDA reads when it starts in that process."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._checks import integer_expected
from .._logging import get_logger
from ..exceptions import ConfigurationError

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
_log = get_logger("plugins")


def gpus_expected(value: Any) -> str | None:
    """What a list of GPU indices must be, when ``value`` is not that."""
    values = list(value) if isinstance(value, (list, tuple)) else None
    if not values or any(integer_expected(g, 0) for g in values) or len(set(values)) != len(values):
        return "a non-empty list of distinct GPU indices (integers >= 0)"
    return None


def check_gpus(gpus: Any, what: str) -> tuple[int, ...]:
    """Return ``gpus`` as a tuple of GPU indices.

    Raises:
        ConfigurationError: ``<what> must be a non-empty list of distinct GPU indices
            (integers >= 0), got <value>``.
    """
    expected = gpus_expected(gpus)
    if expected is not None:
        raise ConfigurationError(f"{what} must be {expected}, got {gpus!r}")
    return tuple(int(g) for g in gpus)


def visible_gpus() -> tuple[list[str], str]:
    """The GPUs this process may hand out, as CUDA names them, and where that list came from.

    ``CUDA_VISIBLE_DEVICES`` when it is set (a scheduler's or the user's choice: index ``i``
    then means its ``i``-th entry, as CUDA numbers them); otherwise the GPUs ``nvidia-smi -L``
    lists; otherwise the NVIDIA driver's ``/proc/driver/nvidia/gpus``; otherwise none.
    """
    listed = os.environ.get(CUDA_VISIBLE_DEVICES)
    if listed is not None:
        entries = [e.strip() for e in listed.split(",") if e.strip()]
        # CUDA ignores everything from the first invalid entry on; "-1" is the usual way of
        # hiding every GPU.
        if "-1" in entries:
            entries = entries[: entries.index("-1")]
        return entries, f"{CUDA_VISIBLE_DEVICES}={listed!r}"
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            lines = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            _log.debug("nvidia-smi -L failed: %s", exc)
        else:
            count = sum(1 for line in lines.splitlines() if line.startswith("GPU "))
            return [str(i) for i in range(count)], "nvidia-smi -L"
    driver = Path("/proc/driver/nvidia/gpus")
    count = len(list(driver.iterdir())) if driver.is_dir() else 0
    return [str(i) for i in range(count)], "the NVIDIA driver"


def device_plan(gpus: Sequence[int], processes: int, what: str) -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` of each of ``processes`` processes sharing ``gpus``.

    With at least as many processes as GPUs, process ``i`` gets GPU ``gpus[i % len(gpus)]``
    (round robin: several processes may share one); with fewer, each gets its own share of
    them (process ``i``: ``gpus[i::processes]``). Indices count the GPUs this process sees
    (:func:`visible_gpus`), so they follow an outer ``CUDA_VISIBLE_DEVICES``.

    Raises:
        ConfigurationError: naming ``what``, when this machine shows no GPU or an index is
            beyond the GPUs it shows.
    """
    visible, source = visible_gpus()
    if not visible:
        raise ConfigurationError(
            f"{what}={list(gpus)} asks for GPUs, but this machine shows none ({source} lists no GPU; "
            f"{CUDA_VISIBLE_DEVICES} is {'set' if CUDA_VISIBLE_DEVICES in os.environ else 'not set'})"
        )
    beyond = [g for g in gpus if g >= len(visible)]
    if beyond:
        raise ConfigurationError(
            f"{what}={list(gpus)}: there is no GPU {beyond[0]}; this process sees {len(visible)} "
            f"(indices 0-{len(visible) - 1}, from {source})"
        )
    names = [visible[g] for g in gpus]
    if processes >= len(names):
        return [names[i % len(names)] for i in range(processes)]
    return [",".join(names[i::processes]) for i in range(processes)]


def use_devices(devices: str) -> None:
    """Make this process see only ``devices`` (a ``CUDA_VISIBLE_DEVICES`` value); called first
    thing in a worker process, before anything can start CUDA."""
    os.environ[CUDA_VISIBLE_DEVICES] = devices
