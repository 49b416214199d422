"""Treatments: named sets of context values (the parameters) compared against the baseline."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, overload

from ._constants import RESERVED_CONTEXT_KEYS
from ._fingerprint import source_fingerprint
from ._paths import check_name
from .context import FrozenContext
from .exceptions import ConfigurationError


class Treatment:
    """A named variation of the experiment.

    ``apply`` is either a mapping of context values (the usual case, and the only one an
    optimizer produces) or a callable ``apply(ctx)`` that adds keys to the context itself.
    Mapping values take precedence over ``initial_ctx`` values of the same key.

    A treatment named ``"baseline"`` is not a condition of its own: as in crystallize-ml, a run
    applies it to the baseline (its values on top of ``initial_ctx``).

    Args:
        name: the condition's name (``"baseline"``: see above).
        apply: a mapping of context values, or a callable receiving the context.

    Raises:
        ConfigurationError: if ``name`` is not a plain file name (it names a
            folder: 1 to 255 bytes, no ``/``, ``\\``, control characters or leading ``.``), if
            ``apply`` is neither a mapping nor callable, or if the mapping sets a reserved key
            (``replicate``, ``condition``, ``seed_used``).
    """

    def __init__(self, name: str, apply: Mapping[str, Any] | Callable[[FrozenContext], Any] | None = None):
        check_name(name, "Treatment name")  # it names the condition's folder of artifacts
        if apply is None:
            apply = {}
        if not isinstance(apply, Mapping) and not callable(apply):
            raise ConfigurationError(
                f"Treatment {name!r}: apply must be a mapping of context values or a callable, "
                f"got {type(apply).__name__}"
            )
        if isinstance(apply, Mapping):
            bad = sorted(set(apply) & RESERVED_CONTEXT_KEYS)
            if bad:
                raise ConfigurationError(
                    f"Treatment {name!r} sets reserved context key(s) {bad}; the engine sets "
                    f"{sorted(RESERVED_CONTEXT_KEYS)} itself"
                )
            non_str = [k for k in apply if not isinstance(k, str)]
            if non_str:
                raise ConfigurationError(f"Treatment {name!r}: context keys must be strings, got {non_str!r}")
        self.name = name
        self._apply = dict(apply) if isinstance(apply, Mapping) else apply

    @property
    def params(self) -> dict[str, Any]:
        """The context values this treatment sets (empty for a callable treatment)."""
        return dict(self._apply) if isinstance(self._apply, dict) else {}

    @property
    def apply_map(self) -> dict[str, Any]:
        """The context values this treatment sets, as in crystallize-ml (the same as :attr:`params`)."""
        return self.params

    @property
    def is_callable(self) -> bool:
        """True when the treatment applies itself through a callable rather than a mapping."""
        return not isinstance(self._apply, dict)

    def apply(self, ctx: FrozenContext) -> None:
        """Add this treatment's values to ``ctx`` (or call the treatment's function on it).

        Raises:
            ContextMutationError: if a key is already in the context.
        """
        if isinstance(self._apply, dict):
            for key, value in self._apply.items():
                ctx.add(key, value)
        else:
            self._apply(ctx)

    def fingerprint(self) -> str:
        """Identify the treatment's parameters (or its function's code) for resume checks."""
        if isinstance(self._apply, dict):
            text = json.dumps(self._apply, sort_keys=True, default=repr)
        else:
            text = source_fingerprint(self._apply)
        return hashlib.sha256(f"{self.name}\0{text}".encode()).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Treatment):
            return NotImplemented
        return self.name == other.name and self._apply == other._apply

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        body = (
            self._apply if isinstance(self._apply, dict) else getattr(self._apply, "__name__", "<callable>")
        )
        return f"Treatment({self.name!r}, {body!r})"


TreatmentFunction = Callable[[FrozenContext], Any]


class _MappingApplier:
    """A picklable ``apply(ctx)`` adding ``items`` to the context (crystallize-ml's helper of that
    name, kept for code that built treatments with it)."""

    def __init__(self, items: Mapping[str, Any]) -> None:
        self.items = dict(items)

    def __call__(self, ctx: FrozenContext) -> None:
        """Add every item to ``ctx``.

        Raises:
            ContextMutationError: if a key is already in the context.
        """
        for key, value in self.items.items():
            ctx.add(key, value)


@overload
def treatment(name: str, apply: Mapping[str, Any] | TreatmentFunction) -> Treatment: ...
@overload
def treatment(name: str, apply: None = None) -> Callable[[TreatmentFunction], Callable[[], Treatment]]: ...


def treatment(
    name: str, apply: Mapping[str, Any] | TreatmentFunction | None = None
) -> Treatment | Callable[[TreatmentFunction], Callable[[], Treatment]]:
    """Make a :class:`Treatment` named ``name``, directly or by decorating its function.

    ``treatment("x2", {"factor": 2})`` (or with a callable ``apply``) returns
    ``Treatment("x2", {"factor": 2})``. ``treatment("x2")`` returns a decorator: applied to a
    function ``fn(ctx)``, it gives a factory taking no arguments that returns
    ``Treatment("x2", fn)``, as in crystallize-ml::

        @treatment("double")
        def double(ctx):
            ctx.add("factor", 2)

        experiment.run(treatments=[double()])

    Raises:
        ConfigurationError: as :class:`Treatment` does (a reserved or invalid name, an ``apply``
            that is neither a mapping nor callable); for the decorator form, when the factory is
            called.
    """
    if apply is not None:
        return Treatment(name, apply)
    check_name(name, "Treatment name")  # fail at decoration, not at the first call

    def decorate(fn: TreatmentFunction) -> Callable[[], Treatment]:
        @functools.wraps(fn)
        def factory() -> Treatment:
            return Treatment(name, fn)

        return factory

    return decorate
