"""Contexts for looking inside a step: :class:`LoggingContext` records the keys read, and
:func:`standalone_context` builds a context to call a step outside an experiment."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ._frozen import FrozenContext


class LoggingContext(FrozenContext):
    """A view of ``ctx`` that records every key read through it.

    It is ``ctx`` itself seen through a recorder: the same keys, metrics, artifacts, outputs
    and random generator, so what is added through it is added to ``ctx``. Every key read
    (``view[key]``, ``get``, ``in``, and, for all keys, iteration, ``items()``, ``values()`` and
    ``as_dict()``) is logged at DEBUG level on ``logger`` (default: ``ctx.logger``) and noted:
    in :attr:`reads` (key -> the value read, as handed out) when the key is set, in
    :attr:`missing` when it is not. crystallize-opt uses it to key the resources of
    :func:`~crystallize_opt.resource_factory` by what they read.

    It is a :class:`FrozenContext`, so code that checks ``isinstance(ctx, FrozenContext)`` accepts
    it.
    """

    __slots__ = ("_ctx", "_read_logger", "missing", "reads")

    def __init__(self, ctx: FrozenContext, logger: logging.Logger | None = None) -> None:
        # Share ctx's state instead of copying it (no super().__init__): writes reach ctx.
        self._ctx = ctx
        self._data = ctx._data
        self._logger = ctx._logger
        self._rng = None
        self.metrics = ctx.metrics
        self.artifacts = ctx.artifacts
        self.outputs = ctx.outputs
        self.scope = ctx.scope
        self.curve = ctx.curve
        self._reporter = None
        self._decision = None
        self._read_logger = logger if logger is not None else ctx.logger
        #: Keys read that were set: key -> the value handed out.
        self.reads: dict[str, Any] = {}
        #: Keys asked for (``get``, ``in``, ``[]``) that were not set.
        self.missing: set[str] = set()

    def _note(self, key: str, value: Any) -> Any:
        self.reads[key] = value
        if self._read_logger.isEnabledFor(logging.DEBUG):
            # crystallize-ml's wording ("Read <key> -> <value>"), which its users match on.
            self._read_logger.debug("Read %s -> %s", key, self.preview(key))
        return value

    def _note_missing(self, key: object) -> None:
        if isinstance(key, str):
            self.missing.add(key)
            self._read_logger.debug("Read %s -> (not set)", key)

    def report(self, value: float, step: int, *, prune: bool = True) -> None:
        """:meth:`FrozenContext.report` on the context this view records."""
        self._ctx.report(value, step, prune=prune)

    def should_prune(self) -> bool:
        """:meth:`FrozenContext.should_prune` of the context this view records."""
        return self._ctx.should_prune()

    @property
    def rng(self) -> np.random.Generator:
        """The random generator of the context this view records."""
        return self._ctx.rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        self._ctx.rng = generator

    def __getitem__(self, key: str) -> Any:
        """Return ``ctx[key]`` and note the read.

        Raises:
            KeyError: if ``key`` is not set (noted in :attr:`missing`).
        """
        try:
            value = super().__getitem__(key)
        except KeyError:
            self._note_missing(key)
            raise
        return self._note(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``ctx.get(key, default)`` and note the read."""
        if key in self._data:
            return self._note(key, super().__getitem__(key))
        self._note_missing(key)
        return default

    def __contains__(self, key: object) -> bool:
        if key in self._data:
            assert isinstance(key, str)
            self._note(key, super().__getitem__(key))
            return True
        self._note_missing(key)
        return False

    def __iter__(self) -> Iterator[str]:
        for key in list(self._data):
            self._note(key, super().__getitem__(key))
        return super().__iter__()

    def as_dict(self) -> Mapping[str, Any]:
        """Return ``ctx.as_dict()``, noting every key as read."""
        values = super().as_dict()
        for key, value in values.items():
            self._note(key, value)
        return values

    def __getattr__(self, name: str) -> Any:
        # Attributes a user's code set on the recorded context (crystallize-ml's proxy fell
        # back to it too); only reached for names this view does not have itself.
        if name.startswith("__") or name == "_ctx":
            raise AttributeError(name)
        return getattr(self._ctx, name)

    def __repr__(self) -> str:
        return f"LoggingContext({self._ctx!r}, reads={sorted(self.reads)})"


def standalone_context(
    initial: Mapping[str, Any] | None = None, logger: logging.Logger | None = None
) -> FrozenContext:
    """Return a :class:`FrozenContext` holding ``initial`` (copied), for calling a step by hand.

    The context is the one a replicate's steps get, without the engine's keys (``replicate``,
    ``condition``, ``seed_used``) unless ``initial`` sets them; ``ctx.rng`` is seeded from
    ``initial["seed_used"]`` when set, else from 0, so a test of a step is reproducible.
    ``logger`` becomes ``ctx.logger``.
    """
    return FrozenContext(initial, logger)
