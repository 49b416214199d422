"""The ranges of the numbers and names a user gives: each rule is written once, here.

The Python API checks with ``check_*`` (the message names the argument), the config loader with
the ``*_expected`` functions (the message names the file and key) and the command line with
``check_*`` given the option (``--trials``), so one value gets one rule whichever way it comes
in. Standard library only: the command line checks its options before it imports anything heavy.
"""

from __future__ import annotations

import math
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
    return str(_checked(value, name_expected(value), what))


def name_expected(value: Any) -> str | None:
    """``"a non-empty string"`` when ``value`` is not one (a study name)."""
    return None if isinstance(value, str) and value else "a non-empty string"


class SettingError(ConfigurationError):
    """A ConfigurationError about one setting of a constructor, which a study config relabels
    with its file and key path.

    Attributes:
        setting: the setting's path among the constructor's arguments (``grace_period``,
            ``noise.racing_z``).
        problem: what is wrong, for a reader who already sees where (the config's message).
        expected: for a value of the wrong type or range, what it must be (then ``problem``
            is ``expected <expected>, got <value>``), else None.
        value: the value refused.
    """

    def __init__(self, setting: str, problem: str, *, expected: str | None = None, value: Any = None):
        self.setting = setting
        self.problem = problem
        self.expected = expected
        self.value = value
        super().__init__(
            problem if expected is None else f"{setting} must be {expected}, got {short_repr(value)}"
        )


def refuse(setting: str, expected: str | None, value: Any) -> Any:
    """Return ``value`` when ``expected`` (what one of the ``*_expected`` rules says the value
    must be) is None.

    Raises:
        SettingError: ``<setting> must be <expected>, got <value>``.
    """
    if expected is not None:
        raise SettingError(
            setting, f"expected {expected}, got {short_repr(value)}", expected=expected, value=value
        )
    return value


def integer_expected(value: Any, minimum: int | None = None) -> str | None:
    """What an integer setting (at least ``minimum``) must be, when ``value`` is not that."""
    if not _is_int(value):
        return "an integer"
    if minimum is not None and value < minimum:
        return {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
    return None


def boolean_expected(value: Any) -> str | None:
    """``"true or false"`` when ``value`` is not a bool (0 and 1 are not)."""
    return None if isinstance(value, bool) else "true or false"


def number_expected(value: Any, rule: str = "positive") -> str | None:
    """What a real-valued setting must be, when ``value`` is not that: a finite int or float
    (never a bool) within ``rule``: ``"positive"`` (> 0), ``"non-negative"`` (>= 0), ``"(0, 1]"``
    or ``"(0, 1)"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "a number"
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        return "a finite number"
    fits = {
        "positive": value > 0,
        "non-negative": value >= 0,
        "(0, 1]": 0 < value <= 1,
        "(0, 1)": 0 < value < 1,
    }[rule]
    if fits:
        return None
    return {"positive": "a positive number", "non-negative": "a number >= 0"}.get(rule, f"a number in {rule}")


def seconds_expected(value: Any) -> str | None:
    """What a duration in seconds (an interval, a timeout) must be, when ``value`` is not that:
    a positive, finite number."""
    return None if number_expected(value) is None else "a positive, finite number of seconds"


def choice_expected(value: Any, allowed: tuple[str, ...]) -> str | None:
    """``"one of [a, b]"`` when ``value`` is not one of ``allowed``."""
    return (
        None if isinstance(value, str) and value in allowed else "one of [" + ", ".join(sorted(allowed)) + "]"
    )
