"""What optuna-dashboard shows of a study: the report's figures and a note naming the winner.

optuna-dashboard (an optional extra) draws any plotly figure stored with
``optuna_dashboard.save_plotly_graph_object`` on a study's page, beside a Markdown note
(``optuna_dashboard.save_note``). :func:`save_to_dashboard` stores the report's history (mean ±
SEM), the replicates of the top trials and a noise-aware study's winner against the baseline,
each under a fixed id (saving again replaces them), and a note saying which trial or treatment
is the study's best and how it was chosen: the best of ``ranking.study_best``, as the report, the
optimizer and ``crystallize-opt best`` show it, with the numbers the report shows.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import optuna

from .._logging import get_logger
from ._data import ReportData, extract
from ._history import history_section
from ._replicates import replicates_section
from ._selection import comparison_text, selection_section
from ._style import estimate, fmt

_log = get_logger(__name__)

#: The figures stored, by graph-object id (stable: saving again overwrites them).
FIGURE_IDS = {
    "selection": "crystallize-winner-vs-baseline",
    "history": "crystallize-history",
    "replicates": "crystallize-replicates",
}


def dashboard_available() -> bool:
    """Whether optuna-dashboard is installed (without importing it)."""
    return importlib.util.find_spec("optuna_dashboard") is not None


def winner_note(data: ReportData) -> str:
    """The study note (Markdown): the best trial or the chosen winner, how it was chosen, its
    estimates, and where to look (the report's numbers, from the same data)."""
    lines = ["## crystallize-opt: the best of this study", ""]
    selection = data.selection
    metric = data.metrics[0]
    if selection is not None:
        lines.append(
            f"**Winner: {selection.winner.name}**, chosen by **{selection.rule}** (noise-aware search)."
        )
        lines.append("")
        lines.append(f"- parameters: `{_params(selection.winner.params)}`")
        lines.append(
            f"- {metric} search estimate: {fmt(float(selection.search_estimate))} ({selection.search_estimate_is})"
        )
        if selection.holdout_estimate is not None:
            lines.append(
                f"- {metric} held-out estimate: {fmt(float(selection.holdout_estimate))} "
                f"({selection.holdout_estimate_is}, unbiased)"
            )
        compared = comparison_text(selection)
        if compared is not None:
            lines.append(f"- against the baseline: {compared}")
        elif selection.comparison_note:
            lines.append(f"- against the baseline: not compared ({selection.comparison_note})")
        best = data.best
        if best is not None:
            lines.append(f"- its trial: {int(data.number[best])}")
        observed = data.observed_best_row
        if observed is not None and observed != best:
            lines += [
                "",
                f"The dashboard's *Best Trial* (trial {int(data.number[observed])}) is the best value told to "
                "Optuna: under noise often a lucky draw, not the winner.",
            ]
    elif data.best is not None:
        best = data.best
        words = " (the Pareto trial closest to the ideal point)" if data.is_multi_objective else ""
        lines.append(f"**Best: trial {int(data.number[best])}**{words}.")
        lines.append("")
        for j, m in enumerate(data.metrics):
            value = estimate(float(data.mean[best, j]), float(data.sem[best, j]), int(data.n[best, j]))
            lines.append(
                f"- {m} ({data.directions[j]}): {value}"
                + (" (mean ± SEM over replicates)" if data.n[best, j] else "")
            )
        params = {p.name: p for p in data.params}
        shown = {
            name: (p.choices[int(p.values[best])] if p.choices is not None else float(p.values[best]))
            for name, p in params.items()
            if math.isfinite(p.values[best])
        }
        lines.append(f"- parameters: `{_params(shown)}`")
    else:
        lines.append("No trial has completed feasibly yet.")
    lines += [
        "",
        "Each trial's `<metric> mean`, `<metric> sem` and `<metric> n` attributes are over its replicates; "
        "the full record (every replicate's value and seed) is its `crystallize` attribute. "
        "The HTML report (`crystallize-opt report`) shows the same figures with more.",
    ]
    return "\n".join(lines)


def _params(params: Any) -> str:
    if not isinstance(params, dict):
        return ""
    return ", ".join(f"{k}={fmt(v, 6) if isinstance(v, float) else v}" for k, v in params.items())


def save_to_dashboard(study: optuna.Study, *, top_k: int = 10) -> bool:
    """Store with ``study`` what optuna-dashboard shows natively: the report's history, replicate and
    winner-vs-baseline figures, and a study note naming the best (see the module doc).

    Returns False, storing nothing, when optuna-dashboard is not installed (it is optional: the
    ``dashboard`` extra); True once stored. Saving again replaces the figures and adds a
    version of the note. Beyond crystallize-ml's reference API.

    Raises:
        ValueError: if ``top_k`` is smaller than 1.
        Exception: whatever the storage raises while writing.
    """
    if not dashboard_available():
        return False
    import optuna_dashboard

    data = extract(study, top_k=top_k)
    sections = [selection_section(data), history_section(data), replicates_section(data)]
    for section in sections:
        if section is None or section.figure is None:
            continue
        figure = section.figure
        figure.update_layout(title={"text": section.title, "x": 0.01, "font": {"size": 14}}, height=440)
        figure.update_layout(margin={"t": 90})
        optuna_dashboard.save_plotly_graph_object(study, figure, graph_object_id=FIGURE_IDS[section.key])
    optuna_dashboard.save_note(study, winner_note(data))
    _log.info("stored the figures and the winner note of study %r for optuna-dashboard", study.study_name)
    return True
