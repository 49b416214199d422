"""The machinery shared by the records: the schema version, the error, the field checks, and
the reading and writing of the records stored with a study."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..exceptions import CrystallizeError

if TYPE_CHECKING:
    import optuna

#: Key of the schema version in every stored record.
SCHEMA_KEY = "schema_version"
#: The version this release writes and the newest it reads.
SCHEMA_VERSION = 1

_R = TypeVar("_R", bound="Record")


class RecordError(CrystallizeError, ValueError):
    """A stored crystallize-opt record does not have the expected layout, or was written by a
    newer release (its schema version is higher than :data:`SCHEMA_VERSION`)."""


def fail(where: str, key: str, value: object, expected: str) -> RecordError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return RecordError(f"{where}: {key!r} is {shown}, expected {expected}")


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_version(where: str, data: Mapping[str, Any]) -> None:
    version = data.get(SCHEMA_KEY, 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail(where, SCHEMA_KEY, version, "a positive integer")
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{where}: written by a newer crystallize-opt (schema_version {version}; this release reads up to "
            f"{SCHEMA_VERSION}); upgrade crystallize-opt to read it"
        )


#: What a field may hold when present (None is always allowed): check and expectation.
CHECKS: dict[str, tuple[Any, str]] = {
    "int_list": (lambda v: isinstance(v, list) and all(isinstance(x, int) for x in v), "a list of integers"),
    "str_list": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "number": (is_number, "a number"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "dict": (lambda v: isinstance(v, dict), "a JSON object"),
    "values": (
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(c, list) and all(x is None or is_number(x) for x in c) for c in v.values())
        ),
        "an object of metric -> list of numbers or null",
    ),
    "stats": (
        lambda v: isinstance(v, dict) and all(isinstance(s, dict) for s in v.values()),
        'an object of metric -> {"mean", "std", "sem", "n"}',
    ),
    "curves": (
        lambda v: (
            isinstance(v, dict)
            and all(
                isinstance(c, list)
                and all(
                    isinstance(p, list)
                    and len(p) == 2
                    and isinstance(p[0], int)
                    and not isinstance(p[0], bool)
                    and (p[1] is None or is_number(p[1]))
                    for p in c
                )
                for c in v.values()
            )
        ),
        "an object of replicate -> list of [step, value] pairs",
    ),
    "sampler_changes": (
        lambda v: (
            isinstance(v, list)
            and all(
                isinstance(c, dict)
                and isinstance(c.get("from_trial"), int)
                and not isinstance(c.get("from_trial"), bool)
                and c["from_trial"] >= 0
                and isinstance(c.get("sampler"), dict)
                for c in v
            )
        ),
        'a list of {"from_trial": trial number, "sampler": {"class", "settings"}}',
    ),
    "numbers": (
        lambda v: isinstance(v, dict) and all(x is None or is_number(x) for x in v.values()),
        "an object of metric -> number",
    ),
}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A record class's field names, looked up once per class (``dataclasses.fields`` on every
    trial costs more than the rest of writing its record)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _stored_form(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A record's stored form from its (field, value) pairs: None values left out, the schema
    version added."""
    out = {name: value for name, value in items if value is not None}
    out[SCHEMA_KEY] = SCHEMA_VERSION
    return out


@dataclass(frozen=True)
class Record:
    """Fields map one to one to keys of the stored JSON object; ``KINDS`` names each field's
    check in :data:`CHECKS`. A None field is not stored."""

    #: The user attribute the record is stored under.
    ATTR: ClassVar[str]
    #: Whose attribute it is, for error messages ("trial", "study").
    OWNER: ClassVar[str]
    #: Field name -> its check in :data:`CHECKS`.
    KINDS: ClassVar[dict[str, str]] = {}

    def to_json(self) -> dict[str, Any]:
        """The stored form: a JSON-compatible dict with :data:`SCHEMA_KEY`, None fields left out."""
        return _stored_form((name, getattr(self, name)) for name in _field_names(type(self)))

    @classmethod
    def json_of(cls, **fields: Any) -> dict[str, Any]:
        """``cls(**fields).to_json()`` without building the record (it is on every trial's path).

        Raises:
            TypeError: for a name that is not one of the record's fields, as the constructor.
        """
        unknown = fields.keys() - _field_names(cls)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
        return _stored_form(fields.items())

    @classmethod
    def from_json(cls: type[_R], data: object, where: str | None = None) -> _R:
        """Read a stored record (any schema version up to :data:`SCHEMA_VERSION`; none means 1).
        Unknown keys are ignored (a newer release of the same version may add some).

        Raises:
            RecordError: if ``data`` is not a JSON object, a key holds a value of the wrong type,
                or the record is of a newer schema version.
        """
        where = where or f"{cls.OWNER} user attribute {cls.ATTR!r}"
        if not isinstance(data, Mapping):
            raise RecordError(f"{where} is {type(data).__name__} {data!r:.80}, expected a JSON object")
        check_version(where, data)
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            check, expected = CHECKS[cls.KINDS[f.name]]
            if value is not None and not check(value):
                raise fail(where, f.name, value, expected)
            values[f.name] = value
        return cls(**values)


_S = TypeVar("_S", bound="StudyRecord")


@dataclass(frozen=True)
class StudyRecord(Record):
    """A record stored with the study (a study user attribute): read and written alike."""

    OWNER: ClassVar[str] = "study"

    @classmethod
    def from_study(cls: type[_S], study: optuna.Study) -> _S | None:
        """The stored record, or None. Raises :class:`RecordError` as :meth:`from_json`."""
        stored = study.user_attrs.get(cls.ATTR)
        return None if stored is None else cls.from_json(stored)

    def store(self, study: optuna.Study) -> None:
        """Store the record (:attr:`ATTR`) with ``study``."""
        study.set_user_attr(self.ATTR, self.to_json())
