"""Issue 14, "every rule once": each setting of the ``optimize:`` section is checked by the
constructor it is for, the config only translates YAML into its arguments (and relabels the
errors with the file and key path), so Python and YAML give the same answer; and importing the
config package changes nothing in the import system."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "studies" / "noisy_quadratic"


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_config_package_leaves_the_import_system_alone() -> None:
    """Only loading a study's modules installs the study finder (once)."""
    out = _run(
        f"""
        import sys
        before = list(sys.meta_path)
        import crystallize_opt.config
        import crystallize_opt.config._modules
        from crystallize_opt import Experiment
        print(sys.meta_path == before, "crystallize_opt.config._studies" in sys.modules)
        from crystallize_opt.config import load_study
        study = load_study({str(EXAMPLE)!r})
        added = [type(f).__name__ for f in sys.meta_path if f not in before]
        load_study({str(EXAMPLE)!r})
        again = [type(f).__name__ for f in sys.meta_path if f not in before]
        print(added, again, any(
            name.startswith("crystallize_opt.config._studies.s_noisy_quadratic_") for name in sys.modules
        ))
        """
    )
    assert out.splitlines() == ["True False", "['_StudyFinder'] ['_StudyFinder'] True"], out


def test_a_fresh_process_imports_a_study_module_by_name() -> None:
    """What a worker process does when it unpickles a study's step: the name alone is enough."""
    out = _run(
        f"""
        import pickle, subprocess, sys
        from crystallize_opt.config import load_study
        study = load_study({str(EXAMPLE)!r})
        data = pickle.dumps(study.experiment.pipeline.steps[0])
        code = "import pickle, sys; step = pickle.loads(sys.stdin.buffer.read()); print(type(step).__name__)"
        done = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=60)
        print(done.returncode, done.stdout.decode().strip(), done.stderr.decode()[-300:])
        """
    )
    assert out.startswith("0 "), out
