"""Replicate seeds: crystallize-ml's formula, ``(master + r*31337) mod 2**32``, everywhere a
replicate's seed follows from the master seed; and what was stored under the earlier scheme
(``derive_seed(master, r)``) is never mixed with it: a study of an earlier release goes on with
its own seeds, exactly as it would have, and a resumed run reruns records of the earlier seeds.

The stored studies and runs of an earlier release are written as that release wrote them, into
real SQLite studies and real result records (no storage is mocked)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from crystallize_opt import (
    ArtifactPlugin,
    BaselineRecord,
    ConfigurationError,
    Experiment,
    Objective,
    OptunaOptimizer,
    Pipeline,
    SeedPlugin,
    Treatment,
    derive_seed,
    quick_experiment,
    replicate_seed,
)

from . import optimize_fixtures as fx
from .engine_fixtures import points, score, shift
from .stored import record_of

SPACE = {"x": FloatDistribution(-5, 5), "kind": CategoricalDistribution(["a", "b"])}
REPLICATES = 3
#: The seeds of replicates 0..2 under master seed 0 (the package's default), each scheme.
REFERENCE_SEEDS = [0, 31337, 62674]
SEEDSEQUENCE_SEEDS = [derive_seed(0, r) for r in range(REPLICATES)]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fx.EXECUTIONS.clear()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_optimizer(storage: str, study_name: str, **kwargs: Any) -> OptunaOptimizer:
    return OptunaOptimizer(
        objective=Objective("loss"),
        search_space=SPACE,
        sampler=optuna.samplers.TPESampler(seed=0),
        storage=storage,
        study_name=study_name,
        **kwargs,
    )


def load(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


# --- the formula, on every surface -------------------------------------------------------------


def test_the_formula_and_its_wrap_around() -> None:
    assert replicate_seed(42, 0) == 42
    assert replicate_seed(42, 3) == (42 + 3 * 31337) % 2**32 == 94053
    assert replicate_seed(2**32 - 1, 0) == 2**32 - 1
    assert replicate_seed(2**32 - 1, 1) == 31336
    assert replicate_seed(2**32 - 31337, 1) == 0
    assert SeedPlugin(seed=2**32 - 1).replicate_seed(2) == 31336 + 31337


def test_quick_experiment_seeds_replicates_with_the_formula() -> None:
    seeds = quick_experiment(lambda config, ctx: ctx["seed_used"], {"a": {}, "b": {}}, replicates=4, seed=42)
    assert seeds == {"a": [42, 31379, 62716, 94053], "b": [42, 31379, 62716, 94053]}
    wrapped = quick_experiment(
        lambda config, ctx: (ctx["seed_used"], ctx["seed"]), replicates=2, seed=2**32 - 1
    )
    assert wrapped == {"baseline": [(2**32 - 1, 2**32 - 1), (31336, 31336)]}


def test_replicate_r_of_every_trial_and_of_the_baseline_has_the_formula_s_seed(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    exp = fx.quadratic_experiment(plugins=[SeedPlugin(seed=42)])
    exp.optimize(make_optimizer(storage, "quad", run_baseline=True), num_trials=4, replicates_per_trial=3)
    study = load(storage, "quad")
    assert [record_of(t).seeds for t in study.trials] == [[42, 31379, 62716]] * 4
    baseline = BaselineRecord.from_study(study)
    assert baseline is not None and baseline.seeds == [42, 31379, 62716]
    assert study.user_attrs["crystallize"]["seed_scheme"] == "crystallize-ml"


# --- a study of an earlier release -------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.fixture
def settings(storage: str) -> dict[str, Any]:
    """The settings record this release stores for the studies below (read from a real study)."""
    fx.quadratic_experiment().optimize(
        make_optimizer(storage, "template"), num_trials=1, replicates_per_trial=REPLICATES
    )
    fx.EXECUTIONS.clear()
    return dict(load(storage, "template").user_attrs["crystallize"])


def earlier_release_study(storage: str, name: str, settings: dict[str, Any], **stored: Any) -> optuna.Study:
    """A study as a release before the seed scheme was recorded created it: its settings record
    has no ``seed_scheme`` (``stored`` adds keys, e.g. an explicit scheme)."""
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
    study.set_user_attr(
        "crystallize", {**{k: v for k, v in settings.items() if k != "seed_scheme"}, **stored}
    )
    return study


def trials_of(storage: str, name: str) -> list[tuple[dict[str, Any], float | None, list[int] | None]]:
    return [(t.params, t.value, record_of(t).seeds) for t in load(storage, name).trials]


def test_a_study_of_an_earlier_release_continues_exactly_on_its_own_seeds(
    storage: str, settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    exp = fx.quadratic_experiment()
    # Uninterrupted: 6 trials on the earlier scheme, from start to end.
    earlier_release_study(storage, "straight", settings, seed_scheme="seedsequence")
    exp.optimize(make_optimizer(storage, "straight"), num_trials=6, replicates_per_trial=REPLICATES)
    # Interrupted: 3 trials, stored as the earlier release stored them (no scheme recorded) ...
    earlier_release_study(storage, "resumed", settings, seed_scheme="seedsequence")
    exp.optimize(make_optimizer(storage, "resumed"), num_trials=3, replicates_per_trial=REPLICATES)
    earlier = load(storage, "resumed")
    earlier.set_user_attr("crystallize", {k: v for k, v in settings.items() if k != "seed_scheme"})
    # ... then continued by this release.
    caplog.set_level(logging.INFO, logger="crystallize_opt")
    exp.optimize(make_optimizer(storage, "resumed"), num_trials=6, replicates_per_trial=REPLICATES)

    resumed, straight = trials_of(storage, "resumed"), trials_of(storage, "straight")
    assert len(resumed) == 6 and resumed == straight
    assert {tuple(seeds or ()) for _, _, seeds in resumed} == {tuple(SEEDSEQUENCE_SEEDS)}
    assert "'resumed' was made before replicate seeds followed crystallize-ml's formula" in caplog.text
    assert "seed_scheme" not in load(storage, "resumed").user_attrs["crystallize"]  # left as it was
    # A new study of the same experiment runs on this release's seeds.
    exp.optimize(make_optimizer(storage, "new"), num_trials=2, replicates_per_trial=REPLICATES)
    assert {tuple(seeds or ()) for _, _, seeds in trials_of(storage, "new")} == {tuple(REFERENCE_SEEDS)}


def test_a_study_whose_stored_baseline_ran_on_the_earlier_seeds_keeps_them(
    storage: str, settings: dict[str, Any]
) -> None:
    study = earlier_release_study(storage, "baseline-only", settings)
    values = [0.5, -0.25, 0.125]
    BaselineRecord(
        replicates=[0, 1, 2], seeds=SEEDSEQUENCE_SEEDS, values={"loss": values}, objective={"loss": 0.125}
    ).store(study)
    exp = fx.quadratic_experiment()
    exp.optimize(
        make_optimizer(storage, "baseline-only", run_baseline=True),
        num_trials=2,
        replicates_per_trial=REPLICATES,
    )
    assert "baseline" not in fx.EXECUTIONS  # the stored one is kept
    assert [record_of(t).seeds for t in load(storage, "baseline-only").trials] == [SEEDSEQUENCE_SEEDS] * 2


def test_a_study_of_an_earlier_release_with_nothing_run_takes_this_release_s_seeds(
    storage: str, settings: dict[str, Any]
) -> None:
    earlier_release_study(storage, "empty", settings)
    fx.quadratic_experiment().optimize(
        make_optimizer(storage, "empty"), num_trials=2, replicates_per_trial=REPLICATES
    )
    study = load(storage, "empty")
    assert [record_of(t).seeds for t in study.trials] == [REFERENCE_SEEDS] * 2
    assert study.user_attrs["crystallize"]["seed_scheme"] == "crystallize-ml"  # recorded for what follows


def test_a_study_with_a_seed_scheme_this_release_does_not_know_is_refused(
    storage: str, settings: dict[str, Any]
) -> None:
    earlier_release_study(storage, "future", settings, seed_scheme="philox-2031")
    with pytest.raises(
        ConfigurationError, match=r"study 'future' records replicate seed scheme 'philox-2031'"
    ):
        fx.quadratic_experiment().optimize(
            make_optimizer(storage, "future"), num_trials=1, replicates_per_trial=1
        )
    assert fx.EXECUTIONS == []


# --- a run resumed from records of an earlier release ------------------------------------------


def fingerprint(exp: Experiment, treatment: Treatment | None, *scheme: str) -> str:
    """A resume record's fingerprint: the earlier release's (no ``scheme``) or this release's."""
    parts = [
        exp.pipeline.signature(),
        exp.datasource.fingerprint(),
        "baseline" if treatment is None else treatment.fingerprint(),
        str(exp.replicates),
        str(exp.master_seed),
        json.dumps(exp.initial_ctx, sort_keys=True, default=repr),
        *scheme,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def test_resume_reruns_records_of_the_earlier_seeds_instead_of_mixing_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plus_one = Treatment("plus_one", {"delta": 1.0})

    def build() -> Experiment:
        return Experiment(
            datasource=points(),
            pipeline=Pipeline([shift(), score()]),
            name="resumable",
            treatments=[plus_one],
            replicates=4,
            plugins=[SeedPlugin(seed=5), ArtifactPlugin(root_dir=str(tmp_path / "data"))],
        )

    exp = build()
    uninterrupted = exp.run()
    folder = tmp_path / "data" / "resumable" / "v0"
    records = {
        (condition, r): folder / f"replicate_{r}" / condition / "_result.json"
        for condition in ("baseline", "plus_one")
        for r in range(4)
    }
    for (condition, _), path in records.items():  # the test's fingerprints are the package's
        treatment = None if condition == "baseline" else plus_one
        assert json.loads(path.read_text())["fingerprint"] == fingerprint(exp, treatment, "crystallize-ml")
    # The earlier release was interrupted after replicates 0 and 1: its records, on its seeds.
    for (condition, r), path in records.items():
        if r >= 2:
            path.unlink()
            continue
        record = json.loads(path.read_text())
        record["fingerprint"] = fingerprint(exp, None if condition == "baseline" else plus_one)
        record["seed"] = derive_seed(5, r)
        record["metrics"] = {"score": [999.0]}  # what it measured on those seeds
        path.write_text(json.dumps(record))

    caplog.set_level(logging.INFO, logger="crystallize_opt")
    resumed = build().run(strategy="resume")
    assert resumed.provenance["reused"] == {}
    assert resumed.metrics.baseline.seeds == {r: replicate_seed(5, r) for r in range(4)}
    assert resumed.metrics.baseline == uninterrupted.metrics.baseline
    assert resumed.metrics.treatments == uninterrupted.metrics.treatments
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(folder) in warnings[0] and "derive_seed(master, r)" in warnings[0]
