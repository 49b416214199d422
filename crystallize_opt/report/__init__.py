"""Self-contained HTML reports of Optuna studies, with replicate statistics when crystallize-opt made them.

:func:`write_report` writes one HTML file (plotly.js inlined once, so it opens offline) with a
summary header and these sections:

0. winner and baseline (studies made with noise handling only): the winner and how it was
   chosen, its search and held-out estimates, the confirmed candidates, and each held-out
   seed's value of the winner and the baseline (paired) with the effect, its confidence interval
   and the p-value of the paired t-test;
1. optimization history: each trial's mean ± SEM, the best value so far, the baseline, pruned
   and failed trials (failed ones are also listed with their reasons);
2. parameter importances (Optuna's default evaluator, PED-ANOVA);
3. slice plots: the objective against each parameter;
4. parallel coordinates;
5. a contour of the two most important parameters, on a fixed grid;
6. the Pareto front (multi-objective studies only);
7. every replicate's value for the top trials;
7b. learning curves (only when steps reported them with ``ctx.report``): a line per trial (the
   mean over its replicates), each replicate faint, pruned trials dashed and marked where they
   stopped (``_curves``);
8. a table of the top trials.

Multi-objective studies: the history and the replicate plots have one row per objective; slice
plots and the contour use the first objective; parallel coordinates have an axis per objective;
importances are PED-ANOVA's for reaching the Pareto front. "Best" and the ranking of top trials
follow the one rule of ``crystallize_opt.ranking`` (as ``OptunaOptimizer.get_best_treatment``
and ``crystallize-opt best``/``trials``): non-domination fronts, Pareto front first, each by distance
to the ideal point. In a noise-aware study the best is the chosen winner (``study_best``): the
header shows it with its search and held-out estimates (and, apart, the best observed trial,
which Optuna's tools show as best), the stars mark its trial, the replicate plot highlights its
box, and the table ranks the selection's candidates first (the winner first).

Values: the history, the header and the table show each trial's mean ± SEM over its replicates
from the stored statistics; the best-so-far line, the ranking, slices, contour, parallel
coordinates and Pareto front use the value Optuna was told (the objective's aggregate, the mean
by default). Studies without crystallize-opt's user attributes use Optuna's values throughout.
optuna-dashboard: :func:`save_to_dashboard` stores the history, replicate and winner figures and a
note naming the best with the study, for optuna-dashboard to show (``crystallize-opt optimize``
and ``report`` do it when optuna-dashboard is installed).

Large studies stay small: scatter plots are subsampled (the best trials are always kept), the
contour is computed on a fixed grid, and numeric arrays are stored as base64 typed arrays.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import plotly.graph_objects as go

from .._constants import PLOTLYJS_MODES
from ._contour import contour_section
from ._curves import curves_section
from ._dashboard import dashboard_available, save_to_dashboard
from ._data import ReportData, extract
from ._history import history_section
from ._html import SHARED_PLOTLYJS, page_html, top_table_html
from ._params import importance_section, parallel_section, slice_section
from ._pareto import pareto_section
from ._replicates import replicates_section
from ._selection import selection_section
from ._style import Section

__all__ = ["PLOTLYJS_MODES", "build_figures", "dashboard_available", "save_to_dashboard", "write_report"]


def _sections(data: ReportData, study: optuna.Study) -> list[Section]:
    selection = selection_section(data)
    sections = [] if selection is None else [selection]  # first: it is the study's answer
    sections += [history_section(data), importance_section(data), slice_section(data), parallel_section(data)]
    sections.append(contour_section(data))
    pareto = pareto_section(data)
    if pareto is not None:
        sections.append(pareto)
    sections.append(replicates_section(data))
    curves = curves_section(study, data)  # only when steps reported learning curves (ctx.report)
    if curves is not None:
        sections.append(curves)
    table = Section(
        "top", f"Top {min(data.top_k, int(data.ranking.size))} trials" if data.ranking.size else "Top trials"
    )
    if data.selection is not None:
        order = (
            ", ranked as the winner was chosen: the winner selection's candidates first, in its order "
            f"({data.selection.rule}; the winner first), then the other trials by the value told to Optuna "
            "(their parameters' pooled mean over the search's replicates)."
        )
    elif data.is_multi_objective:
        order = ", best first: by non-domination front (Pareto-optimal first), each front by distance to the ideal point."
    else:
        order = ", best first."
    table.caption = (
        "The completed feasible trials"
        + order
        + (" Mean, SEM and n are over each trial's replicates." if bool((data.n[data.top] > 0).any()) else "")
    )
    table.html = top_table_html(data)
    sections.append(table)
    return sections


def build_figures(study: optuna.Study, *, top_k: int = 10) -> dict[str, go.Figure]:
    """The report's plotly figures by name, for use in a notebook.

    Names: ``selection`` (studies made with noise handling only), ``history``, ``importance``, ``slice``, ``parallel``, ``contour``, ``pareto`` (multi-
    objective only), ``replicates``, ``curves`` (when steps reported learning curves); a figure that cannot be drawn (e.g. no completed trial,
    fewer than two parameters for the contour) is left out.

    Raises:
        ValueError: if ``top_k`` is smaller than 1.
    """
    data = extract(study, top_k=top_k)
    return {s.key: s.figure for s in _sections(data, study) if s.figure is not None}


def write_report(
    study: optuna.Study,
    path: str | Path,
    *,
    top_k: int = 10,
    title: str | None = None,
    plotlyjs: str = "inline",
) -> Path:
    """Write a self-contained HTML report of ``study`` to ``path`` and return the path.

    Works with any Optuna study, finished or still running, and crystallize-opt's user
    attributes add replicate statistics, the baseline and the sampler's settings. A study with no
    completed trial still gets a report: the header counts its trials, failures are listed, and
    each figure that cannot be drawn is replaced by a short note saying why. Missing parent
    folders of ``path`` are created; an existing file is overwritten.

    Args:
        study: the study (e.g. ``optimizer.study`` or ``optuna.load_study(...)``).
        path: the HTML file to write.
        top_k: how many of the best trials the replicate plot and the table show.
        title: the page title; default ``"Optimization report: <study name>"``.
        plotlyjs: ``"inline"`` (default): plotly.js is inside the file (about 4.8 MB), which opens
            offline on its own; ``"shared"``: the page loads ``plotly.min.js`` from its own folder,
            written there once (rewritten only when it differs from the installed plotly's), so the
            reports of a folder share one copy (beyond crystallize-ml's reference API).

    Returns:
        The path written, as a :class:`pathlib.Path`.

    Raises:
        ValueError: if ``top_k`` is smaller than 1 or ``plotlyjs`` is not one of :data:`PLOTLYJS_MODES`.
        OSError: if the file cannot be written.
    """
    if plotlyjs not in PLOTLYJS_MODES:
        raise ValueError(f"plotlyjs must be one of {', '.join(PLOTLYJS_MODES)}, got {plotlyjs!r}")
    data = extract(study, top_k=top_k)
    shared = plotlyjs == "shared"
    page = page_html(
        data,
        _sections(data, study),
        title or f"Optimization report: {study.study_name}",
        shared_plotlyjs=shared,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if shared:
        import plotly.offline

        library = target.parent / SHARED_PLOTLYJS
        code = plotly.offline.get_plotlyjs()
        if not library.is_file() or library.read_text(encoding="utf-8") != code:
            library.write_text(code, encoding="utf-8")
    target.write_text(page, encoding="utf-8")
    return target
