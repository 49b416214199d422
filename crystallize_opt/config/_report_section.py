"""The ``report:`` section: how the command line writes the study's HTML report."""

from __future__ import annotations

from dataclasses import dataclass

from .._constants import PLOTLYJS_MODES
from ._schema import Field

REPORT_KEYS = ("plotlyjs",)


@dataclass(frozen=True)
class ReportConfig:
    """The parsed ``report:`` section of a study (all defaults when the config has none).

    Attributes:
        plotlyjs: how ``crystallize-opt optimize`` and ``report`` give the study's report
            plotly.js when ``--plotlyjs`` is not given: ``"inline"`` (default; one file that opens
            offline) or ``"shared"`` (one ``plotly.min.js`` beside the report), see
            :func:`crystallize_opt.report.write_report`.
    """

    plotlyjs: str = "inline"


def parse_report(section: Field) -> ReportConfig:
    """Validate the ``report:`` section (a null section or key keeps the default).

    Raises:
        ConfigurationError: naming the file and the key path (``report.plotlyjs``) for an unknown
            key or a value that is not one of the allowed ones.
    """
    section.mapping(REPORT_KEYS)
    plotlyjs = section.child("plotlyjs")
    return ReportConfig() if plotlyjs is None else ReportConfig(plotlyjs=plotlyjs.choice(PLOTLYJS_MODES))
