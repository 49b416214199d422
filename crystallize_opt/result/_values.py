"""What one condition of one replicate produced, and its failure: the records of a run."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths, sets and tuples to plain JSON types; other objects to repr."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy arrays and scalars
        return to_jsonable(tolist())
    return repr(value)


def error_key(condition: str, replicate: int) -> str:
    """Return ``"<condition>_rep_<replicate>"``, the key of a failure in ``Result.errors``."""
    return f"{condition}_rep_{replicate}"


@dataclass
class ReplicateError:
    """A failure of one condition in one replicate, with where it happened and its traceback."""

    condition: str
    replicate: int
    message: str
    error_type: str
    traceback: str
    step: str | None = None
    """The pipeline step that raised, or ``None`` when the datasource or a hook raised."""

    @property
    def key(self) -> str:
        """The reference's key for this failure in ``Result.errors``: ``"<condition>_rep_<replicate>"``."""
        return error_key(self.condition, self.replicate)

    @property
    def traceback_str(self) -> str:
        """The traceback text, under the attribute name crystallize-ml sets on its exceptions."""
        return self.traceback

    def __str__(self) -> str:
        where = f" in step {self.step!r}" if self.step else ""
        return f"{self.condition}, replicate {self.replicate}{where}: {self.error_type}: {self.message}"


@dataclass
class ConditionOutcome:
    """What one condition produced in one replicate (metrics, error, provenance): what the
    plugin hook ``after_replicate`` receives.

    The pipeline's output is kept only for :meth:`Experiment.apply`; runs never keep or pickle
    the data flowing between steps.
    """

    condition: str
    replicate: int
    seed: int | None
    metrics: dict[str, list[Any]]
    error: ReplicateError | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[tuple[str, str, str]] = field(default_factory=list)
    fingerprint: str | None = None
    duration: float = 0.0
    reused: bool = False
    output: Any = field(default=None, repr=False)
    exception: BaseException | None = field(default=None, repr=False)
    #: The learning curve the steps reported (``ctx.report``): ``(step, value)`` pairs.
    curve: list[tuple[int, float]] = field(default_factory=list)
    #: Where and why the optimizer's pruner stopped this replicate (see ``TrialPruned``), or None.
    pruned: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The output and the live exception stay in the process that made them.
        state = dict(self.__dict__)
        state["output"] = None
        state["exception"] = None
        return state

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-compatible record the ArtifactPlugin stores for resume."""
        return {
            "condition": self.condition,
            "replicate": self.replicate,
            "seed": self.seed,
            "metrics": to_jsonable(self.metrics),
            "error": None if self.error is None else to_jsonable(self.error.__dict__),
            "steps": to_jsonable(self.steps),
            "artifacts": [list(a) for a in self.artifacts],
            "fingerprint": self.fingerprint,
            "duration": self.duration,
            **({"curve": to_jsonable([[step, value] for step, value in self.curve])} if self.curve else {}),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ConditionOutcome:
        """Rebuild an outcome from :meth:`to_record` output (marked ``reused``)."""
        error = record.get("error")
        return cls(
            condition=record["condition"],
            replicate=int(record["replicate"]),
            seed=record.get("seed"),
            metrics={k: list(v) for k, v in record["metrics"].items()},
            error=None if error is None else ReplicateError(**error),
            steps=list(record.get("steps", [])),
            artifacts=[(a[0], a[1], a[2]) for a in record.get("artifacts", [])],
            fingerprint=record.get("fingerprint"),
            duration=float(record.get("duration", 0.0)),
            reused=True,
            curve=[
                (int(step), math.nan if value is None else float(value))
                for step, value in record.get("curve", [])
            ],
        )
