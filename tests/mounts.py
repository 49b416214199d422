"""Real small and read-only filesystems for fault tests: a tmpfs of a few hundred KiB fills up
for real, and a tmpfs remounted read-only refuses writes the way a read-only medium does.

Mounting needs root; elsewhere the tests that use these skip, saying why, or fail where
``CRYSTALLIZE_REQUIRE_OPTIONAL`` is set (CI runs as root and sets it).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .optional import REQUIRE_ENV


def _require_mounting() -> None:
    if os.geteuid() == 0:
        return
    reason = "mounting a tmpfs needs root"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason}, and {REQUIRE_ENV} is set")
    pytest.skip(reason)


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mount {' '.join(args)} failed: {done.stderr.strip()}")


@contextmanager
def small_tmpfs(folder: Path, size: str = "512k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``folder`` (created if missing) for the block; unmounted
    after it, with what was written there."""
    _require_mounting()
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def remount(folder: Path, *, read_only: bool) -> None:
    """Make the tmpfs mounted on ``folder`` read-only, or writable again."""
    _mount("-o", f"remount,{'ro' if read_only else 'rw'}", str(folder))
