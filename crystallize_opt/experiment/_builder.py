"""A fluent builder for :class:`Experiment`."""

from __future__ import annotations

from typing import Any

from .._logging import get_logger
from ..artifacts import Artifact
from ..exceptions import ConfigurationError
from ..hypothesis import Hypothesis
from ..pipeline import DataSource, Pipeline, PipelineStep
from ..plugins import BasePlugin, ParallelExecution, SeedPlugin
from ..treatment import Treatment
from ._experiment import Experiment

_log = get_logger("experiment")


class ExperimentBuilder:
    """Build an :class:`Experiment` step by step; every method returns the builder.

    Example::

        exp = (Experiment.builder("demo").datasource(points()).add_step(shift()).add_step(score())
               .add_treatment(Treatment("plus_one", {"delta": 1.0})).replicates(8).seed(7).build())
    """

    def __init__(self, name: str | None = None):
        self._name = name
        self._datasource: DataSource | None = None
        self._steps: list[PipelineStep] = []
        self._pipeline: Pipeline | None = None
        self._plugins: list[BasePlugin] = []
        self._treatments: list[Treatment] = []
        self._hypotheses: list[Hypothesis] = []
        self._outputs: list[Artifact] = []
        self._initial_ctx: dict[str, Any] = {}
        self._description: str | None = None
        self._replicates = 1

    def name(self, name: str) -> ExperimentBuilder:
        self._name = name
        return self

    def description(self, text: str) -> ExperimentBuilder:
        self._description = text
        return self

    def datasource(self, datasource: DataSource) -> ExperimentBuilder:
        self._datasource = datasource
        return self

    def add_step(self, step: PipelineStep) -> ExperimentBuilder:
        """Append ``step`` to the steps added so far. Ignored, with a warning, once an explicit
        :class:`Pipeline` was given to :meth:`pipeline`: that pipeline is the experiment's, as in
        crystallize-ml (whose builder ignores the added steps silently)."""
        if self._pipeline is not None:
            _log.warning(
                "ExperimentBuilder: add_step(%s) after .pipeline(Pipeline(...)) is ignored; the given "
                "pipeline is used as it is (add the step to it, or use add_step alone)",
                getattr(step, "name", type(step).__name__),
            )
            return self
        self._steps.append(step)
        return self

    def pipeline(self, pipeline: Pipeline | list[PipelineStep]) -> ExperimentBuilder:
        """Use ``pipeline`` (a :class:`Pipeline`, the very object; or a list of steps, which
        replaces the steps added so far). Steps added before it are dropped, as in crystallize-ml."""
        if isinstance(pipeline, Pipeline):
            self._pipeline = pipeline
            self._steps = list(pipeline.steps)
        else:
            self._pipeline = None
            self._steps = list(pipeline)
        return self

    def add_treatment(self, treatment: Treatment) -> ExperimentBuilder:
        self._treatments.append(treatment)
        return self

    def treatments(self, treatments: list[Treatment]) -> ExperimentBuilder:
        self._treatments = list(treatments)
        return self

    def add_hypothesis(self, hypothesis: Hypothesis) -> ExperimentBuilder:
        self._hypotheses.append(hypothesis)
        return self

    def hypotheses(self, hypotheses: list[Hypothesis]) -> ExperimentBuilder:
        self._hypotheses = list(hypotheses)
        return self

    def add_output(self, artifact: Artifact) -> ExperimentBuilder:
        self._outputs.append(artifact)
        return self

    def outputs(self, outputs: list[Artifact]) -> ExperimentBuilder:
        """Replace the output artifacts added so far with ``outputs``."""
        self._outputs = list(outputs)
        return self

    def initial_ctx(self, values: dict[str, Any]) -> ExperimentBuilder:
        self._initial_ctx.update(values)
        return self

    def add_plugin(self, plugin: BasePlugin) -> ExperimentBuilder:
        self._plugins.append(plugin)
        return self

    def plugins(self, plugins: list[BasePlugin]) -> ExperimentBuilder:
        self._plugins = list(plugins)
        return self

    def replicates(self, count: int) -> ExperimentBuilder:
        self._replicates = count
        return self

    def seed(self, seed: int) -> ExperimentBuilder:
        """Use ``SeedPlugin(seed=seed)`` (replacing a SeedPlugin added before)."""
        self._plugins = [p for p in self._plugins if not isinstance(p, SeedPlugin)] + [SeedPlugin(seed=seed)]
        return self

    def parallel(self, executor_type: str = "thread", max_workers: int | None = None) -> ExperimentBuilder:
        """Run replicates with ``ParallelExecution(executor_type, max_workers)``."""
        self._plugins = [p for p in self._plugins if not isinstance(p, ParallelExecution)]
        self._plugins.append(ParallelExecution(max_workers=max_workers, executor_type=executor_type))
        return self

    def build(self) -> Experiment:
        """Return the Experiment.

        Raises:
            ConfigurationError: if no datasource or no step was given, or as :class:`Experiment`.
        """
        if self._datasource is None:
            raise ConfigurationError(
                "ExperimentBuilder: datasource must be provided: call .datasource(...) before .build()"
            )
        if not self._steps:
            raise ConfigurationError("ExperimentBuilder: add at least one step with .add_step(...)")
        return Experiment(
            datasource=self._datasource,
            pipeline=self._pipeline if self._pipeline is not None else Pipeline(self._steps),
            plugins=self._plugins,
            description=self._description,
            name=self._name,
            initial_ctx=self._initial_ctx,
            outputs=self._outputs,
            treatments=self._treatments,
            hypotheses=self._hypotheses,
            replicates=self._replicates,
        )
