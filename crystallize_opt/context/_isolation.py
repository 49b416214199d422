"""Isolating values: which values cannot change, and copies of those that can."""

from __future__ import annotations

import copy
import datetime
import decimal
import fractions
import pathlib
import types
from typing import Any

import numpy as np

from .._logging import get_logger

_log = get_logger("context")

# Values of exactly these types cannot change (a subclass may add mutable state, so it is not
# listed), so handing out the object itself is as safe as a copy and costs nothing.
_IMMUTABLE_TYPES: frozenset[type] = frozenset(
    {
        int,
        float,
        complex,
        bool,
        str,
        bytes,
        type(None),
        range,
        type(Ellipsis),
        types.FunctionType,
        types.BuiltinFunctionType,
        type,
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
        decimal.Decimal,
        fractions.Fraction,
        pathlib.PurePosixPath,
        pathlib.PureWindowsPath,
        pathlib.PosixPath,
        pathlib.WindowsPath,
    }
)
_UNCOPYABLE_LOGGED: set[str] = set()


def is_immutable(value: Any) -> bool:
    """True for a value nothing can change: numbers (with Decimal and Fraction), strings, bytes,
    None, functions, classes, paths, dates and times, numpy scalars, and tuples and frozensets
    holding only such values."""
    kind = type(value)
    if kind in _IMMUTABLE_TYPES:
        return True
    if kind is tuple or kind is frozenset:
        return all(is_immutable(item) for item in value)
    return isinstance(value, np.generic) and not isinstance(value, np.void)


def isolated(value: Any) -> Any:
    """Return ``value`` when it is immutable (:func:`is_immutable`), else a deep copy of it.

    What the caller does to the copy reaches neither the original nor anyone else's copy. A value
    ``copy.deepcopy`` cannot copy (a lock, an open file or connection, a generator, or a container
    holding one) is a resource, shared by nature: it is returned as it is, and that is logged once
    per type at DEBUG level.
    """
    # The common case (a number or string) answered without a call: this runs on every read.
    if type(value) in _IMMUTABLE_TYPES or is_immutable(value):
        return value
    try:
        return copy.deepcopy(value)
    except (TypeError, copy.Error) as exc:
        kind = type(value).__qualname__
        if kind not in _UNCOPYABLE_LOGGED:
            _UNCOPYABLE_LOGGED.add(kind)
            _log.debug("a %s value cannot be copied (%s); it is shared, not isolated", kind, exc)
        return value
