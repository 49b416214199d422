"""Pipeline steps: the :class:`PipelineStep` interface and the :func:`pipeline_step` decorator."""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .._fingerprint import source_fingerprint
from ..context import FrozenContext
from ._injection import DECORATORS, InjectedCallable, InjectedSignature

F = TypeVar("F", bound=Callable[..., Any])


class PipelineStep(ABC):
    """One stage of a :class:`~crystallize_opt.Pipeline`.

    Subclasses implement :meth:`__call__` (which may be ``async def``), and may override
    :meth:`setup` and :meth:`teardown`, called once around each run of the experiment in the
    process that executes the replicates. A step whose ``setup`` returned is always torn down,
    whatever fails after it; one whose ``setup`` raised is not. ``params`` lists the step's explicit parameters; they
    enter the pipeline signature, so changing them invalidates stored results on resume.
    """

    @abstractmethod
    def __call__(self, data: Any, ctx: FrozenContext) -> Any:
        """Transform ``data`` and return the new data; record metrics on ``ctx.metrics``."""

    def setup(self, ctx: FrozenContext) -> None:  # noqa: B027 - optional hook
        """Prepare resources before the replicates of a run. The default does nothing."""

    def teardown(self, ctx: FrozenContext) -> None:  # noqa: B027 - optional hook
        """Release resources after the replicates of a run. The default does nothing."""

    @property
    def params(self) -> dict[str, Any]:
        """The step's explicit parameters (empty by default)."""
        return {}

    @property
    def name(self) -> str:
        """The step's name, used in artifact paths, provenance and errors."""
        return type(self).__name__

    @property
    def is_async(self) -> bool:
        """True when calling the step returns an awaitable."""
        return inspect.iscoroutinefunction(type(self).__call__)

    def fingerprint(self) -> str:
        """Identify the step's code and parameters; part of the pipeline signature."""
        return f"{self.name}:{source_fingerprint(type(self))}:{sorted(self.params.items())!r}"


class _FunctionStep(InjectedCallable, PipelineStep):
    """A step made by :func:`pipeline_step` from a plain (or async) function."""

    def __call__(self, data: Any, ctx: FrozenContext) -> Any:
        return self._fn(data, ctx, **self._kwargs(ctx))


@overload
def pipeline_step(fn: F) -> Callable[..., PipelineStep]: ...
@overload
def pipeline_step(fn: None = None) -> Callable[[F], Callable[..., PipelineStep]]: ...


def pipeline_step(fn: Callable[..., Any] | None = None) -> Any:
    """Turn ``fn(data, ctx, **params)`` into a factory of :class:`PipelineStep` objects.

    Calling the factory with keyword arguments fixes those parameters explicitly; every other
    parameter is looked up at run time, first among the experiment's output artifacts, then in
    the context (so a treatment sets it by name), and last the function's default. ``fn`` may be
    ``async def``. Works with and without parentheses: ``@pipeline_step`` or ``@pipeline_step()``.

    Raises:
        TypeError: at decoration if ``fn`` does not take ``data, ctx`` first; at factory call for
            an argument ``fn`` does not accept.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., PipelineStep]:
        signature = InjectedSignature(func, ("data", "ctx"), "pipeline step")

        @functools.wraps(func)
        def factory(**explicit: Any) -> PipelineStep:
            signature.check_explicit(explicit)
            return _FunctionStep(func, signature, explicit)

        return factory

    return decorate(fn) if fn is not None else decorate


DECORATORS["pipeline step"] = pipeline_step
