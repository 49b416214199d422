"""The :func:`verifier` decorator: a function of two samples and parameters, made into a factory
of picklable verifiers."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Samples = Mapping[str, Sequence[Any]]


class VerifierCallable:
    """A verifier made by :func:`verifier`: ``v(baseline, treatment)`` calls the decorated
    function with the two samples and the parameters fixed when it was made.

    It pickles by reference to the decorated module-level function and its parameters, so
    hypotheses holding it travel to worker processes.
    """

    __slots__ = ("_fn", "params")

    def __init__(self, fn: Callable[..., Any], params: Mapping[str, Any]) -> None:
        self._fn = fn
        #: The parameters passed to the function on every call (defaults included).
        self.params: dict[str, Any] = dict(params)

    @property
    def name(self) -> str:
        """The decorated function's name (a Hypothesis's default name uses it)."""
        return str(getattr(self._fn, "__name__", "verifier"))

    @property
    def paired(self) -> bool:
        """True when the decorated function has a true ``paired`` attribute (see Hypothesis)."""
        return bool(getattr(self._fn, "paired", False))

    def __call__(self, baseline: Samples, treatment: Samples) -> Any:
        return self._fn(baseline, treatment, **self.params)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._fn.__module__, self._fn.__qualname__, self.params))

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"


def _rebuild(module: str, qualname: str, params: dict[str, Any]) -> VerifierCallable:
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    fn = getattr(target, "__wrapped__", target)  # the module holds the factory, or the function
    return VerifierCallable(fn, params)


def verifier(fn: Callable[..., Any]) -> Callable[..., VerifierCallable]:
    """Turn ``fn(baseline, treatment, **params)`` into a factory of verifiers.

    ``baseline`` and ``treatment`` are the first two parameters (whatever their names); the
    others are the verifier's parameters. ``factory(**params)`` returns a
    :class:`VerifierCallable` that calls ``fn(baseline, treatment, **params)`` with the
    function's defaults for those not given. For example::

        @verifier
        def mean_gain(baseline, treatment, metric="score", margin=0.0):
            gain = mean(treatment[metric]) - mean(baseline[metric])
            return {"gain": gain, "p_value": 0.0 if gain > margin else 1.0}

        Hypothesis(mean_gain(margin=0.1), metrics="score")

    Raises:
        TypeError: at decoration if ``fn`` takes fewer than two positional parameters; at the
            factory call for an unknown parameter or a missing one (no default), naming it.
    """
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2:
        raise TypeError(
            f"verifier {fn.__name__!r} must take the baseline and treatment samples as its first two parameters"
        )
    own = [p for p in params[2:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    names = {p.name for p in own}
    defaults = {p.name: p.default for p in own if p.default is not p.empty}
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params)

    @functools.wraps(fn)
    def factory(**overrides: Any) -> VerifierCallable:
        unknown = sorted(set(overrides) - names)
        if unknown and not open_ended:
            raise TypeError(
                f"verifier {fn.__name__!r} got unknown parameter(s) {unknown}; it takes {sorted(names)}"
            )
        missing = [p.name for p in own if p.name not in overrides and p.name not in defaults]
        if missing:
            raise TypeError(f"verifier {fn.__name__!r} is missing parameter(s) {missing}")
        return VerifierCallable(fn, {**defaults, **overrides})

    return factory
