"""Plain-text tables for the command line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..optimize import WinnerSelection


def fmt(value: Any, digits: int = 6) -> str:
    """Format a number compactly (``-`` for None or NaN); other values with ``str``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render ``rows`` under ``headers`` with aligned columns (numbers right-aligned)."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def selection_text(selection: WinnerSelection, metric: str) -> str:
    """How a noise-aware study chose its winner, for people: the winner and rule, its search and
    held-out estimates, the test against the baseline, and where the executions went."""
    executions = selection.executions
    lines = [selection.summary(metric)]
    if executions:
        lines.append(
            f"executions: {executions.get('search', 0)} search, {executions.get('confirmation', 0)} "
            f"confirmation, {executions.get('holdout', 0)} held-out (budget {executions.get('budget', '-')})"
        )
    return "\n".join(lines)
