"""A step may return its metrics beside its data, as crystallize-ml steps do:
``return data, {"accuracy": 0.93}``; a mapping that is not all numbers stays data."""

from __future__ import annotations

from typing import Any

import crystallize_opt as co


@co.data_source
def five(ctx: co.FrozenContext) -> float:
    return 5.0


@co.pipeline_step
def doubled_with_metrics(data: float, ctx: co.FrozenContext) -> tuple[float, dict[str, float]]:
    return data * 2, {"doubled": data * 2, "count": 1}


@co.pipeline_step
def keep(data: Any, ctx: co.FrozenContext) -> Any:
    ctx.metrics.add("seen", float(data) if isinstance(data, float) else -1.0)
    return data


@co.pipeline_step
def pair_of_data(data: float, ctx: co.FrozenContext) -> tuple[float, dict[str, Any]]:
    return data, {"label": "not a metric", "weight": 2.0}


@co.pipeline_step
def inspect_pair(data: Any, ctx: co.FrozenContext) -> Any:
    ctx.metrics.add("was_pair", float(isinstance(data, tuple) and data[1]["label"] == "not a metric"))
    return data


def test_returned_metrics_are_recorded_and_the_data_goes_on() -> None:
    result = co.Experiment(datasource=five(), pipeline=co.Pipeline([doubled_with_metrics(), keep()])).run(
        replicates=2
    )
    metrics = result.metrics.baseline.metrics
    assert metrics["doubled"] == [10.0, 10.0] and metrics["count"] == [1, 1]
    assert metrics["seen"] == [10.0, 10.0], "the next step got the data, not the tuple"


def test_a_pair_whose_mapping_is_not_all_numbers_is_data() -> None:
    result = co.Experiment(datasource=five(), pipeline=co.Pipeline([pair_of_data(), inspect_pair()])).run()
    metrics = result.metrics.baseline.metrics
    assert metrics["was_pair"] == [1.0] and "weight" not in metrics


def test_pipeline_run_and_apply_unpack_them_too() -> None:
    ctx = co.FrozenContext()
    assert co.Pipeline([doubled_with_metrics()]).run(5.0, ctx) == 10.0
    assert ctx.metrics["doubled"] == (10.0,)
    experiment = co.Experiment(datasource=five(), pipeline=co.Pipeline([doubled_with_metrics()]))
    assert experiment.apply() == 10.0
