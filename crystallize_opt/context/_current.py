"""The context of the replicate and condition running in this thread or task, for handles (an
:class:`~crystallize_opt.Artifact` a step object holds) that were not given their run's context."""

from __future__ import annotations

from contextvars import ContextVar

from ._frozen import FrozenContext

_CURRENT: ContextVar[FrozenContext | None] = ContextVar("crystallize_opt_current_context", default=None)


def current_context() -> FrozenContext | None:
    """The context of the condition running in this thread or asyncio task, or None outside a run."""
    return _CURRENT.get()


class running_in:  # lower case: it replaced (and is used as) a context-manager function
    """Make ``ctx`` the :func:`current_context` inside the ``with`` block (per thread and task).

    A class rather than a generator-based context manager: the engine enters it around every
    condition of every replicate, where ``contextlib``'s machinery cost several times more.
    """

    __slots__ = ("_ctx", "_token")

    def __init__(self, ctx: FrozenContext) -> None:
        self._ctx = ctx

    def __enter__(self) -> FrozenContext:
        self._token = _CURRENT.set(self._ctx)
        return self._ctx

    def __exit__(self, *exc_info: object) -> None:
        _CURRENT.reset(self._token)
