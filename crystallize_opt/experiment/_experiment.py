"""The :class:`Experiment`: a datasource, a pipeline, treatments, replicates and hypotheses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _constants as C
from .._checks import check_replicates
from .._logging import get_logger
from ..artifacts import Artifact, ArtifactDataSource
from ..context import FrozenContext
from ..hypothesis import Hypothesis
from ..pipeline import DataSource, Pipeline
from ..plugins import (
    ArtifactPlugin,
    BasePlugin,
    LoggingPlugin,
    SeedPlugin,
    SerialExecution,
)
from ..result import Result
from ..treatment import Treatment
from ._debug import debug_run, experiment_id
from ._dispatch import overrides_run_loop
from ._lifecycle import apply_once, run_experiment
from ._optimizing import OptimizationMethods
from ._outputs import ArtifactOutputs
from ._sync import ensure_no_running_loop, run_sync
from ._validation import (
    check_runnable,
    check_structure,
    hypothesis_list,
    treatment_list,
    typed_list,
)

if TYPE_CHECKING:
    from ._builder import ExperimentBuilder

_log = get_logger("experiment")
PluginT = TypeVar("PluginT", bound=BasePlugin)


class Experiment(OptimizationMethods):
    """A reproducible experiment: ``datasource`` feeds ``pipeline`` for the baseline and every
    treatment, ``replicates`` times with seeded replicates, and ``hypotheses`` compare each
    treatment with the baseline.

    Args:
        datasource: provides each run's initial data.
        pipeline: the steps every run goes through.
        plugins: plugins controlling seeding, logging, artifacts and execution; defaults are
            added for the kinds not given (see :meth:`set_default_plugins`).
        description: free text describing the experiment.
        name: used for artifact storage and in studies (default ``"experiment"``; an unnamed
            experiment's artifacts go to a folder named by its :attr:`id`, as in crystallize-ml);
            the folder name of its artifacts, so it must be a plain file name (no ``/``, ``\\``, control
            characters or leading ``.``).
        initial_ctx: context values every run starts with; a treatment's values replace them.
        outputs: artifacts steps may write; ``outputs`` is kept as a list that is also
            crystallize-ml's mapping of file name to artifact (``exp.outputs["model.json"]``).
        treatments: the conditions compared with the baseline.
        hypotheses: statistical tests of treatments against the baseline.
        replicates: seeded repetitions of every condition: 1 to 10,000
            (``crystallize_opt._checks.MAX_REPLICATES``; a larger count is taken for a typo).

    Raises:
        ConfigurationError: naming the argument, if any is missing or of the wrong type,
            ``replicates`` is not an integer from 1 to 10,000, the name or a step's name is not a
            plain file name, ``initial_ctx`` sets a reserved key, or treatment names repeat.
    """

    VALID_EXECUTOR_TYPES = C.VALID_EXECUTOR_TYPES
    METADATA_FILENAME = C.METADATA_FILENAME
    BASELINE_CONDITION = C.BASELINE_CONDITION
    REPLICATE_KEY = C.REPLICATE_KEY
    CONDITION_KEY = C.CONDITION_KEY
    SEED_USED_KEY = C.SEED_USED_KEY
    #: True while :meth:`apply` runs its single pass: plugins that store a run's results (as the
    #: ArtifactPlugin does in ``before_run``/``after_run``) leave them alone then. A class default,
    #: so experiments made without ``__init__`` (subclasses, old pickles) have it too.
    applying: bool = False
    #: The default strategy of run/arun and of graphs (``"rerun"`` or ``"resume"``), as in crystallize-ml.
    strategy: str = "rerun"

    def __init__(
        self,
        datasource: DataSource,
        pipeline: Pipeline,
        plugins: list[BasePlugin] | None = None,
        description: str | None = None,
        name: str | None = None,
        initial_ctx: dict[str, Any] | None = None,
        outputs: list[Artifact] | None = None,
        treatments: list[Treatment] | None = None,
        hypotheses: list[Hypothesis] | None = None,
        replicates: int = 1,
    ) -> None:
        self.datasource = datasource
        self.pipeline = pipeline
        self.description = description
        self.name = name if name is not None else "experiment"
        self.initial_ctx: dict[str, Any] = dict(initial_ctx or {})
        self.outputs: list[Artifact] = ArtifactOutputs(outputs or [])
        #: False when no name was given (an ExperimentGraph needs named experiments).
        self._named = name is not None
        self.treatments = treatment_list(treatments)
        self.hypotheses = hypothesis_list(hypotheses)
        self.replicates = check_replicates(replicates, "replicates")
        check_structure(self)
        for artifact in self.outputs:
            artifact._producer = self
        self.plugins: list[BasePlugin] = typed_list(plugins, BasePlugin, "plugins")
        for plugin in self.plugins:
            plugin.init_hook(self)
        self.set_default_plugins()

    # -- construction helpers -------------------------------------------------------------

    @classmethod
    def builder(cls, name: str | None = None) -> ExperimentBuilder:
        """Return a fluent :class:`ExperimentBuilder` for constructing an Experiment."""
        from ._builder import ExperimentBuilder

        return ExperimentBuilder(name)

    @classmethod
    def from_yaml(cls, config_path: str | Path) -> Experiment:
        """Instantiate an experiment from a study folder (or its ``config.yaml``).

        ``config_path`` is a folder holding ``config.yaml`` (next to ``datasources.py``,
        ``steps.py`` and, when used, ``verifiers.py`` and ``outputs.py``) or the path of a YAML
        config file; the study's Python files are imported from the config's folder. The
        config's ``optimize:`` section is validated too (use
        :func:`crystallize_opt.config.load_study` to get it). The schema is documented in
        :mod:`crystallize_opt.config`.

        Raises:
            ConfigurationError: one per problem, naming the config file (or study file), the key
                path, what was found and what is allowed; an exception raised while a study file
                was imported or a user factory was called is chained as its cause.
        """
        from ..config import load_study

        return load_study(config_path, experiment_cls=cls).experiment

    def set_default_plugins(self) -> None:
        """Add the default plugins whose kind is missing and call their ``init_hook``.

        Defaults: :class:`SeedPlugin` (fixed master seed), :class:`LoggingPlugin`,
        :class:`ArtifactPlugin` (``root_dir="data"``) and :class:`SerialExecution` (unless a
        plugin already provides ``run_experiment_loop``).
        """
        defaults: list[BasePlugin] = []
        for kind in (SeedPlugin, LoggingPlugin, ArtifactPlugin):
            if self.get_plugin(kind) is None:
                defaults.append(kind())
        if not any(overrides_run_loop(p) for p in self.plugins):
            defaults.append(SerialExecution())
        for plugin in defaults:
            self.plugins.append(plugin)
            plugin.init_hook(self)

    def get_plugin(self, plugin_class: type[PluginT]) -> PluginT | None:
        """Return the first plugin that is an instance of ``plugin_class``, or None."""
        return next((p for p in self.plugins if isinstance(p, plugin_class)), None)

    @property
    def _setup_ctx(self) -> FrozenContext:
        """A fresh context holding ``initial_ctx``, as the one steps are set up with (each run
        sets its steps up with a fresh one). crystallize-ml's attribute of that name, which its
        users handed to hooks by hand; it kept one context across runs (a listed bug)."""
        return FrozenContext(self.initial_ctx)

    @property
    def master_seed(self) -> int:
        """The SeedPlugin's master seed (the package default when there is no SeedPlugin)."""
        plugin = self.get_plugin(SeedPlugin)
        return plugin.seed if plugin is not None and plugin.seed is not None else C.DEFAULT_MASTER_SEED

    # -- validation ------------------------------------------------------------------------

    def validate(self) -> None:
        """Check that the experiment can run, before any compute.

        Checks the datasource, pipeline, plugins, treatments and replicates, and that every
        parameter a step or the datasource needs (one without default or explicit value) is
        provided to every condition by ``initial_ctx``, the outputs or the treatment.

        Raises:
            ConfigurationError: listing every problem found.
        """
        check_runnable(self)

    # -- running ---------------------------------------------------------------------------

    def run(
        self,
        treatments: list[Treatment] | None = None,
        hypotheses: list[Hypothesis] | None = None,
        replicates: int | None = None,
        strategy: str | None = None,
    ) -> Result:
        """Synchronous wrapper of :meth:`arun`, with the same arguments and result.

        Raises:
            EventLoopError: when called inside a running event loop (use ``await arun()``).
            ConfigurationError: see :meth:`arun`.
        """
        ensure_no_running_loop("run", "arun")
        return run_sync(self.arun(treatments, hypotheses, replicates, strategy))

    async def arun(
        self,
        treatments: list[Treatment] | None = None,
        hypotheses: list[Hypothesis] | None = None,
        replicates: int | None = None,
        strategy: str | None = None,
    ) -> Result:
        """Run the baseline and every treatment for every replicate and return the Result.

        Lifecycle: ``before_run`` hooks; the replicates through the execution plugin's
        ``run_experiment_loop`` (each replicate runs the baseline, then each treatment, with
        one seed); metrics are collated and hypotheses verified; ``after_run`` hooks.
        ``treatments``, ``hypotheses`` and ``replicates`` override the experiment's own for this
        run only; without ``replicates``, a datasource stating a count (its ``replicates``, e.g.
        an artifact's producer count) sets it, as in crystallize-ml. A failing replicate never stops the run: its error and the metrics recorded
        before it are in the Result.

        Args:
            strategy: ``"rerun"`` (default: :attr:`strategy`) starts afresh; ``"resume"`` reuses what the
                ArtifactPlugin stored for each condition and replicate when the pipeline,
                treatment, replicate count and seed still match, and reruns the rest.

        Steps are set up once before the replicates and torn down after them (in each worker
        process with process-based execution). Every step whose ``setup`` returned is torn down,
        whatever fails later; a failing ``teardown`` is logged with the step's name and never
        hides an error already raised (it is noted on it).

        Raises:
            ConfigurationError: for invalid overrides, an unknown strategy, ``"resume"`` without
                an ArtifactPlugin, or an experiment :meth:`validate` rejects.
            ExperimentRunError: when a step's ``teardown`` failed and nothing else did (the
                replicates' records are stored; ``strategy="resume"`` reuses them).
            Exception: what a ``before_run`` hook or a step's ``setup`` raised.
        """
        return await run_experiment(self, treatments, hypotheses, replicates, strategy)

    def debug(self, treatment: str | Treatment | None = None, *, verbose: bool = True) -> Result:
        """Run one replicate of the baseline and ``treatment`` (a name of one of the
        experiment's treatments, a Treatment, or None), serially and without hypotheses.

        Execution plugins other than :class:`SerialExecution` are left out and, with
        ``verbose``, the :class:`LoggingPlugin` logs every step at INFO; the experiment and its
        plugins are unchanged afterwards. Results and artifacts are stored as for any run.

        Raises:
            ConfigurationError: if ``treatment`` names none of the experiment's treatments.
            EventLoopError: inside a running event loop.
        """
        return debug_run(self, treatment, verbose)

    @property
    def id(self) -> str:
        """The experiment's identity: the sha256 (hex) of its pipeline's signature (each step's
        code and explicit parameters, in order) and its datasource's fingerprint (code and
        explicit parameters). Treatments, replicates, plugins and the name are not part of it;
        it is computed when read. crystallize-ml hashes the pipeline alone."""
        return experiment_id(self)

    def apply(
        self, treatment: Treatment | None = None, data: Any | None = None, seed: int | None = None
    ) -> Any:
        """Run the pipeline once (replicate 0) and return its output.

        A full single pass with the hooks of a one-replicate :meth:`run` of ``treatment``:
        ``before_run`` (plugins see ``replicates == 1``, the treatment, no hypotheses), step
        ``setup``, ``before_replicate``, ``before_step``/``after_step`` per step,
        ``after_replicate``, step ``teardown``, then ``after_run`` with a Result of this pass
        (also when the pass failed, before its error is raised). Stored results are never
        touched: :attr:`applying` is True during the pass, and the ArtifactPlugin then neither
        clears resume records, changes version, writes records nor ``metadata.json``; artifacts
        steps write go below ``apply/`` in the artifact folder.

        Args:
            treatment: the condition to apply (default: the baseline).
            data: data to feed the first step instead of fetching from the datasource.
            seed: the seed to use (default: replicate 0's seed).

        Raises:
            Exception: whatever the datasource, a step or a plugin hook raised.
            ExperimentRunError: when only a step's ``teardown`` failed (see :meth:`arun`).
            EventLoopError: for an asynchronous pipeline inside a running event loop.
        """
        return apply_once(self, treatment, data, seed)

    def artifact_datasource(
        self, step: str, name: str = "data.json", condition: str = "baseline", require_metadata: bool = False
    ) -> DataSource:
        """Return a datasource yielding the :class:`pathlib.Path` of an artifact this experiment stored.

        Replicate ``i`` of the consuming experiment receives the file of replicate ``i``.

        Raises:
            ConfigurationError: if this experiment has no ArtifactPlugin.
            FileNotFoundError: if ``require_metadata`` is True and ``metadata.json`` is missing.
        """
        return ArtifactDataSource(self, step, name, condition, require_metadata)

    # -- internals -------------------------------------------------------------------------

    def _pipeline_signature(self) -> str:
        return self.pipeline.signature()

    def __repr__(self) -> str:
        return (
            f"Experiment(name={self.name!r}, replicates={self.replicates}, "
            f"treatments={[t.name for t in self.treatments]}, steps={[s.name for s in self.pipeline]})"
        )
