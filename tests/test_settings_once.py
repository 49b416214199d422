"""Issue 14, "every rule once": each setting of the ``optimize:`` section is checked by the
constructor it is for, the config only translates YAML into its arguments (and relabels the
errors with the file and key path), so Python and YAML give the same answer; and importing the
config package changes nothing in the import system."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from optuna.distributions import FloatDistribution
from optuna.pruners import MedianPruner
from optuna.samplers import CmaEsSampler, TPESampler

from crystallize_opt import ConfigurationError, NoiseHandling, Objective, OptunaOptimizer, Treatment
from crystallize_opt.config import load_study
from crystallize_opt.config._optimize_section import ARGUMENTS, OPTIMIZE_KEYS

EXAMPLE = Path(__file__).resolve().parent.parent / "studies" / "noisy_quadratic"


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_config_package_leaves_the_import_system_alone() -> None:
    """Only loading a study's modules installs the study finder (once)."""
    out = _run(
        f"""
        import sys
        before = list(sys.meta_path)
        import crystallize_opt.config
        import crystallize_opt.config._modules
        from crystallize_opt import Experiment
        print(sys.meta_path == before, "crystallize_opt.config._studies" in sys.modules)
        from crystallize_opt.config import load_study
        study = load_study({str(EXAMPLE)!r})
        added = [type(f).__name__ for f in sys.meta_path if f not in before]
        load_study({str(EXAMPLE)!r})
        again = [type(f).__name__ for f in sys.meta_path if f not in before]
        print(added, again, any(
            name.startswith("crystallize_opt.config._studies.s_noisy_quadratic_") for name in sys.modules
        ))
        """
    )
    assert out.splitlines() == ["True False", "['_StudyFinder'] ['_StudyFinder'] True"], out


def test_a_fresh_process_imports_a_study_module_by_name() -> None:
    """What a worker process does when it unpickles a study's step: the name alone is enough."""
    out = _run(
        f"""
        import pickle, subprocess, sys
        from crystallize_opt.config import load_study
        study = load_study({str(EXAMPLE)!r})
        data = pickle.dumps(study.experiment.pipeline.steps[0])
        code = "import pickle, sys; step = pickle.loads(sys.stdin.buffer.read()); print(type(step).__name__)"
        done = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=60)
        print(done.returncode, done.stdout.decode().strip(), done.stderr.decode()[-300:])
        """
    )
    assert out.startswith("0 "), out


# -- one rule per setting: Python and YAML give the same answer ---------------------------------

SPACE = {"x": FloatDistribution(-3.0, 3.0)}
OPTIMIZE: dict[str, Any] = {
    "objective": "loss",
    "trials": 4,
    "search_space": {"x": {"type": "float", "low": -3.0, "high": 3.0}},
}
#: ``optimize:`` keys whose default differs from OptunaOptimizer's on purpose, as documented in
#: ``crystallize_opt.config``: a study lives in its folder, under the folder's name.
DOCUMENTED_DIFFERENCES = {
    "storage": "sqlite:///<study folder>/study.db, not ./crystallize-studies.db",
    "study_name": "the folder name, not the experiment name",
}
#: Keys the config reads for itself: no OptunaOptimizer argument has them.
#: Keys the config reads itself: the run's size, and the GPUs of its worker processes (Experiment.optimize's).
NOT_ARGUMENTS = {"trials", "replicates_per_trial", "gpus"}


def study(folder: Path, **optimize: Any) -> Path:
    """The noisy-quadratic example's files with ``optimize:`` set to :data:`OPTIMIZE` + ``optimize``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("datasources.py", "steps.py"):
        shutil.copy(EXAMPLE / name, folder / name)
    config = {
        "seed": 3,
        "datasource": "measurement_noise",
        "steps": ["noisy_bowl"],
        "treatments": {"start": {"x": 0.5}, "outside": {"z": 1}},
        "optimize": {**OPTIMIZE, **optimize},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def yaml_error(folder: Path) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_study(folder)
    return str(info.value)


def python_error(objective: Objective | None = None, **arguments: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        OptunaOptimizer(SPACE, objective or Objective("loss"), storage=":memory:", **arguments)
    return str(info.value)


def test_every_optimize_key_defaults_to_the_constructors_default(tmp_path: Path) -> None:
    """An absent ``optimize:`` key gives what leaving the argument out of OptunaOptimizer gives,
    so the two defaults cannot drift apart again (as ``grace_period`` once did)."""
    config = load_study(study(tmp_path / "s")).optimize
    assert config is not None
    from_yaml = config.make_optimizer(storage=":memory:")
    plain = OptunaOptimizer(SPACE, Objective("loss"), storage=":memory:", study_name="plain")
    compared = set()
    for key in OPTIMIZE_KEYS:
        if key in DOCUMENTED_DIFFERENCES or key in NOT_ARGUMENTS or key in OPTIMIZE:
            continue
        argument = ARGUMENTS[key]
        if key == "warm_start":
            assert (
                config.warm_start == () and from_yaml._session.warm_start == plain._session.warm_start == []
            )
        elif key == "sampler":
            # The same default_sampler: the config builds it from the config's seed, the optimizer
            # from the run's master seed when the run prepares it (nothing before).
            assert type(from_yaml.sampler) is TPESampler and plain.sampler is None
        elif key == "pruner":
            assert from_yaml.pruner is plain.pruner is None
        else:
            assert getattr(config, key) == getattr(from_yaml, argument) == getattr(plain, argument), key
        compared.add(key)
    assert compared == set(OPTIMIZE_KEYS) - set(DOCUMENTED_DIFFERENCES) - NOT_ARGUMENTS - set(OPTIMIZE)
    # Every YAML key is a constructor argument or read by the config itself, none forgotten.
    assert set(OPTIMIZE_KEYS) == set(ARGUMENTS) | NOT_ARGUMENTS
    assert set(ARGUMENTS.values()) <= set(inspect.signature(OptunaOptimizer).parameters)


@pytest.mark.parametrize("heartbeat", [10.0, 45.0, 100.0])
def test_the_default_grace_period_is_one_rule(tmp_path: Path, heartbeat: float) -> None:
    """60 s, or two heartbeat intervals when that is longer: from Python as from YAML (Python
    used to give 60 s always, and refused a heartbeat interval of 60 s or more without one)."""
    expected = max(60.0, 2 * heartbeat)
    plain = OptunaOptimizer(SPACE, Objective("loss"), storage=":memory:", heartbeat_interval=heartbeat)
    config = load_study(study(tmp_path / "s", heartbeat_interval=heartbeat)).optimize
    assert config is not None
    assert plain.grace_period == config.grace_period == expected
    assert config.make_optimizer(storage=":memory:").grace_period == expected


MULTI = {"metrics": ["loss", "size"]}

#: (optimize keys, the same as OptunaOptimizer arguments, key path, what both messages say).
REFUSED: list[tuple[dict[str, Any], dict[str, Any], str, str]] = [
    ({"heartbeat_interval": 0}, {"heartbeat_interval": 0}, "heartbeat_interval", "a positive, finite number"),
    ({"heartbeat_interval": "x"}, {"heartbeat_interval": "x"}, "heartbeat_interval", "'x'"),
    # Python used to accept an infinite interval, YAML did not.
    (
        {"heartbeat_interval": float("inf")},
        {"heartbeat_interval": float("inf")},
        "heartbeat_interval",
        "a positive, finite number of seconds, got inf",
    ),
    (
        {"grace_period": -1},
        {"grace_period": -1},
        "grace_period",
        "a positive, finite number of seconds, got -1",
    ),
    (
        {"heartbeat_interval": 30, "grace_period": 30},
        {"heartbeat_interval": 30, "grace_period": 30},
        "grace_period",
        "grace_period (30 s) must be longer than heartbeat_interval (30 s)",
    ),
    ({"max_retries": -1}, {"max_retries": -1}, "max_retries", "a non-negative integer, got -1"),
    ({"max_retries": 1.5}, {"max_retries": 1.5}, "max_retries", "an integer, got 1.5"),
    ({"outage_timeout": 0}, {"outage_timeout": 0}, "outage_timeout", "a positive, finite number of seconds"),
    # Python used to take any value as a flag ("no" was true).
    ({"run_baseline": "no"}, {"run_baseline": "no"}, "run_baseline", "true or false, got 'no'"),
    (
        {"common_random_numbers": 0},
        {"common_random_numbers": 0},
        "common_random_numbers",
        "true or false, got 0",
    ),
    ({"study_name": ""}, {"study_name": ""}, "study_name", "a non-empty string, got ''"),
    ({"study_name": 5}, {"study_name": 5}, "study_name", "a non-empty string, got 5"),
    (
        {"objective": MULTI, "pruner": "median"},
        {"objective": Objective(["loss", "size"]), "pruner": MedianPruner()},
        "pruner",
        "pruning works with a single objective only, but the objective has 2 metrics",
    ),
    # Python used to accept CMA-ES for several objectives until its first proposal failed.
    (
        {"objective": MULTI, "sampler": "cmaes"},
        {"objective": Objective(["loss", "size"]), "sampler": CmaEsSampler()},
        "sampler",
        "CmaEsSampler handles a single objective only",
    ),
    # The config used to check this itself, in other words.
    (
        {"warm_start": ["start", "outside"]},
        {"warm_start": [Treatment("start", {"x": 0.5}), Treatment("outside", {"z": 1})]},
        "warm_start[1]",
        "warm-start treatment 'outside' sets [z], which are not in the search space [x]",
    ),
    (
        {"warm_start": "outside"},
        {"warm_start": Treatment("outside", {"z": 1})},
        "warm_start",
        "warm-start treatment 'outside' sets [z]",
    ),
    ({"noise": {"racing_z": 0}}, {"noise": {"racing_z": 0}}, "noise.racing_z", "a positive number, got 0"),
    ({"noise": {"radius": 1.5}}, {"noise": {"radius": 1.5}}, "noise.radius", "a number in (0, 1], got 1.5"),
    (
        {"noise": {"confirm_seeds": 1}},
        {"noise": {"confirm_seeds": 1}},
        "noise.confirm_seeds",
        "an integer >= 2",
    ),
    ({"noise": {"select": "best"}}, {"noise": {"select": "best"}}, "noise.select", "one of [mean, model]"),
    (
        {"noise": True, "objective": {"metric": "loss", "aggregate": "median"}},
        {"noise": True, "objective": Objective("loss", aggregate="median")},
        "noise",
        "aggregate is 'median'",
    ),
    (
        {"noise": True, "common_random_numbers": False},
        {"noise": True, "common_random_numbers": False},
        "noise",
        "needs common_random_numbers=True",
    ),
]


@pytest.mark.parametrize(("yaml_keys", "arguments", "path", "message"), REFUSED)
def test_each_setting_is_refused_by_one_rule_from_python_and_from_yaml(
    tmp_path: Path, yaml_keys: dict[str, Any], arguments: dict[str, Any], path: str, message: str
) -> None:
    """The config's message is the constructor's, relabelled with the file and key path."""
    folder = study(tmp_path / "s", **yaml_keys)
    from_yaml = yaml_error(folder)
    assert from_yaml.startswith(f"{folder / 'config.yaml'}: optimize.{path}: "), from_yaml
    assert message in from_yaml, from_yaml
    noise = arguments.get("noise")
    if isinstance(noise, dict):  # NoiseHandling is the constructor that refuses these
        with pytest.raises(ConfigurationError) as info:
            NoiseHandling(**noise)
        from_python = str(info.value)
    else:
        from_python = python_error(**arguments)
    # The same rule: what the value must be reads the same (Python names the argument instead).
    if " got " in message:
        expected = message.split(", got ")[0]
        assert f"{path} must be {expected}" in from_python, from_python
    else:
        assert message in from_python, from_python


def test_a_setting_the_constructor_accepts_is_taken_the_same_from_yaml(tmp_path: Path) -> None:
    given = {
        "heartbeat_interval": 2,
        "grace_period": 7,
        "max_retries": 0,
        "outage_timeout": 5,
        "run_baseline": True,
    }
    config = load_study(study(tmp_path / "s", **given)).optimize
    assert config is not None
    from_yaml = config.make_optimizer(storage=":memory:")
    plain = OptunaOptimizer(SPACE, Objective("loss"), storage=":memory:", **given)
    for key in given:
        assert getattr(from_yaml, key) == getattr(plain, key) == getattr(config, key) == given[key], key
        assert type(getattr(from_yaml, key)) is type(getattr(plain, key)), key
