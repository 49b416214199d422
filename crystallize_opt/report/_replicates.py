"""Per-replicate distribution of the top trials' objective values (and the baseline's).

With common random numbers (replicate ``r`` of every trial runs on the same seed, as
crystallize-opt seeds them) the trials' boxes share the seeds' noise, so they look alike and
their overlap says nothing about the ranking: the plot then shows each trial's paired differences
to the best trial, seed by seed, instead."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._data import FloatArray, ReportData
from ._style import COLORS, Section, layout

#: Two trials are paired when at least this fraction of the smaller one's seeds are shared.
PAIRED_FRACTION = 0.5


def paired_differences(
    data: ReportData, rows: list[int], reference: int, j: int
) -> dict[int, tuple[FloatArray, FloatArray]] | None:
    """``{row: (seeds, value - reference's value on that seed)}`` for every row but ``reference``,
    when the trials ran on common random numbers: each row shares at least one seed, and
    :data:`PAIRED_FRACTION` of the smaller seed set, with ``reference``; else None. Row -1 is the
    baseline when its seeds are stored and paired too."""
    seeds_of = {r: data.replicate_seeds[r][j] for r in rows if r in data.replicate_seeds}
    if reference not in seeds_of or len(seeds_of) < 2:
        return None
    ref_seeds, ref_values = seeds_of[reference], data.replicates[reference][j]
    ref_by_seed = {int(s): float(v) for s, v in zip(ref_seeds, ref_values, strict=True)}
    candidates: dict[int, tuple[np.ndarray, FloatArray]] = {
        r: (seeds_of[r], data.replicates[r][j]) for r in seeds_of if r != reference
    }
    baseline = data.baseline
    if baseline is not None and len(baseline.seeds) > j and baseline.seeds[j].size:
        candidates[-1] = (baseline.seeds[j], baseline.values[j])
    out: dict[int, tuple[FloatArray, FloatArray]] = {}
    for row, (seeds, values) in candidates.items():
        shared = [(int(s), float(v)) for s, v in zip(seeds, values, strict=True) if int(s) in ref_by_seed]
        smaller = min(len(seeds), len(ref_seeds))
        if not shared or len(shared) < PAIRED_FRACTION * smaller:
            if row == -1:
                continue
            return None
        out[row] = (
            np.array([s for s, _ in shared], dtype=float),
            np.array([v - ref_by_seed[s] for s, v in shared], dtype=float),
        )
    return out if any(r != -1 for r in out) else None


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
    reference = best if best is not None and best in rows else rows[0]
    paired = [paired_differences(data, rows, reference, j) for j in range(k)]
    if all(p is not None for p in paired):
        return _paired_section(section, data, rows, reference, paired)  # type: ignore[arg-type]
    fig = _subplots(data)
    baseline = data.baseline
    for j, metric in enumerate(data.metrics):
        if baseline is not None and baseline.values[j].size:
            fig.add_trace(
                _box(
                    baseline.values[j], "baseline", COLORS["baseline"], "baseline<br>%{y:.4g}<extra></extra>"
                ),
                row=j + 1,
                col=1,
            )
        for rank, row in enumerate(rows, start=1):
            label = _label(data, rank, row)
            color = COLORS["best"] if row == best else COLORS["complete"]
            hover = f"trial {data.number[row]}<br>%{{y:.4g}}<extra></extra>"
            fig.add_trace(_box(data.replicates[row][j], label, color, hover), row=j + 1, col=1)
        fig.update_yaxes(title_text=metric, row=j + 1, col=1)
    _finish(fig, data, rows)
    which = "objective" if k == 1 else "objectives (one row each)"
    baseline_text = " The grey box on the left is the baseline." if baseline is not None else ""
    highlight = f" The red box is {data.best_words}." if best is not None and best in rows else ""
    section.caption = (
        f"Every replicate's value of the {which} for the top trials, {_order(data)} (rank: trial number); the box "
        "spans the quartiles, the solid line is the median and the dashed line the mean. The trials ran on "
        "different seeds, so overlapping boxes mean the ranking among them is within the noise."
        + highlight
        + baseline_text
    )
    section.figure = fig
    return section


def _order(data: ReportData) -> str:
    if data.selection is not None:
        return (
            "ranked as the winner was chosen (the selection's candidates first, the winner first, then the "
            "value told to Optuna)"
        )
    return "best first"


def _label(data: ReportData, rank: int, row: int) -> str:
    label = f"#{rank}: trial {data.number[row]}"
    if data.selection is not None and row == data.best:
        label += " (winner)"
    return label


def _subplots(data: ReportData) -> go.Figure:
    k = len(data.metrics)
    titles = [f"{m} ({d})" for m, d in zip(data.metrics, data.directions, strict=True)] if k > 1 else None
    return make_subplots(
        rows=k, cols=1, shared_xaxes=True, vertical_spacing=0.16 if k > 1 else 0.0, subplot_titles=titles
    )


def _box(values: FloatArray, label: str, color: str, hover: str) -> go.Box:
    return go.Box(
        y=values,
        x=np.full(values.size, label),
        name=label,
        marker={"color": color, "size": 5},
        boxpoints="all",
        jitter=0.35,
        pointpos=0,
        boxmean=True,
        showlegend=False,
        hovertemplate=hover,
    )


def _finish(fig: go.Figure, data: ReportData, rows: list[int]) -> None:
    k = len(data.metrics)
    fig.update_xaxes(type="category", tickangle=-30 if len(rows) > 6 else 0)
    fig.update_layout(**layout(120 + 320 * k, showlegend=False))
    fig.update_layout(margin={"t": 40 if k > 1 else 20, "b": 80})


def _paired_section(
    section: Section,
    data: ReportData,
    rows: list[int],
    reference: int,
    paired: list[dict[int, tuple[FloatArray, FloatArray]]],
) -> Section:
    """The top trials' paired differences to ``reference`` (common random numbers), seed by seed."""
    section.title += " (paired by seed)"
    fig = _subplots(data)
    ref_name = f"trial {data.number[reference]}"
    for j, metric in enumerate(data.metrics):
        differences = paired[j]
        if -1 in differences:
            seeds, diffs = differences[-1]
            fig.add_trace(
                _diff_box(seeds, diffs, "baseline", COLORS["baseline"], "baseline", ref_name),
                row=j + 1,
                col=1,
            )
        for rank, row in enumerate(rows, start=1):
            if row == reference or row not in differences:
                continue
            seeds, diffs = differences[row]
            fig.add_trace(
                _diff_box(
                    seeds,
                    diffs,
                    _label(data, rank, row),
                    COLORS["complete"],
                    f"trial {data.number[row]}",
                    ref_name,
                ),
                row=j + 1,
                col=1,
            )
        fig.add_hline(
            y=0,
            line={"color": COLORS["best"], "width": 1.5},
            row=j + 1,
            col=1,
            annotation_text=f"{_label(data, rows.index(reference) + 1, reference)} ({data.best_words if reference == data.best else 'the first'})",
            annotation_position="bottom left",
            annotation_font={"color": COLORS["best"], "size": 11},
        )
        fig.update_yaxes(title_text=f"{metric} - {ref_name}", zeroline=False, row=j + 1, col=1)
    _finish(fig, data, rows)
    direction = data.directions[0]
    worse = "above" if direction == "minimize" else "below"
    n_seeds = max((d[1].size for p in paired for d in p.values()), default=0)
    whom = data.best_words if reference == data.best else f"trial {data.number[reference]}, the first shown"
    section.caption = (
        "The trials ran on common random numbers: replicate r of every trial used the same seed, so their "
        "replicate values share each seed's noise and are compared in pairs. Each point is one seed's "
        f"difference to {whom} (trial - {ref_name}, {ref_name} at the red zero line), for the top trials "
        f"{_order(data)}; the box spans the quartiles of the differences (up to {n_seeds} seed(s)), the solid "
        f"line is the median and the dashed line the mean. A box wholly {worse} zero"
        + (f" ({direction}; each objective by its own direction)" if len(data.metrics) > 1 else "")
        + f" means the trial was worse than {ref_name} on its seeds, seed by seed; a box across zero means "
        "the difference is within the noise."
        + (
            " The grey box is the baseline's differences on the same seeds."
            if any(-1 in p for p in paired)
            else ""
        )
        + f" Mean differences ({data.metrics[0]}): {_mean_words(data, rows, reference, paired[0])}."
    )
    section.figure = fig
    return section


def _mean_words(
    data: ReportData, rows: list[int], reference: int, differences: dict[int, tuple[FloatArray, FloatArray]]
) -> str:
    parts = [
        f"trial {data.number[r]} {float(np.mean(differences[r][1])):+.3g}"
        for r in rows
        if r != reference and r in differences and differences[r][1].size
    ][:5]
    return ", ".join(parts) + (" and more" if len(differences) > 5 else "")


def _diff_box(seeds: FloatArray, diffs: FloatArray, label: str, color: str, who: str, ref: str) -> go.Box:
    box = _box(diffs, label, color, f"{who} - {ref}<br>seed %{{customdata:.0f}}: %{{y:.4g}}<extra></extra>")
    box.update(customdata=seeds)
    return box
