"""Optimization history: each trial's mean ± SEM, best so far, baseline, pruned and failed trials."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..ranking import oriented
from ._data import BoolArray, FloatArray, ReportData
from ._style import COLORS, Section, estimate, layout

#: Failed trials listed under the history (all of them are counted in the header).
MAX_FAILURES_LISTED = 20


def best_so_far(data: ReportData, objective: int = 0) -> tuple[FloatArray, FloatArray]:
    """``(trial numbers, best value so far)`` over the usable trials, in trial order.

    The values are those Optuna was told (the aggregate of the replicates), so the last one is
    ``study.best_value`` for a single-objective study.
    """
    rows = np.sort(data.ranking)
    if rows.size == 0:
        return np.empty(0), np.empty(0)
    direction = data.directions[objective]
    turned = oriented(data.value[rows, objective : objective + 1], [direction])[:, 0]
    best = np.minimum.accumulate(turned)
    values = best if direction == "minimize" else -best
    return data.number[rows].astype(float), np.asarray(values, dtype=float)


def _range(data: ReportData, j: int) -> tuple[float, float, float]:
    """Lower and upper end of the y axis of objective ``j``, and the padding used."""
    mean, sem = data.mean[:, j], np.nan_to_num(data.sem[:, j])
    finite = np.isfinite(mean)
    lows, highs = [mean[finite] - sem[finite]], [mean[finite] + sem[finite]]
    if data.baseline is not None and np.isfinite(data.baseline.mean[j]):
        b, s = data.baseline.mean[j], np.nan_to_num(data.baseline.sem[j])
        lows.append(np.array([b - s]))
        highs.append(np.array([b + s]))
    ends = np.concatenate(lows + highs)
    ends = ends[np.isfinite(ends)]
    if ends.size == 0:
        return 0.0, 1.0, 0.1
    lo, hi = float(ends.min()), float(ends.max())
    pad = 0.06 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo, hi, pad


def _points(
    data: ReportData, rows: np.ndarray, j: int, name: str, marker: dict[str, object], first: bool
) -> go.Scatter:
    size = 7 if data.n_trials <= 500 else 4
    return go.Scatter(
        x=data.number[rows].astype(np.int32),
        y=data.mean[rows, j],
        error_y={"type": "data", "array": data.sem[rows, j], "visible": True, "thickness": 1, "width": 0},
        mode="markers",
        name=f"{name} ({rows.size:,})",
        legendgroup=name,
        showlegend=first,
        marker={"size": size, **marker},
        hovertemplate=f"trial %{{x}} ({name})<br>%{{y:.4g}}<extra></extra>",
    )


def history_section(data: ReportData) -> Section:
    """The history figure (one row per objective) and the list of failed trials."""
    section = Section("history", "Optimization history")
    k = len(data.metrics)
    section.html = failures_html(data)
    if not np.any(np.isfinite(data.mean)):
        section.note = (
            "No trial has a value yet (none completed or was pruned with a value), so there is no history."
        )
        return section
    fig = make_subplots(rows=k, cols=1, shared_xaxes=True, vertical_spacing=0.06 if k > 1 else 0.0)
    complete = (data.state == "COMPLETE") & np.all(np.isfinite(data.mean), axis=1)
    plain = ~data.pareto if data.is_multi_objective else np.ones(data.n_trials, dtype=bool)
    groups: list[tuple[str, BoolArray, dict[str, object]]] = [
        ("complete", complete & data.feasible & plain, {"color": COLORS["complete"]}),
        ("infeasible", complete & ~data.feasible, {"color": COLORS["infeasible"], "symbol": "circle-open"}),
        (
            "pruned",
            data.state == "PRUNED",
            {"color": COLORS["pruned"], "symbol": "x-thin-open", "line": {"width": 1.5}},
        ),
    ]
    if data.is_multi_objective:
        groups.append(
            ("Pareto-optimal", data.pareto, {"color": COLORS["best"], "symbol": "diamond", "size": 8})
        )
    failed = np.flatnonzero(data.state == "FAIL")
    for j, metric in enumerate(data.metrics):
        first, row = j == 0, j + 1
        for name, mask, marker in groups:
            rows = np.flatnonzero(mask & np.isfinite(data.mean[:, j]))
            if rows.size:
                fig.add_trace(_points(data, rows, j, name, marker, first), row=row, col=1)
        lo, hi, pad = _range(data, j)
        if failed.size:
            fig.add_trace(
                go.Scatter(
                    x=data.number[failed].astype(np.int32),
                    y=np.full(failed.size, lo - 1.4 * pad),
                    mode="markers",
                    name=f"failed ({failed.size:,})",
                    legendgroup="failed",
                    showlegend=first,
                    marker={
                        "symbol": "line-ns-open",
                        "size": 10,
                        "color": COLORS["failed"],
                        "line": {"width": 2},
                    },
                    hovertemplate="trial %{x} failed<extra></extra>",
                ),
                row=row,
                col=1,
            )
        if not data.is_multi_objective:
            x, best = best_so_far(data, j)
            if x.size:
                x = np.append(x, max(float(data.number.max()), x[-1]))
                best = np.append(best, best[-1])
                label = (
                    "best so far" if data.aggregate in (None, "mean") else f"best so far ({data.aggregate})"
                )
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=best,
                        mode="lines",
                        line={"shape": "hv", "color": COLORS["best_so_far"], "width": 2},
                        name=label,
                        hovertemplate="best so far after trial %{x}: %{y:.4g}<extra></extra>",
                    ),
                    row=row,
                    col=1,
                )
        if data.best is not None:
            b = data.best
            fig.add_trace(
                go.Scatter(
                    x=np.array([data.number[b]], dtype=np.int32),
                    y=np.array([data.mean[b, j]]),
                    mode="markers",
                    name=data.best_name(b),
                    legendgroup="best",
                    showlegend=first,
                    marker={
                        "symbol": "star",
                        "size": 14,
                        "color": COLORS["best"],
                        "line": {"width": 1, "color": "white"},
                    },
                    hovertemplate=f"{data.best_words} (trial %{{x}}): %{{y:.4g}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
        _add_baseline(fig, data, j, row)
        axis = "yaxis" if row == 1 else f"yaxis{row}"
        label = f"{metric}<br>(mean ± SEM)" if np.any(data.n[:, j] > 0) else metric
        fig.layout[axis].update(title_text=label, range=[lo - 2 * pad, hi + pad])
    fig.update_xaxes(title_text="trial number", row=k, col=1)
    fig.update_layout(**layout(140 + 300 * k))
    section.figure = fig
    section.caption = _caption(data)
    return section


def _add_baseline(fig: go.Figure, data: ReportData, j: int, row: int) -> None:
    if data.baseline is None or not np.isfinite(data.baseline.mean[j]):
        return
    mean, sem, n = float(data.baseline.mean[j]), float(data.baseline.sem[j]), int(data.baseline.n[j])
    if np.isfinite(sem) and sem > 0:
        fig.add_hrect(
            y0=mean - sem,
            y1=mean + sem,
            fillcolor=COLORS["baseline"],
            opacity=0.12,
            line_width=0,
            row=row,
            col=1,
        )
    fig.add_hline(
        y=mean,
        line={"color": COLORS["baseline"], "dash": "dash", "width": 1.5},
        row=row,
        col=1,
        annotation_text=f"baseline {estimate(mean, sem, n)}",
        annotation_position="top left",
        annotation_font={"color": COLORS["baseline"], "size": 11},
    )


def _caption(data: ReportData) -> str:
    stats = "its mean over replicates with ±1 SEM error bars" if np.any(data.n > 0) else "its value"
    parts = [f"Each point is a trial, at {stats}."]
    if data.is_multi_objective:
        parts.append(
            "One row per objective; the Pareto-optimal trials are diamonds and the star is the trial closest to the ideal point."
        )
    else:
        parts.append(
            f"The green step line is the best value so far ({data.directions[0]}); the star is {data.best_words}"
            + (
                ", chosen after the search (see Winner and baseline): the best value so far is a search figure."
                if data.selection is not None
                else "."
            )
        )
    if data.baseline is not None:
        parts.append("The dashed line and grey band are the baseline's mean ± SEM.")
    if np.any(data.state == "PRUNED"):
        parts.append("Pruned trials (crosses) show the mean of the replicates they ran before being stopped.")
    if np.any(data.state == "FAIL"):
        parts.append(
            "Failed trials have no value: they are the red ticks along the bottom and are listed below."
        )
    if np.any(~data.feasible):
        parts.append("Hollow purple circles violate a constraint.")
    return " ".join(parts)


def failures_html(data: ReportData) -> str:
    """A table of the first failed trials with their reasons (escaped), or ``""``."""
    if not data.failures:
        return ""
    rows = "".join(
        f"<tr><td>{number}</td><td class='reason'>{html.escape(reason[:400])}</td></tr>"
        for number, reason in data.failures[:MAX_FAILURES_LISTED]
    )
    more = len(data.failures) - MAX_FAILURES_LISTED
    tail = f"<p class='note'>… and {more:,} more failed trial(s).</p>" if more > 0 else ""
    return (
        f"<details class='failures'><summary>{len(data.failures):,} failed trial(s)</summary>"
        f"<table class='data'><thead><tr><th>trial</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table>{tail}</details>"
    )
