"""The records module (issue 14): every record round-trips with its schema version, a study
written before records had one still reads, a malformed record raises a clear error, and no
module but ``crystallize_opt.records`` touches the user attributes by name."""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import shutil
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest

from crystallize_opt import Objective, OptunaOptimizer, Treatment, WinnerSelection
from crystallize_opt.cli import main
from crystallize_opt.records import (
    SCHEMA_KEY,
    SCHEMA_VERSION,
    BaselineRecord,
    CurveLayout,
    RecordError,
    RetryRecord,
    SamplerHistory,
    StudySettings,
    TrialRecord,
)
from crystallize_opt.report._data import extract

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PACKAGE = Path(__file__).resolve().parent.parent / "crystallize_opt"


def _fixture_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_v1_study", FIXTURES / "make_v1_study.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def v1_storage(tmp_path: Path) -> str:
    """A copy of the study database written by the release before records had a version."""
    shutil.copy(FIXTURES / "v1_study.db", tmp_path / "v1.db")
    return f"sqlite:///{tmp_path / 'v1.db'}"


def _unversioned(record: dict[str, Any]) -> dict[str, Any]:
    assert record.pop(SCHEMA_KEY) == SCHEMA_VERSION
    return record


def test_the_records_of_an_unversioned_study_read_as_stored(v1_storage: str) -> None:
    for name in ("plain", "noisy"):
        study = optuna.load_study(study_name=name, storage=v1_storage)
        settings = StudySettings.from_study(study)
        assert settings is not None and settings.metrics == ["loss"]
        stored = study.user_attrs["crystallize"]
        assert SCHEMA_KEY not in stored and _unversioned(settings.to_json()) == stored
        for trial in study.trials:
            record = TrialRecord.from_trial(trial)
            assert record is not None and _unversioned(record.to_json()) == trial.user_attrs["crystallize"]
    plain = optuna.load_study(study_name="plain", storage=v1_storage)
    baseline = BaselineRecord.from_study(plain)
    assert (
        baseline is not None and _unversioned(baseline.to_json()) == plain.user_attrs["crystallize_baseline"]
    )
    assert baseline.metric_stats("loss")["n"] == 3
    failed = TrialRecord.from_trial(plain.trials[1])
    assert failed is not None and failed.failure is not None and "x = 2.5 is refused" in failed.failure
    assert failed.treatment_params == {"x": 2.5, "y": 0.0}
    noisy = optuna.load_study(study_name="noisy", storage=v1_storage)
    selection = WinnerSelection.from_study(noisy)
    assert selection is not None and selection.winner.name == "model-1"
    assert _unversioned(selection.to_json()) == noisy.user_attrs["crystallize_selection"]
    racing = TrialRecord.from_trial(noisy.trials[0])
    assert racing is not None and racing.noise is not None and "stopped" in racing.noise
    assert WinnerSelection.from_study(plain) is None and BaselineRecord.from_study(noisy) is None


def test_best_trials_and_the_report_read_an_unversioned_study(
    v1_storage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the release that wrote the fixture printed (checked against it before the change)."""
    assert main(["best", "--storage", v1_storage, "--study", "plain", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"trial-0": {"x": 1.0, "y": -0.5}}
    assert main(["best", "--storage", v1_storage, "--study", "noisy", "--format", "json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["model-1"] == {"x": 0.91658025643, "y": -0.03} and best["selection"]["rule"] == "model"
    assert main(["trials", "--storage", v1_storage, "--study", "plain"]) == 0
    out = capsys.readouterr().out
    assert "(trial-1, replicate 0 in step 'quadratic': ValueError: x = 2.5 is refused" in out
    assert "baseline: loss = 1.16147 ± 0.0420976 (n=3)" in out
    assert "-0.0885285  0.0420976  3  *" in out

    data = extract(optuna.load_study(study_name="plain", storage=v1_storage))
    assert data.best == 0 and data.has_settings and data.sampler == "RandomSampler()"
    assert [number for number, _ in data.failures] == [1]
    assert data.baseline is not None and data.baseline.mean[0] == pytest.approx(1.1614715)
    assert data.mean[0, 0] == pytest.approx(-0.08852850208937656) and data.n[:3, 0].tolist() == [3, 0, 3]
    noisy = extract(optuna.load_study(study_name="noisy", storage=v1_storage))
    assert noisy.selection is not None and noisy.selection.winner.name == "model-1"


def test_replay_and_resume_read_an_unversioned_study(v1_storage: str) -> None:
    made = _fixture_module()
    experiment = made.fixture_experiment()
    plain = OptunaOptimizer(made.SPACE, Objective("loss"), storage=v1_storage, study_name="plain")
    assert plain.treatment_for_trial(1) == Treatment("trial-1", {"x": 2.5, "y": 0.0})
    report = experiment.replay_trial(plain, 2)
    assert report.matches, report.differences
    # A resumed noise-aware study reads its trials' racing facts and finds its selection made.
    noisy = OptunaOptimizer(
        made.SPACE,
        Objective("loss"),
        sampler=optuna.samplers.RandomSampler(seed=0),
        storage=v1_storage,
        study_name="noisy",
        noise=True,
    )
    best = experiment.optimize(noisy, num_trials=12, replicates_per_trial=2)
    assert best.name == "model-1" and len(noisy.study.trials) == 15


EVALUATION: dict[str, Any] = {
    "replicates": [0, 1],
    "seeds": [11, 12],
    "values": {"loss": [0.5, None]},
    "stats": {"loss": {"mean": 0.5, "std": math.nan, "sem": math.nan, "n": 1}},
    "failures": [],
    "duration": 0.25,
}


@pytest.mark.parametrize(
    "record",
    [
        TrialRecord(
            **EVALUATION,
            treatment={"name": "trial-3", "params": {"x": 1.0, "fixed": "a"}},
            noise={"target": 2, "stopped": False},
            pipeline_signature="abc",
            package_version="1.0",
        ),
        TrialRecord(failure="stale: no heartbeat"),
        TrialRecord(**EVALUATION, treatment={"x": 1.0}),  # an earlier version's treatment
        BaselineRecord(**EVALUATION, objective={"loss": 0.5}),
        StudySettings(
            experiment="e",
            objective={"metrics": ["loss"], "directions": ["minimize"]},
            search_space={"x": {"type": "float"}},
            replicates_per_trial=2,
            master_seed=0,
            common_random_numbers=True,
        ),
        RetryRecord(of=4, attempt=1),
        CurveLayout(steps_per_replicate=21, origin=0),
        SamplerHistory([{"from_trial": 12, "sampler": {"class": "RandomSampler", "settings": {}}}]),
    ],
    ids=lambda r: type(r).__name__,
)
def test_each_record_round_trips_through_json_with_its_version(record: Any) -> None:
    stored = json.loads(json.dumps(record.to_json()))  # what a storage keeps
    assert stored[SCHEMA_KEY] == SCHEMA_VERSION
    again = type(record).from_json(stored)
    assert json.dumps(again.to_json(), sort_keys=True) == json.dumps(record.to_json(), sort_keys=True)
    assert type(record).from_json(_unversioned(dict(stored))).to_json() == again.to_json()


def test_a_records_stored_form_from_its_fields_is_its_to_json() -> None:
    fields = {**EVALUATION, "treatment": {"name": "trial-1", "params": {"x": 1.0}}, "failure": None}
    assert TrialRecord.json_of(**fields) == TrialRecord(**fields).to_json()
    with pytest.raises(TypeError, match="no field"):
        TrialRecord.json_of(seed=3)


def test_a_winner_selection_round_trips_and_an_unversioned_one_reads() -> None:
    selection = WinnerSelection(
        Treatment("trial-2", {"x": 0.5}),
        "mean",
        0.25,
        holdout_estimate=0.3,
        holdout={"seeds": [1], "winner": [0.3], "baseline": [1.0]},
        confirmation_seeds=[7, 8],
        executions={"search": 10, "budget": 12},
    )
    stored = json.loads(json.dumps(selection.to_json()))
    assert stored[SCHEMA_KEY] == SCHEMA_VERSION and WinnerSelection.from_json(stored) == selection
    assert WinnerSelection.from_json(selection.to_dict()) == selection


def test_records_keep_the_layout_older_readers_know() -> None:
    """Only the version key is new: a trial given up before running stores just its failure."""
    assert TrialRecord(failure="not needed").to_json() == {"failure": "not needed", SCHEMA_KEY: 1}
    assert RetryRecord(of=3, attempt=2).user_attrs() == {
        "crystallize_retry": {"of": 3, "attempt": 2, SCHEMA_KEY: 1}
    }
    assert TrialRecord(treatment={"x": 1.0}).treatment_params == {"x": 1.0}
    assert TrialRecord(treatment={"name": "t", "params": {"x": 2}}).treatment_params == {"x": 2}
    assert TrialRecord().treatment_params is None


@pytest.mark.parametrize(
    ("steps", "stopped_at", "share"),
    [
        (range(20), 4, 5 / 20),  # steps from 0: a stop at step 4 trained 5 of 20
        (range(1, 21), 4, 4 / 20),  # epochs from 1
        (range(5, 101, 5), 20, 20 / 100),  # every fifth epoch
        ([1, 2, 4, 8, 16], 4, 4 / 16),  # doubling epochs: the first gap is the first epoch
        (range(20), 19, 1.0),
        ([3], 3, 1.0),  # one point: the whole training
    ],
)
def test_a_curve_layout_costs_a_stopped_training_by_the_share_it_ran(
    steps: Any, stopped_at: int, share: float
) -> None:
    layout = CurveLayout.learn(list(steps))
    assert layout.steps_per_replicate == list(steps)[-1] + 1
    assert layout.share(stopped_at) == round(share, 3)
    assert CurveLayout.from_json(json.loads(json.dumps(layout.to_json()))).share(stopped_at) == round(
        share, 3
    )


def test_a_curve_layout_of_an_earlier_version_counts_steps_from_0() -> None:
    earlier = CurveLayout.from_json({"steps_per_replicate": 21, SCHEMA_KEY: 1})  # what it stored
    assert earlier.origin is None and earlier.share(4) == round(5 / 21, 3)
    assert CurveLayout(steps_per_replicate=20).share(0) == 0.05 and earlier.share(-5) == 0.001
    with pytest.raises(ValueError, match="no steps_per_replicate"):
        CurveLayout().share(3)
    with pytest.raises(ValueError, match="reported no step"):
        CurveLayout.learn([])


@pytest.mark.parametrize(
    ("kind", "stored", "message"),
    [
        (TrialRecord, "not a record", "'crystallize' is str 'not a record', expected a JSON object"),
        (TrialRecord, {"replicates": "0,1"}, "'replicates' is '0,1', expected a list of integers"),
        (
            TrialRecord,
            {"values": {"loss": ["x"]}},
            "'values' is {'loss': ['x']}, expected an object of metric",
        ),
        (TrialRecord, {"failure": 3}, "'failure' is 3, expected a string"),
        (TrialRecord, {SCHEMA_KEY: 2}, "written by a newer crystallize-opt (schema_version 2"),
        (TrialRecord, {SCHEMA_KEY: "1"}, "'schema_version' is '1', expected a positive integer"),
        (
            StudySettings,
            {"objective": ["loss"]},
            "study user attribute 'crystallize': 'objective' is ['loss']",
        ),
        (BaselineRecord, {"objective": {"loss": "low"}}, "expected an object of metric -> number"),
        (RetryRecord, {"attempt": "1"}, "'attempt' is '1', expected an integer"),
        (
            SamplerHistory,
            {"changes": [{"from_trial": "12", "sampler": {}}]},
            'expected a list of {"from_trial": trial number',
        ),
        (WinnerSelection, {"rule": "mean"}, "'winner' is None, expected a {\"name\": string"),
        (
            WinnerSelection,
            {"winner": {"name": "w", "params": {}}, "rule": "mean"},
            "'search_estimate' is None",
        ),
    ],
)
def test_a_malformed_record_names_the_attribute_and_what_was_expected(
    kind: Any, stored: Any, message: str
) -> None:
    with pytest.raises(RecordError) as raised:
        kind.from_json(stored)
    assert message in str(raised.value)
    assert kind.ATTR in str(raised.value)


def test_a_hand_edited_study_gives_a_clear_error_not_a_key_error(
    v1_storage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(v1_storage.removeprefix("sqlite:///")) as db:  # what a hand edit does
        db.execute(
            "UPDATE trial_user_attributes SET value_json = ? WHERE key = 'crystallize' AND trial_id = "
            "(SELECT trial_id FROM trials JOIN studies USING (study_id) WHERE study_name = 'plain' AND number = 2)",
            (json.dumps({"stats": ["mean"]}),),
        )
    study = optuna.load_study(study_name="plain", storage=v1_storage)
    with pytest.raises(RecordError, match=r"trial 2's user attribute 'crystallize': 'stats' is \['mean'\]"):
        TrialRecord.from_trial(study.trials[2])
    assert main(["trials", "--storage", v1_storage, "--study", "plain"]) == 1  # one line, no traceback
    assert "trial 2's user attribute 'crystallize'" in capsys.readouterr().err
    # The report reads any study: the unreadable record is left out.
    data = extract(optuna.load_study(study_name="plain", storage=v1_storage))
    assert data.n[2, 0] == 0 and data.mean[0, 0] == pytest.approx(-0.08852850208937656)


#: The user attributes the records module owns.
RECORD_ATTRS = {
    "crystallize",
    "crystallize_baseline",
    "crystallize_selection",
    "crystallize_winner",
    "crystallize_retry",
    "crystallize_samplers",
}


def _touches_user_attrs(node: ast.AST) -> bool:
    """``x.user_attrs[...]``, ``x.user_attrs.get(...)`` (or pop/setdefault), ``... in x.user_attrs``."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.value, ast.Attribute) and node.value.attr == "user_attrs"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        owner = node.func.value
        return node.func.attr in ("get", "pop", "setdefault") and (
            isinstance(owner, ast.Attribute) and owner.attr == "user_attrs"
        )
    if isinstance(node, ast.Compare):
        return any(
            isinstance(op, ast.In | ast.NotIn) and isinstance(c, ast.Attribute) and c.attr == "user_attrs"
            for op, c in zip(node.ops, node.comparators, strict=True)
        )
    return False


def test_no_module_but_records_names_or_indexes_the_record_attributes() -> None:
    assert (PACKAGE / "records" / "__init__.py").is_file()  # the exclusion below excludes something
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE / "records":
            continue
        where = path.relative_to(PACKAGE.parent)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in RECORD_ATTRS:
                found.append(f"{where}:{node.lineno}: the name {node.value!r}")
            elif _touches_user_attrs(node):
                found.append(f"{where}:{getattr(node, 'lineno', 0)}: {ast.unparse(node)[:60]}")
    assert not found, "read and write records through crystallize_opt.records:\n" + "\n".join(found)
