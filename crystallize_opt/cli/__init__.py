"""The ``crystallize-opt`` command line.

Exit codes: 0 on success, 2 on a usage or configuration error or a storage that failed (an
unreachable database, a full disk, a damaged file; one line on stderr; the traceback only with
``--debug``), 1 when a run fails, 130 when interrupted (SIGINT), 143 when
terminated (SIGTERM); an interrupted or terminated run stores its running trial as failed.
"""

from __future__ import annotations

import logging
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, for type checkers, without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from types import FrameType

# Only the standard library is imported until the arguments are parsed: --help and usage errors
# answer at once, and a command imports what it needs (Optuna, SciPy, ...) when it runs, where
# an interrupt is handled like any other. The package's own __init__ imports nothing heavy.

_STUDY_HELP = "study config (a study folder or its config.yaml); or name the study with --storage and --study"
_PLOTLYJS_HELP = (
    "inline (one offline file) or shared (one plotly.min.js beside the report); default: the config's "
    "report.plotlyjs, else inline"
)


def _add_study_selector(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help=_STUDY_HELP)
    parser.add_argument("--storage", help="Optuna storage URL (overrides the config's)")
    parser.add_argument("--study", help="study name (overrides the config's)")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``crystallize-opt``.

    Each subcommand's ``func`` default names its function in :mod:`._commands`, which
    :func:`main` imports only once the arguments are parsed.
    """
    import argparse

    from .._constants import PLOTLYJS_MODES  # a module that imports nothing: --help stays fast

    class VersionAction(argparse.Action):  # argparse's own wants the version before parsing
        def __init__(self, option_strings: list[str], dest: str, help: str) -> None:
            super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

        def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
            from .._version import __version__

            parser.exit(message=f"{parser.prog} {__version__}\n")

    parser = argparse.ArgumentParser(
        prog="crystallize-opt",
        description="Run reproducible experiments and optimize them with Optuna.",
    )
    parser.add_argument("--version", action=VersionAction, help="show the version and exit")
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
    run.set_defaults(func="cmd_run")

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
    optimize.add_argument("--plotlyjs", choices=PLOTLYJS_MODES, help=_PLOTLYJS_HELP)
    optimize.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the study (default 1); see --storage for where they keep it",
    )
    optimize.add_argument(
        "--gpus",
        help="GPU indices the workers share, e.g. 0,1,2,3: each worker process sees its own through "
        "CUDA_VISIBLE_DEVICES, round robin when there are more workers than GPUs (default: the config's "
        "optimize.gpus, else every GPU for every worker)",
    )
    optimize.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the --workers as tasks on this Dask cluster (scheduler address, e.g. tcp://host:8786) "
        "instead of local processes; needs crystallize-opt[dask] and a storage every worker reaches",
    )
    optimize.add_argument(
        "--resources",
        help="Dask worker resources each worker task needs, e.g. GPU=1 (with --dask)",
    )
    optimize.add_argument(
        "--dask-upload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --dask: send the study folder's Python files to every Dask worker and import them from there; "
        "--no-dask-upload: never (the code must be installed or on a shared file system); default: sent, and "
        "used by a worker only where it does not see the same files at the folder's path",
    )
    optimize.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    optimize.set_defaults(func="cmd_optimize")

    worker = add("worker", "join a shared study as one worker; stop when the study reaches its target")
    worker.add_argument("config", help="study folder or config.yaml")
    worker.add_argument(
        "--storage", help="Optuna storage URL shared by the workers (e.g. postgresql+psycopg://...)"
    )
    worker.add_argument("--study", help="study name (default: the config's, else the folder name)")
    worker.add_argument("--trials", type=int, help="target number of finished trials")
    worker.add_argument("--replicates", type=int, help="replicates per trial")
    worker.add_argument("--gpus", help="GPU indices this worker uses, e.g. 0 (sets CUDA_VISIBLE_DEVICES)")
    worker.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    worker.set_defaults(
        func="cmd_worker",
        seed=None,
        report=None,
        no_report=True,
        workers=1,
        dask=None,
        resources=None,
        dask_upload=None,
        plotlyjs=None,
    )

    report = add("report", "write the HTML report of a study")
    _add_study_selector(report)
    report.add_argument(
        "-o",
        "--output",
        help="HTML file to write (default: <folder>/<study>-report.html beside the study; with --storage "
        "and no CONFIG, <study>-report.html in the working directory)",
    )
    report.add_argument("--plotlyjs", choices=PLOTLYJS_MODES, help=_PLOTLYJS_HELP)
    report.set_defaults(func="cmd_report")

    dashboard = add(
        "dashboard",
        "start optuna-dashboard on a study's storage (with the report's figures and the winner note)",
    )
    _add_study_selector(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    dashboard.set_defaults(func="cmd_dashboard")

    best = add(
        "best",
        "print the best treatment (of a noise-aware study: the chosen winner and its test against the "
        "baseline), ready to paste into treatments:",
    )
    _add_study_selector(best)
    best.add_argument("--format", choices=["yaml", "json"], default="yaml")
    best.set_defaults(func="cmd_best")

    studies = add("studies", "list the studies a storage holds")
    studies.add_argument("--storage", required=True, help="Optuna storage URL")
    studies.set_defaults(func="cmd_studies")

    trials = add("trials", "list a study's trials")
    _add_study_selector(trials)
    trials.add_argument("--top", type=int, help="the N best trials, ranked as best and the report rank them")
    trials.add_argument("--state", choices=["complete", "pruned", "fail", "running", "waiting"])
    trials.set_defaults(func="cmd_trials")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see the module docstring).

    ``--help``, ``--version`` and usage errors raise SystemExit from argparse, as usual.
    An interrupt (SIGINT) at any moment of the run, also while modules are imported or the
    study is opened, prints the one-line message and returns 130. With ``--debug`` the
    traceback is printed too, and the exit code stays what it is without.
    """
    import signal

    debug = False
    interrupted: list[int] = []

    on_sigint = interrupt_handler(interrupted)
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # not where a caller handles SIGINT its own way
        signal.signal(signal.SIGINT, on_sigint)
    try:
        args = build_parser().parse_args(argv)
        debug = args.debug
        code = _run(args, interrupted)
        # A KeyboardInterrupt that landed in an extension module's import can come out as an
        # ImportError that the library catches for a fallback (SQLAlchemy's optional Cython
        # modules do): the run went on, but the user asked it to stop.
        return _interrupted(debug) if interrupted else code
    except KeyboardInterrupt:
        return _interrupted(debug)
    except SystemExit:
        raise
    except BaseException as exc:  # Terminated and errors; anything else is raised again
        return _interrupted(debug) if interrupted else _failed(exc, debug)
    finally:
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous)


def interrupt_handler(interrupted: list[int]) -> Callable[[int, FrameType | None], None]:
    """The command line's SIGINT handler: Python's own (raise KeyboardInterrupt), noting each
    interrupt in ``interrupted``; where Python would ignore the exception (a finalizer, importlib's
    lock cleanup), the interrupt is delivered again once that code has returned."""

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        # Noted: a KeyboardInterrupt raised inside an extension module's initialization may
        # come out as another error (ImportError: initialization failed), which is then
        # reported as the interrupt it was.
        interrupted.append(signum)
        if _swallows_exceptions(frame):
            # Raised here, the interrupt would be printed as "Exception ignored" and the run
            # would go on.
            _signal_again_soon(signum)
            return
        raise KeyboardInterrupt

    return on_sigint


def _swallows_exceptions(frame: FrameType | None) -> bool:
    """Whether Python ignores an exception raised in ``frame``: a finalizer (``__del__``) or the
    weakref callback with which importlib cleans up its module locks, which a signal may
    interrupt while modules are imported."""
    if frame is None:
        return False
    code = frame.f_code
    return code.co_name == "__del__" or (code.co_name == "cb" and "importlib" in code.co_filename)


def _signal_again_soon(signum: int) -> None:
    """Send ``signum`` to this process again in a moment (from a thread: the handler then runs
    in the main thread at its next instruction, outside the code that would swallow it)."""
    import signal
    import threading

    timer = threading.Timer(0.01, signal.pthread_kill, (threading.main_thread().ident, signum))
    timer.daemon = True
    timer.start()


def _not_the_interrupt(record: logging.LogRecord) -> bool:
    """False for a log record carrying a KeyboardInterrupt: a library that catches errors where
    the interrupt landed (SQLAlchemy's pool closing a connection logs "Exception closing
    connection" with its traceback) would print it before the one line that reports it."""
    return not (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


def _run(args: argparse.Namespace, interrupted: Sequence[int]) -> int:
    """Run the parsed command; raise KeyboardInterrupt before it starts when an interrupt was
    noted (in ``interrupted``) while the modules it needs were imported."""

    from .._signals import sigterm_raises

    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not args.debug:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_not_the_interrupt)
    import optuna  # with NumPy, SciPy, ...: only now, for a command that runs

    from . import _commands

    if interrupted:  # swallowed by an import's fallback: the command must not start
        raise KeyboardInterrupt
    # Optuna's INFO logging ("A new study created ...") stays out of the command's output, with
    # --debug too: what the command prints is its own. Its warnings still show; worker processes
    # take the verbosity of the process that starts them; a caller of main() in Python gets its
    # own verbosity back.
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with sigterm_raises():
            _commands.check_options(args)
            code: int = getattr(_commands, args.func)(args)
    finally:
        optuna.logging.set_verbosity(previous)
    return code


def _interrupted(debug: bool) -> int:
    if debug:  # where the interrupt landed
        import traceback

        traceback.print_exc()
    print(
        "crystallize-opt: interrupted; the study is consistent, run the command again to resume",
        file=sys.stderr,
    )
    return 130


def _failed(exc: BaseException, debug: bool) -> int:
    """Print ``exc`` as the command's one-line error (after its traceback with ``debug``) and
    return its exit code: 143 when terminated, 2 for a usage or configuration error or a failed
    storage, 1 for a failed run. Raises ``exc`` again if it is none of these (such as
    GeneratorExit)."""
    from .._signals import Terminated
    from ..exceptions import ConfigurationError, StorageError

    if isinstance(exc, Terminated):
        code, message = exc.exit_code, "terminated; the study is consistent, run the command again to resume"
    elif isinstance(exc, (ConfigurationError, StorageError)):
        code, message = 2, f"error: {exc}"
    elif isinstance(exc, Exception):
        code, message = 1, f"{type(exc).__name__}: {exc}"
    else:
        raise exc
    if debug:
        import traceback

        traceback.print_exception(exc)
    from .._text import one_line

    print(f"crystallize-opt: {one_line(message)}", file=sys.stderr)
    return code


def entry_point() -> None:
    """Console-script entry point: exit with :func:`main`'s code.

    Once the command is done, a second Ctrl+C (while the process exits) ends the process at
    once, as a shell reports it (130), instead of printing a traceback from an exit handler.
    """
    import atexit

    code = 1

    def keep_130() -> None:
        # CPython exits by SIGINT (-2 to a parent process) instead of with the exit code when a
        # KeyboardInterrupt passed through a nested PyRun_* call (Cython modules run code that way
        # while they are imported), even though it was handled here (CPython gh-128130).
        # Registered first, this runs after every other exit handler.
        if code == 130:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)

    atexit.register(keep_130)
    try:
        code = main()
    except KeyboardInterrupt:  # landed in main's own error handling
        code = _interrupted(False)
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(code)
