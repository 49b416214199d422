"""What a run produces: metrics per condition and replicate, errors, hypothesis results, provenance."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._constants import BASELINE_CONDITION


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
        )


@dataclass
class ConditionMetrics:
    """The metrics of one condition (the baseline or a treatment), replicate by replicate.

    ``by_replicate[i]`` holds what replicate ``i`` recorded (metric -> values). A replicate that
    failed part-way keeps what it recorded before the failure and is listed in ``partial``; one
    that failed before recording anything is absent from ``by_replicate`` only if it recorded
    nothing at all.
    """

    name: str
    by_replicate: dict[int, dict[str, list[Any]]] = field(default_factory=dict)
    seeds: dict[int, int] = field(default_factory=dict)
    partial: set[int] = field(default_factory=set)

    @property
    def metrics(self) -> dict[str, list[Any]]:
        """Every metric's values over all replicates, in replicate order (replicate boundaries
        are in :meth:`replicate`)."""
        merged: dict[str, list[Any]] = {}
        for rep in sorted(self.by_replicate):
            for name, values in self.by_replicate[rep].items():
                merged.setdefault(name, []).extend(values)
        return merged

    @property
    def replicates(self) -> list[int]:
        """Indices of the replicates that recorded anything, ascending."""
        return sorted(self.by_replicate)

    def replicate(self, index: int) -> dict[str, list[Any]]:
        """Return what replicate ``index`` recorded: metric -> values.

        Raises:
            KeyError: if that replicate recorded nothing (it failed early or was not run).
        """
        if index not in self.by_replicate:
            raise KeyError(
                f"condition {self.name!r} has no metrics for replicate {index}; it has {self.replicates}"
            )
        return {k: list(v) for k, v in self.by_replicate[index].items()}

    def per_replicate(self, metric: str, *, complete_only: bool = True) -> dict[int, float]:
        """Return replicate index -> the mean of ``metric`` within that replicate.

        Partial replicates are left out unless ``complete_only`` is False. Replicates that did
        not record ``metric`` are left out.
        """
        out: dict[int, float] = {}
        for rep, values in sorted(self.by_replicate.items()):
            if complete_only and rep in self.partial:
                continue
            if values.get(metric):
                out[rep] = float(sum(float(v) for v in values[metric]) / len(values[metric]))
        return out

    def summary(self, metric: str) -> dict[str, float]:
        """Return ``{"mean", "std", "sem", "n"}`` over complete replicates' per-replicate means."""
        values = list(self.per_replicate(metric).values())
        n = len(values)
        mean = sum(values) / n if n else math.nan
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
        return {"mean": mean, "std": std, "sem": std / math.sqrt(n) if n > 1 else math.nan, "n": float(n)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "by_replicate": {str(r): to_jsonable(m) for r, m in sorted(self.by_replicate.items())},
            "seeds": {str(r): s for r, s in sorted(self.seeds.items())},
            "partial": sorted(self.partial),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConditionMetrics:
        return cls(
            name=data["name"],
            by_replicate={
                int(r): {k: list(v) for k, v in m.items()} for r, m in data["by_replicate"].items()
            },
            seeds={int(r): int(s) for r, s in data.get("seeds", {}).items()},
            partial={int(r) for r in data.get("partial", [])},
        )


@dataclass
class HypothesisResult:
    """The outcome of one :class:`~crystallize_opt.Hypothesis` over every treatment.

    ``results[treatment]`` is what the verifier returned for that treatment against the
    baseline; ``ranking`` is ``{"ranked": [treatment, ...] best first, "best": name or None}``;
    ``errors[treatment]`` says why a treatment could not be tested (a verifier error, a metric
    nobody recorded).
    """

    name: str
    metrics: list[str]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    ranking: dict[str, Any] = field(default_factory=lambda: {"ranked": [], "best": None})
    errors: dict[str, str] = field(default_factory=dict)

    def get_for_treatment(self, treatment: str) -> dict[str, Any] | None:
        """Return the verifier's result for ``treatment``, or None if it was not tested."""
        return self.results.get(treatment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metrics": list(self.metrics),
            "results": to_jsonable(self.results),
            "ranking": to_jsonable(self.ranking),
            "errors": dict(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HypothesisResult:
        return cls(
            name=data["name"],
            metrics=list(data["metrics"]),
            results=dict(data.get("results", {})),
            ranking=dict(data.get("ranking", {"ranked": [], "best": None})),
            errors=dict(data.get("errors", {})),
        )


@dataclass
class ExperimentMetrics:
    """Metrics of the baseline and of each treatment, plus the hypothesis results."""

    baseline: ConditionMetrics
    treatments: dict[str, ConditionMetrics] = field(default_factory=dict)
    hypotheses: list[HypothesisResult] = field(default_factory=list)

    def condition(self, name: str) -> ConditionMetrics:
        """Return the metrics of condition ``name`` (``"baseline"`` or a treatment name).

        Raises:
            KeyError: naming the known conditions, if ``name`` is not one.
        """
        if name == BASELINE_CONDITION:
            return self.baseline
        if name not in self.treatments:
            raise KeyError(f"no condition {name!r}; known: {[BASELINE_CONDITION, *self.treatments]}")
        return self.treatments[name]


#: Provenance entries of the form condition -> replicate index -> value. JSON turns the
#: integer replicate keys into strings; :meth:`Result.from_dict` turns them back.
_PER_REPLICATE_PROVENANCE = ("seeds", "ctx_changes")


def _provenance_from_json(provenance: Mapping[str, Any]) -> dict[str, Any]:
    restored = dict(provenance)
    for key in _PER_REPLICATE_PROVENANCE:
        per_condition = restored.get(key)
        if not isinstance(per_condition, Mapping):
            continue
        restored[key] = {
            condition: (
                {int(r) if isinstance(r, str) and r.isdigit() else r: v for r, v in by_replicate.items()}
                if isinstance(by_replicate, Mapping)
                else by_replicate
            )
            for condition, by_replicate in per_condition.items()
        }
    return restored


class Result:
    """Everything one :meth:`Experiment.run` produced.

    Attributes:
        metrics: per-condition metrics (``metrics.baseline``, ``metrics.treatments[name]``) and
            ``metrics.hypotheses``.
        errors: every :class:`ReplicateError`, in replicate then condition order.
        provenance: seeds per condition and replicate, the pipeline signature, per-step context
            changes, the master seed and the package version.
        artifacts: artifact name -> condition -> list of written file paths (one per replicate).
    """

    def __init__(
        self,
        metrics: ExperimentMetrics,
        errors: Sequence[ReplicateError] = (),
        provenance: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, Mapping[str, Sequence[Path]]] | None = None,
    ):
        self.metrics = metrics
        self.errors: list[ReplicateError] = list(errors)
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.artifacts: dict[str, dict[str, list[Path]]] = {
            name: {cond: list(paths) for cond, paths in by_cond.items()}
            for name, by_cond in (artifacts or {}).items()
        }

    def errors_for(self, condition: str, replicate: int | None = None) -> list[ReplicateError]:
        """Return the errors of ``condition``, optionally only those of one replicate."""
        return [
            e
            for e in self.errors
            if e.condition == condition and (replicate is None or e.replicate == replicate)
        ]

    def get_hypothesis(self, name: str) -> HypothesisResult | None:
        """Return the hypothesis result called ``name``, or None."""
        return next((h for h in self.metrics.hypotheses if h.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the whole result as JSON-compatible data (non-JSON values become their repr)."""
        return {
            "format": "crystallize-opt-result/1",
            "metrics": {
                "baseline": self.metrics.baseline.to_dict(),
                "treatments": {n: m.to_dict() for n, m in self.metrics.treatments.items()},
                "hypotheses": [h.to_dict() for h in self.metrics.hypotheses],
            },
            "errors": [to_jsonable(e.__dict__) for e in self.errors],
            "provenance": to_jsonable(self.provenance),
            "artifacts": to_jsonable(self.artifacts),
        }

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """Return the result as JSON text; also write it to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """Rebuild a result from :meth:`to_dict` output.

        Raises:
            ValueError: if ``data`` is not a crystallize-opt result.
        """
        if not isinstance(data, Mapping) or data.get("format") != "crystallize-opt-result/1":
            raise ValueError("not a crystallize-opt result (missing format 'crystallize-opt-result/1')")
        metrics = data["metrics"]
        return cls(
            metrics=ExperimentMetrics(
                baseline=ConditionMetrics.from_dict(metrics["baseline"]),
                treatments={n: ConditionMetrics.from_dict(m) for n, m in metrics["treatments"].items()},
                hypotheses=[HypothesisResult.from_dict(h) for h in metrics["hypotheses"]],
            ),
            errors=[ReplicateError(**e) for e in data.get("errors", [])],
            provenance=_provenance_from_json(data.get("provenance", {})),
            artifacts={
                name: {cond: [Path(p) for p in paths] for cond, paths in by_cond.items()}
                for name, by_cond in data.get("artifacts", {}).items()
            },
        )

    @classmethod
    def from_json(cls, source: str | Path) -> Result:
        """Load a result saved with :meth:`to_json` from a file path (or from JSON text).

        Raises:
            FileNotFoundError: if ``source`` is a path that does not exist.
            ValueError: if the content is not a crystallize-opt result.
        """
        text = str(source)
        if isinstance(source, Path) or not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        return (
            f"Result(conditions={[self.metrics.baseline.name, *self.metrics.treatments]}, "
            f"errors={len(self.errors)}, hypotheses={[h.name for h in self.metrics.hypotheses]})"
        )
