"""Data sources: the :class:`DataSource` interface and the :func:`data_source` decorator."""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .._fingerprint import source_fingerprint
from .._logging import get_logger
from ..context import FrozenContext
from ._injection import DECORATORS, InjectedCallable, InjectedSignature
from ._registry import register_datasource

_log = get_logger("pipeline")

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
def data_source(fn: F, /) -> Callable[..., DataSource]: ...
@overload
def data_source(
    name: str | None = None, /, *, register: bool = False
) -> Callable[[F], Callable[..., DataSource]]: ...


def data_source(target: Callable[..., Any] | str | None = None, /, *, register: bool = False) -> Any:
    """Turn ``fn(ctx, **params)`` into a factory of :class:`DataSource` objects.

    Written ``@data_source``, ``@data_source()``, ``@data_source("name", register=True)`` or
    ``@data_source(register=True)``. Calling the factory with keyword arguments fixes those
    parameters; a parameter without default must be given there (``TypeError`` at once
    otherwise, as in crystallize-ml). A parameter with a default is, at fetch time, taken like a
    :func:`pipeline_step`'s: explicit argument, output artifact, context key (so a treatment can
    set it), default.

    With ``register=True`` the datasource ``factory()`` is registered under ``name`` (default:
    the function's name) for :func:`get_datasource`; a factory that cannot be called without
    arguments is not registered (logged as a warning). Decorating again the same function (a
    module reload) replaces its registration instead of raising.

    Raises:
        TypeError: at decoration if ``fn`` does not take ``ctx`` first; at factory call for an
            argument ``fn`` does not accept or a required parameter not given.
        ValueError: at decoration with ``register=True``, if ``name`` is registered by another
            datasource.
    """

    def decorate(func: Callable[..., Any], name: str | None) -> Callable[..., DataSource]:
        signature = InjectedSignature(func, ("ctx",), "data source")

        @functools.wraps(func)
        def factory(**explicit: Any) -> DataSource:
            signature.check_explicit(explicit)
            missing = [n for n in signature.required() if n not in explicit]
            if missing:
                raise TypeError(
                    f"data source {signature.name!r} is missing required parameter(s) {missing}: "
                    f"pass them ({signature.name}({missing[0]}=...))"
                )
            return _FunctionDataSource(func, signature, explicit)

        if register:
            if signature.required():
                _log.warning(
                    "data source %r not registered: it needs parameter(s) %s",
                    name or func.__name__,
                    signature.required(),
                )
            else:
                register_datasource(name or func.__name__, factory())
        return factory

    if callable(target):
        return decorate(target, None)
    if target is not None and not isinstance(target, str):
        raise TypeError(f"data_source name must be a string, got {type(target).__name__}")
    return functools.partial(decorate, name=target)


DECORATORS["data source"] = data_source
