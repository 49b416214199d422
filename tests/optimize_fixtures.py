"""Module-level datasources and steps for optimization tests (importable by worker processes)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from crystallize_opt import Experiment, Pipeline, data_source, pipeline_step

#: Counts pipeline executions in this process (serial and thread runs).
EXECUTIONS: list[str] = []


@data_source
def gaussian_noise(ctx, noise_sd: float = 0.5):
    return float(ctx.rng.normal(scale=noise_sd))


@pipeline_step()
def quadratic(data, ctx, x: float = 0.0, kind: str = "a"):
    """Noisy quadratic with optimum at x = 1.5, kind = "a" (true value 0)."""
    EXECUTIONS.append(str(ctx["condition"]))
    ctx.metrics.add("loss", (x - 1.5) ** 2 + (0.5 if kind == "b" else 0.0) + data)
    ctx.metrics.add("size", abs(x))
    ctx.metrics.add("x_excess", x - 1.0)
    return data


@pipeline_step()
def fail_when(data, ctx, x: float = 0.0, fail_above: float = math.inf):
    if x > fail_above:
        raise ValueError(f"x={x} is above {fail_above}")
    return data


@pipeline_step()
def nan_when(data, ctx, x: float = 0.0, nan_above: float = math.inf):
    if x > nan_above:
        ctx.metrics.add("loss", math.nan)
    return data


@pipeline_step()
def interrupt_after(data, ctx, interrupt_file: str = ""):
    """Raise KeyboardInterrupt when ``interrupt_file`` exists, removing it (one interrupt)."""
    if interrupt_file and os.path.exists(interrupt_file):
        count = int(Path(interrupt_file).read_text() or 0)
        if count <= 0:
            os.remove(interrupt_file)
            raise KeyboardInterrupt
        Path(interrupt_file).write_text(str(count - 1))
    return data


def quadratic_experiment(*steps, plugins=None, initial_ctx=None, name="quad", treatments=None) -> Experiment:
    return Experiment(
        datasource=gaussian_noise(),
        pipeline=Pipeline([*steps, quadratic()]),
        plugins=plugins,
        initial_ctx=initial_ctx,
        name=name,
        treatments=treatments,
    )
