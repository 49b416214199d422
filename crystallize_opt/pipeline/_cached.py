"""Running a cacheable step through the step cache.

A step's output depends on its code, its explicit parameters, its input and the context values
it reads, which are known only once it has run. So the cache has two levels:

1. the *read index*, keyed by (step hash, input digest), remembers which context keys the step
   read (and which it asked for and did not find, and whether it drew from ``ctx.rng``) the
   last times it ran on that input (up to :data:`_READ_SETS` different sets, newest first);
2. the *entries*, keyed by (step hash, input digest, a read set, the digests of the values those
   keys hold now, "absent" for a key not set, the state of ``ctx.rng`` when it was used).

A lookup tries each remembered read set with the values the context holds now. Whatever a
step does depends only on what it read, so a run with equal values for the keys of a set reads
exactly that set again, and an entry found under it is what the step would compute.
"""

from __future__ import annotations

import hashlib
import inspect
import pickle
from typing import Any, NamedTuple

import numpy as np

from .._logging import get_logger
from ..context import FrozenContext, LoggingContext
from ._cache import StepCache, dumps, get_step_cache
from ._hashing import compute_hash
from ._step import PipelineStep

_log = get_logger("cache")
_RNG = "\0rng"  # the pseudo key of a read set whose step drew from ctx.rng
_ABSENT = "\0absent"
_READ_SETS = 8
_warned: set[str] = set()


class CachedCall(NamedTuple):
    """What :func:`call_cached` did: the step's output, whether it came from the cache, and the
    digest of the input (None when the input could not be hashed and the step simply ran)."""

    output: Any
    cache_hit: bool
    input_hash: str | None


class _RecordingContext(LoggingContext):
    """A :class:`LoggingContext` that also notes whether the step used ``ctx.rng``."""

    __slots__ = ("rng_used",)

    def __init__(self, ctx: FrozenContext) -> None:
        # Reads are logged (at DEBUG) on crystallize_opt.cache, not among the steps' messages.
        super().__init__(ctx, _log)
        self.rng_used = False

    @property
    def rng(self) -> np.random.Generator:
        """The context's generator; using it makes the generator's state part of the cache key."""
        self.rng_used = True
        return self._ctx.rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        self.rng_used = True
        self._ctx.rng = generator


async def call_cached(
    step: PipelineStep, data: Any, ctx: FrozenContext, cache: StepCache | None = None
) -> CachedCall:
    """Return ``step(data, ctx)``'s output, from ``cache`` (default: :func:`get_step_cache`)
    when the step already ran with the same code, parameters, input and context values read.

    A hit replays what the step did to the context: the keys it added (in order), the metric
    values it recorded (with their tags), the artifacts it wrote and how far it advanced
    ``ctx.rng``; the output is a fresh copy of the stored one. A miss runs the step (awaiting
    it if it is async) while recording its reads, and stores the result. A step whose input,
    context values read or result cannot be pickled runs uncached, logged once per step at
    WARNING.

    Raises:
        Exception: what the step raises (nothing is stored then).
    """
    cache = cache if cache is not None else get_step_cache()
    try:
        input_hash = compute_hash(data)
    except TypeError as exc:
        _warn_once(step, f"its input cannot be hashed ({exc})")
        return CachedCall(await _run(step, data, ctx), False, None)
    base = hashlib.sha256(f"{step.step_hash}\0{input_hash}".encode()).hexdigest()
    index_key = hashlib.sha256(f"reads\0{base}".encode()).hexdigest()
    read_sets = _read_index(cache, index_key)
    present = set(ctx) if read_sets else set()
    rng_state = ctx.rng.bit_generator.state if read_sets else None
    for read_set in read_sets:
        try:
            key = _entry_key(base, read_set, ctx, present, rng_state)
        except TypeError:
            continue
        raw = cache.get(key)
        if raw is None:
            continue
        try:
            entry = pickle.loads(raw)
            output = entry["output"]
        except Exception as exc:  # a damaged entry, or one whose classes are gone
            _log.warning("step cache: entry of step %s cannot be read (%s); running it", step.name, exc)
            continue
        _replay(entry, ctx)
        return CachedCall(output, True, input_hash)
    output = await _store_run(step, data, ctx, cache, base, index_key, read_sets)
    return CachedCall(output, False, input_hash)


async def _run(step: PipelineStep, data: Any, ctx: FrozenContext) -> Any:
    output = step(data, ctx)
    return await output if inspect.isawaitable(output) else output


async def _store_run(
    step: PipelineStep,
    data: Any,
    ctx: FrozenContext,
    cache: StepCache,
    base: str,
    index_key: str,
    read_sets: list[tuple[str, ...]],
) -> Any:
    present = set(ctx)
    key_count = len(ctx)
    counts = ctx.metrics.lengths()
    artifact_count = len(ctx.artifacts)
    rng_before = ctx.rng.bit_generator.state
    view = _RecordingContext(ctx)
    output = await _run(step, data, view)
    read_set = tuple(sorted(set(view.reads) | view.missing)) + ((_RNG,) if view.rng_used else ())
    added = list(ctx)[key_count:]
    metrics = [
        (
            name,
            ctx.metrics.get(name)[counts.get(name, 0) :],
            ctx.metrics.get_tags(name)[counts.get(name, 0) :],
        )
        for name in ctx.metrics
        if len(ctx.metrics[name]) > counts.get(name, 0)
    ]
    entry = {
        "output": output,
        "added": [(key, ctx.get(key)) for key in added],
        "metrics": metrics,
        "artifacts": [(record.name, record.data) for record in list(ctx.artifacts)[artifact_count:]],
        "rng": ctx.rng if view.rng_used else None,
    }
    try:
        key = _entry_key(base, read_set, ctx, present, rng_before)
        raw = dumps(entry)
    except Exception as exc:  # unpicklable output or context value: run uncached
        _warn_once(step, f"its result or a context value it reads cannot be pickled ({exc})")
        return output
    cache.put(key, raw)
    if not read_sets or read_sets[0] != read_set:
        newest = [read_set, *(r for r in read_sets if r != read_set)][:_READ_SETS]
        cache.put(index_key, dumps(newest))
    return output


def _read_index(cache: StepCache, index_key: str) -> list[tuple[str, ...]]:
    raw = cache.get(index_key)
    if raw is None:
        return []
    try:
        read_sets = pickle.loads(raw)
    except Exception as exc:
        _log.warning("step cache: damaged read index %s (%s); ignored", index_key, exc)
        return []
    return [tuple(r) for r in read_sets] if isinstance(read_sets, list) else []


def _entry_key(
    base: str, read_set: tuple[str, ...], ctx: FrozenContext, present: set[str], rng_state: Any
) -> str:
    """The entry key for ``read_set`` with the values ``ctx`` holds (keys not in ``present``
    count as absent); raises TypeError when a value cannot be hashed."""
    digest = hashlib.sha256(base.encode())
    for name in read_set:
        if name == _RNG:
            value_hash = compute_hash(rng_state)
        elif name in present:
            value_hash = compute_hash(ctx.get(name))
        else:
            value_hash = _ABSENT
        digest.update(f"\0{name}\0{value_hash}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _replay(entry: dict[str, Any], ctx: FrozenContext) -> None:
    for key, value in entry["added"]:
        ctx.add(key, value)
    for name, values, tags in entry["metrics"]:
        for value, tag in zip(values, tags, strict=True):
            ctx.metrics.add(name, value, tag)
    for name, data in entry["artifacts"]:
        ctx.artifacts.add(name, data)
    generator = entry["rng"]
    if generator is not None:
        if type(generator.bit_generator) is type(ctx.rng.bit_generator):
            ctx.rng.bit_generator.state = generator.bit_generator.state  # the same object advanced
        else:  # the step replaced ctx.rng with another kind of generator
            ctx.rng = generator


def _warn_once(step: PipelineStep, why: str) -> None:
    if step.name not in _warned:
        _warned.add(step.name)
        _log.warning("step %s is cacheable but runs uncached: %s", step.name, why)
