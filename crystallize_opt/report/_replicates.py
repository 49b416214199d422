"""Per-replicate distribution of the top trials' objective values (and the baseline's)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._data import ReportData
from ._style import COLORS, Section, layout


def replicates_section(data: ReportData) -> Section:
    """Box plots with every replicate's value, one box per top trial (best first), one row per objective."""
    section = Section("replicates", f"Replicates of the top {data.top_k} trials")
    rows = [int(r) for r in data.top if int(r) in data.replicates]
    best = data.best
    if best is not None and best not in rows and best in data.replicates:  # a winner ranked lower
        rows.insert(0, best)
    if not rows:
        section.note = (
            "No completed feasible trial yet."
            if data.ranking.size == 0
            else "No per-replicate values are stored with these trials (the study was not made by crystallize-opt)."
        )
        return section
    k = len(data.metrics)
    fig = make_subplots(rows=k, cols=1, shared_xaxes=True, vertical_spacing=0.08 if k > 1 else 0.0)
    baseline = data.baseline
    for j, metric in enumerate(data.metrics):
        if baseline is not None and baseline.values[j].size:
            fig.add_trace(
                go.Box(
                    y=baseline.values[j],
                    x=np.full(baseline.values[j].size, "baseline"),
                    name="baseline",
                    marker={"color": COLORS["baseline"], "size": 5},
                    boxpoints="all",
                    jitter=0.35,
                    pointpos=0,
                    boxmean=True,
                    showlegend=False,
                    hovertemplate="baseline<br>%{y:.4g}<extra></extra>",
                ),
                row=j + 1,
                col=1,
            )
        for rank, row in enumerate(rows, start=1):
            values = data.replicates[row][j]
            label = f"#{rank}: trial {data.number[row]}"
            if data.selection is not None and row == best:
                label += " (winner)"
            fig.add_trace(
                go.Box(
                    y=values,
                    x=np.full(values.size, label),
                    name=label,
                    marker={"color": COLORS["best"] if row == best else COLORS["complete"], "size": 5},
                    boxpoints="all",
                    jitter=0.35,
                    pointpos=0,
                    boxmean=True,
                    showlegend=False,
                    hovertemplate=f"trial {data.number[row]}<br>%{{y:.4g}}<extra></extra>",
                ),
                row=j + 1,
                col=1,
            )
        fig.update_yaxes(title_text=metric, row=j + 1, col=1)
    fig.update_xaxes(type="category", tickangle=-30 if len(rows) > 6 else 0)
    fig.update_layout(**layout(120 + 300 * k, showlegend=False))
    fig.update_layout(margin={"t": 20, "b": 80})
    which = "objective" if k == 1 else "objectives (one row each)"
    baseline_text = " The grey box on the left is the baseline." if baseline is not None else ""
    order = (
        "ranked as the winner was chosen (the selection's candidates first, the winner first, then the "
        "value told to Optuna)"
        if data.selection is not None
        else "best first"
    )
    highlight = f" The red box is {data.best_words}." if best is not None and best in rows else ""
    section.caption = (
        f"Every replicate's value of the {which} for the top trials, {order} (rank: trial number); the box "
        "spans the quartiles, the solid line is the median and the dashed line the mean. Overlapping boxes mean "
        "the ranking among them is within the noise." + highlight + baseline_text
    )
    section.figure = fig
    return section
