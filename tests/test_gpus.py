"""One GPU per worker: ``optimize(workers=N, gpus=[...])``, ``--gpus``, ``optimize.gpus`` and
``ParallelExecution(gpus=...)`` give each process its own GPU(s) through CUDA_VISIBLE_DEVICES,
and asking for GPUs a machine does not show is a clear error.

Without GPUs here, the tests give the parent process CUDA_VISIBLE_DEVICES (as a cluster's
scheduler does): its entries are the GPUs it may hand out, and what each process sees is read
from the process itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution

import crystallize_opt as co
from crystallize_opt.plugins import device_plan

from . import gpu_fixtures as fx
from . import servers
from .stored import record_of

SPACE = {"x": FloatDistribution(-2.0, 3.0)}
NO_GPU_HERE = shutil.which("nvidia-smi") is None and not Path("/proc/driver/nvidia/gpus").is_dir()


@pytest.fixture(autouse=True)
def _quiet(quiet_workdir: Path) -> None:
    """Every test runs in its own folder, with Optuna's per-trial logging off."""


def _devices_by_process(study: object) -> dict[int, set[float]]:
    seen: dict[int, set[float]] = defaultdict(set)
    for trial in study.trials:  # type: ignore[attr-defined]
        values = record_of(trial).values
        for pid, device in zip(values.get("pid", []), values.get("device", []), strict=True):
            seen[int(pid)].add(device)
    return dict(seen)


def test_the_plan_gives_each_process_its_gpus_round_robin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert device_plan([0, 1], 3, "gpus") == ["4", "5", "4"], "more processes than GPUs: round robin"
    assert device_plan([0, 1, 2, 3], 2, "gpus") == ["4,6", "5,7"], "fewer: each its own share"
    assert device_plan([3], 1, "gpus") == ["7"], "indices count the GPUs this process sees"
    with pytest.raises(co.ConfigurationError, match=r"gpus=\[4\]: there is no GPU 4; this process sees 4"):
        device_plan([4], 2, "gpus")


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_each_worker_process_sees_its_own_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")
    optimizer = co.OptunaOptimizer(
        SPACE, co.Objective("loss"), storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="gpus"
    )
    # 0.5 s a trial: on a loaded machine the first worker must not finish all 12 before the second starts.
    fx.experiment(sleep=0.5).optimize(optimizer, num_trials=12, workers=2, gpus=[0, 1])
    seen = _devices_by_process(optimizer.study)
    assert len(seen) == 2, f"both workers ran trials: {seen}"
    assert sorted(next(iter(devices)) for devices in seen.values()) == [6.0, 7.0], seen
    assert all(len(devices) == 1 for devices in seen.values()), "a worker keeps its GPU"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6,7", "the calling process is left as it was"


def test_gpus_with_one_worker_or_threads_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    optimizer = co.OptunaOptimizer(SPACE, co.Objective("loss"), storage=f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(co.ConfigurationError, match=r"gpus=\[0\].*needs workers >= 2.*CUDA_VISIBLE_DEVICES"):
        fx.experiment().optimize(optimizer, num_trials=2, gpus=[0])
    with pytest.raises(co.ConfigurationError, match="gpus needs executor_type='process'"):
        co.ParallelExecution(executor_type="thread", gpus=[0])
    for bad in ([], [0, 0], [-1], ["a"], 0):
        with pytest.raises(co.ConfigurationError, match="must be a non-empty list of distinct GPU indices"):
            co.ParallelExecution(executor_type="process", gpus=bad)  # type: ignore[arg-type]


@pytest.mark.skipif(not NO_GPU_HERE, reason="this machine has NVIDIA GPUs")
def test_asking_for_gpus_on_a_machine_without_any_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    optimizer = co.OptunaOptimizer(SPACE, co.Objective("loss"), storage=storage, study_name="none")
    with pytest.raises(
        co.ConfigurationError, match=r"gpus=\[0, 1\] asks for GPUs, but this machine shows none"
    ):
        fx.experiment().optimize(optimizer, num_trials=4, workers=2, gpus=[0, 1])
    assert optuna.get_all_study_names(storage) == [], "nothing was created before the error"


def test_parallel_execution_spreads_a_trial_s_replicates_over_the_gpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    plugin = co.ParallelExecution(executor_type="process", max_workers=2, gpus=[0, 1])
    result = fx.experiment(sleep=0.3, plugins=[plugin]).run(replicates=4)
    metrics = result.metrics.baseline.metrics
    by_process: dict[float, set[float]] = defaultdict(set)
    for pid, device in zip(metrics["pid"], metrics["device"], strict=True):
        by_process[pid].add(device)
    assert os.getpid() not in by_process
    assert len(by_process) == 2, f"both pool processes ran replicates: {by_process}"
    assert sorted(d for devices in by_process.values() for d in devices) == [2.0, 3.0], by_process


STUDY = """\
datasource: nothing
steps: [record_devices]
optimize:
  objective: {metric: loss}
  search_space: {x: {type: float, low: -2.0, high: 3.0}}
  trials: 3
"""


def _study(tmp_path: Path, extra: str = "") -> Path:
    folder = tmp_path / "gpus_study"
    folder.mkdir(parents=True)
    (folder / "datasources.py").write_text("from tests.gpu_fixtures import nothing\n")
    (folder / "steps.py").write_text("from tests.gpu_fixtures import record_devices\n")
    (folder / "config.yaml").write_text(STUDY + extra)
    return folder


def _cli(folder: Path, *options: str, visible: str) -> subprocess.CompletedProcess[str]:
    # The checkout first, then what the caller's PYTHONPATH holds (packages installed there,
    # as on a GPU machine where the test dependencies travel as a folder of wheels).
    env = {**servers.process_env(), "CUDA_VISIBLE_DEVICES": visible}
    command = [
        sys.executable,
        "-m",
        "crystallize_opt",
        "optimize",
        str(folder),
        "-q",
        "--no-report",
        *options,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def _devices_in(folder: Path) -> set[float]:
    study = optuna.load_study(study_name="gpus_study", storage=f"sqlite:///{folder / 'study.db'}")
    return {d for devices in _devices_by_process(study).values() for d in devices}


def test_cli_gpus_option_and_config_key_choose_the_gpus_of_one_process(tmp_path: Path) -> None:
    folder = _study(tmp_path)
    done = _cli(folder, "--gpus", "1", visible="4,5")
    assert done.returncode == 0, done.stderr
    assert _devices_in(folder) == {5.0}
    bad = _cli(folder, "--gpus", "0,x", visible="4,5")
    assert bad.returncode == 2 and "--gpus must be a non-empty list of distinct GPU indices" in bad.stderr
    configured = _study(tmp_path / "c", "  gpus: [0]\n")
    done = _cli(configured, visible="8,9")
    assert done.returncode == 0, done.stderr
    assert _devices_in(configured) == {8.0}
    broken = _study(tmp_path / "b", "  gpus: zero\n")
    done = _cli(broken, visible="8,9")
    assert done.returncode == 2
    assert (
        "optimize.gpus" in done.stderr and "expected a non-empty list of distinct GPU indices" in done.stderr
    )


def _cuda_study(tmp_path: Path, *, num_trials: int, gpus: list[int]) -> optuna.Study:
    """A study run by two worker processes on ``gpus``, each recording where its tensors land."""
    optimizer = co.OptunaOptimizer(
        SPACE, co.Objective("loss"), storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="cuda"
    )
    experiment = co.Experiment(datasource=fx.nothing(), pipeline=co.Pipeline([fx.record_cuda(sleep=0.2)]))
    experiment.optimize(optimizer, num_trials=num_trials, workers=2, gpus=gpus)
    return optimizer.study


@pytest.mark.skipif(NO_GPU_HERE, reason="no NVIDIA GPU here (run on a GPU machine)")
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_on_one_gpu_every_worker_s_tensors_land_on_the_gpu_it_was_given(tmp_path: Path) -> None:
    """On one GPU (the lent GPU machines have one) both worker processes get it, round robin."""
    torch = pytest.importorskip("torch")
    if torch.cuda.device_count() < 1:
        pytest.skip("torch sees no CUDA device")
    given = torch.cuda.device_count() - 1  # the last GPU: not simply the default device 0
    study = _cuda_study(tmp_path, num_trials=6, gpus=[given])
    seen = _devices_by_process(study)
    # Indices count the GPUs this process sees: its CUDA_VISIBLE_DEVICES entries where it has one.
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    physical = float(visible.split(",")[given]) if visible else float(given)
    assert len(seen) == 2 and all(devices == {physical} for devices in seen.values()), seen
    for trial in study.trials:
        values = record_of(trial).values
        assert set(values["visible_count"]) == {1.0}, "a worker sees the one GPU it was given"
        assert set(values["tensor_device"]) == {0.0}, "its tensors land on it (cuda:0 in that process)"
        assert set(values["pci_bus"]) == {float(fx.pci_bus_of(torch, given))}, "the physical GPU given"


@pytest.mark.skipif(NO_GPU_HERE, reason="no NVIDIA GPU here (run on a GPU machine)")
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_on_gpus_each_worker_s_tensors_land_on_its_own_device(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.device_count() < 2:
        pytest.skip("fewer than 2 GPUs")
    study = _cuda_study(tmp_path, num_trials=8, gpus=[0, 1])
    seen = _devices_by_process(study)
    assert sorted(next(iter(d)) for d in seen.values()) == [0.0, 1.0], seen
    for trial in study.trials:
        values = record_of(trial).values
        assert set(values["visible_count"]) == {1.0}, "a worker sees its one GPU only"
        assert set(values["tensor_device"]) == {0.0}, "its tensors land on it (cuda:0 in that process)"
