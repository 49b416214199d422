"""Search spaces: a dict of Optuna distributions (and constants), or a callable for conditional spaces."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json

from .._fingerprint import source_fingerprint
from ..exceptions import ConfigurationError

SearchSpaceSpec = Mapping[str, Any] | Callable[[optuna.Trial], Mapping[str, Any]]


class SearchSpace:
    """Turns an Optuna trial into treatment parameters.

    ``spec`` is either a mapping of parameter name -> :class:`optuna.distributions.BaseDistribution`
    (or a constant value, passed to every treatment unchanged), or a callable
    ``space(trial) -> dict`` that calls ``trial.suggest_*`` itself (conditional spaces) and
    returns the treatment's parameters.

    Raises:
        ConfigurationError: if ``spec`` is neither, has a non-string key, or has no parameter.
    """

    def __init__(self, spec: SearchSpaceSpec):
        if callable(spec) and not isinstance(spec, Mapping):
            self._callable: Callable[[optuna.Trial], Mapping[str, Any]] | None = spec
            self.distributions: dict[str, BaseDistribution] = {}
            self.constants: dict[str, Any] = {}
            return
        if not isinstance(spec, Mapping) or not spec:
            raise ConfigurationError(
                "search_space must be a non-empty dict of Optuna distributions (or constants), "
                f"or a callable space(trial) -> dict; got {spec!r}"
            )
        bad_keys = [k for k in spec if not isinstance(k, str) or not k]
        if bad_keys:
            raise ConfigurationError(f"search_space keys must be non-empty strings, got {bad_keys!r}")
        self._callable = None
        self.distributions = {k: v for k, v in spec.items() if isinstance(v, BaseDistribution)}
        self.constants = {k: v for k, v in spec.items() if not isinstance(v, BaseDistribution)}
        if not self.distributions:
            raise ConfigurationError("search_space has no Optuna distribution: there is nothing to search")

    @property
    def is_conditional(self) -> bool:
        """True for a callable space (its parameters are only known trial by trial)."""
        return self._callable is not None

    @property
    def names(self) -> set[str] | None:
        """Every parameter name of a dict space; None for a callable space."""
        return None if self._callable is not None else set(self.distributions) | set(self.constants)

    def ask(self, study: optuna.Study) -> tuple[optuna.Trial, dict[str, Any]]:
        """Create a trial in ``study`` and return it with the treatment parameters it stands for.

        Raises:
            ConfigurationError: if a callable space returns something other than a mapping.
        """
        if self._callable is None:
            trial = study.ask(self.distributions)
            return trial, {**self.constants, **trial.params}
        trial = study.ask()
        params = self._callable(trial)
        if not isinstance(params, Mapping):
            raise ConfigurationError(
                f"search space callable {getattr(self._callable, '__name__', self._callable)!r} must return a dict "
                f"of treatment parameters, got {type(params).__name__}"
            )
        return trial, dict(params)

    def describe(self) -> dict[str, Any]:
        """A JSON-compatible description, stored with the study and compared on resume."""
        if self._callable is not None:
            name = getattr(self._callable, "__qualname__", type(self._callable).__name__)
            return {"kind": "callable", "name": name, "code": source_fingerprint(self._callable)}
        params: dict[str, Any] = {
            name: json.loads(distribution_to_json(d)) for name, d in self.distributions.items()
        }
        params.update(
            {
                name: {"constant": json.loads(json.dumps(v, default=repr))}
                for name, v in self.constants.items()
            }
        )
        return {"kind": "dict", "params": dict(sorted(params.items()))}


def describe_differences(stored: Mapping[str, Any], given: Mapping[str, Any], label: str) -> list[str]:
    """List how two :meth:`SearchSpace.describe` (or objective) descriptions differ, key by key."""
    if stored == given:
        return []
    if stored.get("kind") == given.get("kind") == "dict":
        old, new = stored.get("params", {}), given.get("params", {})
        out = [f"{label}: parameter {k!r} removed (was {old[k]})" for k in sorted(set(old) - set(new))]
        out += [f"{label}: parameter {k!r} added ({new[k]})" for k in sorted(set(new) - set(old))]
        out += [
            f"{label}: parameter {k!r} was {old[k]}, now {new[k]}"
            for k in sorted(set(old) & set(new))
            if old[k] != new[k]
        ]
        return out
    keys = sorted(set(stored) | set(given))
    return [
        f"{label}: {k} was {stored.get(k)!r}, now {given.get(k)!r}"
        for k in keys
        if stored.get(k) != given.get(k)
    ]
