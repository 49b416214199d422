"""The seed plugin seeds PyTorch when the pipeline's code imported it: a pipeline that draws from
torch's global generator gives the same metrics on every run, serial or in processes, and a
replayed trial matches its stored values; torch is never imported by the package itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.distributions import FloatDistribution

import crystallize_opt as co

torch = pytest.importorskip("torch", reason="PyTorch is not installed (the `samplers` extra installs it)")
fx = pytest.importorskip("tests.torch_fixtures")

SPACE = {"lr": FloatDistribution(0.01, 0.5)}


def _losses(result: co.Result) -> list[float]:
    return list(result.metrics.baseline.metrics["loss"])


def test_a_pipeline_drawing_from_torch_gives_the_same_metrics_on_every_run() -> None:
    first = _losses(fx.experiment().run(replicates=3))
    assert len(set(first)) == 3, "each replicate draws on its own seed"
    torch.manual_seed(12345)  # whatever the caller did to the global generator before
    torch.rand(10)
    assert _losses(fx.experiment().run(replicates=3)) == first


def test_processes_give_the_metrics_of_a_serial_run() -> None:
    serial = _losses(fx.experiment().run(replicates=4))
    processes = fx.experiment([co.ParallelExecution(executor_type="process", max_workers=2)])
    assert _losses(processes.run(replicates=4)) == serial


def test_a_replayed_torch_trial_matches_what_was_stored(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    def optimizer() -> co.OptunaOptimizer:
        return co.OptunaOptimizer(SPACE, co.Objective("loss"), storage=storage, study_name="torch")

    fx.experiment().optimize(optimizer(), num_trials=4, replicates_per_trial=2)
    torch.rand(100)  # the global generator moved on since
    report = fx.experiment().replay_trial(optimizer(), 3)
    assert report.matches, report.differences


def test_seeding_without_torch_imported_does_not_import_it() -> None:
    code = (
        "import sys\n"
        "import crystallize_opt as co\n"
        "@co.data_source\n"
        "def src(ctx):\n    return ctx.rng.normal()\n"
        "@co.pipeline_step\n"
        "def step(data, ctx):\n    ctx.metrics.add('m', data)\n"
        "co.Experiment(datasource=src(), pipeline=co.Pipeline([step()]),\n"
        "              plugins=[co.SeedPlugin(deterministic=True)]).run(replicates=2)\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()
    ).stdout
    assert out.strip() == "[]"


def test_deterministic_mode_turns_on_torch_s_deterministic_algorithms() -> None:
    code = (
        "import os, torch\n"
        "from tests import torch_fixtures as fx\n"
        "import crystallize_opt as co\n"
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "fx.experiment([co.SeedPlugin(deterministic=True)]).run(replicates=1)\n"
        "print(torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,\n"
        "      torch.backends.cudnn.benchmark, os.environ['CUBLAS_WORKSPACE_CONFIG'])\n"
    )
    env = {k: v for k, v in _env().items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["True", "True", "False", ":4096:8"]


def test_deterministic_must_be_a_bool() -> None:
    with pytest.raises(co.ConfigurationError, match=r"SeedPlugin deterministic.*true or false"):
        co.SeedPlugin(deterministic="yes")  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (run on a GPU machine)")
def test_on_a_gpu_the_same_seed_gives_the_same_metrics_in_deterministic_mode() -> None:
    code = (
        "import json, torch\n"
        "from tests import torch_fixtures as fx\n"
        "import crystallize_opt as co\n"
        "torch.set_default_device('cuda')\n"
        "r = fx.experiment([co.SeedPlugin(deterministic=True)]).run(replicates=3)\n"
        "print(json.dumps(list(r.metrics.baseline.metrics['loss'])))\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (run on a GPU machine)")
def test_on_a_gpu_every_replayed_trial_matches_without_the_user_seeding_torch(tmp_path: Path) -> None:
    """The issue's GPU measurement, as a test: a study whose pipeline draws on the CUDA device's
    generator (no seeding line in user code; the seed plugin seeds every device), then each
    trial replayed after the generator moved on."""
    code = (
        "import json, sys, torch\n"
        "from optuna.distributions import FloatDistribution\n"
        "from tests import torch_fixtures as fx\n"
        "import crystallize_opt as co\n"
        "torch.set_default_device('cuda')\n"
        "assert torch.randn(1).device.type == 'cuda'\n"
        "def optimizer():\n"
        "    return co.OptunaOptimizer({'lr': FloatDistribution(0.01, 0.5)}, co.Objective('loss'),\n"
        "                              storage='sqlite:///' + sys.argv[1], study_name='torch_cuda')\n"
        "fx.experiment().optimize(optimizer(), num_trials=5, replicates_per_trial=3)\n"
        "torch.rand(100)\n"
        "print(json.dumps([fx.experiment().replay_trial(optimizer(), n).matches for n in range(5)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "study.db")],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    assert done.stdout.strip().splitlines()[-1] == "[true, true, true, true, true]", done.stdout


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
