"""Data sources: the :class:`DataSource` interface and the :func:`data_source` decorator."""

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


class DataSource(ABC):
    """Provides the initial data of each run: ``fetch(ctx)`` is called once per replicate and
    condition, with the run's context (``ctx.rng`` is already seeded)."""

    @abstractmethod
    def fetch(self, ctx: FrozenContext) -> Any:
        """Return the data the pipeline's first step receives."""

    @property
    def name(self) -> str:
        """The datasource's name, used in provenance and errors."""
        return type(self).__name__

    @property
    def is_async(self) -> bool:
        """True when ``fetch`` returns an awaitable."""
        return inspect.iscoroutinefunction(type(self).fetch)

    def fingerprint(self) -> str:
        """Identify the datasource's code and parameters; part of the pipeline signature."""
        return f"{type(self).__name__}:{source_fingerprint(type(self))}"


class _FunctionDataSource(InjectedCallable, DataSource):
    """A datasource made by :func:`data_source` from a plain (or async) function."""

    def fetch(self, ctx: FrozenContext) -> Any:
        return self._fn(ctx, **self._kwargs(ctx))


@overload
def data_source(fn: F) -> Callable[..., DataSource]: ...
@overload
def data_source(fn: None = None) -> Callable[[F], Callable[..., DataSource]]: ...


def data_source(fn: Callable[..., Any] | None = None) -> Any:
    """Turn ``fn(ctx, **params)`` into a factory of :class:`DataSource` objects.

    Parameters resolve like those of :func:`pipeline_step`: explicit argument to the factory,
    output artifact, context key, default. Works as ``@data_source`` and ``@data_source()``.

    Raises:
        TypeError: at decoration if ``fn`` does not take ``ctx`` first; at factory call for an
            argument ``fn`` does not accept.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., DataSource]:
        signature = InjectedSignature(func, ("ctx",), "data source")

        @functools.wraps(func)
        def factory(**explicit: Any) -> DataSource:
            signature.check_explicit(explicit)
            return _FunctionDataSource(func, signature, explicit)

        return factory

    return decorate(fn) if fn is not None else decorate


DECORATORS["data source"] = data_source
