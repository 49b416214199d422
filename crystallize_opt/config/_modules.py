"""Importing a study's Python files (``steps.py``, ``datasources.py``, ...) by path.

Each study folder becomes a package named
``crystallize_opt.config._studies.<folder name>_<hex of the absolute folder path>`` whose only
search location is the folder, so ``steps.py`` is imported as ``<that package>.steps``.
Because the package name encodes the folder, any process can import it again from the name
alone: a finder turns the name back into the folder. The finder is installed when the parent
package :mod:`crystallize_opt.config._studies` is imported, that is when a study's module is
first loaded (by :func:`import_study_file` or by name), never by importing the config package. That is what lets worker processes unpickle the steps and datasources of a
study (pickling refers to functions and classes by module name). Study files may import each
other relatively (``from .helpers import x``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType

from ._errors import config_error

STUDIES_PACKAGE = "crystallize_opt.config._studies"
_stamps: dict[str, tuple[int, int]] = {}


def study_package(folder: Path) -> str:
    """The package name of the study in ``folder`` (an absolute path)."""
    readable = re.sub(r"\W", "_", folder.name, flags=re.ASCII) or "study"
    return f"{STUDIES_PACKAGE}.s_{readable}_{str(folder).encode('utf-8').hex()}"


def _folder_of(package: str) -> Path | None:
    """The folder a study package name stands for (None if the name is not one)."""
    prefix = STUDIES_PACKAGE + "."
    if not package.startswith(prefix) or "." in package[len(prefix) :]:
        return None
    token = package.rsplit("_", 1)[-1]
    try:
        return Path(bytes.fromhex(token).decode("utf-8"))
    except ValueError:
        return None


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a study file from its source every time: no ``__pycache__`` in study folders,
    and never stale bytecode after a quick edit. Keeps the source it compiled as
    ``study_source``: what a Dask cluster's workers get when the study is uploaded to them is
    the code this process runs, even if the file changed (or went) since it was imported."""

    study_source: bytes | None = None

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path)
        self.study_source = source
        return self.source_to_code(source, self.path)


class _StudyFinder(importlib.abc.MetaPathFinder):
    """Finds the (code-less) study packages below :data:`STUDIES_PACKAGE` and the ``.py`` files
    directly inside them; every other name is left to the other finders."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        folder = _folder_of(fullname)
        if folder is not None:
            return _package_spec(fullname, [str(folder)]) if folder.is_dir() else None
        parent, _, stem = fullname.rpartition(".")
        folder = _folder_of(parent)
        if folder is not None and path:
            # The package's own search location: the folder, or where a Dask worker put the
            # study's uploaded files (which replaced the package's location there).
            folder = Path(path[0])
        if folder is None or not (folder / f"{stem}.py").is_file():
            return None  # e.g. a sub-package of the study: the path finder handles it
        file = str(folder / f"{stem}.py")
        return importlib.util.spec_from_file_location(fullname, file, loader=_SourceLoader(fullname, file))


def _package_spec(name: str, locations: list[str]) -> importlib.machinery.ModuleSpec:
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = locations
    return spec


def install_finder() -> None:
    """Install the study-package finder once per process (called by the ``_studies`` package)."""
    if not any(isinstance(finder, _StudyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _StudyFinder())


def import_study_file(folder: Path, stem: str, display: str) -> ModuleType | None:
    """Import ``folder/<stem>.py`` (None when there is no such file).

    The module is imported again when the file changed since it was last imported.

    Raises:
        ConfigurationError: naming the file (``display``), wrapping whatever the module raised
            while it was imported (chained as the cause).
    """
    file = folder / f"{stem}.py"
    if not file.is_file():
        return None
    # Importing the name imports the ``_studies`` package first, which installs the finder.
    name = f"{study_package(folder)}.{stem}"
    stat = file.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    if name in sys.modules and _stamps.get(name) == stamp:
        return sys.modules[name]
    sys.modules.pop(name, None)
    try:
        module = importlib.import_module(name)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        detail = str(exc) or "(no message)"
        raise config_error(display, "", f"importing it raised {type(exc).__name__}: {detail}") from exc
    _stamps[name] = stamp
    return module


def defined_names(module: ModuleType, exclude: tuple[type, ...] = ()) -> list[str]:
    """Public functions and classes defined in ``module`` itself (not imported into it)."""
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if inspect.isclass(obj) and exclude and issubclass(obj, exclude):
            continue
        names.append(name)
    return sorted(names)
