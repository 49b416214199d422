"""Optimization history: each trial's mean ± SEM, best so far, baseline, pruned and failed trials."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..ranking import oriented
from ._data import BoolArray, FloatArray, ReportData
from ._style import COLORS, Section, best_star, estimate, layout, log_ticks, spans_decades

#: The focused view of the history spans the best trials up to this quantile of their means.
FOCUS_QUANTILE = 0.5
#: The focused view is offered when it is at most this fraction of the whole range.
FOCUS_SHRINK = 0.5

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
    """Lower and upper end of the y axis of objective ``j`` over every trial, and the padding used."""
    mean, sem = data.mean[:, j], np.nan_to_num(data.sem[:, j])
    finite = np.isfinite(mean)
    lows, highs = [mean[finite] - sem[finite]], [mean[finite] + sem[finite]]
    if data.baseline is not None and np.isfinite(data.baseline.mean[j]):
        b, s = data.baseline.mean[j], np.nan_to_num(data.baseline.sem[j])
        lows.append(np.array([b - s]))
        highs.append(np.array([b + s]))
    return _padded(np.concatenate(lows + highs))


def _padded(ends: FloatArray) -> tuple[float, float, float]:
    ends = ends[np.isfinite(ends)]
    if ends.size == 0:
        return 0.0, 1.0, 0.1
    lo, hi = float(ends.min()), float(ends.max())
    pad = 0.06 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo, hi, pad


@dataclass(frozen=True)
class View:
    """One way to scale the y axis of an objective: its name (a button), the axis settings, and
    how many trials' means fall outside it."""

    label: str
    axis: dict[str, Any]
    hidden: int = 0


def views(data: ReportData, j: int) -> list[View]:
    """The y-axis views of objective ``j``, the one shown first first.

    * Means that are all positive and span :data:`~._style.LOG_SPAN` or more: a log axis (every
      trial), then the linear axis of every trial.
    * Else, when the better :data:`FOCUS_QUANTILE` of the trials (with their SEM bars, the best so
      far and the baseline when it is not among the worst tenth) needs at most
      :data:`FOCUS_SHRINK` of the whole range: that focused range, then every trial.
    * Else only every trial.
    """
    lo, hi, pad = _range(data, j)
    everything = View("all trials", {"type": "linear", "range": [lo - 2 * pad, hi + pad]})
    mean, sem = data.mean[:, j], np.nan_to_num(data.sem[:, j])
    finite = np.isfinite(mean)
    if np.count_nonzero(finite) < 4:
        return [everything]
    if spans_decades(mean[finite]):
        logs = np.log10(mean[finite])
        a, b = float(logs.min()), float(logs.max())
        margin = 0.05 * (b - a)
        ticks, labels = log_ticks(a, b)
        axis = {
            "type": "log",
            "range": [a - margin, b + margin],
            "tickvals": [10.0**t for t in ticks],
            "ticktext": labels,
        }
        return [View("log scale", axis), View("linear scale", everything.axis)]
    sign = 1.0 if data.directions[j] == "minimize" else -1.0
    turned = sign * mean[finite]
    cut = float(np.quantile(turned, FOCUS_QUANTILE))
    inside = turned <= cut
    ends = [turned[inside] - sem[finite][inside], turned[inside] + sem[finite][inside]]
    if data.baseline is not None and np.isfinite(data.baseline.mean[j]):
        b = sign * float(data.baseline.mean[j])
        if b <= float(np.quantile(turned, 0.9)):
            s = float(np.nan_to_num(data.baseline.sem[j]))
            ends.append(np.array([b - s, b + s]))
    f_lo, f_hi, f_pad = _padded(np.concatenate(ends))
    if (f_hi - f_lo) > FOCUS_SHRINK * (hi - lo):
        return [everything]
    low, high = (f_lo - 2 * f_pad, f_hi + f_pad) if sign > 0 else (-f_hi - f_pad, -f_lo + 2 * f_pad)
    hidden = int(np.count_nonzero((mean[finite] < low) | (mean[finite] > high)))
    return [View("best trials", {"type": "linear", "range": [low, high]}, hidden), everything]


def _buttons(fig: go.Figure, all_views: list[list[View]]) -> None:
    """Buttons above the plot that switch every row between its views (when there is a choice)."""
    count = max(len(v) for v in all_views)
    if count < 2:
        return
    buttons = []
    for i in range(count):
        settings: dict[str, Any] = {}
        for j, row_views in enumerate(all_views):
            view = row_views[min(i, len(row_views) - 1)]
            axis = "yaxis" if j == 0 else f"yaxis{j + 1}"
            settings.update({f"{axis}.{key}": value for key, value in view.axis.items()})
            for key in ("tickvals", "ticktext"):
                settings.setdefault(f"{axis}.{key}", view.axis.get(key))
        labels = {v[i].label for v in all_views if len(v) == count}
        label = labels.pop() if len(labels) == 1 else ("focused" if i == 0 else "all trials")
        buttons.append({"label": label, "method": "relayout", "args": [settings]})
    fig.update_layout(
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "active": 0,
                "showactive": True,
                "x": 1.0,
                "xanchor": "right",
                "y": 1.01,
                "yanchor": "bottom",
                "pad": {"b": 0, "t": 0},
                "font": {"size": 11},
                "bgcolor": "#f3f3f3",
            }
        ]
    )


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
    all_views: list[list[View]] = []
    for j, metric in enumerate(data.metrics):
        first, row = j == 0, j + 1
        for name, mask, marker in groups:
            rows = np.flatnonzero(mask & np.isfinite(data.mean[:, j]))
            if rows.size:
                fig.add_trace(_points(data, rows, j, name, marker, first), row=row, col=1)
        if failed.size:  # ticks along the bottom, on a hidden axis of their own: in view at any scale
            ticks = go.Scatter(
                x=data.number[failed].astype(np.int32),
                y=np.full(failed.size, 0.03),
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
            )
            overlay = k + 1 + j
            ticks.update(xaxis="x" if row == 1 else f"x{row}", yaxis=f"y{overlay}")
            fig.add_trace(ticks)
            fig.layout[f"yaxis{overlay}"] = {
                "overlaying": "y" if row == 1 else f"y{row}",
                "range": [0, 1],
                "visible": False,
                "fixedrange": True,
            }
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
                    marker=best_star(14),
                    hovertemplate=f"{data.best_words} (trial %{{x}}): %{{y:.4g}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
        _add_baseline(fig, data, j, row)
        axis = "yaxis" if row == 1 else f"yaxis{row}"
        label = f"{metric}<br>(mean ± SEM)" if np.any(data.n[:, j] > 0) else metric
        row_views = views(data, j)
        all_views.append(row_views)
        fig.layout[axis].update(title_text=label, **row_views[0].axis)
    fig.update_xaxes(title_text="trial number", row=k, col=1)
    fig.update_layout(**layout(140 + 300 * k))
    _buttons(fig, all_views)
    if len(all_views[0]) > 1:
        fig.update_layout(margin={"t": 70})
    section.figure = fig
    section.caption = _caption(data, all_views)
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


def _caption(data: ReportData, all_views: list[list[View]]) -> str:
    stats = "its mean over replicates with ±1 SEM error bars" if np.any(data.n > 0) else "its value"
    parts = [f"Each point is a trial, at {stats}."]
    first = all_views[0]
    if first[0].label == "log scale":
        parts.append(
            'The values span orders of magnitude, so the axis is logarithmic; the "linear scale" button '
            "above the plot shows them on a linear axis."
        )
    elif len(first) > 1:
        hidden = sum(v[0].hidden for v in all_views)
        parts.append(
            "The axis is focused on the better half of the trials"
            + (
                f" ({hidden:,} worse {'mean is' if hidden == 1 else 'means are'} off the scale)"
                if hidden
                else ""
            )
            + '; the "all trials" button above the plot shows every trial.'
        )
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
