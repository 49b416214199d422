"""The :class:`Pipeline`: an ordered list of steps with a signature for reproducibility checks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from ._step import PipelineStep


class Pipeline:
    """An ordered sequence of :class:`PipelineStep` objects applied to one datasource's output.

    The experiment runs it; ``Pipeline`` itself only holds the steps and identifies them.

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

    def __repr__(self) -> str:
        return f"Pipeline({self.steps!r})"


def pipeline(*steps: PipelineStep) -> Pipeline:
    """Return ``Pipeline(list(steps))``: ``pipeline(load(), train(), score())``.

    Raises:
        TypeError, ValueError: as :class:`Pipeline` does (no steps, or an entry that is no step).
    """
    return Pipeline(list(steps))
