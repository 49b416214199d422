"""AsyncExecution runs an async pipeline's replicates at once on the event loop (at most
``max_concurrency``), with the results of a serial run; ``progress=`` shows a bar of replicates."""

from __future__ import annotations

import asyncio

import pytest

import crystallize_opt as co

#: Replicates inside the step right now, and the most seen at once.
RUNNING = {"now": 0, "most": 0}


@co.data_source
def draw(ctx: co.FrozenContext) -> float:
    return float(ctx.rng.normal())


@co.pipeline_step
async def wait_and_score(data: float, ctx: co.FrozenContext, delta: float = 0.0) -> None:
    RUNNING["now"] += 1
    RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
    await asyncio.sleep(0.05)
    RUNNING["now"] -= 1
    ctx.metrics.add("score", data + delta + float(ctx.rng.normal()))


@co.pipeline_step
def score_now(data: float, ctx: co.FrozenContext) -> None:
    RUNNING["most"] = max(RUNNING["most"], 1)
    ctx.metrics.add("score", data)


def _run(plugins: list[co.BasePlugin], step: co.PipelineStep | None = None) -> list[float]:
    RUNNING.update(now=0, most=0)
    experiment = co.Experiment(
        datasource=draw(),
        pipeline=co.Pipeline([step or wait_and_score()]),
        plugins=plugins,
        treatments=[co.Treatment("up", {"delta": 1.0})],
        replicates=6,
    )
    result = experiment.run()
    assert not result.errors
    return list(result.metrics.baseline.metrics["score"]) + list(
        result.metrics.treatments["up"].metrics["score"]
    )


def test_replicates_overlap_with_the_results_of_a_serial_run() -> None:
    serial = _run([co.SerialExecution()])
    assert RUNNING["most"] == 1
    assert _run([co.AsyncExecution()]) == serial
    assert RUNNING["most"] == 6, "every replicate was inside the step at once"
    assert _run([co.AsyncExecution(max_concurrency=2)]) == serial
    assert RUNNING["most"] == 2, "at most max_concurrency at once"


def test_a_synchronous_pipeline_runs_one_replicate_after_another() -> None:
    assert _run([co.AsyncExecution()], score_now()) == _run([co.SerialExecution()], score_now())


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_max_concurrency_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(
        co.ConfigurationError, match="AsyncExecution max_concurrency must be a positive integer"
    ):
        co.AsyncExecution(max_concurrency=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "plugin",
    [
        co.SerialExecution(progress=True),
        co.AsyncExecution(progress=True),
        co.ParallelExecution(executor_type="thread", max_workers=2, progress=True),
    ],
    ids=["serial", "async", "parallel"],
)
def test_progress_counts_the_run_s_replicates(
    plugin: co.BasePlugin, capsys: pytest.CaptureFixture[str]
) -> None:
    _run([plugin])
    err = capsys.readouterr().err
    assert "Replicates" in err and "6/6" in err, err
