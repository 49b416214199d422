"""Learning curves (``ctx.report``): one line per trial, the mean over its replicates, with each
replicate faint; pruned trials dashed and marked where they stopped."""

from __future__ import annotations

import math

import optuna
import plotly.graph_objects as go

from ..records import RecordError, TrialRecord
from ._data import ReportData
from ._style import COLORS, Section, layout

#: The most trials drawn: the best ranked first, then the others by trial number.
MAX_TRIALS = 40


def curves_section(study: optuna.Study, data: ReportData) -> Section | None:
    """The learning-curves section, or None when no trial stored a curve."""
    curves: dict[int, tuple[str, dict[int, list[tuple[int, float]]], dict[str, object] | None]] = {}
    for trial in study.get_trials(deepcopy=False):
        try:
            record = TrialRecord.from_trial(trial)
        except RecordError:
            continue
        if record is None or not record.curves:
            continue
        by_replicate = {int(r): record.curve_of(int(r)) for r in record.curves}
        curves[trial.number] = (trial.state.name, by_replicate, record.pruned)
    if not curves:
        return None
    ranked = [int(data.number[row]) for row in data.ranking if int(data.number[row]) in curves]
    order = ranked[:10] + sorted(set(curves) - set(ranked[:10]))
    shown = order[:MAX_TRIALS]
    best = None if data.best is None else int(data.number[data.best])
    section = Section("curves", "Learning curves")
    section.caption = (
        "What the steps reported while they trained (ctx.report): one line per trial, the mean over its "
        "replicates at each step, each replicate faint. Pruned trials are dashed, with an x where the pruner "
        "stopped them (hover for why)."
    )
    if len(curves) > len(shown):
        section.note = (
            f"{len(shown)} of {len(curves)} trials with curves shown: the 10 best, then by trial number."
        )
    fig = go.Figure()
    for number in shown:
        state, by_replicate, pruned = curves[number]
        color = (
            COLORS["best"]
            if number == best
            else COLORS["pruned"]
            if state == "PRUNED"
            else COLORS["complete"]
        )
        label = f"trial {number}" + (
            " (best)" if number == best else " (pruned)" if state == "PRUNED" else ""
        )
        for replicate, curve in sorted(by_replicate.items()):
            fig.add_trace(
                go.Scatter(
                    x=[s for s, _ in curve],
                    y=[v for _, v in curve],
                    mode="lines",
                    line={"color": color, "width": 1},
                    opacity=0.2,
                    showlegend=False,
                    legendgroup=label,
                    hovertemplate=f"{label}, replicate {replicate}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
                )
            )
        steps, means = _mean_curve(by_replicate)
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=means,
                mode="lines",
                name=label,
                legendgroup=label,
                line={"color": color, "width": 2, "dash": "dash" if state == "PRUNED" else "solid"},
                hovertemplate=f"{label}, mean of {len(by_replicate)} replicate(s)<br>step %{{x}}: %{{y:.4g}}"
                "<extra></extra>",
            )
        )
        if pruned is not None and pruned.get("step") is not None:
            stopped = by_replicate.get(int(pruned.get("replicate") or 0)) or []  # type: ignore[call-overload]
            if stopped:
                fig.add_trace(
                    go.Scatter(
                        x=[stopped[-1][0]],
                        y=[stopped[-1][1]],
                        mode="markers",
                        marker={"symbol": "x", "size": 10, "color": color},
                        showlegend=False,
                        legendgroup=label,
                        hovertext=[str(pruned.get("reason", "pruned"))],
                        hovertemplate=f"{label} stopped here<br>%{{hovertext}}<extra></extra>",
                    )
                )
    fig.update_layout(layout(450, xaxis_title="step (e.g. epoch)", yaxis_title="reported value"))
    section.figure = fig
    return section


def _mean_curve(by_replicate: dict[int, list[tuple[int, float]]]) -> tuple[list[int], list[float]]:
    """At each step, the mean over the replicates that reported a finite value there."""
    sums: dict[int, list[float]] = {}
    for curve in by_replicate.values():
        for step, value in curve:
            if math.isfinite(value):
                sums.setdefault(step, []).append(value)
    steps = sorted(sums)
    return steps, [math.fsum(sums[s]) / len(sums[s]) for s in steps]
