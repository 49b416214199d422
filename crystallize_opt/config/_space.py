"""The search-space compiler: YAML parameter entries -> Optuna distributions (and constants)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from ._errors import describe, names_list
from ._schema import Field

PARAMETER_TYPES = ("float", "int", "categorical", "constant")
_KEYS = {
    "float": ("type", "low", "high", "log", "step"),
    "int": ("type", "low", "high", "log", "step"),
    "categorical": ("type", "choices"),
    "constant": ("type", "value"),
}
#: The largest grid a grid sampler may be given (points of the whole space).
MAX_GRID_POINTS = 1_000_000


def compile_search_space(
    mapping: Any, *, path_prefix: str = "optimize.search_space", source: str | None = None
) -> dict[str, Any]:
    """Compile a search-space mapping (as read from YAML) into Optuna distributions.

    Each entry ``name: {type: ..., ...}`` becomes a
    :class:`~optuna.distributions.FloatDistribution`, an
    :class:`~optuna.distributions.IntDistribution`, a
    :class:`~optuna.distributions.CategoricalDistribution`, or (``type: constant``) the plain
    value, given to every trial unchanged. The result can be passed to
    :class:`~crystallize_opt.OptunaOptimizer` as its ``search_space``.

    Args:
        mapping: parameter name -> entry (see the package documentation for the entry keys).
        path_prefix: the key path of ``mapping``, used in error messages.
        source: the file the mapping comes from, used in error messages.

    Raises:
        ConfigurationError: one per problem, naming the key path (e.g.
            ``optimize.search_space.lr.low``), what was found and what is allowed.
    """
    space = Field(mapping, path_prefix, source)
    if not isinstance(mapping, dict) or not mapping:
        raise space.error(f"expected a non-empty mapping of parameter name -> entry, got {describe(mapping)}")
    compiled = {name: compile_parameter(entry) for name, entry in space.items()}
    if not any(isinstance(v, BaseDistribution) for v in compiled.values()):
        raise space.error(
            f"has only constants {names_list(compiled)}; at least one parameter must be of type float, "
            "int or categorical (there is nothing to search otherwise)"
        )
    return compiled


def compile_parameter(entry: Field) -> Any:
    """One search-space entry -> an Optuna distribution, or the constant's value."""
    if not isinstance(entry.value, dict):
        raise entry.error(
            f"expected a mapping with a 'type' key ({names_list(PARAMETER_TYPES)}), got {describe(entry.value)}"
        )
    type_field = entry.child("type")
    if type_field is None:
        raise entry.error(f"missing required key 'type'; allowed types: {names_list(PARAMETER_TYPES)}")
    kind = type_field.choice(PARAMETER_TYPES)
    values = entry.mapping(_KEYS[kind])
    if kind == "constant":
        if "value" not in values:
            raise entry.error("missing required key 'value' (the constant given to every trial)")
        return values["value"]
    if kind == "categorical":
        return _categorical(entry)
    return _numeric(entry, kind)


def _categorical(entry: Field) -> CategoricalDistribution:
    choices_field = entry.child("choices")
    if choices_field is None:
        raise entry.error("missing required key 'choices' (a non-empty list)")
    choices = choices_field.sequence()
    if not choices:
        raise choices_field.error("expected a non-empty list of choices, got an empty list")
    for choice in choices:
        value = choice.value
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise choice.error(f"expected a string, number, boolean or null, got {describe(value)}")
        if isinstance(value, float) and math.isnan(value):
            raise choice.error("expected a string, number, boolean or null, got NaN (never equal to itself)")
    values = [c.value for c in choices]
    for index, value in enumerate(values):
        if any(_same(value, earlier) for earlier in values[:index]):
            raise choices[index].error(f"repeats choice {describe(value)}; give each choice once")
    return CategoricalDistribution(values)


def _same(a: Any, b: Any) -> bool:
    """Equal as Optuna would see them (``1``, ``1.0`` and ``true`` all compare equal)."""
    return bool(a == b)


def _numeric(entry: Field, kind: str) -> FloatDistribution | IntDistribution:
    values = entry.mapping()
    for key in ("low", "high"):
        if values.get(key) is None:
            raise entry.error(f"missing required key {key!r}")
    read: Callable[[Field], float] = Field.integer if kind == "int" else Field.number
    low_field, high_field = entry.at("low", values["low"]), entry.at("high", values["high"])
    low, high = read(low_field), read(high_field)
    log_field, step_field = entry.child("log"), entry.child("step")
    log = False if log_field is None else log_field.boolean()
    step = None if step_field is None else read(step_field)
    if low > high:
        raise high_field.error(f"expected a value >= low ({low!r}), got {describe(high)}")
    if log and step_field is not None:
        raise step_field.error("step cannot be combined with log: true; remove one of them")
    if log and kind == "float" and low <= 0:
        raise low_field.error(f"with log: true, low must be > 0, got {describe(low)}")
    if log and kind == "int" and low < 1:
        raise low_field.error(f"with log: true, low must be >= 1, got {describe(low)}")
    if step_field is not None and step is not None:
        if step <= 0:
            raise step_field.error(f"expected a positive step, got {describe(step)}")
        _check_step(step_field, low, high, step)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "int":
                return IntDistribution(int(low), int(high), log=log, step=int(step or 1))
            return FloatDistribution(
                float(low), float(high), log=log, step=None if step is None else float(step)
            )
    except (ValueError, OverflowError) as exc:  # e.g. a value too large for a float
        raise entry.error(f"Optuna rejects this entry: {exc}") from exc


def _check_step(step_field: Field, low: float, high: float, step: float) -> None:
    """``high - low`` must be a whole number of steps (Optuna would silently lower ``high``)."""
    try:
        span, size = Decimal(str(high)) - Decimal(str(low)), Decimal(str(step))
        whole = span % size == 0
    except ArithmeticError:  # more steps than Decimal's 28 digits can count
        raise step_field.error(f"step {step!r} is too small for the range {low!r} to {high!r}") from None
    if not whole:
        raise step_field.error(
            f"high - low ({high!r} - {low!r}) must be a whole number of steps of {step!r}; "
            "adjust high or step"
        )


def grid_values(name: str, distribution: BaseDistribution, field: Field) -> list[Any]:
    """Every value of a finite distribution, for the grid sampler."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, IntDistribution):
        count = (distribution.high - distribution.low) // distribution.step + 1
        _check_grid_size(field, name, count)
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        low, step = Decimal(str(distribution.low)), Decimal(str(distribution.step))
        count = int((Decimal(str(distribution.high)) - low) / step) + 1
        _check_grid_size(field, name, count)
        return [float(low + i * step) for i in range(count)]
    raise field.error(
        f"the grid sampler needs a finite space, but parameter {name!r} is a float without step; "
        "give it a step, or make it categorical"
    )


def _check_grid_size(field: Field, name: str, count: int) -> None:
    if count > MAX_GRID_POINTS:
        raise field.error(
            f"parameter {name!r} has {count} grid values; the grid sampler allows at most {MAX_GRID_POINTS} points"
        )


def compile_grid(space: Mapping[str, Any], field: Field) -> dict[str, list[Any]]:
    """The grid of a compiled search space (constants excluded), capped at :data:`MAX_GRID_POINTS`."""
    grid = {n: grid_values(n, d, field) for n, d in space.items() if isinstance(d, BaseDistribution)}
    total = math.prod(len(v) for v in grid.values())
    if total > MAX_GRID_POINTS:
        raise field.error(f"the grid has {total} points; the grid sampler allows at most {MAX_GRID_POINTS}")
    return grid
