"""Metrics a step returns beside its output, as crystallize-ml steps do: ``return data,
{"accuracy": 0.93}``."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from ..context import FrozenContext


def take_returned_metrics(output: Any, ctx: FrozenContext) -> Any:
    """Return the data a step passes on, adding the metrics it returned with it to ``ctx``.

    A 2-tuple whose second item is a non-empty mapping of metric names (strings) to numbers is
    ``(data, metrics)``: each metric is added with ``ctx.metrics.add`` and ``data`` goes on.
    Anything else is the step's data, unchanged. crystallize-ml unpacked every 2-tuple ending in
    a mapping, so a step returning ``(x, some_dict)`` as its data lost the dict; here a mapping
    with a value that is not a number (a bool is not one) stays data.
    """
    if type(output) is not tuple or len(output) != 2:
        return output
    data, metrics = output
    if (
        not isinstance(metrics, Mapping)
        or not metrics
        or not all(_is_metric(k, v) for k, v in metrics.items())
    ):
        return output
    for name, value in metrics.items():
        ctx.metrics.add(name, value)
    return data


def _is_metric(name: object, value: object) -> bool:
    return isinstance(name, str) and isinstance(value, numbers.Number) and not isinstance(value, bool)
