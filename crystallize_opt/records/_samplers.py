"""Which sampler proposed which of a study's trials: the record of sampler changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ._base import StudyRecord

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class SamplerHistory(StudyRecord):
    """The samplers that took over a study after the one it was made with
    (:attr:`StudySettings.sampler`): a study continued with another sampler (another default of a
    later release, PyTorch installed since, a sampler passed by hand) appends the new sampler's
    description and the number of the first trial it could propose. Stored only once a study
    changed sampler."""

    ATTR: ClassVar[str] = "crystallize_samplers"
    KINDS: ClassVar[dict[str, str]] = {"changes": "sampler_changes"}

    #: ``{"from_trial": int, "sampler": {"class", "settings"}}`` per change, oldest first.
    changes: list[dict[str, Any]] | None = None

    @property
    def latest(self) -> dict[str, Any] | None:
        """The description of the sampler that proposes from the last change on (None without
        a change)."""
        return dict(self.changes[-1]["sampler"]) if self.changes else None

    def changed(self, from_trial: int, sampler: Mapping[str, Any]) -> SamplerHistory:
        """This history with ``sampler`` proposing from trial ``from_trial`` on."""
        return SamplerHistory([*(self.changes or []), {"from_trial": from_trial, "sampler": dict(sampler)}])

    def spans(
        self, first: Mapping[str, Any] | None
    ) -> list[tuple[int, int | None, Mapping[str, Any] | None]]:
        """``(first trial, last trial or None for "on", description)`` of each sampler in turn,
        ``first`` being the description of the sampler the study was made with."""
        starts = [(0, first)] + [(c["from_trial"], c["sampler"]) for c in self.changes or []]
        return [
            (start, starts[i + 1][0] - 1 if i + 1 < len(starts) else None, description)
            for i, (start, description) in enumerate(starts)
        ]

    @classmethod
    def from_study(cls, study: optuna.Study) -> SamplerHistory:
        """The stored history (empty when the study never changed sampler). Raises
        :class:`RecordError` as :meth:`from_json`."""
        return super().from_study(study) or cls()
