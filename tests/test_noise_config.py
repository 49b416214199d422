"""The ``optimize.noise`` key of study configs: forms, defaults, errors, and the optimizer it makes."""

from __future__ import annotations

import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crystallize_opt import ConfigurationError, HandOffSampler, NoiseHandling, NoRepeatSampler
from crystallize_opt.config import load_study
from crystallize_opt.config._noise import NOISE_KEYS
from crystallize_opt.optimize import GP_SEARCH_TRIALS, NoiseCheckSampler

from .noise_fixtures import noise_aware_default
from .optional import require_package

EXAMPLE = Path(__file__).resolve().parent.parent / "studies" / "noisy_quadratic"

OPTIMIZE: dict[str, Any] = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "trials": 20,
    "replicates_per_trial": 3,
    "sampler": {"name": "tpe", "seed": 0},
    "search_space": {"x": {"type": "float", "low": -3.0, "high": 3.0}},
}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def write(folder: Path, noise: Any = "absent", **optimize: Any) -> Path:
    """The example study's files with a config whose ``optimize.noise`` is ``noise``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("datasources.py", "steps.py"):
        shutil.copy(EXAMPLE / name, folder / name)
    section = {**OPTIMIZE, **optimize}
    if noise != "absent":
        section["noise"] = noise
    config = {
        "replicates": 2,
        "datasource": "measurement_noise",
        "steps": ["noisy_bowl"],
        "optimize": section,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def noise_of(folder: Path) -> NoiseHandling | None:
    study = load_study(folder)
    assert study.optimize is not None
    return study.optimize.noise


def error_of(folder: Path) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_study(folder)
    return str(info.value)


def test_every_noise_handling_setting_has_a_config_key() -> None:
    assert set(NOISE_KEYS) == {f.name for f in fields(NoiseHandling)}


@pytest.mark.parametrize(
    ("noise", "expected"),
    [
        ("absent", None),
        (None, None),
        (False, None),
        (True, NoiseHandling()),
        ({}, NoiseHandling()),
        ({"racing_z": None}, NoiseHandling(racing_z=None)),  # null turns racing off
        ({"confirm_seeds": None, "max_replicates": None}, NoiseHandling()),  # null keeps the default
        ({"racing_z": 3}, NoiseHandling(racing_z=3.0)),
        (
            {
                "max_replicates": 5,
                "racing_z": 1.5,
                "intensify": False,
                "stopped_trials": "pruned",
                "select": "mean",
                "model_candidates": False,
                "radius": 1,
                "minima_z": 2,
                "confirm_candidates": 0,
                "confirm_seeds": 4,
                "holdout_seeds": 6,
                "confidence": 0.9,
            },
            NoiseHandling(
                max_replicates=5,
                racing_z=1.5,
                intensify=False,
                stopped_trials="pruned",
                select="mean",
                model_candidates=False,
                radius=1.0,
                minima_z=2.0,
                confirm_candidates=0,
                confirm_seeds=4,
                holdout_seeds=6,
                confidence=0.9,
            ),
        ),
    ],
)
def test_noise_forms_give_the_documented_settings(tmp_path: Path, noise: Any, expected: Any) -> None:
    assert noise_of(write(tmp_path / "s", noise)) == expected


def test_the_optimizer_gets_the_settings_and_the_example_study_uses_noise(tmp_path: Path) -> None:
    settings = {"max_replicates": 4, "racing_z": None, "holdout_seeds": 5}
    study = load_study(write(tmp_path / "s", settings))
    assert study.optimize is not None
    optimizer = study.optimize.make_optimizer(storage=":memory:")
    assert optimizer.noise == NoiseHandling(max_replicates=4, racing_z=None, holdout_seeds=5)
    off = load_study(write(tmp_path / "off", False)).optimize
    assert off is not None and off.make_optimizer(storage=":memory:").noise is None
    example = load_study(EXAMPLE).optimize
    assert example is not None and example.noise == NoiseHandling()


def test_without_a_sampler_the_config_gets_the_noise_aware_default(tmp_path: Path) -> None:
    """A noise-aware config that names no sampler gets the optimizer's noise-aware default (GP
    then TPE, with PyTorch) seeded with the study's seed (the command line's ``--seed``
    overrides it); a named sampler, or no noise handling, gets TPE."""
    require_package("torch", "samplers")
    unnamed = {key: value for key, value in OPTIMIZE.items() if key != "sampler"}
    folder = write(tmp_path / "default", True)
    config = yaml.safe_load((folder / "config.yaml").read_text())
    config["optimize"] = {**unnamed, "noise": True}
    config["seed"] = 11
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    section = load_study(folder).optimize
    assert section is not None

    def first_point(sampler: object) -> dict[str, object]:
        # A continuous space: GP (then TPE) for a deterministic pipeline, TPE for a noisy one.
        assert type(sampler) is NoiseCheckSampler
        deterministic, noisy = sampler.samplers
        assert type(deterministic) is HandOffSampler and deterministic.trials == GP_SEARCH_TRIALS
        assert [type(s) for s in deterministic.samplers] == [NoRepeatSampler, optuna.samplers.TPESampler]
        assert type(noisy) is optuna.samplers.TPESampler
        space = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
        return optuna.create_study(sampler=sampler).ask(space).params

    first = first_point(section.make_optimizer(storage=":memory:").sampler)
    assert first == first_point(noise_aware_default(11))
    overridden = first_point(section.make_optimizer(storage=":memory:", seed=4).sampler)
    assert overridden == first_point(noise_aware_default(4)) != first
    named = load_study(write(tmp_path / "named", True)).optimize
    assert named is not None
    assert type(named.make_optimizer(storage=":memory:").sampler) is optuna.samplers.TPESampler
    config["optimize"] = unnamed
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    plain = load_study(folder).optimize
    assert plain is not None
    assert type(plain.make_optimizer(storage=":memory:").sampler) is optuna.samplers.TPESampler


@pytest.mark.parametrize(
    ("noise", "key", "message"),
    [
        (
            "yes please",
            "optimize.noise",
            "expected true, false or a mapping of noise settings, got 'yes please'",
        ),
        (3, "optimize.noise", "expected true, false or a mapping of noise settings, got 3"),
        ([True], "optimize.noise", "expected true, false or a mapping"),
        ({"racing": 2}, "optimize.noise.racing", "unknown key (did you mean 'racing_z'?); allowed keys: ["),
        ({"max_replicates": 0}, "optimize.noise.max_replicates", "expected a positive integer, got 0"),
        ({"max_replicates": 2.5}, "optimize.noise.max_replicates", "expected an integer, got 2.5"),
        ({"racing_z": 0}, "optimize.noise.racing_z", "expected a positive number, got 0"),
        ({"racing_z": "off"}, "optimize.noise.racing_z", "expected a number, got 'off'"),
        ({"racing_z": float("inf")}, "optimize.noise.racing_z", "expected a finite number, got inf"),
        ({"intensify": "yes"}, "optimize.noise.intensify", "expected true or false, got 'yes'"),
        ({"stopped_trials": "prune"}, "optimize.noise.stopped_trials", "expected one of [partial, pruned]"),
        ({"select": "best"}, "optimize.noise.select", "expected one of [mean, model], got 'best'"),
        ({"model_candidates": 1}, "optimize.noise.model_candidates", "expected true or false, got 1"),
        ({"radius": 0}, "optimize.noise.radius", "expected a number in (0, 1], got 0"),
        ({"radius": 1.5}, "optimize.noise.radius", "expected a number in (0, 1], got 1.5"),
        ({"minima_z": -0.5}, "optimize.noise.minima_z", "expected a number >= 0, got -0.5"),
        (
            {"confirm_candidates": -1},
            "optimize.noise.confirm_candidates",
            "expected a non-negative integer, got -1",
        ),
        ({"confirm_seeds": 1}, "optimize.noise.confirm_seeds", "expected an integer >= 2, got 1"),
        ({"holdout_seeds": True}, "optimize.noise.holdout_seeds", "expected an integer, got true"),
        ({"confidence": 1}, "optimize.noise.confidence", "expected a number in (0, 1), got 1"),
        ({"confidence": 0.0}, "optimize.noise.confidence", "expected a number in (0, 1), got 0.0"),
    ],
)
def test_bad_noise_values_name_the_file_and_the_key_path(
    tmp_path: Path, noise: Any, key: str, message: str
) -> None:
    folder = write(tmp_path / "s", noise)
    error = error_of(folder)
    assert error.startswith(f"{folder / 'config.yaml'}: {key}: "), error
    assert message in error, error


@pytest.mark.parametrize(
    ("optimize", "message"),
    [
        ({"objective": {"metrics": ["loss", "size"]}}, "single objective without constraints"),
        ({"objective": {"metric": "loss", "constraints": ["loss"]}}, "single objective without constraints"),
        ({"objective": {"metric": "loss", "aggregate": "median"}}, "aggregate is 'median'"),
        ({"common_random_numbers": False}, "needs common_random_numbers=True"),
    ],
)
def test_noise_with_an_objective_it_cannot_handle_is_refused_at_the_noise_key(
    tmp_path: Path, optimize: dict[str, Any], message: str
) -> None:
    folder = write(tmp_path / "s", True, **optimize)
    error = error_of(folder)
    assert error.startswith(f"{folder / 'config.yaml'}: optimize.noise: "), error
    assert message in error, error
    assert noise_of(write(tmp_path / "off", False, **optimize)) is None  # fine without noise


def test_a_config_with_noise_optimizes_and_stores_the_selection(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)  # artifacts
    study = load_study(write(tmp_path / "s", {"holdout_seeds": 3}))
    assert study.optimize is not None
    optimizer = study.optimize.make_optimizer(storage=":memory:")
    best = study.experiment.optimize(optimizer, num_trials=10, replicates_per_trial=3, progress=False)
    selection = optimizer.selection
    assert selection is not None and best == selection.winner
    assert len(selection.holdout["seeds"]) == 3 and selection.comparison is not None
    executions = selection.executions
    assert executions["budget"] == 30
    assert executions["search"] + executions["confirmation"] + executions["holdout"] <= 30


_values = (
    st.none()
    | st.booleans()
    | st.integers(-3, 10)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(["partial", "pruned", "model", "mean", 0.5, 1, 2, 1e308, 2**64])
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
_noise = st.dictionaries(st.sampled_from(NOISE_KEYS) | st.text(max_size=6), _values, max_size=5) | _values


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=_noise)
def test_fuzz_noise_values_give_valid_settings_or_a_located_configuration_error(
    tmp_path: Path, noise: Any
) -> None:
    folder = write(tmp_path / "fuzz", noise)
    try:
        found = noise_of(folder)
    except ConfigurationError as exc:
        assert str(exc).startswith(f"{folder / 'config.yaml'}: optimize.noise"), str(exc)
        return
    assert found is None or isinstance(found, NoiseHandling)
    if isinstance(noise, dict):
        assert found is not None
        for key, value in noise.items():
            if value is not None:
                assert getattr(found, key) == value
