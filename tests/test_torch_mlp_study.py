"""studies/torch_mlp: the example study of a PyTorch MLP with learning-curve pruning runs from the
command line (a few short trials here), and a trial that is stopped says so in the study."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

import crystallize_opt as co

from .test_cli import STUDIES, cli

pytest.importorskip("torch", reason="PyTorch is not installed (the `samplers` extra installs it)")
if not hasattr(co.FrozenContext, "report"):
    pytest.skip("ctx.report (learning-curve pruning, issue 17) is not in this build", allow_module_level=True)

STUDY = STUDIES / "torch_mlp"


def test_the_torch_study_runs_with_curve_pruning(tmp_path: Path) -> None:
    folder = tmp_path / "torch_mlp"
    shutil.copytree(STUDY, folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = yaml.safe_load((folder / "config.yaml").read_text())
    config["steps"] = ["split", {"train": {"epochs": 2}}]
    config["optimize"]["pruner"] = {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 0}
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    result = cli(
        "optimize",
        str(folder),
        "--storage",
        storage,
        "--trials",
        "6",
        "--replicates",
        "2",
        "--no-report",
        "-q",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("best trial-")
    study = optuna.load_study(study_name="torch_mlp", storage=storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) >= 4
    assert complete
    assert all(0.0 <= t.value <= 1.0 for t in complete)
