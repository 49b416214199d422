"""The parameters' figures: importances, slice plots and parallel coordinates."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._data import FloatArray, ParamColumn, ReportData
from ._style import (
    COLORS,
    COLORSCALE,
    MAX_LINES,
    MAX_PARAMS,
    MAX_POINTS,
    TRIAL_COLORSCALE,
    Section,
    best_star,
    layout,
    log_axis,
    log_ticks,
    sampled_note,
    subsample,
)


def importance_section(data: ReportData) -> Section:
    """Horizontal bars of the normalized importances, or a note when there are none."""
    section = Section("importance", "Parameter importances")
    imp = data.importances
    section.note = imp.note
    if not imp.values:
        return section
    names = list(imp.values)[::-1]
    values = np.array([imp.values[n] for n in names])
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker={"color": COLORS["complete"]},
            text=[f"{v:.2f}" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_layout(**layout(130 + 30 * len(names), showlegend=False))
    fig.update_layout(margin={"l": 20, "r": 50, "t": 20, "b": 50})
    fig.update_yaxes(automargin=True, ticksuffix="  ")
    fig.update_xaxes(title_text="importance (sum to 1)", range=[0, max(1e-9, float(values.max())) * 1.15])
    target = (
        "for reaching the Pareto front (PED-ANOVA's multi-objective target)"
        if data.is_multi_objective
        else f"for {data.metrics[0]}"
    )
    section.caption = (
        f"How much each parameter matters {target}, by Optuna's default evaluator (PED-ANOVA), "
        "over the completed trials. Normalized to sum to 1."
    )
    section.figure = fig
    return section


def _jitter(size: int) -> FloatArray:
    return np.random.default_rng(1).uniform(-0.18, 0.18, size)


def _axis_for(param: ParamColumn) -> dict[str, Any]:
    if param.is_categorical:
        assert param.choices is not None
        return {
            "tickvals": list(range(len(param.choices))),
            "ticktext": list(param.choices),
            "range": [-0.5, len(param.choices) - 0.5],
        }
    return log_axis(param.values) if param.log else {}


def slice_section(data: ReportData) -> Section:
    """One scatter per parameter of the (first) objective against that parameter's value."""
    section = Section("slice", "Slice plots")
    if data.ranking.size == 0 or not data.params:
        section.note = "No completed feasible trial with parameters yet: nothing to plot."
        return section
    params = data.params_by_importance()[:MAX_PARAMS]
    rows = subsample(np.sort(data.ranking), MAX_POINTS, data.ranking)
    cols = min(3, len(params))
    nrows = math.ceil(len(params) / cols)
    fig = make_subplots(
        rows=nrows,
        cols=cols,
        subplot_titles=[p.name for p in params],
        horizontal_spacing=0.07,
        vertical_spacing=min(0.3 / nrows, 0.12) if nrows > 1 else 0.0,
    )
    y = data.value[rows, 0]
    numbers = data.number[rows].astype(np.int32)
    size = 6 if rows.size <= 500 else 4
    best = data.best
    for i, param in enumerate(params):
        r, c = divmod(i, cols)
        x = param.values[rows]
        if param.is_categorical:
            x = x + _jitter(x.size)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                showlegend=False,
                name=param.name,
                marker={
                    "size": size,
                    "color": numbers,
                    "coloraxis": "coloraxis",
                    "opacity": 0.85,
                    "line": {"width": 0.5, "color": "rgba(0, 0, 0, 0.35)"},
                },
                hovertemplate=f"trial %{{marker.color}}<br>{param.name} = %{{x:.4g}}<br>%{{y:.4g}}<extra></extra>",
            ),
            row=r + 1,
            col=c + 1,
        )
        if best is not None and np.isfinite(param.values[best]):
            fig.add_trace(
                go.Scatter(
                    x=np.array([param.values[best]]),
                    y=np.array([data.value[best, 0]]),
                    mode="markers",
                    name=data.best_name(best),
                    legendgroup="best",
                    showlegend=i == 0,
                    marker=best_star(13),
                    hovertemplate=f"{data.best_name(best)}<br>%{{y:.4g}}<extra></extra>",
                ),
                row=r + 1,
                col=c + 1,
            )
        fig.update_xaxes(**_axis_for(param), row=r + 1, col=c + 1)
        if c == 0:
            fig.update_yaxes(title_text=data.metrics[0], row=r + 1, col=c + 1)
    fig.update_layout(
        **layout(
            90 + 290 * nrows,
            coloraxis={
                "colorscale": TRIAL_COLORSCALE,
                "colorbar": {"title": {"text": "trial"}, "thickness": 12},
            },
        )
    )
    fig.update_layout(margin={"t": 60})
    which = "the first objective, " if data.is_multi_objective else ""
    section.caption = (
        f"The value of {which}{data.metrics[0]} ({data.directions[0]}) against each parameter, one point per completed "
        f"feasible trial, colored by trial number (light blue early, dark blue late); the star is {data.best_words}. "
        "Categorical values are spread sideways to show how many trials share them."
        + sampled_note(rows.size, data.ranking.size)
    )
    if len(data.params) > MAX_PARAMS:
        section.note = f"Showing the {MAX_PARAMS} most important of {len(data.params)} parameters."
    section.figure = fig
    return section


def _dimension(param: ParamColumn, rows: np.ndarray) -> dict[str, Any]:
    values = param.axis_values()[rows]
    if param.is_categorical:
        assert param.choices is not None
        return {
            "label": param.name,
            "values": np.nan_to_num(values, nan=-1.0),
            "tickvals": list(range(len(param.choices))),
            "ticktext": list(param.choices),
        }
    label = f"{param.name} (log scale)" if param.log else param.name
    ticks: dict[str, Any] = {}
    if param.log:  # the axis runs over log10 of the values; its ticks say the values themselves
        finite = values[np.isfinite(values)]
        if finite.size:
            tickvals, ticktext = log_ticks(float(finite.min()), float(finite.max()))
            ticks = {"tickvals": tickvals, "ticktext": ticktext}
    missing = ~np.isfinite(values)
    if missing.any():  # a conditional parameter: trials without it sit just below the range
        finite = values[~missing]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        values = np.where(missing, lo - 0.1 * (hi - lo or 1.0), values)
        label += " (bottom: unset)"
    return {"label": label, "values": values, **ticks}


def _line_colors(values: FloatArray, direction: str, metric: str) -> dict[str, Any]:
    """Color lines by how good they are: plotly draws higher color values on top, so the color is
    the value turned to "higher is better" and the colorbar is labelled with the real values."""
    goodness = values if direction == "maximize" else -values
    ticks = np.linspace(float(goodness.min()), float(goodness.max()), 6) if goodness.size else np.empty(0)
    labels = [f"{(t if direction == 'maximize' else -t):.3g}" for t in ticks]
    return {
        "color": goodness,
        "colorscale": COLORSCALE,
        "showscale": True,
        "colorbar": {
            "title": {"text": metric},
            "thickness": 12,
            "tickvals": ticks.tolist(),
            "ticktext": labels,
        },
    }


def parallel_section(data: ReportData) -> Section:
    """Parallel coordinates of the parameters (most important first) and every objective."""
    section = Section("parallel", "Parallel coordinates")
    if data.ranking.size == 0 or not data.params:
        section.note = "No completed feasible trial with parameters yet: nothing to plot."
        return section
    params = data.params_by_importance()[:MAX_PARAMS]
    shown = subsample(np.sort(data.ranking), MAX_LINES, data.ranking)
    rows = np.sort(shown)
    dims = [_dimension(p, rows) for p in params]
    dims += [{"label": m, "values": data.value[rows, j]} for j, m in enumerate(data.metrics)]
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            line=_line_colors(data.value[rows, 0], data.directions[0], data.metrics[0]),
            labelangle=-15 if len(dims) > 8 else 0,
            labelside="top",
            domain={"x": [0.0, 0.93]},
        )
    )
    fig.update_layout(**layout(460))
    fig.update_layout(margin={"l": 60, "r": 20, "t": 80, "b": 30})
    section.caption = (
        f"One line per completed feasible trial through its parameter values and objective(s), colored by "
        f"{data.metrics[0]} (yellow is best). Drag along an "
        "axis to select a range." + sampled_note(rows.size, data.ranking.size)
    )
    section.figure = fig
    return section
