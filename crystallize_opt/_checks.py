"""The ranges of the numbers and names a user gives: each rule is written once, here.

The Python API checks with ``check_*`` (the message names the argument), the config loader with
the ``*_expected`` functions (the message names the file and key) and the command line with
``check_*`` given the option (``--trials``), so one value gets one rule whichever way it comes
in. Standard library only: the command line checks its options before it imports anything heavy.
"""

from __future__ import annotations

import numbers
from typing import Any

from ._text import short_repr
from .exceptions import ConfigurationError

#: The largest seed: NumPy's legacy generators and Optuna's samplers take seeds of 32 bits.
MAX_SEED = 2**32 - 1
#: The most replicates one run or one trial may ask for. Each replicate is one execution of the
#: whole pipeline whose seed is derived up front and whose values a trial stores with it in the
#: study; 10,000 replicates already estimate a mean to 1% of the noise's standard deviation, so a
#: larger count is a typo (an extra zero or two), which would otherwise hang the run or fill the
#: storage before anything is said.
MAX_REPLICATES = 10_000


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def count_expected(value: Any, maximum: int | None = None) -> str | None:
    """What a count (trials, replicates, workers, ...) must be, when ``value`` is not that: ``"a
    positive integer"`` (``"... of at most <maximum>"``); None when ``value`` is fine."""
    if _is_int(value) and value >= 1 and (maximum is None or value <= maximum):
        return None
    return "a positive integer" if maximum is None else f"a positive integer of at most {maximum:,}"


def replicates_expected(value: Any) -> str | None:
    """As :func:`count_expected` with the bound :data:`MAX_REPLICATES` (see there, why)."""
    return count_expected(value, MAX_REPLICATES)


def seed_expected(value: Any) -> str | None:
    """What a seed must be, when ``value`` is not that; None when it is an integer from 0 to
    :data:`MAX_SEED`."""
    if _is_int(value) and 0 <= value <= MAX_SEED:
        return None
    return f"a non-negative integer of at most {MAX_SEED} (2**32 - 1)"


def _checked(value: Any, expected: str | None, what: str) -> Any:
    if expected is not None:
        raise ConfigurationError(f"{what} must be {expected}, got {short_repr(value)}")
    return value


def check_count(value: Any, what: str, maximum: int | None = None) -> int:
    """Return ``value`` as an int when it is a positive integer (at most ``maximum``).

    Raises:
        ConfigurationError: ``<what> must be a positive integer ..., got <value>``.
    """
    return int(_checked(value, count_expected(value, maximum), what))


def check_replicates(value: Any, what: str) -> int:
    """Return ``value`` when it is a replicate count: 1 to :data:`MAX_REPLICATES`.

    Raises:
        ConfigurationError: naming ``what``, the value and the allowed range.
    """
    return int(_checked(value, replicates_expected(value), what))


def check_seed(value: Any, what: str) -> int:
    """Return ``value`` as an int when it is a seed: 0 to :data:`MAX_SEED`.

    Raises:
        ConfigurationError: naming ``what``, the value and the allowed range.
    """
    return int(_checked(value, seed_expected(value), what))


def check_study_name(value: Any, what: str) -> str:
    """Return ``value`` when it is a study name: a non-empty string (Optuna takes any other).

    Raises:
        ConfigurationError: naming ``what`` and the value.
    """
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string, got {short_repr(value)}")
    return value
