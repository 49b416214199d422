"""The Dask worker plugin that makes a study folder's modules importable on every worker.

Imported only when a study's code is sent (it imports ``distributed``); workers import it by
name when they unpickle the plugin, so crystallize-opt must be installed on them (it must be
anyway: the tasks run its code).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from .._logging import get_logger
from ._dask import StudyCode

_log = get_logger("plugins")
#: Study package -> digest of the code this worker process imports it from.
_installed: dict[str, str] = {}


def _same_files(folder: Path, files: dict[str, bytes]) -> bool:
    """True when ``folder`` on this worker holds every one of ``files``, unchanged."""
    try:
        return all((folder / path).read_bytes() == content for path, content in files.items())
    except OSError:
        return False


def install_study(code: StudyCode, force: bool, local_directory: Path) -> Path:
    """Make ``code``'s package importable in this process; return the folder it imports from.

    The study's own folder when this worker sees the same files there (and not ``force``);
    otherwise the files are written below ``local_directory`` and the package is pointed there.
    Modules of the package imported from other code before are dropped, so the next import
    (a task unpickling its steps) loads this code.
    """
    if not force and _same_files(Path(code.folder), code.files):
        where = Path(code.folder)
    else:
        where = local_directory / "crystallize-studies" / code.digest[:24] / Path(code.folder).name
        for path, content in code.files.items():
            file = where / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(content)
    if _installed.get(code.package) == f"{code.digest}:{where}":
        return where
    for name in [n for n in sys.modules if n == code.package or n.startswith(f"{code.package}.")]:
        del sys.modules[name]
    if where != Path(code.folder):
        # A package whose search location is the written copy: ``<package>.steps`` is found there.
        spec = importlib.machinery.ModuleSpec(code.package, None, is_package=True)
        spec.submodule_search_locations = [str(where)]
        sys.modules[code.package] = importlib.util.module_from_spec(spec)
    _installed[code.package] = f"{code.digest}:{where}"
    _log.info("study code of %s imported from %s", code.folder, where)
    return where


class StudyUpload(WorkerPlugin):
    """Sends a study's Python files to every Dask worker, present and future (a restarted
    worker gets them too), and makes them importable there (see :func:`install_study`)."""

    idempotent = False

    def __init__(self, code: StudyCode, force: bool) -> None:
        self.code = code
        self.force = force
        self.name = f"crystallize-study-{code.package}"

    def setup(self, worker: Any) -> None:
        install_study(self.code, self.force, Path(worker.local_directory))
