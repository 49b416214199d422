"""What the figures share: the section record, colors, layout defaults, subsampling, number format."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

#: Scatter plots of trials keep at most this many points (more would be an unreadable blot).
MAX_POINTS = 4000
#: Parallel coordinates keep at most this many lines.
MAX_LINES = 3000
#: Points drawn over the contour.
MAX_CONTOUR_POINTS = 1500
#: Parameters shown in slice plots and parallel coordinates (most important first).
MAX_PARAMS = 12

COLORS = {
    "complete": "#1f77b4",
    "pruned": "#ff7f0e",
    "failed": "#d62728",
    "infeasible": "#9467bd",
    "best": "#d62728",
    "best_so_far": "#2ca02c",
    "baseline": "#555555",
    "dominated": "#b8b8b8",
    "front": "#1f77b4",
}
#: Sequential colorscale, turned so that the best values are always yellow (see :func:`colorscale_reversed`).
COLORSCALE = "Viridis"


@dataclass
class Section:
    """One part of the report: a figure (or None) with the text that goes with it.

    ``caption`` says how to read the figure; ``note`` why it is missing or what to keep in
    mind; ``html`` is extra, already escaped HTML (e.g. a table) shown under the figure.
    """

    key: str
    title: str
    caption: str = ""
    figure: Any = None
    note: str | None = None
    html: str = ""


def layout(height: int, **extra: Any) -> dict[str, Any]:
    """Common layout: white template, compact margins, fixed height, full width."""
    base: dict[str, Any] = {
        "template": "plotly_white",
        "height": height,
        "autosize": True,
        "margin": {"l": 70, "r": 30, "t": 40, "b": 55},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        "hoverlabel": {"namelength": -1},
    }
    base.update(extra)
    return base


def subsample(rows: IntArray, limit: int, priority: IntArray, seed: int = 0) -> IntArray:
    """At most ``limit`` of ``rows``, sorted: the rows of ``priority`` (best first) that are in
    ``rows`` up to a fifth of ``limit``, then a seeded random draw of the others.

    Deterministic for the same input, so the same study gives the same report.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size <= limit:
        return rows
    keep = priority[np.isin(priority, rows)][: limit // 5]
    rest = np.setdiff1d(rows, keep, assume_unique=False)
    draw = np.random.default_rng(seed).choice(rest, size=limit - keep.size, replace=False)
    return np.sort(np.concatenate([keep, draw])).astype(np.int64)


def sampled_note(shown: int, total: int, what: str = "trials") -> str:
    """``""`` when everything is shown, else a sentence saying what was subsampled."""
    if shown >= total:
        return ""
    return f" Showing {shown:,} of {total:,} {what}: the best ones and a random sample of the rest."


def fmt(x: float, digits: int = 4) -> str:
    """``x`` with ``digits`` significant digits; "n/a" for NaN or None."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}g}"


def estimate(mean: float, sem: float, n: int) -> str:
    """``"mean ± SEM (n = N)"``, or just the value when there are no replicate statistics."""
    if n <= 0:
        return fmt(mean)
    if math.isnan(sem):
        return f"{fmt(mean)} (n = {n})"
    return f"{fmt(mean)} ± {fmt(sem, 2)} (n = {n})"


def colorscale_reversed(direction: str) -> bool:
    """Whether to reverse :data:`COLORSCALE` so that the best values are yellow: yes when minimizing."""
    return direction == "minimize"
