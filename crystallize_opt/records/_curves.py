"""How a study maps learning-curve points to Optuna steps: the curve layout record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ._base import StudyRecord


@dataclass(frozen=True)
class CurveLayout(StudyRecord):
    """How a study maps learning-curve points to Optuna steps: replicate ``r``'s step ``e`` is
    Optuna step ``r * steps_per_replicate + e``. Written once, by the first process whose trial
    goes on to a second replicate (from the steps its first replicate reported), so every
    worker of a shared study maps alike."""

    ATTR: ClassVar[str] = "crystallize_curves"
    KINDS: ClassVar[dict[str, str]] = {"steps_per_replicate": "int", "origin": "int"}

    #: One more than the largest step a replicate reports (e.g. the number of epochs).
    steps_per_replicate: int | None = None
    #: The step at which a replicate has trained nothing yet: its first reported step less the
    #: gap to its second (-1 for steps 0, 1, 2, ...; 0 for epochs 1, 2, 3, ... and for every
    #: fifth epoch 5, 10, ...). None in layouts of earlier versions, which meant -1.
    origin: int | None = None

    def share(self, step: int) -> float:
        """The share of a replicate's training done when it reports ``step``: ``(step - origin)
        / (last step - origin)``, to 0.001, between 0.001 and 1. What an execution stopped at
        ``step`` costs a noise-aware budget (:func:`executions_run`).

        Raises:
            ValueError: if the layout has no ``steps_per_replicate``.
        """
        if not self.steps_per_replicate:
            raise ValueError("CurveLayout.share: the layout has no steps_per_replicate")
        last = self.steps_per_replicate - 1
        origin = -1 if self.origin is None else min(self.origin, last - 1)
        return min(1000, max(1, round(1000 * (step - origin) / (last - origin)))) / 1000

    @classmethod
    def learn(cls, steps: Sequence[int]) -> CurveLayout:
        """The layout of a whole replicate that reported ``steps`` (increasing, at least one).

        Raises:
            ValueError: if ``steps`` is empty.
        """
        if not steps:
            raise ValueError("CurveLayout.learn: a replicate that reported no step has no layout")
        first, last = steps[0], steps[-1]
        gap = steps[1] - first if len(steps) > 1 else 1
        return cls(steps_per_replicate=last + 1, origin=first - gap)
