"""The Pareto front of a multi-objective study: one scatter, or pairwise scatters for 3+ objectives."""

from __future__ import annotations

import itertools
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._data import ReportData
from ._style import COLORS, MAX_POINTS, Section, best_star, layout, sampled_note, subsample

#: Pairwise plots cover at most this many objectives (6 pairs).
MAX_OBJECTIVES = 4


def _label(data: ReportData, j: int) -> str:
    return f"{data.metrics[j]} ({data.directions[j]})"


def pareto_section(data: ReportData) -> Section | None:
    """None for a single-objective study; else the front highlighted among all trials."""
    if not data.is_multi_objective:
        return None
    section = Section("pareto", "Pareto front")
    if data.ranking.size == 0:
        section.note = "No completed feasible trial yet: there is no Pareto front."
        return section
    k = min(len(data.metrics), MAX_OBJECTIVES)
    pairs = list(itertools.combinations(range(k), 2))
    cols = min(3, len(pairs))
    nrows = math.ceil(len(pairs) / cols)
    fig = make_subplots(
        rows=nrows, cols=cols, horizontal_spacing=0.09, vertical_spacing=0.16 if nrows > 1 else 0.0
    )
    front = np.flatnonzero(data.pareto)
    dominated = np.flatnonzero(data.usable & ~data.pareto)
    infeasible = np.flatnonzero(
        (data.state == "COMPLETE") & ~data.feasible & np.all(np.isfinite(data.value), axis=1)
    )
    dominated = subsample(dominated, MAX_POINTS, data.ranking)
    infeasible = subsample(infeasible, MAX_POINTS // 4, data.ranking)
    front_shown = subsample(front, MAX_POINTS, data.ranking)
    two = len(data.metrics) == 2
    for p, (i, j) in enumerate(pairs):
        r, c, first = p // cols + 1, p % cols + 1, p == 0
        for rows, name, marker in (
            (dominated, "dominated", {"color": COLORS["dominated"], "size": 5}),
            (infeasible, "infeasible", {"color": COLORS["infeasible"], "size": 6, "symbol": "circle-open"}),
        ):
            if rows.size:
                fig.add_trace(
                    go.Scatter(
                        x=data.value[rows, i],
                        y=data.value[rows, j],
                        mode="markers",
                        name=f"{name} ({rows.size:,})",
                        legendgroup=name,
                        showlegend=first,
                        marker=marker,
                        customdata=data.number[rows].astype(np.int32),
                        hovertemplate="trial %{customdata}<br>%{x:.4g}, %{y:.4g}<extra>" + name + "</extra>",
                    ),
                    row=r,
                    col=c,
                )
        ordered = front_shown[np.argsort(data.value[front_shown, i], kind="stable")]
        fig.add_trace(
            go.Scatter(
                x=data.value[ordered, i],
                y=data.value[ordered, j],
                error_x={"type": "data", "array": data.sem[ordered, i], "thickness": 1, "width": 0},
                error_y={"type": "data", "array": data.sem[ordered, j], "thickness": 1, "width": 0},
                mode="lines+markers" if two else "markers",
                line={"color": COLORS["front"], "width": 1, "shape": "linear"},
                marker={"color": COLORS["front"], "size": 8, "symbol": "diamond"},
                name=f"Pareto-optimal ({front.size:,})",
                legendgroup="front",
                showlegend=first,
                customdata=data.number[ordered].astype(np.int32),
                hovertemplate="trial %{customdata}<br>%{x:.4g}, %{y:.4g}<extra>Pareto-optimal</extra>",
            ),
            row=r,
            col=c,
        )
        best = data.best
        if best is not None:
            fig.add_trace(
                go.Scatter(
                    x=np.array([data.value[best, i]]),
                    y=np.array([data.value[best, j]]),
                    mode="markers",
                    name=f"closest to ideal (trial {data.number[best]})",
                    legendgroup="best",
                    showlegend=first,
                    marker=best_star(15),
                    hovertemplate=f"trial {data.number[best]}<br>%{{x:.4g}}, %{{y:.4g}}<extra>closest to ideal</extra>",
                ),
                row=r,
                col=c,
            )
        fig.update_xaxes(title_text=_label(data, i), row=r, col=c)
        fig.update_yaxes(title_text=_label(data, j), row=r, col=c)
    fig.update_layout(**layout((520 if two else 380) * nrows + 60))
    fig.update_layout(margin={"t": 50})
    more = len(data.metrics) - k
    section.note = (
        f"Pairs of the first {k} objectives are shown; {more} more are in the table." if more > 0 else None
    )
    lines = "joined by a line, " if two else ""
    section.caption = (
        "Each completed feasible trial's objective values (what Optuna was told). The Pareto-optimal trials are "
        f"the diamonds, {lines}with ±1 SEM error bars; the star is the Pareto trial closest to the ideal point "
        "once each objective is scaled to [0, 1] over the front (what optimize returns)."
        + sampled_note(dominated.size + front_shown.size, int(np.count_nonzero(data.usable)))
    )
    section.figure = fig
    return section
