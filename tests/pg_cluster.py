"""A private, throwaway PostgreSQL server for outage tests: stopped and started at will, while
the machine's shared server (which other tests use) is never touched.

:func:`private_cluster` runs ``initdb`` into a temporary folder as the ``postgres`` OS user
(PostgreSQL refuses to run as root), starts the server on a free TCP port of 127.0.0.1 with
its socket in that folder and trust authentication, and removes it all afterwards. Where the
PostgreSQL binaries (or the ``postgres`` user, when running as root) are missing, the test
skips, saying why, or fails where ``CRYSTALLIZE_REQUIRE_OPTIONAL`` is set.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .optional import REQUIRE_ENV

#: Where PostgreSQL's server programs live when they are not on PATH (Debian, Ubuntu).
_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: The OS user that runs the server when the tests run as root.
_SERVER_USER = "postgres"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason}, and {REQUIRE_ENV} is set")
    pytest.skip(reason)


def _binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    for folder in sorted(glob.glob(_BIN_GLOB), reverse=True):  # the newest version first
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PgCluster:
    """One private PostgreSQL server: :attr:`url` reaches its ``postgres`` database."""

    def __init__(self, root: Path, binaries: Path, user: str | None):
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self._bin = binaries
        self._user = user
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        # pg_ctl's server keeps the pipes open: its log goes to a file instead.
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=60
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed: {done.stdout}{done.stderr}{tail}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "30",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
        )

    def stop(self) -> None:
        """Stop the server the way an administrator's ``pg_ctl stop`` does (fast mode: sessions
        are ended, "terminating connection due to administrator command"); returns once it is down,
        after which connecting is refused."""
        self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", "fast", "-D", str(self.data))

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextlib.contextmanager
def private_cluster() -> Iterator[PgCluster]:
    """A new PostgreSQL server, running; stopped and deleted afterwards (see the module doc)."""
    binaries = _binaries()
    if binaries is None:
        _unavailable(f"PostgreSQL's initdb and pg_ctl are neither on PATH nor in {_BIN_GLOB}")
    assert binaries is not None
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_SERVER_USER)
        except KeyError:
            _unavailable(f"PostgreSQL does not run as root, and there is no {_SERVER_USER!r} user")
        user = _SERVER_USER
    root = Path(tempfile.mkdtemp(prefix="crystallize-pg-"))
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        cluster = PgCluster(root, binaries, user)
        cluster.init()
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.is_running():
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    cluster._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(cluster.data))
    finally:
        shutil.rmtree(root, ignore_errors=True)
