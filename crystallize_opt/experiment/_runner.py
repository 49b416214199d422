"""Running one condition in one replicate: the unit every run, apply and optimization trial uses."""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from .._constants import (
    BASELINE_CONDITION,
    CONDITION_KEY,
    DEFAULT_MASTER_SEED,
    REPLICATE_KEY,
    SEED_USED_KEY,
)
from .._logging import get_logger
from ..context import CurveReporter, FrozenContext, is_pruned_signal, running_in
from ..exceptions import ExperimentRunError
from ..pipeline import call_cached, drive_synchronously, take_returned_metrics
from ..plugins import ArtifactPlugin, BasePlugin, derive_seed, plugins_with_hook, replicate_seed
from ..result import ConditionOutcome, ReplicateError, to_jsonable
from ..treatment import Treatment

if TYPE_CHECKING:
    from ..pipeline import PipelineStep
    from ._experiment import Experiment

_log = get_logger("experiment")


class ReplicateTask:
    """Runs a set of conditions for one replicate index; the ``replicate_fn`` of execution plugins.

    Picklable, so process pools can run it. ``replicate_indices`` lists the indices to run (also
    readable as ``replicates``, the name execution plugins written for earlier releases read); ``seeds``
    optionally fixes the seed of each (otherwise the SeedPlugin derives them). ``like``: an
    earlier task of the same experiment, whose pipeline and plugins have not changed since; what
    it found out about them is reused. ``curve_reporter``: hears each replicate's learning curve
    as the steps report it (``ctx.report``) and may stop it (an optimizer's pruner); it stays in
    this process (a copy for a worker process has none: there the curve is only recorded).
    """

    def __init__(
        self,
        experiment: Experiment,
        conditions: Sequence[Treatment | None],
        replicate_indices: Sequence[int],
        *,
        seeds: Mapping[int, int] | None = None,
        scope: str = "",
        fingerprints: Mapping[str, str] | None = None,
        resume: bool = False,
        keep_output: bool = False,
        record_steps: bool = True,
        data: Any = None,
        data_given: bool = False,
        like: ReplicateTask | None = None,
        curve_reporter: CurveReporter | None = None,
    ):
        self.experiment = experiment
        self.conditions = list(conditions)
        self.replicate_indices = list(replicate_indices)
        self.seeds = dict(seeds) if seeds is not None else None
        self.scope = scope
        self.fingerprints = dict(fingerprints or {})
        self.resume = resume
        self.keep_output = keep_output
        self.record_steps = record_steps
        self.data = data
        self.data_given = data_given
        self.setup_in_worker = False
        self.curve_reporter = curve_reporter
        self._step_hashes: dict[int, str] = {}
        #: Whether resume has warned that the stored records use the earlier replicate seeds.
        self._told_seed_scheme = False
        self.is_async: bool
        self._before_replicate: list[BasePlugin]
        self._before_step: list[BasePlugin]
        self._after_step: list[BasePlugin]
        self._after_replicate: list[BasePlugin]
        if like is not None and like.experiment is experiment:
            # The same pipeline and plugins as ``like``'s (the caller vouches for it): working
            # these out again would cost more than a cheap replicate.
            self.is_async = like.is_async
            self._before_replicate = like._before_replicate
            self._before_step = like._before_step
            self._after_step = like._after_step
            self._after_replicate = like._after_replicate
            return
        self.is_async = experiment.pipeline.is_async or experiment.datasource.is_async
        # Only the plugins that do something in each per-replicate hook (a trial may run
        # thousands of replicates; BasePlugin's empty defaults need not be called for each).
        plugins = experiment.plugins
        self._before_replicate = plugins_with_hook(plugins, "before_replicate")
        self._before_step = plugins_with_hook(plugins, "before_step")
        self._after_step = plugins_with_hook(plugins, "after_step")
        self._after_replicate = plugins_with_hook(plugins, "after_replicate")

    @property
    def replicates(self) -> list[int]:
        """:attr:`replicate_indices` under the name execution plugins of earlier releases read."""
        return self.replicate_indices

    def for_worker_process(self) -> ReplicateTask:
        """Return a copy that sets the steps up and tears them down in the worker process."""
        clone = copy.copy(self)
        clone.setup_in_worker = True
        clone.curve_reporter = None  # the optimizer's trial does not travel to another process
        return clone

    def __call__(self, replicate: int) -> list[ConditionOutcome]:
        if self.is_async:
            return asyncio.run(self.acall(replicate))
        result: list[ConditionOutcome] = drive_synchronously(self.acall(replicate))
        return result

    async def acall(self, replicate: int) -> list[ConditionOutcome]:
        """Run every condition of ``replicate``; errors are captured in the outcomes.

        Raises:
            Exception: what a step's ``setup`` or ``teardown`` raised, when this task sets the
                steps up itself (in a worker process); see :func:`steps_set_up`.
        """
        with steps_set_up(self.experiment) if self.setup_in_worker else nullcontext():
            return [await self._run_condition(treatment, replicate) for treatment in self.conditions]

    def failure(self, replicate: int, exc: BaseException) -> list[ConditionOutcome]:
        """Outcomes recording that ``replicate`` could not run at all (e.g. its worker died)."""
        message = f"replicate could not run: {type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(exc))
        return [
            ConditionOutcome(
                condition=_name(t),
                replicate=replicate,
                seed=None if self.seeds is None else self.seeds.get(replicate),
                metrics={},
                error=ReplicateError(_name(t), replicate, message, type(exc).__name__, tb),
            )
            for t in self.conditions
        ]

    def _reuse(self, condition: str, replicate: int) -> ConditionOutcome | None:
        plugin = self.experiment.get_plugin(ArtifactPlugin)
        record = plugin.load_record(self.experiment, replicate, condition) if plugin else None
        if record is None:
            return None
        if record.get("fingerprint") != self.fingerprints.get(condition):
            if not self._told_seed_scheme and _seedsequence_seed(
                record, self.experiment.master_seed, replicate
            ):
                self._told_seed_scheme = True
                _log.warning(
                    "resume: %s was stored by a release whose replicate seeds were derive_seed(master, r); "
                    "its replicates are rerun on crystallize-ml's seeds (master + r*31337) mod 2**32, "
                    "so the run does not mix the two",
                    plugin.version_dir(self.experiment) if plugin else self.experiment.name,
                )
            _log.info(
                "resume: rerunning %s replicate %d: stored result was made by a different pipeline, "
                "treatment, replicate count or seed",
                condition,
                replicate,
            )
            return None
        if record.get("error") is not None:
            _log.info("resume: rerunning %s replicate %d, which failed before", condition, replicate)
            return None
        return ConditionOutcome.from_record(record)

    async def _run_condition(self, treatment: Treatment | None, replicate: int) -> ConditionOutcome:
        exp = self.experiment
        condition = _name(treatment)
        if self.resume and (reused := self._reuse(condition, replicate)) is not None:
            return reused
        values = dict(exp.initial_ctx)
        if treatment is not None and not treatment.is_callable:
            values.update(treatment.params)
        values[REPLICATE_KEY] = replicate
        values[CONDITION_KEY] = condition
        if self.seeds is not None:
            values[SEED_USED_KEY] = self.seeds[replicate]
        # Taken over without a copy: the context hands out copies of the user's mutable values
        # (treatment params, initial_ctx), so replicates cannot change them or each other's.
        ctx = FrozenContext._adopting(values)
        ctx.scope = self.scope
        ctx._reporter = self.curve_reporter
        started = time.perf_counter()
        steps: list[dict[str, Any]] = []
        done: list[PipelineStep] = []
        failed_step: str | None = None
        output: Any = None
        exception: BaseException | None = None
        pruned: dict[str, Any] | None = None
        try:
            for plugin in self._before_replicate:
                plugin.before_replicate(exp, ctx)
            if SEED_USED_KEY not in ctx:
                ctx.add(SEED_USED_KEY, replicate_seed(DEFAULT_MASTER_SEED, replicate))
            ctx.rng = np.random.default_rng(int(ctx[SEED_USED_KEY]))
            for artifact in exp.outputs:
                bound = artifact.bind(ctx)
                for key in artifact.injection_names:
                    ctx.outputs[key] = bound
            if treatment is not None and treatment.is_callable:
                treatment.apply(ctx)
            data = self.data
            if not self.data_given:
                data = exp.datasource.fetch(ctx)
                if inspect.isawaitable(data):
                    data = await data
            for step in exp.pipeline.steps:
                failed_step = step.name
                for plugin in self._before_step:
                    plugin.before_step(exp, step)
                if self.record_steps:
                    keys_before = len(ctx)
                    counts = ctx.metrics.lengths()
                    step_started = time.perf_counter()
                cache_hit = False
                with running_in(ctx):  # an Artifact a step object holds writes into this run
                    if step.cacheable:
                        data, cache_hit, _ = await call_cached(step, data, ctx)
                    else:
                        data = step(data, ctx)
                        if inspect.isawaitable(data):
                            data = await data
                    data = take_returned_metrics(data, ctx)
                if self.record_steps:
                    steps.append(
                        _step_record(
                            step.name, ctx, keys_before, counts, time.perf_counter() - step_started, cache_hit
                        )
                    )
                    done.append(step)
                for plugin in self._after_step:
                    plugin.after_step(exp, step, data, ctx)
            failed_step = None
            if self.keep_output:
                output = data
        except Exception as exc:
            if ctx._reporter is not None and is_pruned_signal(exc):
                # The optimizer's pruner stopped the trial: no error, the curve says how far it got.
                pruned = dict(getattr(exc, "decision", None) or ctx._decision or _raised_by_step(ctx, exc))
            else:
                exception = exc
        if self.record_steps:
            exp.pipeline.note_run(
                [self._reference_record(st, record) for st, record in zip(done, steps, strict=True)]
            )
        outcome = ConditionOutcome(
            condition=condition,
            replicate=replicate,
            seed=ctx.get(SEED_USED_KEY),
            metrics=ctx.metrics.lists(),
            error=None
            if exception is None
            else ReplicateError(
                condition,
                replicate,
                str(exception),
                type(exception).__name__,
                # format_exc() would be empty here: the except block has already been left.
                "".join(traceback.format_exception(exception)),
                failed_step,
            ),
            steps=steps,
            artifacts=list(ctx.artifacts.written),
            fingerprint=self.fingerprints.get(condition),
            duration=time.perf_counter() - started,
            output=output,
            exception=exception,
            curve=ctx.curve,
            pruned=pruned,
        )
        for plugin in self._after_replicate:
            try:
                plugin.after_replicate(exp, ctx, outcome)
            except Exception:
                _log.exception("plugin %s failed in after_replicate", type(plugin).__name__)
        return outcome

    def _reference_record(self, step: PipelineStep, record: dict[str, Any]) -> dict[str, Any]:
        """A step record in crystallize-ml's shape, for ``Pipeline.get_provenance()``."""
        step_hash = self._step_hashes.get(id(step))
        if step_hash is None:  # once per step and task: it reads the step's source
            step_hash = self._step_hashes[id(step)] = step.step_hash
        return {
            "step": record["step"],
            "params": step.params,
            "step_hash": step_hash,
            "input_hash": None,
            "output_hash": None,
            "cache_hit": record["cache_hit"],
            "ctx_changes": {
                "wrote": {
                    key: {"before": None, "after": value} for key, value in record["ctx_added"].items()
                },
                "metrics": {
                    name: {"before": None, "after": v} for name, v in record["metrics_added"].items()
                },
            },
        }


def _seedsequence_seed(record: Mapping[str, Any], master_seed: int, replicate: int) -> bool:
    """Whether a stored resume record ran on the replicate seed of releases before
    crystallize-ml's formula (``derive_seed(master, r)``), which this release's doesn't give."""
    seed = record.get("seed")
    return (
        isinstance(seed, int)
        and seed == derive_seed(master_seed, replicate)
        and seed != replicate_seed(master_seed, replicate)
    )


def _name(treatment: Treatment | None) -> str:
    return BASELINE_CONDITION if treatment is None else treatment.name


def _raised_by_step(ctx: FrozenContext, exc: BaseException) -> dict[str, Any]:
    """Where a replicate stopped whose step raised ``TrialPruned`` without the pruner's decision."""
    return {
        "replicate": ctx.get(REPLICATE_KEY),
        "step": ctx.curve[-1][0] if ctx.curve else None,
        "reason": f"a step raised {type(exc).__name__}: {exc}",
    }


def _step_record(
    step: str, ctx: FrozenContext, keys_before: int, counts: dict[str, int], duration: float, cache_hit: bool
) -> dict[str, Any]:
    """Provenance of one step: the context keys it added, the metric values it recorded, and
    whether its result came from the step cache."""
    added = list(ctx)[keys_before:] if len(ctx) > keys_before else []
    return {
        "step": step,
        "ctx_added": {key: ctx.preview(key) for key in added},
        "metrics_added": to_jsonable(ctx.metrics.added_since(counts)),
        "duration": duration,
        "cache_hit": cache_hit,
    }


@contextmanager
def steps_set_up(experiment: Experiment) -> Iterator[None]:
    """Set every step up (``setup``, in pipeline order) for the ``with`` block, then tear down.

    Every step whose ``setup`` was called gets its ``teardown`` (in pipeline order, with the
    context its setup got), whatever fails after it: its own or a later step's setup (whose
    error then propagates; the steps after the one that raised were never set up and are not
    torn down), the block (a replicate, a plugin hook, an interrupt), or another teardown. A failing teardown never hides anything: it is logged
    with the step's name; when the setup or the block failed, that error propagates, with the
    teardown failures noted on it; otherwise the teardown failure is raised.

    Raises:
        ExperimentRunError: when only teardowns failed; it names the steps and is chained from
            the first teardown error.
    """
    ctx = FrozenContext(experiment.initial_ctx)
    ready: list[PipelineStep] = []
    try:
        for step in experiment.pipeline.steps:
            # Listed before its setup runs: a setup that fails partway may already hold what its
            # teardown releases (crystallize-ml tears such a step down too).
            ready.append(step)
            step.setup(ctx)
        yield
    except BaseException as exc:
        for name, error in _tear_down(ready, ctx):
            # add_note exists from Python 3.11; on 3.10 the log line above is the record.
            if hasattr(exc, "add_note"):
                exc.add_note(f"teardown of step {name!r} also failed: {type(error).__name__}: {error}")
        raise
    failures = _tear_down(ready, ctx)
    if failures:
        names = ", ".join(repr(name) for name, _ in failures)
        first = failures[0][1]
        raise ExperimentRunError(
            f"teardown of step {names} failed: {type(first).__name__}: {first}"
            if len(failures) == 1
            else f"teardown of steps {names} failed; the first: {type(first).__name__}: {first}"
        ) from first


def _tear_down(steps: Sequence[PipelineStep], ctx: FrozenContext) -> list[tuple[str, Exception]]:
    """Call every step's ``teardown``; return (step name, error) of those that raised, logged."""
    failures = []
    for step in steps:
        try:
            step.teardown(ctx)
        except Exception as exc:
            _log.exception("teardown of step %s failed", step.name)
            failures.append((step.name, exc))
    return failures
