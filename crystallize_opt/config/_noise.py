"""The ``optimize.noise`` key: noise-aware optimization on or off, or its settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..exceptions import ConfigurationError
from ..optimize import NoiseHandling, Objective
from ..optimize._noise import check_noise_settings
from ._errors import describe
from ._schema import Field


def _positive(field: Field) -> float:
    value = field.number()
    if value <= 0:
        raise field.error(f"expected a positive number, got {describe(field.value)}")
    return float(value)


def _racing_z(field: Field) -> float | None:
    # null is a setting here (racing off), not "absent": see parse_noise.
    return None if field.value is None else _positive(field)


def _unit_interval(upper_included: bool) -> Callable[[Field], float]:
    def read(field: Field) -> float:
        value = field.number()
        if value <= 0 or value > 1 or (value == 1 and not upper_included):
            bounds = "(0, 1]" if upper_included else "(0, 1)"
            raise field.error(f"expected a number in {bounds}, got {describe(field.value)}")
        return float(value)

    return read


def _non_negative(field: Field) -> float:
    value = field.number()
    if value < 0:
        raise field.error(f"expected a number >= 0, got {describe(field.value)}")
    return float(value)


def _seeds(field: Field) -> int:
    # Two seeds at least: one seed gives no standard error, so neither a ranking nor a test.
    return field.integer(minimum=2)


#: One reader per :class:`NoiseHandling` field, so every setting is configurable from YAML
#: (``tests/test_noise_config.py`` checks that none is missing).
NOISE_READERS: dict[str, Callable[[Field], Any]] = {
    "max_replicates": Field.positive_int,
    "racing_z": _racing_z,
    "intensify": Field.boolean,
    "stopped_trials": lambda field: field.choice(("partial", "pruned")),
    "select": lambda field: field.choice(("model", "mean")),
    "model_candidates": Field.boolean,
    "radius": _unit_interval(upper_included=True),
    "minima_z": _non_negative,
    "confirm_candidates": lambda field: field.integer(minimum=0),
    "confirm_seeds": _seeds,
    "holdout_seeds": _seeds,
    "confidence": _unit_interval(upper_included=False),
}
NOISE_KEYS = tuple(NOISE_READERS)
#: Keys whose ``null`` means something (not "the default"): ``racing_z: null`` turns racing off.
_NULL_IS_A_VALUE = ("racing_z",)


def parse_noise(
    field: Field | None, objective: Objective, common_random_numbers: bool
) -> NoiseHandling | None:
    """``noise: true | false | {setting: value, ...}`` -> the settings, or None (off; the default).

    A mapping turns noise handling on with its settings; absent settings (and settings set to
    null, except ``racing_z``, where null turns racing off) keep the defaults of
    :class:`NoiseHandling`.

    Raises:
        ConfigurationError: naming the file and key path, for a value of the wrong type or out of
            range, an unknown setting, or an objective noise handling does not support.
    """
    if field is None or field.value is False:
        return None
    if field.value is True:
        settings = NoiseHandling()
    elif isinstance(field.value, dict):
        values = field.mapping(NOISE_KEYS)
        chosen = {
            key: NOISE_READERS[key](field.at(key, value))
            for key, value in values.items()
            if value is not None or key in _NULL_IS_A_VALUE
        }
        try:  # the readers check every value; this only guards against them drifting apart
            settings = NoiseHandling(**chosen)
        except ConfigurationError as exc:
            raise field.error(str(exc)) from None
    else:
        raise field.error(f"expected true, false or a mapping of noise settings, got {describe(field.value)}")
    try:
        return check_noise_settings(settings, objective, common_random_numbers)
    except ConfigurationError as exc:
        raise field.error(str(exc)) from None
