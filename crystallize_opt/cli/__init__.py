"""The ``crystallize-opt`` command line.

Exit codes: 0 on success, 2 on a usage or configuration error (one line on stderr; the
traceback only with ``--debug``), 1 when a run fails, 130 when interrupted (SIGINT), 143 when
terminated (SIGTERM); an interrupted or terminated run stores its running trial as failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from .._signals import Terminated, sigterm_raises
from .._version import __version__
from ..exceptions import ConfigurationError
from . import _commands

_STUDY_HELP = "study config (a study folder or its config.yaml); or name the study with --storage and --study"


def _add_study_selector(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help=_STUDY_HELP)
    parser.add_argument("--storage", help="Optuna storage URL (overrides the config's)")
    parser.add_argument("--study", help="study name (overrides the config's)")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``crystallize-opt``."""
    parser = argparse.ArgumentParser(
        prog="crystallize-opt",
        description="Run reproducible experiments and optimize them with Optuna.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Accepted before and after the subcommand; SUPPRESS keeps a subcommand from resetting them.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs"
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show progress logs"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    run = add("run", "run the experiment; print metrics and hypothesis results")
    run.add_argument("config", help="study folder or config.yaml")
    run.add_argument("--replicates", type=int, help="replicates (overrides the config)")
    run.add_argument(
        "--strategy", choices=["rerun", "resume"], default="rerun", help="rerun (default) or resume"
    )
    run.add_argument("-o", "--output", help="also write the result as JSON to this file")
    run.add_argument("--strict", action="store_true", help="exit 1 when any replicate failed")
    run.set_defaults(func=_commands.cmd_run)

    optimize = add("optimize", "run or resume the study, then write its report")
    optimize.add_argument("config", help="study folder or config.yaml")
    optimize.add_argument("--trials", type=int, help="target number of finished trials")
    optimize.add_argument("--replicates", type=int, help="replicates per trial")
    optimize.add_argument(
        "--storage",
        help="Optuna storage URL (default: the config's, else the folder's study.db, except that a new "
        "study run with --workers N > 1 goes to the folder's journal file study.log: SQLite takes one "
        "writer at a time, which holds many workers back)",
    )
    optimize.add_argument("--study", help="study name (default: the config's, else the folder name)")
    optimize.add_argument("--seed", type=int, help="master seed and sampler seed")
    optimize.add_argument("--report", help="report path (default: <folder>/<study>-report.html)")
    optimize.add_argument("--no-report", action="store_true", help="do not write the report")
    optimize.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the study (default 1); see --storage for where they keep it",
    )
    optimize.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    optimize.set_defaults(func=_commands.cmd_optimize)

    worker = add("worker", "join a shared study as one worker; stop when the study reaches its target")
    worker.add_argument("config", help="study folder or config.yaml")
    worker.add_argument(
        "--storage", help="Optuna storage URL shared by the workers (e.g. postgresql+psycopg://...)"
    )
    worker.add_argument("--study", help="study name (default: the config's, else the folder name)")
    worker.add_argument("--trials", type=int, help="target number of finished trials")
    worker.add_argument("--replicates", type=int, help="replicates per trial")
    worker.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    worker.set_defaults(func=_commands.cmd_worker, seed=None, report=None, no_report=True, workers=1)

    report = add("report", "write the HTML report of a study")
    _add_study_selector(report)
    report.add_argument("-o", "--output", help="HTML file to write")
    report.set_defaults(func=_commands.cmd_report)

    best = add(
        "best",
        "print the best treatment (of a noise-aware study: the chosen winner and its test against the "
        "baseline), ready to paste into treatments:",
    )
    _add_study_selector(best)
    best.add_argument("--format", choices=["yaml", "json"], default="yaml")
    best.set_defaults(func=_commands.cmd_best)

    studies = add("studies", "list the studies a storage holds")
    studies.add_argument("--storage", required=True, help="Optuna storage URL")
    studies.set_defaults(func=_commands.cmd_studies)

    trials = add("trials", "list a study's trials")
    _add_study_selector(trials)
    trials.add_argument("--top", type=int, help="the N best trials, ranked as best and the report rank them")
    trials.add_argument("--state", choices=["complete", "pruned", "fail", "running", "waiting"])
    trials.set_defaults(func=_commands.cmd_trials)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not args.debug:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with sigterm_raises():
            code: int = args.func(args)
        return code
    except ConfigurationError as exc:
        if args.debug:
            raise
        print(f"crystallize-opt: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print(
            "crystallize-opt: terminated; the study is consistent, run the command again to resume",
            file=sys.stderr,
        )
        return Terminated.exit_code
    except KeyboardInterrupt:
        if args.debug:  # where the interrupt landed
            traceback.print_exc()
        print(
            "crystallize-opt: interrupted; the study is consistent, run the command again to resume",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"crystallize-opt: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
