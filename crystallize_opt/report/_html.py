"""Assembling the page: header, sections, the top-trials table, and plotly.js embedded once."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.offline

from .._version import __version__
from ._data import ReportData
from ._style import Section, estimate, fmt

STATE_WORDS = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}
#: Plotly configuration of every figure.
CONFIG = '{"responsive": true, "displaylogo": false, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}'

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; color: #222;
       background: #fafafa; }
main { max-width: 1300px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0; }
h2 { font-size: 1.25em; margin: 0 0 0.3em; }
section { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; padding: 14px 18px; margin: 18px 0; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dl.summary dt { font-weight: 600; color: #555; }
dl.summary dd { margin: 0; }
p.caption { color: #444; margin: 0 0 8px; font-size: 0.93em; }
p.note { color: #8a5a00; background: #fff8e6; border-left: 3px solid #f0b400; padding: 6px 10px; margin: 6px 0; }
.plot { width: 100%; }
table.data { border-collapse: collapse; font-size: 0.9em; margin-top: 8px; }
table.data th, table.data td { border-bottom: 1px solid #e6e6e6; padding: 4px 10px; text-align: right; }
table.data th { background: #f3f3f3; position: sticky; top: 0; }
table.data td.text, table.data td.reason { text-align: left; }
td.reason { font-family: monospace; font-size: 0.9em; white-space: pre-wrap; }
.scroll { overflow-x: auto; }
"""


def header_html(data: ReportData, title: str) -> str:
    """The title and a summary: study, objective, trials by state, best trial, baseline, sampler."""
    e = html.escape
    objectives = ", ".join(f"{e(m)} ({d})" for m, d in zip(data.metrics, data.directions, strict=True))
    if data.aggregate is not None:
        objectives += f"; aggregate over replicates: {e(data.aggregate)}"
    if data.constraints:
        objectives += f"; constraints (feasible when &le; 0): {e(', '.join(data.constraints))}"
    counts = data.state_counts()
    trials = f"{data.n_trials:,}" + (
        ": " + ", ".join(f"{v:,} {STATE_WORDS[s]}" for s, v in counts.items()) if counts else ""
    )
    infeasible = int(np.count_nonzero((data.state == "COMPLETE") & ~data.feasible))
    if infeasible:
        trials += f" ({infeasible:,} complete but infeasible)"
    items = [("Study", e(data.study_name)), ("Objective", objectives), ("Trials", trials)]
    if data.selection is None:
        items.append(("Best trial", best_html(data)))
    else:  # under noise the best observed trial is often a lucky draw: the winner is the best
        items.append(("Best: the chosen winner", selection_html(data)))
        items.append(("Best observed", observed_html(data)))
    if data.is_multi_objective:
        items.append(("Pareto front", f"{int(np.count_nonzero(data.pareto)):,} trial(s)"))
    if data.baseline is not None:
        b = data.baseline
        items.append(
            (
                "Baseline",
                "; ".join(
                    f"{e(m)} = {estimate(b.mean[j], b.sem[j], int(b.n[j]))}"
                    for j, m in enumerate(data.metrics)
                ),
            )
        )
    items.append(("Sampler", e(data.sampler)))
    if not data.has_settings:
        items.append(
            (
                "Note",
                "This study was not made by crystallize-opt: values are Optuna's, without replicate statistics.",
            )
        )
    rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return f"<h1>{e(title)}</h1><section class='header'><dl class='summary'>{rows}</dl></section>"


def selection_html(data: ReportData) -> str:
    """The winner of a noise-aware study: name and parameters, the rule, its search and held-out
    estimates (each saying what it is), its trial's replicates, and a link to the section."""
    selection = data.selection
    if selection is None:
        return ""
    e = html.escape
    metric = e(data.metrics[0])
    text = f"{e(selection.winner.name)} (chosen by {e(selection.rule)})"
    text += f": {metric} search estimate = {fmt(float(selection.search_estimate))} ({e(selection.search_estimate_is)})"
    if selection.holdout_estimate is not None:
        text += (
            f"; held-out estimate = {fmt(float(selection.holdout_estimate))} "
            f"({e(selection.holdout_estimate_is)}, unbiased)"
        )
    best = data.best
    if best is not None and int(data.n[best, 0]) > 0:
        text += (
            f"; its trial's own replicates: {estimate(float(data.mean[best, 0]), float(data.sem[best, 0]), int(data.n[best, 0]))}"
            " (mean ± SEM)"
        )
    params = ", ".join(
        f"{k}={fmt(v, 6) if isinstance(v, float) else v}" for k, v in selection.winner.params.items()
    )
    return text + " (see <a href='#selection'>Winner and baseline</a>)" + f"<br><small>{e(params)}</small>"


def observed_html(data: ReportData) -> str:
    """The trial with the best value told to Optuna (Optuna's ``best_trial``), said to be no
    winner unless it is the winner's trial."""
    row = data.observed_best_row
    if row is None:
        return "none: no trial completed yet"
    j = 0
    value = estimate(float(data.mean[row, j]), float(data.sem[row, j]), int(data.n[row, j]))
    same = (
        " (the winner's trial too)"
        if row == data.best
        else ": not the winner, under noise often a lucky draw"
    )
    return (
        f"trial {data.number[row]}: {html.escape(data.metrics[0])} = {value} (mean ± SEM of its replicates); "
        f"told to Optuna {fmt(float(data.value[row, j]))} (its parameters' pooled mean), the best value told, "
        f"which Optuna's best_trial, <code>optuna best-trial</code> and optuna-dashboard show as best{same}"
    )


def best_html(data: ReportData) -> str:
    """``trial N: metric = mean ± SEM (n = ...)``, or why there is none."""
    best = data.best
    if best is None:
        return "none: no trial completed feasibly yet"
    what = " (the Pareto trial closest to the ideal point)" if data.is_multi_objective else ""
    parts = [
        f"{html.escape(m)} = {estimate(float(data.mean[best, j]), float(data.sem[best, j]), int(data.n[best, j]))}"
        for j, m in enumerate(data.metrics)
    ]
    stats = " (mean ± SEM over replicates)" if np.any(data.n[best] > 0) else ""
    return (
        f"trial {data.number[best]}{what}: "
        + "; ".join(parts)
        + stats
        + f"<br><small>{html.escape(params_text(data, best))}</small>"
    )


def param_text(data: ReportData, row: int, name: str) -> str:
    """A trial's value of one parameter, as shown (category label, 4 significant digits, or "-")."""
    for p in data.params:
        if p.name == name:
            v = p.values[row]
            if not math.isfinite(v):
                return "-"
            return p.choices[int(v)] if p.choices is not None else fmt(float(v), 6)
    return "-"


def params_text(data: ReportData, row: int) -> str:
    return ", ".join(
        f"{p.name}={param_text(data, row, p.name)}" for p in data.params if math.isfinite(p.values[row])
    )


def top_table_html(data: ReportData) -> str:
    """The top trials, best first: rank, trial, parameters, and per objective mean, SEM and n
    over the replicates (just the value for trials without replicate statistics)."""
    rows = data.top
    if rows.size == 0:
        return "<p class='note'>No completed feasible trial yet.</p>"
    e = html.escape
    has_stats = bool(np.any(data.n[rows] > 0))
    show_value = not has_stats or data.aggregate not in (None, "mean")
    head = ["rank", "trial"] + [e(p.name) for p in data.params]
    for m in data.metrics:
        head += [f"{e(m)} mean", "SEM", "n"] if has_stats else []
        head += [e(m) if not has_stats else f"{e(m)} ({e(str(data.aggregate))})"] if show_value else []
    if data.is_multi_objective:
        head.append("Pareto")
    candidates = [] if data.selection is None else data.selection.candidate_trials
    if data.selection is not None:
        head.append("selection")
    body = []
    for rank, row in enumerate(rows, start=1):
        cells = [str(rank), str(data.number[row])]
        cells += [f"<td class='text'>{e(param_text(data, int(row), p.name))}</td>" for p in data.params]
        for j in range(len(data.metrics)):
            n = int(data.n[row, j])
            if has_stats:
                cells += [
                    fmt(float(data.mean[row, j])),
                    fmt(float(data.sem[row, j]), 2),
                    str(n) if n else "n/a",
                ]
            if show_value:
                cells.append(fmt(float(data.value[row, j])))
        if data.is_multi_objective:
            cells.append("yes" if data.pareto[row] else "")
        if data.selection is not None:
            number = int(data.number[row])
            mark = "winner" if row == data.best else "candidate" if number in candidates else ""
            cells.append(f"<td class='text'>{mark}</td>")
        body.append("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells) + "</tr>")
    thead = "".join(f"<th>{h}</th>" for h in head)
    return f"<div class='scroll'><table class='data top'><thead><tr>{thead}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _section_html(section: Section) -> str:
    parts = [f"<section id='{section.key}'><h2>{html.escape(section.title)}</h2>"]
    if section.caption:
        parts.append(f"<p class='caption'>{html.escape(section.caption)}</p>")
    if section.note:
        parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
    if section.figure is not None:
        div = f"plot-{section.key}"
        height = int(section.figure.layout.height or 450)
        parts.append(f"<div id='{div}' class='plot' style='height:{height}px'></div>")
        parts.append(f"<script>crystallizePlot({div!r}, {section.figure.to_json()});</script>")
    parts.append(section.html)
    parts.append("</section>")
    return "".join(parts)


#: The file name of the shared copy of plotly.js (``write_report(..., plotlyjs="shared")``).
SHARED_PLOTLYJS = "plotly.min.js"


def page_html(
    data: ReportData, sections: Sequence[Section], title: str, *, shared_plotlyjs: bool = False
) -> str:
    """The whole page. plotly.js is inlined once, only when there is a figure (or, with
    ``shared_plotlyjs``, loaded from :data:`SHARED_PLOTLYJS` beside the page); after every figure
    has rendered, ``document.body.dataset.reportReady`` is ``"true"`` (``"error"`` if one failed)."""
    has_figures = any(s.figure is not None for s in sections)
    script = ""
    if has_figures:
        library = (
            f"<script src='{SHARED_PLOTLYJS}' charset='utf-8'></script>"
            if shared_plotlyjs
            else f"<script>{plotly.offline.get_plotlyjs()}</script>"
        )
        script = (
            f"{library}\n"
            "<script>window.crystallizeReport = {pending: []};\n"
            "function crystallizePlot(id, fig) {\n"
            f"  window.crystallizeReport.pending.push(Plotly.newPlot(id, fig.data, fig.layout, {CONFIG}));\n"
            "}</script>"
        )
    ready = (
        "<script>Promise.all((window.crystallizeReport || {pending: []}).pending).then("
        "function () { document.body.dataset.reportReady = 'true'; },"
        "function (err) { document.body.dataset.reportReady = 'error'; console.error(err); });</script>"
    )
    body = header_html(data, title) + "".join(_section_html(s) for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<meta name='generator' content='crystallize-opt {html.escape(__version__)}'>"
        f"<style>{CSS}</style>{script}</head>\n<body><main>{body}</main>{ready}</body></html>\n"
    )
