"""The command line as a process: what it imports before it answers, interrupts at any moment,
exit codes with ``--debug``, and whose log lines it prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import servers

#: Modules that --help and a usage error must not import (they take seconds to import).
HEAVY = ("numpy", "scipy", "optuna", "plotly", "sqlalchemy", "pandas", "yaml", "tqdm")
INTERRUPTED = "crystallize-opt: interrupted; the study is consistent, run the command again to resume"

#: Runs the command line in-process as the console script does, then prints which of HEAVY it
#: imported (SystemExit included: that is how --help and usage errors end).
_PROBE = f"""
import sys
from crystallize_opt.cli import main
try:
    main(sys.argv[1:])
finally:
    print("HEAVY:", ",".join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["optimize", "--help"], 0),
        (["--version"], 0),
        (["optimize"], 2),  # CONFIG missing
        (["optimize", "x", "--trials", "many"], 2),
        (["no-such-command"], 2),
    ],
)
def test_help_and_usage_errors_import_none_of_the_heavy_libraries(args: list[str], code: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=servers.process_env(),
    )
    assert result.returncode == code, result.stderr
    assert "HEAVY: \n" in result.stderr, result.stderr  # none of them
    if code == 2:
        assert "usage: crystallize-opt" in result.stderr


def test_the_package_still_exports_its_public_api_on_first_use() -> None:
    names = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, crystallize_opt as c\n"
            "print('numpy' in sys.modules)\n"
            "from crystallize_opt import *\n"
            "print(all(getattr(c, n) is globals()[n] for n in c.__all__), sorted(c.__all__))\n"
            "print(c.Experiment.__module__, c.OptunaOptimizer.__module__, c.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=servers.process_env(),
    )
    assert names.returncode == 0, names.stderr
    lazy, every, modules = names.stdout.splitlines()
    assert lazy == "False"  # importing the package alone imports NumPy no more
    assert every.startswith("True ") and "'OptunaOptimizer'" in every and "'wilcoxon_signed_rank'" in every
    assert modules.split()[:2] == [
        "crystallize_opt.experiment._experiment",
        "crystallize_opt.optimize._optuna",
    ]
    import crystallize_opt

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        crystallize_opt.Nope  # noqa: B018 - the access is the test


#: Parts of SciPy and plotly that the public API needs only when a verifier runs, a noisy
#: search picks its winner or a report is drawn (scipy.stats alone takes about a second).
_ON_USE = ("scipy.stats", "scipy.optimize", "scipy.linalg", "scipy.spatial", "scipy.ndimage", "plotly")


def test_the_public_api_imports_scipy_stats_and_plotly_only_when_they_are_used() -> None:
    """What every worker process and every script pays at start: the whole public API, without
    SciPy's statistics or optimizers nor plotly; a verifier imports scipy.stats when it runs."""
    probe = (
        "import sys\n"
        "from crystallize_opt import *\n"
        f"print(sorted(m for m in {_ON_USE!r} if m in sys.modules))\n"
        "out = welch_t_test()({'m': [1.0, 2.0, 3.0]}, {'m': [4.0, 5.0, 6.5]})\n"
        "print('scipy.stats' in sys.modules, round(out['p_value'], 4))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=servers.process_env()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "True 0.0291"], result.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_at_any_moment_of_optimize_prints_one_line_and_exits_130(tmp_path: Path, workers: str) -> None:
    """SIGINT to the process group (a terminal's Ctrl+C) at several moments while ``optimize``
    starts: importing its modules, loading the config, opening and creating the study, running
    its first trials; with ``--workers 2`` also the forkserver's imports and the workers' start.
    Each time: exit 130 and the one line, never a traceback (running trials are logged as
    failed)."""
    folder = servers.write_study(tmp_path / "tiny", sleep=0.05, trials=200, replicates_per_trial=2)
    ours = []
    for delay in (0.05, 0.15, 0.3, 0.5, 0.8, 1.2, 1.6, 2.0, 3.0):
        with servers.Processes(tmp_path) as processes:
            process = processes.start(
                [sys.executable, "-m", "crystallize_opt", "optimize", str(folder), "-q", "--workers", workers]
            )
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGINT)
            code, output = processes.finish(process, timeout=60)
        python_starting = "crystallize" not in output or "init_import_site" in output
        if python_starting and code in (1, -signal.SIGINT):
            # The interrupt came while Python itself started (before any module of ours ran, or
            # while `site` ran an installed package's path hook, such as the editable install's
            # finder; on a loaded machine that takes a while): Python's own behaviour.
            continue
        lines = output.strip().splitlines()
        assert (code, lines[-1]) == (130, INTERRUPTED), f"after {delay} s: exit {code}\n{output}"
        # Besides the line, only the log records of running trials stored as failed: by the
        # worker that ran them, or (a worker stopped before it could) by the parent afterwards.
        stored_as_failed = re.compile(
            r"WARNING (worker-\d )?crystallize_opt\.optimize: (trial \d+ failed: interrupted"
            r"|trial \d+ failed \(.*\); (its parameters are queued again|not retried)"
            r"|trials \[[\d, ]+\] of stopped workers stored as failed)"
        )
        assert all(stored_as_failed.match(x) for x in lines[:-1]), f"after {delay} s:\n{output}"
        ours.append(delay)
    assert len(ours) >= 4, f"only {ours} reached the command line"


SWALLOWING_IMPORT = """
import os
import signal
import time

try:  # what a library's optional-import fallback does to an interrupt that lands in its import
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
except (ImportError, KeyboardInterrupt):
    pass
"""


def test_an_interrupt_that_a_library_swallows_still_ends_the_command_as_interrupted(tmp_path: Path) -> None:
    """A Ctrl+C that lands in an extension module's import can surface as an ImportError that the
    library catches (SQLAlchemy falls back from its Cython modules): the command still stops
    with 130 and the one line, not 0 as if nothing had happened."""
    folder = servers.write_study(tmp_path / "tiny", trials=3)
    steps = folder / "steps.py"
    steps.write_text(SWALLOWING_IMPORT + steps.read_text())
    result = subprocess.run(
        [sys.executable, "-m", "crystallize_opt", "optimize", str(folder), "-q", "--no-report"],
        capture_output=True,
        text=True,
        timeout=120,
        env=servers.process_env(),
    )
    assert (result.returncode, result.stderr.strip().splitlines()[-1]) == (130, INTERRUPTED), (
        result.stdout + result.stderr
    )


def test_debug_shows_the_traceback_and_keeps_the_exit_code_of_a_configuration_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.yaml").write_text("name: broken\nreplicates: three\n")
    plain = subprocess.run(
        [sys.executable, "-m", "crystallize_opt", "run", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    debug = subprocess.run(
        [sys.executable, "-m", "crystallize_opt", "--debug", "run", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode == 2, plain.stderr
    assert "Traceback" not in plain.stderr
    assert debug.returncode == 2, debug.stderr
    assert "Traceback" in debug.stderr and "ConfigurationError" in debug.stderr
    # The same one-line error ends both.
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize(("flags", "workers"), [(["--debug"], "1"), (["--debug"], "2"), (["-v"], "2")])
def test_the_output_has_none_of_optunas_info_lines(tmp_path: Path, flags: list[str], workers: str) -> None:
    folder = servers.write_study(tmp_path / "tiny", trials=4, replicates_per_trial=2)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "crystallize_opt",
            *flags,
            "optimize",
            str(folder),
            "--workers",
            workers,
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=servers.process_env(),
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "A new study created" not in output and "[I " not in output, output
    if flags == ["--debug"]:
        assert re.search(r"^DEBUG (worker-\d )?crystallize_opt", output, re.M), output  # ours still show


def test_main_in_python_leaves_optunas_verbosity_as_it_was(tmp_path: Path) -> None:
    import optuna

    from crystallize_opt.cli import main

    folder = servers.write_study(tmp_path / "tiny", trials=2, replicates_per_trial=2)
    before = optuna.logging.get_verbosity()
    try:
        optuna.logging.set_verbosity(optuna.logging.INFO)
        assert main(["optimize", str(folder), "-q", "--no-report"]) == 0
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(before)
