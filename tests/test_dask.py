"""Studies run on a Dask cluster: one LocalCluster of worker processes shared by every test.

Real processes, a real scheduler and PostgreSQL (skipped, saying which variable to set, without
it); the kill and interrupt tests go through the command line, as a user would. Also a run's
replicates as Dask tasks (``ParallelExecution(executor_type="dask")``), and a study folder that
the workers cannot see reaching them by upload.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from crystallize_opt import (
    Artifact,
    ArtifactPlugin,
    Experiment,
    Pipeline,
    SeedPlugin,
    Treatment,
    data_source,
    pipeline_step,
)
from crystallize_opt.config import load_study
from crystallize_opt.exceptions import ConfigurationError
from crystallize_opt.plugins import ParallelExecution

from . import servers

distributed = pytest.importorskip(
    "distributed", reason="pip install 'crystallize-opt[dask]' to run the Dask tests"
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FAULT_TOLERANCE = "  heartbeat_interval: 0.5\n  grace_period: 2.0\n"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two worker processes (one thread each), able to import ``tests`` and the worktree."""
    env = servers.process_env()
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]  # spawned worker processes inherit it
    try:
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
    with cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def _idle(client: Any) -> bool:
    return not any(client.processing().values())


def test_dask_workers_reach_the_exact_target_with_unique_reproducible_trials(
    client: Any, tmp_path: Path
) -> None:
    with servers.study_place("postgres", tmp_path) as place:
        experiment = servers.tiny_experiment(sleep=0.02)
        optimizer = servers.optimizer_for(place.url, place.name)
        best = experiment.optimize(optimizer, num_trials=8, replicates_per_trial=2, workers=2, cluster=client)
        trials = place.trials()
        servers.assert_consistent(trials, 8)
        dask_pids = set(client.run(os.getpid).values())
        assert servers.worker_pids(trials) == dask_pids, "both Dask worker processes ran trials, nothing else"
        assert best.name.startswith("trial-")
        for trial in servers.complete(trials)[:2]:
            report = experiment.replay_trial(optimizer, trial.number)
            # Every replicate's loss comes out as stored; only the pid (of the replaying process) differs.
            assert [d for d in report.differences if "'pid'" not in d] == [], report.differences
            assert report.replayed.complete_values("loss") == report.stored["loss"]
        assert _idle(client)


def test_a_storage_the_workers_cannot_share_is_refused(client: Any, tmp_path: Path) -> None:
    experiment = servers.tiny_experiment()
    with pytest.raises(ConfigurationError, match="storage URL every worker can reach"):
        experiment.optimize(servers.optimizer_for(":memory:", "m"), num_trials=2, workers=2, cluster=client)


def _optimize_command(folder: Path, place: servers.StudyPlace, client: Any) -> list[str]:
    """``crystallize-opt optimize`` of the study folder on the test's cluster: two Dask workers."""
    return servers.cli_command(
        "optimize", str(folder), "--workers", "2", "--dask", client.scheduler.address,
        "--storage", place.url, "--study", place.name, "--no-report", "-q",
    )  # fmt: skip


def _stop_mid_trial(pid: int, place: servers.StudyPlace) -> Any:
    """Stop (SIGSTOP) process ``pid`` while it runs a trial; return that trial. Not
    ``servers.stop_mid_trial``: a Dask worker always holds the flock of its scratch directory,
    and the study is on PostgreSQL here, so no journal lock can be held by the stopped process."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if servers._trials_owned_running(place.url, place.name, pid):
            os.kill(pid, signal.SIGSTOP)
            owned = servers._trials_owned_running(place.url, place.name, pid)
            if owned:
                return owned[0]
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never ran a trial")


def test_a_dask_worker_killed_mid_trial_has_its_trial_retried_and_the_target_reached(
    client: Any, tmp_path: Path
) -> None:
    # The study folder's steps.py reaches the workers by its path (one file system here).
    target = 6
    folder = servers.write_study(
        tmp_path / "tiny", sleep=0.4, trials=target, replicates_per_trial=2, extra_yaml=FAULT_TOLERANCE
    )
    with servers.study_place("postgres", tmp_path) as place, servers.Processes(tmp_path) as processes:
        victim = min(client.run(os.getpid).values())
        run = processes.start(_optimize_command(folder, place, client))
        caught = _stop_mid_trial(victim, place)
        os.kill(victim, signal.SIGKILL)  # its nanny starts a new worker process; Dask reruns the task
        code, output = processes.finish(run, timeout=120)
        assert code == 0, output
        after = place.trials()
        servers.assert_consistent(after, target)
        stale = after[caught.number]
        assert stale.state == TrialState.FAIL and "stale" in servers.failure_of(stale), stale.user_attrs
        assert [t.number for t in servers.real_failures(after)] == [caught.number]
        retried = [
            t
            for t in after
            if t.params == caught.params and t.number != caught.number and not servers.given_up(t)
        ]
        waiting = [t for t in after if t.state == TrialState.WAITING]
        assert len(retried) + len(waiting) == 1, "its parameters are tried again exactly once"
        assert victim not in servers.worker_pids(after[caught.number + 1 :]), "the killed process ran no more"
        servers.wait_for(lambda: _idle(client), timeout=20, what="the Dask workers to be idle")


def test_ctrl_c_on_the_client_stops_the_dask_workers_and_leaves_no_running_trial(
    client: Any, tmp_path: Path
) -> None:
    folder = servers.write_study(tmp_path / "tiny", sleep=0.3, trials=50, replicates_per_trial=2)
    with servers.study_place("postgres", tmp_path) as place, servers.Processes(tmp_path) as processes:
        run = processes.start(_optimize_command(folder, place, client))
        servers.wait_for(
            lambda: (
                len(servers.complete(servers.trials_or_none(place.url, place.name) or [])) >= 1
                and any(t.state == TrialState.RUNNING for t in place.trials())
            ),
            timeout=60,
            what="a trial to run",
        )
        os.kill(run.pid, signal.SIGINT)
        code, output = processes.finish(run, timeout=60)
        assert code == 130, output
        servers.wait_for(lambda: _idle(client), timeout=20, what="the Dask workers to stop")
        trials = place.trials()
        assert not [t.number for t in trials if t.state == TrialState.RUNNING]
        assert len(servers.complete(trials)) < 50
        time.sleep(1.0)  # nothing goes on behind the client's back
        assert len(place.trials()) == len(trials)


def test_local_gpu_indices_and_resources_without_a_cluster_are_refused(client: Any, tmp_path: Path) -> None:
    experiment = servers.tiny_experiment()
    optimizer = servers.optimizer_for(f"journal:///{tmp_path / 'study.log'}", "g")
    with pytest.raises(ConfigurationError, match=r'resources=\{"GPU": 1\}'):
        experiment.optimize(optimizer, num_trials=2, workers=2, cluster=client, gpus=[0])
    with pytest.raises(ConfigurationError, match="need cluster"):
        experiment.optimize(optimizer, num_trials=2, workers=2, resources={"GPU": 1})
    from crystallize_opt.cli import main

    assert main(["optimize", str(tmp_path), "--resources", "GPU=1"]) == 2  # needs --dask
    with pytest.raises(ConfigurationError, match=r"needs cluster=\.\.\. \(--dask ADDRESS\)"):
        experiment.optimize(optimizer, num_trials=2, workers=2, upload=True)


def test_a_journal_file_is_shared_when_every_dask_worker_is_on_this_host(client: Any, tmp_path: Path) -> None:
    with servers.study_place("journal", tmp_path) as place:
        servers.tiny_experiment().optimize(
            servers.optimizer_for(place.url, place.name), num_trials=4, workers=2, cluster=client
        )
        servers.assert_consistent(place.trials(), 4)


# -- a run's replicates as Dask tasks ----------------------------------------------------------


@data_source
def _offset(ctx: Any) -> float:
    return float(ctx.get("offset", 0.0))


@pipeline_step()
def _draw(offset: float, ctx: Any, out: Artifact) -> float:
    """A seeded draw (also written as an artifact), the process that made it, and an error in replicate 2."""
    if ctx["replicate"] == 2:
        raise ValueError(f"replicate 2 of {ctx['condition']} fails")
    draw = offset + float(ctx.rng.normal())
    ctx.metrics.add("draw", draw)
    ctx.metrics.add("pid", os.getpid())
    out.write(repr(draw).encode())
    return offset


def _replicates_experiment(root: Path, plugins: list[Any]) -> Experiment:
    out = Artifact("draw.txt")
    return Experiment(
        datasource=_offset(),
        pipeline=Pipeline([_draw(out=out)]),
        plugins=[SeedPlugin(seed=11), ArtifactPlugin(root_dir=str(root)), *plugins],
        treatments=[Treatment("shifted", {"offset": 5.0})],
        outputs=[out],
        replicates=4,
        name="draws",
    )


def _artifacts(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("draw.txt"))}


def _without_pid(metrics: Any) -> dict[int, dict[str, list[float]]]:
    return {r: {k: v for k, v in m.items() if k != "pid"} for r, m in metrics.by_replicate.items()}


def test_dask_executor_runs_each_replicate_as_a_task_with_the_serial_results(
    client: Any, tmp_path: Path
) -> None:
    serial = _replicates_experiment(tmp_path / "serial", []).run()
    dask_execution = ParallelExecution(executor_type="dask", client=client)
    on_dask = _replicates_experiment(tmp_path / "dask", [dask_execution]).run()
    for condition in ("baseline", "shifted"):
        ours = on_dask.metrics.baseline if condition == "baseline" else on_dask.metrics.treatments["shifted"]
        theirs = serial.metrics.baseline if condition == "baseline" else serial.metrics.treatments["shifted"]
        assert _without_pid(ours) == _without_pid(theirs) and ours.seeds == theirs.seeds
        assert len(_without_pid(ours)) == 3  # replicate 2 failed, as in the serial run
        pids = {int(p) for m in ours.by_replicate.values() for p in m["pid"]}
        assert pids <= set(client.run(os.getpid).values()), "the replicates ran on the Dask workers"
        (error,) = on_dask.errors_for(condition)
        (expected,) = serial.errors_for(condition)
        assert (error.replicate, error.error_type, error.message) == (2, "ValueError", expected.message)
    # The workers wrote the same artifacts (each replicate's draw) where the serial run did.
    assert (
        _artifacts(tmp_path / "dask") == _artifacts(tmp_path / "serial")
        and len(_artifacts(tmp_path / "dask")) == 6
    )
    # Without client=, the client this process has open is used (as Dask finds it).
    default = _replicates_experiment(tmp_path / "default", [ParallelExecution(executor_type="dask")]).run()
    assert _without_pid(default.metrics.baseline) == _without_pid(serial.metrics.baseline)


def test_dask_executor_sends_steps_that_only_cloudpickle_can_send(client: Any, tmp_path: Path) -> None:
    """A step defined inside a function (as in a notebook cell) cannot go to a process pool, whose
    check refuses it up front; Dask sends it by value."""
    scale = 3.0

    @pipeline_step()
    def local_draw(data: Any, ctx: Any) -> Any:
        ctx.metrics.add("scaled", scale * float(ctx.rng.normal()))
        return data

    def experiment(plugins: list[Any]) -> Experiment:
        return Experiment(
            datasource=_offset(),
            pipeline=Pipeline([local_draw()]),
            plugins=[SeedPlugin(seed=3), *plugins],
            replicates=3,
            name="local",
        )

    with pytest.raises(RuntimeError, match="cannot send experiment 'local' to worker processes"):
        experiment([ParallelExecution(executor_type="process", max_workers=1)]).run()
    on_dask = experiment([ParallelExecution(executor_type="dask", client=client)]).run()
    assert on_dask.metrics.baseline.by_replicate == experiment([]).run().metrics.baseline.by_replicate


def test_dask_executor_arguments_that_do_not_apply_are_refused() -> None:
    unknown = ParallelExecution(executor_type="gpu")  # checked when it runs, as in crystallize-ml
    with pytest.raises(ConfigurationError, match=r"\['thread', 'process', 'dask'\], got 'gpu'"):
        unknown.run_experiment_loop(servers.tiny_experiment(), lambda i: i)
    with pytest.raises(ConfigurationError, match="max_workers does not apply to executor_type='dask'"):
        ParallelExecution(executor_type="dask", max_workers=2)


# -- a study folder's code sent to workers that do not see it ------------------------------------


def test_a_study_folder_the_workers_cannot_see_reaches_them_by_upload(client: Any, tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "only-here" / "tiny", trials=3, replicates_per_trial=2)
    experiment = load_study(folder).experiment  # this process imports steps.py from the folder
    folder.rename(tmp_path / "moved-away")  # now no process finds the folder at its path
    with servers.study_place("journal", tmp_path) as place:
        optimizer = servers.optimizer_for(place.url, place.name)
        with pytest.raises(ConfigurationError, match="cannot import the study's code"):
            experiment.optimize(optimizer, num_trials=3, workers=2, cluster=client, upload=False)
        assert servers.complete(place.trials()) == []
        # The default sends the files this process imported; the workers import them from there.
        experiment.optimize(optimizer, num_trials=3, replicates_per_trial=2, workers=2, cluster=client)
        trials = place.trials()
        servers.assert_consistent(trials, 3)
        assert servers.worker_pids(trials) <= set(client.run(os.getpid).values())
    # A study the workers see at its own path is imported from there; upload=True: from the copy.
    seen = servers.write_study(tmp_path / "shared" / "tiny", trials=2)
    shared = load_study(seen).experiment
    (module,) = [n for n, m in sys.modules.items() if str(seen / "steps.py") == getattr(m, "__file__", None)]
    (place_dir := tmp_path / "second").mkdir()
    with servers.study_place("journal", place_dir) as place:
        optimizer = servers.optimizer_for(place.url, place.name)
        shared.optimize(optimizer, num_trials=2, workers=2, cluster=client)
        assert set(client.run(_file_of, module).values()) - {None} == {str(seen / "steps.py")}
        shared.optimize(optimizer, num_trials=4, workers=2, cluster=client, upload=True)
        servers.assert_consistent(place.trials(), 4)
    copies = [f for f in client.run(_file_of, module).values() if f is not None]
    assert copies and all(f.endswith("steps.py") and not f.startswith(str(seen)) for f in copies), copies


def _file_of(module: str) -> str | None:
    """On a worker: the file its module ``module`` was imported from (None: not imported there)."""
    loaded = sys.modules.get(module)
    return None if loaded is None else str(loaded.__file__)
