"""The plugin interface: hooks called at fixed points of an experiment's lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ..context import FrozenContext
    from ..experiment import Experiment
    from ..pipeline import PipelineStep
    from ..result import ConditionOutcome, Result


class BasePlugin:
    """Base class of plugins. Override only the hooks you need; each default does nothing.

    Order of calls in :meth:`Experiment.run`:

    1. ``init_hook(experiment)`` once, when the plugin is attached to the experiment;
    2. ``before_run(experiment)``;
    3. ``run_experiment_loop(experiment, replicate_fn)`` of the first plugin that does not
       return ``NotImplemented`` runs the replicates; inside every run of one condition in one
       replicate: ``before_replicate(experiment, ctx)``, then for each step
       ``before_step(experiment, step)`` and ``after_step(experiment, step, data, ctx)``, then
       ``after_replicate(experiment, ctx, outcome)``;
    4. ``after_run(experiment, result)``.

    :meth:`Experiment.apply` calls the same hooks as a one-replicate run (``before_run`` and
    ``after_run`` included), with ``experiment.applying`` True: a plugin that stores a run's
    results should leave them alone then.

    With process-based execution the per-replicate hooks run in the worker processes, on a
    copy of the plugin: state they change there does not come back. ``after_replicate`` is an
    addition to the reference API (it lets a plugin store a finished replicate, e.g. for
    resume).
    """

    def init_hook(self, experiment: Experiment) -> None:
        """Configure the experiment when the plugin is attached to it."""

    def before_run(self, experiment: Experiment) -> None:
        """Called once before the replicates of a run start."""

    def before_replicate(self, experiment: Experiment, ctx: FrozenContext) -> None:
        """Called before the datasource of one condition in one replicate is fetched."""

    def before_step(self, experiment: Experiment, step: PipelineStep) -> None:
        """Called before each pipeline step."""

    def after_step(self, experiment: Experiment, step: PipelineStep, data: Any, ctx: FrozenContext) -> None:
        """Called after each pipeline step succeeds, with its output."""

    def after_replicate(self, experiment: Experiment, ctx: FrozenContext, outcome: ConditionOutcome) -> None:
        """Called when one condition in one replicate has finished, failed or not."""

    def after_run(self, experiment: Experiment, result: Result) -> None:
        """Called once with the run's result, after hypotheses are verified."""

    def run_experiment_loop(
        self, experiment: Experiment, replicate_fn: Callable[[int], Any]
    ) -> list[Any] | Coroutine[Any, Any, list[Any]]:
        """Run every replicate and return their results in replicate order.

        ``replicate_fn(i)`` runs replicate ``i``; which indices to run are in
        ``replicate_fn.replicates`` (default ``range(experiment.replicates)``). Return
        ``NotImplemented`` to leave execution to another plugin (the default), a list, or a
        coroutine producing a list.
        """
        return cast("list[Any]", NotImplemented)


def plugins_with_hook(plugins: Sequence[BasePlugin], hook: str) -> list[BasePlugin]:
    """The plugins, in order, whose ``hook`` is not :class:`BasePlugin`'s do-nothing default.

    A hook overridden in the plugin's class or set on the instance counts as overridden. Calling
    only these skips a few empty calls per replicate and step, which add up over many trials.
    """
    default = getattr(BasePlugin, hook)
    return [p for p in plugins if hook in getattr(p, "__dict__", ()) or getattr(type(p), hook) is not default]
