"""Module-level datasources, steps and plugins for the engine tests.

Process-mode tests send the experiment to worker processes, which rebuild every step and
datasource by importing it from its module, so everything here lives at module level.
Steps that leave traces on disk take the folder as a parameter (usually through
``initial_ctx``) so they work the same in threads and in worker processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from crystallize_opt import (
    BasePlugin,
    Experiment,
    Pipeline,
    PipelineStep,
    Treatment,
    data_source,
    pipeline_step,
)

# --- the example -------------------------------------------------------------------


@data_source
def points(ctx, size: int = 100):
    return ctx.rng.normal(size=size)


@pipeline_step()
def shift(data, ctx, delta: float = 0.0):
    return data + delta


@pipeline_step()
def score(data, ctx):
    ctx.metrics.add("mean", float(data.mean()))
    return data


def demo_experiment(**overrides: Any) -> Experiment:
    """The issue's demo experiment (without hypotheses unless given)."""
    kwargs: dict[str, Any] = {
        "datasource": points(),
        "pipeline": Pipeline([shift(), score()]),
        "name": "demo",
        "treatments": [Treatment("plus_one", {"delta": 1.0})],
        "replicates": 4,
    }
    kwargs.update(overrides)
    return Experiment(**kwargs)


# --- steps with behaviour the tests look for -----------------------------------------------


@pipeline_step()
def fail_on(data, ctx, fail_replicates: tuple[int, ...] = (), fail_condition: str | None = None):
    """Raise ValueError in the chosen replicates (and condition, if given)."""
    if ctx["replicate"] in fail_replicates and fail_condition in (None, ctx["condition"]):
        raise ValueError(f"planned failure in replicate {ctx['replicate']} of {ctx['condition']}")
    return data


@pipeline_step()
def record_then_fail(data, ctx):
    """Record a metric, then fail in replicate 1."""
    ctx.metrics.add("before", 1.0)
    if ctx["replicate"] == 1:
        raise RuntimeError("failed after recording")
    ctx.metrics.add("after", 2.0)
    return data


@pipeline_step()
def curve(data, ctx):
    """Record the metric ``loss`` twice in every replicate."""
    ctx.metrics.add("loss", float(ctx["replicate"]))
    ctx.metrics.add("loss", float(ctx["replicate"]) + 0.5)
    return data


@pipeline_step()
def add_note(data, ctx):
    """Add a context key (visible in provenance) and record a metric."""
    ctx.add("note", f"rep{ctx['replicate']}")
    ctx.metrics.add("size", float(len(data)))
    return data


@pipeline_step()
def count_runs(data, ctx, counter_dir: str):
    """Append ``<condition> <replicate>`` to ``counter_dir/runs.txt`` each time it runs."""
    with open(Path(counter_dir) / "runs.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{ctx['condition']} {ctx['replicate']}\n")
    return data


@pipeline_step()
def interrupt_once(data, ctx, marker_dir: str, at_replicate: int = 3):
    """Raise KeyboardInterrupt at ``at_replicate`` the first time only (a marker file remembers)."""
    marker = Path(marker_dir) / "interrupted"
    if ctx["replicate"] == at_replicate and not marker.exists():
        marker.write_text("yes", encoding="utf-8")
        raise KeyboardInterrupt
    return data


@pipeline_step()
def save(data, ctx, out):
    """Write the replicate's data mean as the artifact ``out.json``."""
    out.write(json.dumps({"replicate": ctx["replicate"], "mean": float(np.mean(data))}).encode())
    return data


@pipeline_step()
def load_saved(data, ctx):
    """Read a JSON artifact path given by an artifact datasource and record what it holds."""
    stored = json.loads(Path(data).read_text(encoding="utf-8"))
    ctx.metrics.add("stored_replicate", stored["replicate"])
    ctx.metrics.add("stored_mean", stored["mean"])
    return stored


@pipeline_step()
def boom_on(data, ctx, replicate_to_fail: int = 1):
    """Raise ZeroDivisionError in one replicate (any condition)."""
    if ctx["replicate"] == replicate_to_fail:
        return 1 / 0
    return data


@pipeline_step()
def tag_replicate(data, ctx, replicate):
    """Takes the engine's ``replicate`` key as an injected parameter."""
    ctx.metrics.add("replicate_seen", float(replicate))
    return data


@pipeline_step()
def needs_gain(data, ctx, gain):
    return data * gain


@pipeline_step()
def draw_twice(data, ctx):
    """Record two draws from ``ctx.rng``."""
    ctx.metrics.add("draw", float(ctx.rng.random()))
    ctx.metrics.add("draw", float(ctx.rng.random()))
    return data


# --- unpicklable data between steps --------------------------------------------------------


@pipeline_step()
def wrap_unpicklable(data, ctx):
    """Return data holding a lock and a lambda: neither pickles."""
    factor = ctx.rng.random()
    return {"values": data, "lock": threading.Lock(), "scale": lambda x: x * factor}


@pipeline_step()
def use_unpicklable(data, ctx):
    with data["lock"]:
        ctx.metrics.add("scaled", float(np.mean(data["scale"](data["values"]))))
    return data


# --- async ---------------------------------------------------------------------------------


@data_source
async def apoints(ctx, size: int = 50):
    await asyncio.sleep(0)
    return ctx.rng.normal(size=size)


@pipeline_step()
async def ashift(data, ctx, delta: float = 0.0):
    await asyncio.sleep(0)
    return data + delta


# --- a class-based step with setup/teardown ------------------------------------------------


class LifecycleStep(PipelineStep):
    """Leaves ``setup-*``/``teardown-*``/``call-*`` files in ``folder`` (named by pid)."""

    def __init__(self, folder: str, factor: float = 1.0):
        self.folder = folder
        self.factor = factor
        self.ready = False

    @property
    def params(self) -> dict[str, Any]:
        return {"folder": self.folder, "factor": self.factor}

    def _touch(self, kind: str) -> None:
        Path(self.folder, f"{kind}-{os.getpid()}-{uuid.uuid4().hex}").touch()

    def setup(self, ctx):
        self.ready = True
        self._touch("setup")

    def teardown(self, ctx):
        self.ready = False
        self._touch("teardown")

    def __call__(self, data, ctx):
        if not self.ready:
            raise RuntimeError("LifecycleStep called without setup")
        self._touch("call")
        ctx.metrics.add("scaled_mean", float(np.mean(data)) * self.factor)
        return data


def lifecycle_files(folder: str | Path, kind: str) -> list[Path]:
    return sorted(Path(folder).glob(f"{kind}-*"))


def file_pids(paths: list[Path]) -> set[int]:
    return {int(p.name.split("-")[1]) for p in paths}


# --- plugins -------------------------------------------------------------------------------


class RecordingPlugin(BasePlugin):
    """Records the name of every hook call, with the condition/replicate/step where known."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def init_hook(self, experiment):
        self.calls.append(("init_hook",))

    def before_run(self, experiment):
        self.calls.append(("before_run",))

    def before_replicate(self, experiment, ctx):
        self.calls.append(("before_replicate", ctx["condition"], ctx["replicate"]))

    def before_step(self, experiment, step):
        self.calls.append(("before_step", step.name))

    def after_step(self, experiment, step, data, ctx):
        self.calls.append(("after_step", step.name))

    def after_replicate(self, experiment, ctx, outcome):
        self.calls.append(("after_replicate", ctx["condition"], ctx["replicate"]))

    def after_run(self, experiment, result):
        self.calls.append(("after_run",))


class ReversedExecution(BasePlugin):
    """A custom execution strategy: runs the replicates last to first and remembers the order."""

    def __init__(self) -> None:
        self.order: list[int] = []

    def run_experiment_loop(self, experiment, replicate_fn):
        indices = list(getattr(replicate_fn, "replicate_indices", range(experiment.replicates)))
        results = []
        for index in reversed(indices):
            self.order.append(index)
            results.append(replicate_fn(index))
        return list(reversed(results))


# --- context isolation and step lifecycle failures -----------------------------------------


@pipeline_step()
def mutate_cfg(data, ctx, cfg, opts=None):
    """Record what ``cfg`` (and the explicit ``opts``) held when read, then mutate them in place."""
    ctx.metrics.add("lr_read", cfg["lr"])
    ctx.metrics.add("layers_read", len(cfg["layers"]))
    cfg["lr"] = 999.0
    cfg["layers"].append(0)
    ctx["cfg"]["lr"] = 999.0  # the example: mutating what ctx[...] returned
    if opts is not None:
        ctx.metrics.add("opts_read", len(opts))
        opts.append("leaked")
    return data


@pipeline_step()
def read_cfg(data, ctx):
    """A later step of the same replicate: record ``cfg["lr"]`` as it reads it now."""
    ctx.metrics.add("lr_later", ctx["cfg"]["lr"])
    return data


class SetupFailsStep(PipelineStep):
    """Its ``setup`` raises RuntimeError; leaves ``setup-*``/``teardown-*`` traces like LifecycleStep."""

    def __init__(self, folder: str):
        self.folder = folder

    def setup(self, ctx):
        Path(self.folder, f"failed-setup-{os.getpid()}-{uuid.uuid4().hex}").touch()
        raise RuntimeError("setup of SetupFailsStep failed")

    def teardown(self, ctx):
        Path(self.folder, f"failed-teardown-{os.getpid()}-{uuid.uuid4().hex}").touch()

    def __call__(self, data, ctx):
        return data


class TeardownFailsStep(PipelineStep):
    """Sets up fine; its ``teardown`` raises OSError."""

    def setup(self, ctx):
        pass

    def teardown(self, ctx):
        raise OSError("teardown of TeardownFailsStep failed")

    def __call__(self, data, ctx):
        return data
