"""Checks of the arguments an Experiment is built or run with."""

from __future__ import annotations

from typing import Any, TypeVar

from ..exceptions import ConfigurationError
from ..hypothesis import Hypothesis
from ..treatment import Treatment

ItemT = TypeVar("ItemT")


def positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be a positive integer, got {value!r}")
    return value


def typed_list(items: Any, cls: type[ItemT], what: str) -> list[ItemT]:
    values = list(items or [])
    for index, item in enumerate(values):
        if not isinstance(item, cls):
            raise ConfigurationError(f"{what}[{index}] must be a {cls.__name__}, got {type(item).__name__}")
    return values


def treatment_list(treatments: Any) -> list[Treatment]:
    items = typed_list(treatments, Treatment, "treatments")
    names = [t.name for t in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(f"treatment names must be unique; repeated: {duplicates}")
    return items


def hypothesis_list(hypotheses: Any) -> list[Hypothesis]:
    return typed_list(hypotheses, Hypothesis, "hypotheses")
