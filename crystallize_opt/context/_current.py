"""The context of the replicate and condition running in this thread or task, for handles (an
:class:`~crystallize_opt.Artifact` a step object holds) that were not given their run's context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ._frozen import FrozenContext

_CURRENT: ContextVar[FrozenContext | None] = ContextVar("crystallize_opt_current_context", default=None)


def current_context() -> FrozenContext | None:
    """The context of the condition running in this thread or asyncio task, or None outside a run."""
    return _CURRENT.get()


@contextmanager
def running_in(ctx: FrozenContext) -> Iterator[FrozenContext]:
    """Make ``ctx`` the :func:`current_context` inside the ``with`` block (per thread and task)."""
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
