"""The ``optimize.noise`` key: noise-aware optimization on or off, or its settings."""

from __future__ import annotations

from dataclasses import fields

from ..optimize import NoiseHandling
from ._errors import describe
from ._schema import Field

#: One key per :class:`NoiseHandling` field, so every setting is configurable from YAML.
NOISE_KEYS = tuple(field.name for field in fields(NoiseHandling))
#: Keys whose ``null`` means something (not "the default"): ``racing_z: null`` turns racing off.
_NULL_IS_A_VALUE = ("racing_z",)


def parse_noise(field: Field | None) -> NoiseHandling | None:
    """``noise: true | false | {setting: value, ...}`` -> the settings, or None (off; the default).

    A mapping turns noise handling on with its settings; absent settings (and settings set to
    null, except ``racing_z``, where null turns racing off) keep the defaults of
    :class:`NoiseHandling`, which checks the values (its SettingError names ``noise.<key>``;
    the caller relabels it with the file and key path, see ``_errors.relabelled``).

    Raises:
        ConfigurationError: for a value that is neither a boolean nor a mapping, or an unknown
            setting, naming the file and key path.
        SettingError: for a setting that NoiseHandling refuses.
    """
    if field is None or field.value is False:
        return None
    if field.value is True:
        return NoiseHandling()
    if not isinstance(field.value, dict):
        raise field.error(f"expected true, false or a mapping of noise settings, got {describe(field.value)}")
    values = field.mapping(NOISE_KEYS)
    return NoiseHandling(
        **{key: value for key, value in values.items() if value is not None or key in _NULL_IS_A_VALUE}
    )
