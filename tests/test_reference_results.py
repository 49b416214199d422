"""crystallize-ml 0.27's result helpers, written from its specification: the message of a
missing table package, and ``Pipeline.get_provenance()`` after an experiment's run."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from crystallize_opt import ExperimentMetrics, Pipeline, Result, TreatmentMetrics

from .engine_fixtures import demo_experiment, score, shift


def test_to_parquet_without_pandas_says_pandas_is_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)  # even when pandas is imported already
    result = Result(
        metrics=ExperimentMetrics(baseline=TreatmentMetrics({"m": [1.0]}), treatments={}, hypotheses=[])
    )
    with pytest.raises(
        ImportError, match=r"pandas is required for .*to_parquet.*crystallize-opt\[dataframes\]"
    ):
        result.to_parquet(tmp_path / "r.parquet")
    assert not (tmp_path / "r.parquet").exists()


def test_pipeline_get_provenance_after_an_experiment_run_has_the_last_condition_s_steps(workdir):
    pipeline = Pipeline([shift(), score()])
    demo_experiment(pipeline=pipeline, replicates=2).run()
    records = pipeline.get_provenance()
    assert [r["step"] for r in records] == ["shift", "score"]
    assert records[0]["step_hash"] == pipeline.steps[0].step_hash and records[0]["cache_hit"] is False
    assert set(records[1]["ctx_changes"]["metrics"]) == {"mean"}
