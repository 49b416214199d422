"""Contour of the objective over the two most important parameters, on a fixed grid.

Optuna's ``plot_contour`` grows with the square of the number of trials; here the surface is a
kernel-smoothed mean of the trials' values on at most :data:`GRID` x :data:`GRID` points, and
the trials drawn over it are subsampled, so the figure's size does not grow with the study.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from scipy.ndimage import distance_transform_edt
from scipy.spatial import cKDTree

from ._data import FloatArray, ParamColumn, ReportData
from ._style import (
    COLORSCALE,
    MAX_CONTOUR_POINTS,
    Section,
    best_star,
    colorscale_reversed,
    layout,
    log_axis,
    log_ticks,
    sampled_note,
    spans_decades,
    subsample,
)

#: Grid points along a numeric axis (a categorical axis has one per category).
GRID = 30
#: Gaussian kernel bandwidth, as a fraction of each numeric axis' observed range.
BANDWIDTH = 0.08
#: Cells farther than this many bandwidths from every trial are veiled (nothing was measured there).
MAX_GAP = 2.0
#: The colors span the better part of the surface, up to this quantile of its cells (worse ones
#: share the last color), so that the region that matters is not one flat blob.
COLOR_QUANTILE = 0.6
#: The veil over cells far from every trial.
VEIL = "rgba(255, 255, 255, 0.6)"


@dataclass(frozen=True)
class Surface:
    """``z[i, j]``: smoothed objective at ``y[i]``, ``x[j]`` (axes in plotting space: log10 of a
    log-scaled parameter, category index of a categorical one); NaN where no trial is near."""

    x: FloatArray
    y: FloatArray
    z: FloatArray


def _axis(param: ParamColumn, t: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """Grid along one axis, the kernel weight of every trial at every grid point, and the scale
    (bandwidth) that turns distances along the axis into bandwidths (categories: far apart)."""
    if param.is_categorical:
        assert param.choices is not None
        grid = np.arange(len(param.choices), dtype=float)
        return grid, (t[None, :] == grid[:, None]).astype(float), 1e-6
    lo, hi = float(t.min()), float(t.max())
    if hi <= lo:
        return np.array([lo]), np.ones((1, t.size)), 1.0
    grid = np.linspace(lo, hi, GRID)
    h = BANDWIDTH * (hi - lo)
    return grid, np.exp(-0.5 * ((t[None, :] - grid[:, None]) / h) ** 2), h


def kernel_surface(a: ParamColumn, b: ParamColumn, rows: np.ndarray, values: FloatArray) -> Surface | None:
    """Nadaraya-Watson mean of ``values`` (one per row) over parameter ``a`` (x) and ``b`` (y).

    Separable weights make it two small matrix products: O(grid x trials) time and memory. Cells
    farther than :data:`MAX_GAP` bandwidths from every trial are NaN (a KD-tree query). Returns None when fewer than two rows set both parameters.
    """
    ta, tb = a.axis_values()[rows], b.axis_values()[rows]
    ok = np.isfinite(ta) & np.isfinite(tb) & np.isfinite(values)
    if np.count_nonzero(ok) < 2:
        return None
    gx, wa, ha = _axis(a, ta[ok])
    gy, wb, hb = _axis(b, tb[ok])
    weight = wb @ wa.T
    total = (wb * values[ok]) @ wa.T
    trials = cKDTree(np.column_stack([ta[ok] / ha, tb[ok] / hb]))
    cx, cy = np.meshgrid(gx / ha, gy / hb)
    gap, _ = trials.query(np.column_stack([cx.ravel(), cy.ravel()]), distance_upper_bound=MAX_GAP + 1e-9)
    near = np.isfinite(gap).reshape(weight.shape) & (weight > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(near, total / weight, np.nan)
    return Surface(gx, gy, z)


def _display(param: ParamColumn, t: FloatArray) -> FloatArray:
    return np.asarray(10.0**t if param.log else t, dtype=float)


def _axis_layout(param: ParamColumn) -> dict[str, Any]:
    if param.is_categorical:
        assert param.choices is not None
        return {
            "title_text": param.name,
            "tickvals": list(range(len(param.choices))),
            "ticktext": list(param.choices),
        }
    if param.log:
        return {"title_text": param.name, **log_axis(param.values)}
    return {"title_text": param.name, "type": "linear"}


def filled(z: FloatArray) -> FloatArray:
    """``z`` with each NaN cell given its nearest measured cell's value (a contour of a surface with
    holes draws them as jagged diamonds; the holes are veiled instead, see :data:`VEIL`)."""
    blank = ~np.isfinite(z)
    if not blank.any() or blank.all():
        return z
    _, (rows, cols) = distance_transform_edt(blank, return_indices=True)
    return np.asarray(z[rows, cols], dtype=float)


def color_scale(z: FloatArray, direction: str, metric: str) -> tuple[FloatArray, dict[str, Any], str]:
    """The values to color by, the trace's color settings, and a sentence for the caption.

    Positive values spanning orders of magnitude are colored by their log10 (the colorbar labelled
    in the metric's units); else the colors span the best values up to :data:`COLOR_QUANTILE` of
    the cells (the worse ones share the last color)."""
    finite = z[np.isfinite(z)]
    style: dict[str, Any] = {
        "colorscale": COLORSCALE,
        "reversescale": colorscale_reversed(direction),
        "colorbar": {"title": {"text": metric}, "thickness": 12},
    }
    if finite.size < 2:
        return z, style, ""
    if spans_decades(finite):
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(z)
        tickvals, ticktext = log_ticks(float(np.log10(finite.min())), float(np.log10(finite.max())))
        style["colorbar"].update(tickvals=tickvals, ticktext=ticktext)
        return logs, style, " Colors are on a log scale (the values span orders of magnitude)."
    lo, hi = float(finite.min()), float(finite.max())
    if direction == "minimize":
        a, b = lo, float(np.quantile(finite, COLOR_QUANTILE))
    else:
        a, b = float(np.quantile(finite, 1 - COLOR_QUANTILE)), hi
    if not b > a or (b - a) > 0.8 * (hi - lo):
        return z, style, ""
    style.update(zmin=a, zmax=b)
    worse = "above" if direction == "minimize" else "below"
    return (
        z,
        style,
        f" Colors span the best {COLOR_QUANTILE:.0%} of the surface; values {worse} share the last color.",
    )


def contour_section(data: ReportData) -> Section:
    """The contour (heatmap when a parameter is categorical) with the trials drawn over it."""
    section = Section("contour", "Contour of the two most important parameters")
    params = data.params_by_importance()
    if len(params) < 2:
        section.note = "A contour needs two searched parameters; this study has " + (
            f"one ({params[0].name})." if params else "none."
        )
        return section
    a, b = params[0], params[1]
    rows = np.sort(data.ranking)
    surface = kernel_surface(a, b, rows, data.value[rows, 0]) if rows.size else None
    if surface is None:
        section.note = f"Fewer than two completed feasible trials set both {a.name} and {b.name}: no contour."
        return section
    z, style, color_words = color_scale(surface.z, data.directions[0], data.metrics[0])
    logged = z is not surface.z  # colored by log10: the hover shows the value itself
    shown_z = "%{customdata:.4g}" if logged else "%{z:.4g}"
    style["hovertemplate"] = (
        f"{a.name} = %{{x:.4g}}<br>{b.name} = %{{y:.4g}}<br>smoothed {data.metrics[0]} = {shown_z}<extra></extra>"
    )
    x, y = _display(a, surface.x), _display(b, surface.y)
    blank = ~np.isfinite(surface.z)
    grid = a.is_categorical or b.is_categorical or surface.x.size < 2 or surface.y.size < 2
    fig = go.Figure()
    if grid:
        fig.add_trace(go.Heatmap(x=x, y=y, z=z, customdata=surface.z if logged else None, **style))
    else:  # a smooth image of the surface, the veil over what is far from every trial, the lines
        fig.add_trace(
            go.Heatmap(x=x, y=y, z=filled(z), customdata=filled(surface.z), zsmooth="best", **style)
        )
        if blank.any():
            fig.add_trace(
                go.Heatmap(
                    x=x,
                    y=y,
                    z=np.where(blank, 1.0, np.nan),
                    colorscale=[[0.0, VEIL], [1.0, VEIL]],
                    showscale=False,
                    hoverinfo="skip",
                    name="no trial nearby",
                )
            )
        contours: dict[str, Any] = {"coloring": "none"}
        if "zmin" in style:
            contours.update(start=style["zmin"], end=style["zmax"], size=(style["zmax"] - style["zmin"]) / 12)
        fig.add_trace(
            go.Contour(
                x=x,
                y=y,
                z=filled(z),
                contours=contours,
                ncontours=14,
                line={"width": 0.6, "color": "rgba(0, 0, 0, 0.35)"},
                showscale=False,
                showlegend=False,
                hoverinfo="skip",
            )
        )
    both = rows[np.isfinite(a.values[rows]) & np.isfinite(b.values[rows])]
    shown = subsample(both, MAX_CONTOUR_POINTS, data.ranking)
    jitter = np.random.default_rng(2).uniform(-0.2, 0.2, shown.size)
    px = a.values[shown] + (jitter if a.is_categorical else 0.0)
    py = b.values[shown] + (jitter[::-1] if b.is_categorical else 0.0)
    fig.add_trace(
        go.Scatter(
            x=px,
            y=py,
            mode="markers",
            name=f"trials ({shown.size:,})",
            marker={"size": 4, "color": "white", "line": {"width": 0.6, "color": "#333"}, "opacity": 0.8},
            hovertemplate=f"{a.name} = %{{x:.4g}}<br>{b.name} = %{{y:.4g}}<extra>trial</extra>",
        )
    )
    if data.best is not None:
        fig.add_trace(
            go.Scatter(
                x=np.array([a.values[data.best]]),
                y=np.array([b.values[data.best]]),
                mode="markers",
                name=data.best_name(data.best),
                marker=best_star(15),
            )
        )
    fig.update_layout(**layout(560))
    fig.update_layout(legend={"y": 1.02, "x": 0}, margin={"t": 50})
    fig.update_xaxes(**_axis_layout(a))
    fig.update_yaxes(**_axis_layout(b))
    which = "the first objective, " if data.is_multi_objective else ""
    veiled = "pale" if not grid else "blank"
    section.caption = (
        f"Kernel-smoothed mean of {which}{data.metrics[0]} over {a.name} and {b.name} (Gaussian kernel, bandwidth "
        f"{BANDWIDTH:.0%} of each axis' range, on a fixed grid; {veiled} farther than {MAX_GAP:g} bandwidths from "
        f"every trial, where nothing was measured), yellow is best.{color_words} "
        f"Dots are completed feasible trials; the star is {data.best_words}."
        + sampled_note(shown.size, both.size)
    )
    section.figure = fig
    return section
