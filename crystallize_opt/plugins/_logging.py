"""Progress and summary logging through the package logger."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._constants import CONDITION_KEY, REPLICATE_KEY
from .._logging import get_logger
from ._base import BasePlugin
from ._seed import SeedPlugin

if TYPE_CHECKING:
    from ..context import FrozenContext
    from ..experiment import Experiment
    from ..pipeline import PipelineStep
    from ..result import ConditionOutcome, Result

_log = get_logger("experiment")


@dataclass
class LoggingPlugin(BasePlugin):
    """Log the run's plan, its progress and a summary under the ``crystallize_opt`` logger.

    The plugin never installs handlers: configure logging in your application (e.g.
    ``logging.basicConfig(level=logging.INFO)``); the command line does this for you.

    Args:
        verbose: also log every finished step and replicate (at INFO instead of DEBUG).
        log_level: if given, set the package logger's level to it (e.g. ``"DEBUG"``).
    """

    verbose: bool = False
    log_level: str | None = None
    _started: float = field(default=0.0, init=False, repr=False)

    def init_hook(self, experiment: Experiment) -> None:
        if self.log_level is not None:
            level = logging.getLevelName(self.log_level.upper())
            if not isinstance(level, int):
                from ..exceptions import ConfigurationError

                raise ConfigurationError(f"LoggingPlugin log_level {self.log_level!r} is not a logging level")
            get_logger().setLevel(level)

    def before_run(self, experiment: Experiment) -> None:
        self._started = time.perf_counter()
        _log.info(
            "Experiment: %r: %d replicate(s) of baseline + %d treatment(s), %d hypothesis(es)",
            experiment.name,
            experiment.replicates,
            len(experiment.treatments),
            len(experiment.hypotheses),
        )
        if not any(isinstance(plugin, SeedPlugin) for plugin in experiment.plugins):
            # crystallize-ml's warning, in its words (users match on them).
            _log.warning(
                "No SeedPlugin installed: the global generators (random, NumPy) are not seeded "
                "per replicate, so runs may differ; ctx.rng is still seeded"
            )

    def after_step(self, experiment: Experiment, step: PipelineStep, data: Any, ctx: FrozenContext) -> None:
        level = logging.INFO if self.verbose else logging.DEBUG
        if _log.isEnabledFor(level):
            _log.log(
                level,
                "replicate %s %s: finished step %s",
                ctx.get(REPLICATE_KEY),
                ctx.get(CONDITION_KEY),
                step.name,
            )

    def after_replicate(self, experiment: Experiment, ctx: FrozenContext, outcome: ConditionOutcome) -> None:
        if outcome.error is not None:
            _log.warning("%s", outcome.error)
            return
        level = logging.INFO if self.verbose else logging.DEBUG
        if _log.isEnabledFor(level):
            _log.log(level, "replicate %s %s finished", outcome.replicate, outcome.condition)

    def after_run(self, experiment: Experiment, result: Result) -> None:
        best = [
            f"{h.name}: {h.ranking.get('best')!r}" for h in result.metrics.hypotheses if h.ranking.get("best")
        ]
        _log.info(
            "Completed in %.2fs: experiment %r, %d error(s)%s",
            time.perf_counter() - self._started,
            experiment.name,
            len(result.errors),
            "; best " + ", ".join(best) if best else "",
        )
