"""Winner and baseline: how a noise-aware study chose its winner, and the held-out test against
the baseline (paired values per seed, effect with its confidence interval and p-value)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..optimize import WinnerSelection
from ..verifiers import ci_text
from ._data import ReportData
from ._style import COLORS, Section, fmt, layout

#: Seeds drawn one line each; more would be an unreadable blot (the test uses them all).
MAX_PAIRS_DRAWN = 200
#: Candidate rows shown. Without a confirmation round (a small budget) the selection lists every
#: ranked parameter set, which can be hundreds.
MAX_CANDIDATES = 10


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def comparison_text(selection: WinnerSelection) -> str | None:
    """``effect +x (winner - baseline), 95% CI [a, b], paired t-test p = p``, or None without a test."""
    c = selection.comparison
    if not isinstance(c, Mapping):
        return None
    return (
        f"effect {_number(c.get('effect')):+.4g} (winner - baseline), {ci_text(c, digits=4)}, "
        f"paired t-test p = {_number(c.get('p_value')):.3g}"
    )


def _params(params: Any) -> str:
    if not isinstance(params, Mapping):
        return ""
    return ", ".join(f"{k}={fmt(v, 6) if isinstance(v, float) else v}" for k, v in params.items())


def _summary_html(selection: WinnerSelection, metric: str) -> str:
    """The winner, the rule, its two estimates, the test, and where the executions went."""
    e = html.escape
    winner = selection.winner
    seeds = selection.holdout.get("seeds") or []
    items = [
        ("Winner", f"{e(winner.name)}<br><small>{e(_params(winner.params))}</small>"),
        ("Chosen by", e(_rule_words(selection.rule))),
        (
            f"{e(metric)}: search estimate",
            f"{fmt(_number(selection.search_estimate))} ({e(selection.search_estimate_is)}, from the seeds "
            "that chose it: optimistic under noise)",
        ),
    ]
    if selection.holdout_estimate is not None:
        items.append(
            (
                f"{e(metric)}: held-out estimate",
                f"{fmt(_number(selection.holdout_estimate))} (mean over {len(seeds)} fresh seed(s) that "
                "played no part in choosing it: unbiased)",
            )
        )
    compared = comparison_text(selection)
    if compared is not None:
        items.append(("Against the baseline", e(compared)))
    elif selection.comparison_note:
        items.append(("Against the baseline", f"not compared: {e(selection.comparison_note)}"))
    executions = selection.executions_text()
    if executions is not None:
        items.append(("Pipeline executions", e(executions)))
    rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return f"<dl class='summary selection'>{rows}</dl>"


def _rule_words(rule: str) -> str:
    words = {
        "model": "a Gaussian-process model of the response over every replicate, confirmed on fresh seeds",
        "mean": "pooled means of the replicates, confirmed on fresh seeds",
        "best observed": "the best observed value (the pipeline gave identical replicates: no noise)",
    }
    return f"{rule}: {words[rule]}" if rule in words else rule


def _candidates_html(selection: WinnerSelection) -> str:
    """The confirmed candidates, best first, with the winner marked."""
    candidates = [c for c in selection.candidates if isinstance(c, Mapping)]
    if not candidates:
        return ""
    e = html.escape
    confirmed = sum(1 for c in candidates if c.get("confirmation_mean") is not None)
    per_candidate = int(selection.executions.get("confirmation", 0)) // confirmed if confirmed else 0
    head = [
        "rank",
        "candidate",
        "parameters",
        f"estimate ({e(selection.rule)})",
        f"confirmation mean ({per_candidate} fresh seeds)" if per_candidate else "confirmation mean",
        "search replicates",
    ]
    body = []
    for rank, c in enumerate(candidates[:MAX_CANDIDATES], start=1):
        name = str(c.get("name", ""))
        label = e(name) + (" (winner)" if name == selection.winner.name else "")
        cells = [
            f"<td>{rank}</td>",
            f"<td class='text'>{label}</td>",
            f"<td class='text'>{e(_params(c.get('params')))}</td>",
            f"<td>{fmt(_number(c.get('estimate')))}</td>",
            f"<td>{fmt(_number(c.get('confirmation_mean')))}</td>",
            f"<td>{int(_number(c.get('search_replicates')) or 0)}</td>",
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    thead = "".join(f"<th>{h}</th>" for h in head)
    more = len(candidates) - MAX_CANDIDATES
    return (
        "<div class='scroll'><table class='data candidates'>"
        f"<thead><tr>{thead}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        + (f"<p class='caption'>{more:,} more candidates are stored with the study.</p>" if more > 0 else "")
    )


def _paired(selection: WinnerSelection) -> tuple[list[int], list[float], list[float]] | None:
    """Held-out seeds with the winner's and the baseline's value, when both were measured."""
    holdout = selection.holdout
    winner, baseline, seeds = holdout.get("winner"), holdout.get("baseline"), holdout.get("seeds")
    if not (isinstance(winner, Sequence) and isinstance(baseline, Sequence) and isinstance(seeds, Sequence)):
        return None
    if not winner or len(winner) != len(baseline) or len(seeds) != len(winner):
        return None
    return [int(s) for s in seeds], [_number(v) for v in winner], [_number(v) for v in baseline]


def _figure(
    seeds: list[int], winner: list[float], baseline: list[float], metric: str, title: str | None
) -> go.Figure:
    """A slope chart: each held-out seed's baseline and winner value joined by a line, and the means."""
    shown = range(min(len(seeds), MAX_PAIRS_DRAWN))
    # One trace for every pair (gaps between them) keeps the page small with many seeds.
    x: list[str | None] = []
    y: list[float | None] = []
    seed_of: list[int | None] = []
    for i in shown:
        x += ["baseline", "winner", None]
        y += [baseline[i], winner[i], None]
        seed_of += [seeds[i], seeds[i], None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name=f"one held-out seed ({len(seeds)})",
            line={"color": COLORS["dominated"], "width": 1},
            marker={"color": COLORS["complete"], "size": 7},
            customdata=seed_of,
            connectgaps=False,
            hovertemplate="seed %{customdata}<br>%{x}: %{y:.4g}<extra></extra>",
        )
    )
    means = [float(np.mean(baseline)), float(np.mean(winner))]
    fig.add_trace(
        go.Scatter(
            x=["baseline", "winner"],
            y=means,
            mode="lines+markers",
            name="mean",
            line={"color": COLORS["best"], "width": 3},
            marker={"color": COLORS["best"], "size": 13, "symbol": "diamond"},
            hovertemplate="mean of %{x}: %{y:.4g}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=["baseline", "winner"])
    fig.update_yaxes(title_text=metric)
    fig.update_layout(**layout(460))
    if title:
        fig.update_layout(
            title={"text": title, "x": 0.5, "xanchor": "center", "y": 0.98, "font": {"size": 14}}
        )
        fig.update_layout(margin={"t": 90})
    return fig


def selection_section(data: ReportData) -> Section | None:
    """None unless the study stored a winner selection (noise-aware optimization); else the
    winner, the rule, the confirmed candidates and the paired held-out values against the baseline."""
    selection = data.selection
    if selection is None:
        return None
    metric = data.metrics[0]
    section = Section("selection", "Winner and baseline")
    section.html = _summary_html(selection, metric) + _candidates_html(selection)
    compared = comparison_text(selection)
    paired = _paired(selection)
    if paired is None:
        section.note = (
            "No paired held-out values to draw: "
            + (
                selection.comparison_note
                or "the winner and the baseline were not both measured on held-out seeds"
            )
            + "."
        )
    else:
        seeds, winner, baseline = paired
        section.figure = _figure(seeds, winner, baseline, metric, compared)
        more = len(seeds) - MAX_PAIRS_DRAWN
        section.caption = (
            f"The winner and the baseline (no treatment) on {len(seeds)} held-out seed(s) the search never "
            f"used: each line joins one seed's baseline and winner value of {metric}, the diamonds are the "
            "means. Lines that slope the same way mean the difference holds seed by seed."
            + (f" {compared[0].upper()}{compared[1:]}." if compared else "")
            + (f" {more} more seeds are in the test but not drawn." if more > 0 else "")
        )
    if selection.candidates:
        table = (
            "The table lists the candidates, best first: the estimate that ranked them, their mean on the "
            "fresh confirmation seeds (when there was a confirmation round), and the search replicates of "
            "their parameters."
        )
        section.caption = f"{section.caption} {table}".strip()
    return section
