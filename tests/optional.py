"""Tests that need an optional package: skip with the reason where it is missing, fail in CI."""

from __future__ import annotations

import importlib.util
import os

import pytest

#: When set (CI sets it), a missing optional package fails the tests that need it instead of skipping them.
REQUIRE_ENV = "CRYSTALLIZE_REQUIRE_OPTIONAL"


def require_package(name: str, extra: str) -> None:
    """Skip the calling test, saying why, when package ``name`` is not installed; fail it instead
    where ``CRYSTALLIZE_REQUIRE_OPTIONAL`` is set."""
    if importlib.util.find_spec(name) is not None:
        return
    reason = f"{name!r} is not installed (pip install -e '.[{extra}]', see the README's set-up)"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason}, and {REQUIRE_ENV} is set")
    pytest.skip(reason)
