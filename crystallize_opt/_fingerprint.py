"""Fingerprints of user code, so stored results are never reused after the code changed."""

from __future__ import annotations

import hashlib
import inspect
import threading
from typing import Any

#: ``inspect.getsource`` parses the module's source with ``ast``; CPython 3.11 can fail that
#: parse with ``SystemError: AST constructor recursion depth mismatch`` when several threads
#: parse at once (seen on 3.11.7 with steps hashed in thread-executed replicates), so the
#: package's source reads take turns.
_SOURCE_LOCK = threading.Lock()


def getsource(obj: Any) -> str:
    """``inspect.getsource(obj)``, one thread at a time.

    Raises:
        OSError, TypeError: as ``inspect.getsource`` (no source available, or not code).
    """
    with _SOURCE_LOCK:
        return inspect.getsource(obj)


def source_fingerprint(obj: Any) -> str:
    """Return a short hash of ``obj``'s source code (its bytecode when no source is available)."""
    try:
        text = getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        text = repr(code.co_code) if code is not None else getattr(obj, "__qualname__", repr(type(obj)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
