"""Fingerprints of user code, so stored results are never reused after the code changed."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any


def source_fingerprint(obj: Any) -> str:
    """Return a short hash of ``obj``'s source code (its bytecode when no source is available)."""
    try:
        text = inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        text = repr(code.co_code) if code is not None else getattr(obj, "__qualname__", repr(type(obj)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
