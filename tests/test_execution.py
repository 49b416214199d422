"""Execution strategies: serial, threads and worker processes give the same results; errors in
workers come back as replicate errors; artifacts written in workers are listed; data between
steps is never pickled."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import threading
from pathlib import Path

import pytest

from crystallize_opt import (
    Artifact,
    Hypothesis,
    ParallelExecution,
    Pipeline,
    SerialExecution,
    Treatment,
    pipeline_step,
    welch_t_test,
)

from .engine_fixtures import (
    boom_on,
    demo_experiment,
    draw_twice,
    points,
    save,
    score,
    shift,
    use_unpicklable,
    wrap_unpicklable,
)


def process_pool() -> ParallelExecution:
    return ParallelExecution(executor_type="process", max_workers=2)


def thread_pool() -> ParallelExecution:
    return ParallelExecution(executor_type="thread", max_workers=2)


@pipeline_step()
def die_on_replicate_one(data, ctx):
    if ctx["replicate"] == 1:
        os._exit(3)  # the worker process dies without a Python exception
    ctx.metrics.add("alive", 1.0)
    return data


def test_serial_thread_and_process_runs_give_identical_metrics(workdir):
    def build(plugins):
        return demo_experiment(
            pipeline=Pipeline([shift(), score(), draw_twice()]),
            treatments=[Treatment("plus_one", {"delta": 1.0}), Treatment("minus", {"delta": -0.5})],
            hypotheses=[Hypothesis(verifier=welch_t_test(), metrics="mean")],
            plugins=plugins,
            replicates=4,
        )

    serial = build([SerialExecution()]).run()
    threaded = build([thread_pool()]).run()
    processes = build([process_pool()]).run()
    for other in (threaded, processes):
        assert other.errors == []
        assert other.metrics.baseline == serial.metrics.baseline
        assert other.metrics.treatments == serial.metrics.treatments
        assert other.metrics.hypotheses[0].results == serial.metrics.hypotheses[0].results
        assert other.provenance["seeds"] == serial.provenance["seeds"]
    assert len(serial.metrics.baseline.metrics["mean"]) == 4


def test_step_error_in_a_worker_process_is_that_replicates_error(workdir):
    exp = demo_experiment(
        pipeline=Pipeline([shift(), score(), boom_on(replicate_to_fail=1)]), plugins=[process_pool()]
    )
    result = exp.run()
    assert [(e.condition, e.replicate) for e in result.errors] == [("baseline", 1), ("plus_one", 1)]
    error = result.errors[0]
    assert error.error_type == "ZeroDivisionError" and error.step == "boom_on"
    assert "Traceback" in error.traceback and "boom_on" in error.traceback
    # the replicates after the failing one ran normally
    assert result.metrics.baseline.replicates == [0, 1, 2, 3]
    assert result.metrics.baseline.partial == {1}
    assert result.metrics.treatments["plus_one"].per_replicate("mean").keys() == {0, 2, 3}
    # and the experiment can run again in processes
    again = exp.run()
    assert again.metrics.baseline == result.metrics.baseline
    assert [(e.condition, e.replicate) for e in again.errors] == [("baseline", 1), ("plus_one", 1)]


def test_dead_worker_is_recorded_not_raised(workdir):
    exp = demo_experiment(pipeline=Pipeline([die_on_replicate_one()]), plugins=[process_pool()], replicates=2)
    result = exp.run()
    failed = result.errors_for("baseline", 1)
    assert failed and "could not run" in failed[0].message
    assert {e.condition for e in result.errors_for(condition="plus_one", replicate=1)} == {"plus_one"}


def test_artifacts_written_in_worker_processes_are_listed_and_on_disk(workdir):
    exp = demo_experiment(
        pipeline=Pipeline([shift(), score(), save()]),
        outputs=[Artifact("out.json")],
        plugins=[process_pool()],
        replicates=3,
    )
    result = exp.run()
    assert result.errors == []
    for condition, metrics in [
        ("baseline", result.metrics.baseline),
        ("plus_one", result.metrics.treatments["plus_one"]),
    ]:
        paths = result.artifacts["out.json"][condition]
        assert len(paths) == 3
        for rep, path in enumerate(paths):
            assert path.is_file()
            folder = workdir / "data" / "demo" / "v0" / f"replicate_{rep}" / condition / "SaveStep"
            assert path == (folder / "out.json").resolve()
            stored = json.loads(path.read_text())
            assert stored == {"replicate": rep, "mean": pytest.approx(metrics.replicate(rep)["mean"][0])}


@pytest.mark.parametrize("plugins", [[], [thread_pool()]], ids=["serial", "thread"])
def test_unpicklable_data_flows_between_steps(workdir, plugins):
    exp = demo_experiment(
        pipeline=Pipeline([wrap_unpicklable(), use_unpicklable()]), plugins=plugins, replicates=3
    )
    result = exp.run()
    assert result.errors == []
    assert len(result.metrics.baseline.metrics["scaled"]) == 3
    assert result.metrics.treatments["plus_one"].metrics == result.metrics.baseline.metrics  # no delta used


def test_unpicklable_data_between_steps_in_worker_processes(workdir):
    exp = demo_experiment(
        pipeline=Pipeline([wrap_unpicklable(), use_unpicklable()]), plugins=[process_pool()], replicates=2
    )
    result = exp.run()
    assert result.errors == []
    serial = demo_experiment(pipeline=Pipeline([wrap_unpicklable(), use_unpicklable()]), replicates=2).run()
    assert result.metrics.baseline == serial.metrics.baseline


def test_apply_returns_unpicklable_output(workdir):
    output = demo_experiment(pipeline=Pipeline([wrap_unpicklable()])).apply()
    assert callable(output["scale"]) and len(output["values"]) == 100


def test_threads_run_every_replicate_in_order(workdir):
    exp = demo_experiment(plugins=[ParallelExecution(executor_type="thread")], replicates=6)
    result = exp.run()
    assert result.metrics.baseline.replicates == list(range(6))
    assert result.metrics.baseline == demo_experiment(replicates=6).run().metrics.baseline


def test_process_mode_with_an_explicit_start_method(workdir):
    exp = demo_experiment(
        datasource=points(size=10),
        plugins=[ParallelExecution(executor_type="process", max_workers=2, start_method="spawn")],
        replicates=2,
    )
    result = exp.run()
    assert (
        result.errors == []
        and result.metrics.baseline
        == demo_experiment(datasource=points(size=10), replicates=2).run().metrics.baseline
    )
    assert Path("data/demo/v0/metadata.json").is_file()


# --- interruption --------------------------------------------------------------------------

SUBMITTED: list[cf.Future] = []


class FutureRecordingPool(cf.ThreadPoolExecutor):
    """A real thread pool that remembers the futures it hands out."""

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        SUBMITTED.append(future)
        return future


class OneThreadExecution(ParallelExecution):
    def _executor(self, n_tasks):
        return FutureRecordingPool(max_workers=1)


@pipeline_step()
def interrupt_first(data, ctx, counter_dir: str):
    with open(Path(counter_dir) / "runs.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{ctx['condition']} {ctx['replicate']}\n")
    if ctx["replicate"] == 0:
        raise KeyboardInterrupt
    if ctx["replicate"] == 1:
        # Running while the interrupt reaches the caller: wait (bounded) until the replicates
        # still queued are cancelled, so the check below does not depend on thread timing.
        deadline = 200
        while deadline and not all(f.cancelled() for f in SUBMITTED[2:]):
            threading.Event().wait(0.05)
            deadline -= 1
    return data


def test_interrupt_in_threads_cancels_the_queued_replicates(workdir, traces):
    SUBMITTED.clear()
    exp = demo_experiment(
        pipeline=Pipeline([interrupt_first(counter_dir=str(traces))]),
        plugins=[OneThreadExecution(executor_type="thread")],
        treatments=[],
        replicates=5,
    )
    with pytest.raises(KeyboardInterrupt):
        exp.run()
    ran = [line for line in (traces / "runs.txt").read_text().split("\n") if line]
    # Replicate 1 runs only if the pool's thread took it before the interrupt reached the
    # caller (a thread cannot be stopped once started); every replicate after it is cancelled.
    assert ran in (["baseline 0"], ["baseline 0", "baseline 1"])
    assert len(SUBMITTED) == 5 and all(f.cancelled() for f in SUBMITTED[2:])
    assert ran == ["baseline 0", "baseline 1"] or SUBMITTED[1].cancelled()
