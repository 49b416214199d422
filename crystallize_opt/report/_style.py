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


def best_star(size: int) -> dict[str, Any]:
    """The marker of the best trial (the chosen winner, or the point closest to the ideal): the
    same star in every plot."""
    return {"symbol": "star", "size": size, "color": COLORS["best"], "line": {"width": 1, "color": "white"}}


#: Sequential colorscale, turned so that the best values are always yellow (see :func:`colorscale_reversed`).
COLORSCALE = "Viridis"
#: Trial-number colors of the slice plots: light blue (early) to dark blue (late), never near-white.
TRIAL_COLORSCALE = [[0.0, "#9ecae1"], [0.5, "#3f87c1"], [1.0, "#08306b"]]
#: A quantity whose positive values span at least this ratio (max / min) is drawn on a log scale.
LOG_SPAN = 100.0


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


def tick_label(x: float) -> str:
    """A tick label of a log axis: ``1``, ``10``, ``0.01``, ``1000``; ``1e-5``, ``2e6`` beyond."""
    if 1e-4 <= abs(x) < 1e5 or x == 0:
        return f"{x:.6g}"
    text = f"{x:.3g}"
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else text


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Ticks of a log axis spanning ``10**lo`` to ``10**hi`` (the bounds given in log10): the
    positions in log10 and their labels in the quantity's own units (``1``, ``10``, ``1e-05``),
    as plotly's own log ticks are not (``9 1 2 3 ... 10 2 3``).

    Powers of ten over wide spans (every other one past 8 decades), with 2 and 5 in between over
    narrow ones, and at least two ticks: evenly spaced in log10 when no round number falls inside.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    lo, hi = min(lo, hi), max(lo, hi)
    decades = hi - lo
    mantissas = (
        (1.0,) if decades > 3 else (1.0, 2.0, 5.0) if decades > 0.7 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    )
    step = 2 if decades > 8 else 1
    eps = 1e-9
    values = [
        m * 10.0**k
        for k in range(math.floor(lo) - 1, math.ceil(hi) + 1)
        for m in mantissas
        if m != 1.0 or k % step == 0
    ]
    inside = sorted({v for v in values if lo - eps <= math.log10(v) <= hi + eps})
    if len(inside) < 2:
        inside = [float(f"{10.0**t:.2g}") for t in np.linspace(lo, hi, 4)]
        inside = sorted({v for v in inside if v > 0})
    return [math.log10(v) for v in inside], [tick_label(v) for v in inside]


def log_axis(values: Any) -> dict[str, Any]:
    """Layout of a plotly log axis over ``values`` (positive, in the quantity's units) with the
    labels of :func:`log_ticks`: ``{"type": "log", "tickvals", "ticktext"}`` (tick values in
    units, as plotly's log axes take them)."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array) & (array > 0)]
    if array.size == 0:
        return {"type": "log"}
    ticks, labels = log_ticks(float(np.log10(array.min())), float(np.log10(array.max())))
    return {"type": "log", "tickvals": [10.0**t for t in ticks], "ticktext": labels}


def spans_decades(values: Any) -> bool:
    """Whether ``values`` (finite ones) are all positive and span at least :data:`LOG_SPAN`."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    return bool(array.size >= 2 and array.min() > 0 and array.max() / array.min() >= LOG_SPAN)
