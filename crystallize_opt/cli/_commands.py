"""The ``crystallize-opt`` subcommands, by the name each parser's ``func`` default gives. Each
takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse

from .._checks import check_count, check_replicates, check_seed, check_study_name
from ._read_commands import cmd_best, cmd_dashboard, cmd_report, cmd_studies, cmd_trials
from ._run_commands import cmd_optimize, cmd_run, cmd_worker

__all__ = [
    "check_options",
    "cmd_best",
    "cmd_dashboard",
    "cmd_optimize",
    "cmd_report",
    "cmd_run",
    "cmd_studies",
    "cmd_trials",
    "cmd_worker",
]


def check_options(args: argparse.Namespace) -> None:
    """Check the numbers and names given as options, by the rules the Python API and the config
    apply to the same values (``crystallize_opt._checks``), before the command does anything.

    Raises:
        ConfigurationError: naming the option (``--trials must be a positive integer, got 0``).
    """
    for option, check in (
        ("trials", check_count),
        ("replicates", check_replicates),
        ("workers", check_count),
        ("top", check_count),
        ("seed", check_seed),
        ("study", check_study_name),
    ):
        value = getattr(args, option, None)
        if value is not None:
            check(value, f"--{option}")
