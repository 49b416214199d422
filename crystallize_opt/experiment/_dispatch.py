"""Running replicate tasks through an experiment's execution plugin, and trial sessions that keep
the steps set up and a worker pool open across the many small runs of an optimization."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

from ..plugins import BasePlugin, ParallelExecution, SerialExecution
from ..result import ConditionOutcome
from ..treatment import Treatment
from ._runner import ReplicateTask, steps_set_up

if TYPE_CHECKING:
    from ..context import CurveReporter
    from ._experiment import Experiment


def overrides_run_loop(plugin: BasePlugin) -> bool:
    """True for a plugin that provides an execution strategy."""
    return type(plugin).run_experiment_loop is not BasePlugin.run_experiment_loop


def runs_in_worker_processes(experiment: Experiment) -> bool:
    """True when replicates run in other processes (which set their steps up themselves)."""
    for plugin in experiment.plugins:
        if overrides_run_loop(plugin):
            return isinstance(plugin, ParallelExecution) and plugin.in_other_processes
    return False


async def execute(
    experiment: Experiment, task: ReplicateTask, *, manage_steps: bool = True
) -> list[list[ConditionOutcome]]:
    """Run ``task`` through the first plugin providing an execution strategy (serial if none);
    with ``manage_steps``, set the steps up before and tear them down after (in this process;
    see :func:`steps_set_up` for what happens when a setup or teardown fails)."""
    in_process = manage_steps and not runs_in_worker_processes(experiment)
    with steps_set_up(experiment) if in_process else nullcontext():
        for plugin in experiment.plugins:
            outcome = plugin.run_experiment_loop(experiment, task)
            if outcome is NotImplemented:
                continue
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
            return list(outcome)
        fallback = SerialExecution().run_experiment_loop(experiment, task)
        return list(await fallback) if asyncio.iscoroutine(fallback) else list(fallback)


class TrialEvaluator:
    """Runs optimization trials (a treatment on given replicates and seeds) inside a session.

    The pipeline and plugins do not change during a session, so every trial's task reuses
    what the first one worked out about them, which costs more than a cheap replicate.
    """

    def __init__(self, experiment: Experiment):
        self.experiment = experiment
        self._template: ReplicateTask | None = None

    async def evaluate(
        self,
        treatment: Treatment | None,
        seeds: Mapping[int, int],
        scope: str,
        /,
        *,
        reporter: CurveReporter | None = None,
    ) -> list[ConditionOutcome]:
        """Run ``treatment`` (None: the baseline) for ``{replicate: seed}``; outcomes by replicate.
        ``reporter`` hears the replicates' learning curves as they run (in this process)."""
        # Trials keep no per-step provenance: nothing reads it and it costs time per replicate.
        task = ReplicateTask(
            self.experiment,
            [treatment],
            list(seeds),
            seeds=seeds,
            scope=scope,
            record_steps=False,
            like=self._template,
            curve_reporter=reporter,
        )
        if self._template is None:
            self._template = task
        outcomes = await execute(self.experiment, task, manage_steps=False)
        return [outcome for replicate in outcomes for outcome in replicate]


@contextmanager
def trial_session(experiment: Experiment) -> Iterator[TrialEvaluator]:
    """Set the steps up once and keep a worker pool open while the evaluator runs trials."""
    in_process = not runs_in_worker_processes(experiment)
    execution = next((p for p in experiment.plugins if overrides_run_loop(p)), None)
    pool = execution.session() if isinstance(execution, ParallelExecution) else nullcontext()
    with steps_set_up(experiment) if in_process else nullcontext(), pool:
        yield TrialEvaluator(experiment)
