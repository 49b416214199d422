"""``Experiment.debug`` and ``Experiment.id``: one quick, verbose, serial replicate, and the
experiment's identity."""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING

from ..exceptions import ConfigurationError
from ..plugins import BasePlugin, LoggingPlugin, SerialExecution
from ..result import Result
from ..treatment import Treatment
from ._dispatch import overrides_run_loop

if TYPE_CHECKING:
    from ._experiment import Experiment


def experiment_id(experiment: Experiment) -> str:
    """The sha256 (hex) of the pipeline's signature and the datasource's fingerprint."""
    digest = hashlib.sha256()
    digest.update(experiment.pipeline.signature().encode())
    digest.update(b"\0")
    digest.update(experiment.datasource.fingerprint().encode())
    return digest.hexdigest()


def _resolve(experiment: Experiment, treatment: str | Treatment | None) -> Treatment | None:
    if treatment is None or isinstance(treatment, Treatment):
        return treatment
    if isinstance(treatment, str):
        for candidate in experiment.treatments:
            if candidate.name == treatment:
                return candidate
        raise ConfigurationError(
            f"debug(): no treatment named {treatment!r}; the experiment has {[t.name for t in experiment.treatments]}"
        )
    raise ConfigurationError(
        f"debug() expects a treatment name, a Treatment or None, got {type(treatment).__name__}"
    )


def _debug_plugins(plugins: list[BasePlugin], verbose: bool) -> list[BasePlugin]:
    """The plugins of a debug run: serial execution, and verbose copies of the logging plugins."""
    chosen: list[BasePlugin] = []
    for plugin in plugins:
        if overrides_run_loop(plugin) and not isinstance(plugin, SerialExecution):
            continue  # parallel or custom execution: the debug run is serial
        if verbose and isinstance(plugin, LoggingPlugin) and not plugin.verbose:
            plugin = copy.copy(plugin)  # the experiment's own plugin stays as it was
            plugin.verbose = True
        chosen.append(plugin)
    if not any(isinstance(p, SerialExecution) for p in chosen):
        chosen.append(SerialExecution())
    return chosen


def debug_run(experiment: Experiment, treatment: str | Treatment | None, verbose: bool) -> Result:
    """Run replicate 0 of the baseline and ``treatment`` serially, without hypotheses."""
    chosen = _resolve(experiment, treatment)
    view = copy.copy(experiment)
    view.plugins = _debug_plugins(experiment.plugins, verbose)
    return view.run(treatments=[] if chosen is None else [chosen], hypotheses=[], replicates=1)
