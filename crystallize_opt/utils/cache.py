"""Compatibility path: crystallize-ml's ``crystallize.utils.cache`` (step-cache hashing and files).

``compute_hash`` is the package's own (``crystallize_opt.compute_hash``). The reference's small
file store is here too, for code that used it directly: :func:`cache_path`, :func:`store_cache`
(write once) and :func:`load_cache` under :data:`CACHE_DIR`, and ``_code_fingerprint``. The
engine's step cache does not use them: it keys by more than the reference did and bounds its
size (``crystallize_opt.StepCache``; docs/migrating-from-crystallize.md, "Step caching").
New code imports from ``crystallize_opt`` directly.
"""

from __future__ import annotations

import hashlib
import inspect  # noqa: F401  (the reference's tests patch ``crystallize.utils.cache.inspect.getsource``)
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._fingerprint import getsource
from ..pipeline import compute_hash

#: The folder of :func:`cache_path` (``$CRYSTALLIZE_CACHE_DIR``, default ``.cache``), read when
#: this module is imported, as in the reference; tests may patch it.
CACHE_DIR = Path(os.environ.get("CRYSTALLIZE_CACHE_DIR") or ".cache")


def _code_fingerprint(fn: Callable[..., Any]) -> str:
    """Return the sha256 hex digest of ``fn``'s source, or of its bytecode when the source is
    not available (a function defined in a REPL, a builtin)."""
    try:
        text = getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        text = code.co_code if code is not None else repr(fn).encode()
    return hashlib.sha256(text).hexdigest()


def cache_path(step_hash: str, input_hash: str) -> Path:
    """Return ``CACHE_DIR/<step_hash>/<input_hash>.pkl``, creating its folder."""
    folder = CACHE_DIR / step_hash
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{input_hash}.pkl"


def load_cache(step_hash: str, input_hash: str) -> Any:
    """Return the object :func:`store_cache` stored under these hashes.

    Raises:
        FileNotFoundError: if nothing is stored under them.
    """
    with cache_path(step_hash, input_hash).open("rb") as fh:
        return pickle.load(fh)


def store_cache(step_hash: str, input_hash: str, data: Any) -> None:
    """Pickle ``data`` under these hashes, unless something is stored there already (the first
    write wins). The file appears whole: it is written beside and renamed into place."""
    path = cache_path(step_hash, input_hash)
    if path.exists():
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(data, fh)
        if not path.exists():
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


__all__ = ["CACHE_DIR", "cache_path", "compute_hash", "load_cache", "store_cache"]
