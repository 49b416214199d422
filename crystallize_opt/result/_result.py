"""``Result``: what one run produced (metrics, errors, provenance, artifacts) and its JSON form."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from numbers import Real
from pathlib import Path
from typing import Any

from .._constants import BASELINE_CONDITION
from ._errors import ReplicateErrors
from ._frames import require_module, require_pandas
from ._metrics import ConditionMetrics, ExperimentMetrics, HypothesisResult
from ._tree import render_tree
from ._values import ReplicateError, to_jsonable

#: Provenance entries of the form condition -> replicate index -> value. JSON turns the
#: integer replicate keys into strings; :meth:`Result.from_dict` turns them back.
_PER_REPLICATE_PROVENANCE = ("seeds", "ctx_changes", "curves")


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
        errors: a :class:`ReplicateErrors`: every :class:`ReplicateError`, in replicate then
            condition order, as a list (``errors[0]``, ``for e in errors``, ``errors == []``) and
            keyed ``"<condition>_rep_<i>"`` as in crystallize-ml (``"baseline_rep_0" in
            errors``, ``errors["baseline_rep_0"]``, ``errors.items()``).
        provenance: seeds per condition and replicate, the pipeline signature, per-step context
            changes, the master seed and the package version; when steps reported learning
            curves (``ctx.report``), ``"curves"``: condition -> replicate -> ``[[step, value], ...]``.
        artifacts: artifact name -> condition -> list of written file paths (one per replicate).

    Args (in crystallize-ml's order):
        metrics: the metrics.
        artifacts: name -> condition -> paths (copied into lists); a value that is not such a
            mapping (crystallize-ml's ``Result(artifacts={"model": obj})``) is kept as given.
        errors: records, or crystallize-ml's mapping ``{"<condition>_rep_<i>": error}`` (whose
            values are kept as given).
        provenance: the provenance mapping (copied).

    Raises:
        ValueError: if two error records have the same condition and replicate.
    """

    def __init__(
        self,
        metrics: ExperimentMetrics,
        artifacts: Mapping[str, Any] | None = None,
        errors: Iterable[ReplicateError] | Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ):
        self.metrics = metrics
        self.errors = errors if errors is not None else ()
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.artifacts: dict[str, dict[str, list[Path]]] = {
            name: _artifact_paths(by_cond) for name, by_cond in (artifacts or {}).items()
        }

    @property
    def errors(self) -> ReplicateErrors:
        """The failures, as a list of :class:`ReplicateError` and keyed ``"<condition>_rep_<i>"``."""
        return self._errors

    @errors.setter
    def errors(self, errors: Iterable[ReplicateError] | Mapping[str, Any]) -> None:
        """Replace the failures (records, or a mapping by key), kept as a :class:`ReplicateErrors`.

        Raises:
            ValueError: if two records have the same condition and replicate.
        """
        self._errors = errors if isinstance(errors, ReplicateErrors) else ReplicateErrors(errors)

    def errors_for(self, condition: str, replicate: int | None = None) -> list[ReplicateError]:
        """Return the errors of ``condition``, optionally only those of one replicate."""
        return self.errors.for_condition(condition, replicate)

    def get_artifact(self, name: str) -> Any:
        """Return ``artifacts[name]`` (condition -> paths), or None when no artifact has that name."""
        return self.artifacts.get(name)

    def print_tree(self, fmt: str = "treatment > replicate > step") -> None:
        """Print what each step did, as a tree under "Experiment Summary", as crystallize-ml does.

        ``fmt`` orders the levels: ``treatment``, ``replicate`` and ``step``, each once, in any
        order, optionally followed by ``action``. Under the last level come the step's actions
        (the context keys it added and the metric values it recorded), with or without
        ``action``, as in crystallize-ml. Steps that changed nothing are left out. Reads the step records of
        ``provenance["ctx_changes"]``, crystallize-opt's (``ctx_added``, ``metrics_added``) or
        crystallize-ml's (``ctx_changes``: ``reads``, ``wrote``, ``metrics``). Prints plain text
        to standard output (crystallize-ml uses rich when it is installed).

        Raises:
            ValueError: "Invalid format spec" for an unknown, missing or repeated level, or
                "'action' must be the final element" when ``action`` comes before another level.
        """
        print(render_tree(self.provenance.get("ctx_changes") or {}, fmt))

    def to_parquet(self, path: str | Path) -> None:
        """Write the metrics to a Parquet file, one row per condition and metric.

        Columns: ``condition`` (``"baseline"`` first, then the treatments), ``metric``,
        ``values`` (every value, in replicate order) and ``mean`` (the mean of the values, or
        null when one is not a number or there are none; crystallize-ml fails on such values).
        ``values`` holds floats when every value of every metric is a number; otherwise, so
        that the column has one type, each value is stored as its JSON text (``json.loads``
        reads it back).

        Raises:
            ImportError: naming the ``dataframes`` extra, when pandas or pyarrow is not installed.
        """
        pandas = require_pandas("Result.to_parquet()")
        require_module("pyarrow", "Result.to_parquet()")
        conditions = {BASELINE_CONDITION: self.metrics.baseline, **self.metrics.treatments}
        table = [(c, m, list(v)) for c, metrics in conditions.items() for m, v in metrics.metrics.items()]
        numeric = all(_mean(values) is not None for _, _, values in table)
        rows = [
            {
                "condition": condition,
                "metric": metric,
                "values": [float(v) for v in values]
                if numeric
                else [json.dumps(to_jsonable(v)) for v in values],
                "mean": _mean(values),
            }
            for condition, metric, values in table
        ]
        frame = pandas.DataFrame(rows, columns=["condition", "metric", "values", "mean"])
        frame.to_parquet(Path(path), engine="pyarrow")

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
            "errors": [_error_json(key, e) for key, e in self.errors.items()],
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
            errors=[_error_from_json(e) for e in data.get("errors", [])],
            provenance=_provenance_from_json(data.get("provenance", {})),
            artifacts={
                name: (
                    {cond: [Path(p) for p in paths] for cond, paths in by_cond.items()}
                    if isinstance(by_cond, Mapping)
                    else by_cond  # a hand-built Result's object, stored as its repr
                )
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


def _artifact_paths(by_condition: Any) -> Any:
    if not isinstance(by_condition, Mapping):
        return by_condition
    return {
        cond: list(paths) if isinstance(paths, (list, tuple)) else paths
        for cond, paths in by_condition.items()
    }


def _error_json(key: str, error: Any) -> Any:
    if isinstance(error, ReplicateError):
        return to_jsonable(error.__dict__)
    return {"key": key, "error_type": type(error).__name__, "message": str(error)}


def _error_from_json(data: Mapping[str, Any]) -> ReplicateError:
    if "key" not in data:
        return ReplicateError(**data)
    condition, _, replicate = str(data["key"]).rpartition("_rep_")  # a hand-built Result's error
    return ReplicateError(
        condition=condition or str(data["key"]),
        replicate=int(replicate) if replicate.isdigit() else 0,
        message=str(data.get("message", "")),
        error_type=str(data.get("error_type", "")),
        traceback="",
    )


def _mean(values: Any) -> float | None:
    numbers = [v for v in values if isinstance(v, Real) and not isinstance(v, bool)]
    if not numbers or len(numbers) != len(values):
        return None
    return float(sum(float(v) for v in numbers) / len(numbers))
