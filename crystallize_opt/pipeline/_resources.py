"""Resources shared by the replicates of a process: :func:`resource_factory`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..context import FrozenContext, LoggingContext

_ABSENT = object()
_LOCK = threading.Lock()
#: key -> the resources made under it: (what the factory read, what it found missing, resource).
_MADE: dict[str, list[tuple[dict[str, Any], frozenset[str], Any]]] = {}
_KEY_LOCKS: dict[str, threading.RLock] = {}


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays, whose == is elementwise: count them as different
        return False


def _fits(ctx: FrozenContext, reads: dict[str, Any], missing: frozenset[str]) -> bool:
    """True when ``ctx`` holds what a resource's factory read, and lacks what it found missing."""
    if any(key in ctx for key in missing):
        return False
    return all(_same(ctx.get(key, _ABSENT), value) for key, value in reads.items())


class ResourceFactory:
    """A resource made by ``fn(ctx)`` once and shared by the contexts it fits (see
    :func:`resource_factory`). Calling it with a context returns the resource."""

    __slots__ = ("_fn", "key")

    def __init__(self, fn: Callable[[FrozenContext], Any], key: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"resource_factory needs a callable fn(ctx), got {type(fn).__name__}")
        if key is not None and (not isinstance(key, str) or not key):
            raise TypeError(f"resource_factory key must be a non-empty string or None, got {key!r}")
        self._fn = fn
        #: Resources made under one key are shared: by default the function's qualified name.
        self.key: str = key or f"{fn.__module__}.{getattr(fn, '__qualname__', repr(fn))}"

    def __call__(self, ctx: FrozenContext) -> Any:
        """Return the resource for ``ctx``: one made earlier in this process whose factory read
        the same values as ``ctx`` holds, else a new one, ``fn(ctx)``.

        Raises:
            Exception: what ``fn`` raised (nothing is kept then; the next call tries again).
        """
        with _LOCK:
            lock = _KEY_LOCKS.setdefault(self.key, threading.RLock())
        with lock:  # one resource is made at a time per key; the others wait and share it
            for reads, missing, resource in _MADE.get(self.key, ()):
                if _fits(ctx, reads, missing):
                    return resource
            view = LoggingContext(ctx)
            resource = self._fn(view)
            _MADE.setdefault(self.key, []).append((dict(view.reads), frozenset(view.missing), resource))
            return resource

    def clear(self) -> None:
        """Forget the resources made under this factory's key (the next call makes a new one)."""
        with _LOCK:
            _MADE.pop(self.key, None)

    # The context copies mutable values it hands out; a resource factory is a handle to shared
    # resources, so it is handed out as it is.
    def __copy__(self) -> ResourceFactory:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ResourceFactory:
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # the resources stay in their process
        return (ResourceFactory, (self._fn, self.key))

    def __repr__(self) -> str:  # stable across runs: it enters the experiment's fingerprint
        return f"resource_factory({self.key})"


def resource_factory(fn: Callable[[FrozenContext], Any], key: str | None = None) -> ResourceFactory:
    """Wrap ``fn(ctx)`` so that the resource it makes (a model, a client) is made once and shared.

    Put the result in the context (``initial_ctx``, a treatment or ``ctx.add``): a step or
    datasource parameter of that name then receives the *resource*, ``fn(ctx)``, not the factory.
    The resource is kept for the life of the process and shared by every replicate, condition
    and thread whose context holds the same values for every key ``fn`` read (``ctx[key]``,
    ``ctx.get``, ``in``; what ``fn`` found missing must be missing too). So a resource built from
    a treatment's ``model_size`` is made again for a condition with another ``model_size``,
    while one that reads nothing is made once. ``key`` shares resources between factories
    (default: ``fn``'s module and qualified name). Values compared with ``==``; a value whose
    ``==`` does not give a truth value (an array) counts as different.

    crystallize-ml keeps the first resource per thread forever, whatever context asked, so a
    treatment-specific resource was reused for the other conditions
    (``docs/migrating-from-crystallize.md``).

    Raises:
        TypeError: if ``fn`` is not callable or ``key`` is not a non-empty string.
    """
    return ResourceFactory(fn, key)
