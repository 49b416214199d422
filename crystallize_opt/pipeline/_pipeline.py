"""The :class:`Pipeline`: an ordered list of steps with a signature for reproducibility checks,
runnable by hand (``run``) with per-step provenance."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from ..context import FrozenContext
from ..exceptions import EventLoopError
from ._cached import call_cached
from ._hashing import compute_hash
from ._returned import take_returned_metrics
from ._step import PipelineStep


class Pipeline:
    """An ordered sequence of :class:`PipelineStep` objects applied to one datasource's output.

    The experiment runs it; :meth:`run` runs it by hand (crystallize-ml's API), with the
    provenance of the last run in :meth:`get_provenance`.

    Raises:
        TypeError: if ``steps`` is not a list of :class:`PipelineStep` (the message names the
            position and type of the offending item, and hints at a missing ``()`` on a
            decorated step).
        ValueError: if ``steps`` is empty.
    """

    def __init__(self, steps: Iterable[PipelineStep]):
        if isinstance(steps, PipelineStep) or not isinstance(steps, Iterable):
            raise TypeError(f"Pipeline expects a list of pipeline steps, got {type(steps).__name__}")
        self.steps: list[PipelineStep] = list(steps)
        if not self.steps:
            raise ValueError("Pipeline needs at least one step")
        for index, step in enumerate(self.steps):
            if not isinstance(step, PipelineStep):
                hint = (
                    " (a @pipeline_step function must be called to make a step: write "
                    f"{getattr(step, '__name__', 'step')}() )"
                    if callable(step)
                    else ""
                )
                raise TypeError(f"Pipeline step {index} is a {type(step).__name__}, not a PipelineStep{hint}")
        self._provenance: dict[int, list[dict[str, Any]]] = {}
        self._last_provenance: list[dict[str, Any]] = []

    def __getstate__(self) -> dict[str, Any]:
        # The provenance of this process's last runs stays here (and is not picklable in general).
        return {"steps": self.steps, "_provenance": {}, "_last_provenance": []}

    def __iter__(self) -> Iterator[PipelineStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def is_async(self) -> bool:
        """True when any step is asynchronous."""
        return any(step.is_async for step in self.steps)

    def signature(self) -> str:
        """Return a hash identifying every step's code and explicit parameters, in order.

        Two pipelines with equal signatures compute the same thing; resume and replay use it to
        refuse results made by different code.
        """
        digest = hashlib.sha256()
        for step in self.steps:
            digest.update(step.fingerprint().encode())
            digest.update(b"\0")
        return digest.hexdigest()[:16]

    def describe(self) -> list[dict[str, Any]]:
        """Return the steps as ``[{"name": ..., "params": {...}}]`` for provenance and reports."""
        return [
            {"name": step.name, "params": {k: repr(v) for k, v in step.params.items()}} for step in self.steps
        ]

    def run(self, data: Any, ctx: FrozenContext | None = None) -> Any:
        """Run the steps in order on ``data`` with ``ctx`` and return the last step's output.

        This is crystallize-ml's way of calling a pipeline outside an experiment (an
        experiment runs its pipeline itself, through the same step cache). ``ctx`` defaults to
        an empty :class:`FrozenContext` (``ctx.rng`` seeded from 0). Cacheable steps go through
        the step cache (see :func:`~crystallize_opt.pipeline_step`); the record of each step is
        then available from :meth:`get_provenance`. An async step is awaited (``asyncio.run``).

        Raises:
            EventLoopError: when the pipeline has an async step and an event loop is running
                in this thread (``await pipeline.arun(...)`` there).
            Exception: what a step raises, unchanged.
        """
        if not self.is_async:
            return drive_synchronously(self.arun(data, ctx))
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.arun(data, ctx))
        raise EventLoopError(
            "Pipeline.run() cannot run an async step inside a running event loop; "
            "use `await pipeline.arun(...)` instead"
        )

    async def arun(self, data: Any, ctx: FrozenContext | None = None) -> Any:
        """Asynchronous :meth:`run`: the same, awaiting async steps in the running loop.

        Raises:
            Exception: what a step raises, unchanged.
        """
        ctx = ctx if ctx is not None else FrozenContext()
        records: list[dict[str, Any]] = []
        self.note_run(records)
        for step in self.steps:
            key_count = len(ctx)
            counts = ctx.metrics.lengths()
            if step.cacheable:
                call = await call_cached(step, data, ctx)
                data, cache_hit, input_hash = call.output, call.cache_hit, call.input_hash
            else:
                data = step(data, ctx)
                if inspect.isawaitable(data):
                    data = await data
                cache_hit, input_hash = False, None
            data = take_returned_metrics(data, ctx)
            records.append(
                {
                    "step": step.name,
                    "params": step.params,
                    "step_hash": step.step_hash,
                    "input_hash": input_hash,
                    "output_hash": _digest_or_none(data) if step.cacheable else None,
                    "cache_hit": cache_hit,
                    "ctx_changes": {
                        "wrote": {
                            key: {"before": None, "after": ctx.preview(key)} for key in list(ctx)[key_count:]
                        },
                        "metrics": {
                            name: {
                                "before": ctx.metrics.get(name)[: counts.get(name, 0)],
                                "after": ctx.metrics.get(name),
                            }
                            for name in ctx.metrics
                            if len(ctx.metrics[name]) > counts.get(name, 0)
                        },
                    },
                }
            )
        return data

    def note_run(self, records: list[dict[str, Any]]) -> None:
        """Keep ``records`` (filled as the steps run) as the calling thread's last run, for
        :meth:`get_provenance`; the engine calls it for each condition of a replicate."""
        self._provenance[threading.get_ident()] = records
        self._last_provenance = records

    def get_provenance(self) -> list[dict[str, Any]]:
        """Return the step records of this thread's last :meth:`run`, or of the last condition an
        experiment ran in this process (in any thread) when this thread ran none; empty before any.

        Each record has crystallize-ml's fields: ``step``, ``params``, ``step_hash``,
        ``input_hash`` and ``output_hash`` (digests computed for cacheable steps only; None for
        the others, which are never hashed), ``cache_hit``, and ``ctx_changes`` with ``wrote``
        (key -> ``{"before": None, "after": preview}``) and ``metrics`` (name -> the values
        before and after the step). For a run of an experiment, as in crystallize-ml, the last
        condition's steps (its hashes of inputs and outputs are None, its ``before`` values None:
        the :class:`~crystallize_opt.Result` has each condition's, ``provenance["ctx_changes"]``).
        """
        return list(self._provenance.get(threading.get_ident(), self._last_provenance))

    def __repr__(self) -> str:
        return f"Pipeline({self.steps!r})"


def _digest_or_none(value: Any) -> str | None:
    try:
        return compute_hash(value)
    except TypeError:
        return None


def pipeline(*steps: PipelineStep) -> Pipeline:
    """Return ``Pipeline(list(steps))``: ``pipeline(load(), train(), score())``.

    Raises:
        TypeError, ValueError: as :class:`Pipeline` does (no steps, or an entry that is no step).
    """
    return Pipeline(list(steps))


def drive_synchronously(coro: Any) -> Any:
    """Run a coroutine that never suspends (a fully synchronous pipeline) without an event loop,
    and return its result.

    Raises:
        RuntimeError: if it suspends (a step returned an awaitable it did not declare).
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a step returned an awaitable it did not declare; mark the step `async def`")
