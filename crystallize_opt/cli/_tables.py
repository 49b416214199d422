"""Plain-text tables for the command line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..optimize import WinnerSelection
from ..ranking import StudyBest

#: Marks a noise-aware study's best value in ``studies``: the winner's held-out estimate.
WINNER_MARK = "(winner, held-out)"


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
    lines = [selection.summary(metric)]
    executions = selection.executions_text()
    if executions is not None:
        lines.append(f"executions: {executions}")
    return "\n".join(lines)


def best_cell(best: StudyBest | None) -> tuple[str, bool] | None:
    """The ``best`` column of ``studies`` and whether it is a noise-aware winner's: the best
    trial's values; for a winner, its held-out estimate (mean on held-out seeds, marked
    :data:`WINNER_MARK`), else its search estimate (marked so); None when there is no best."""
    if best is None:
        return None
    selection = best.selection
    if selection is None:
        values = best.trial.values if best.trial is not None else None
        return (", ".join(fmt(v) for v in values), False) if values else None
    if selection.holdout_estimate is not None:
        return f"{fmt(selection.holdout_estimate)} {WINNER_MARK}", True
    return f"{fmt(selection.search_estimate)} (winner, search estimate)", True
