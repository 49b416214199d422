"""Studies as folders: ``config.yaml`` + study files -> Experiment and optimization settings."""

from __future__ import annotations

import os
import shutil
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from crystallize_opt import (
    ConfigurationError,
    Experiment,
    Hypothesis,
    ParallelExecution,
    Pipeline,
    ResumableCmaEsSampler,
    SeedPlugin,
    SerialExecution,
    Treatment,
    data_source,
    pipeline_step,
    welch_t_test,
)
from crystallize_opt.config import OptimizeConfig, StudyConfig, compile_search_space, load_study

FIXTURES = Path(__file__).parent / "config_fixtures"
DEMO = FIXTURES / "demo"

DATASOURCES = """
from crystallize_opt import DataSource, data_source


@data_source
def points(ctx, size: int = 20):
    return ctx.rng.normal(size=size)


class Constant(DataSource):
    def __init__(self, value: float = 1.0):
        self.value = value

    def fetch(self, ctx):
        return np.full(4, self.value)


import numpy as np
"""

STEPS = """
from crystallize_opt import PipelineStep, pipeline_step


@pipeline_step()
def shift(data, ctx, delta: float = 0.0):
    return data + delta


@pipeline_step()
def score(data, ctx, power: int = 1):
    ctx.metrics.add("mean", float(data.mean()))
    ctx.metrics.add("loss", float(abs(data.mean() - 0.5) ** power))
    return data


class Scale(PipelineStep):
    def __init__(self, factor: float = 1.0):
        self.factor = factor

    @property
    def params(self):
        return {"factor": self.factor}

    def __call__(self, data, ctx):
        return data * self.factor


def plain(data, ctx):
    return data


def refuses(**kwargs):
    raise ValueError("this factory refuses")


def not_a_step():
    return 42


NUMBER = 3
"""

BASE: dict[str, Any] = {"datasource": "points", "steps": ["shift", "score"]}


def write_study(
    root: Path, config: str | dict[str, Any] | None, files: dict[str, str] | None = None, name: str = "study"
) -> Path:
    """A study folder ``root/name`` with the standard study files, ``files`` and ``config``."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    contents = {"datasources": DATASOURCES, "steps": STEPS, **(files or {})}
    for stem, text in contents.items():
        if text is not None:
            (folder / f"{stem}.py").write_text(textwrap.dedent(text))
    if config is not None:
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        (folder / "config.yaml").write_text(textwrap.dedent(text))
    return folder


def study_with(tmp_path: Path, **keys: Any) -> Path:
    return write_study(tmp_path, {**BASE, **keys})


def error_of(path: Path | str, **kwargs: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_study(path, **kwargs)
    message = str(info.value)
    assert message
    return message


def assert_in(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


# --- the demo fixture study: every key, and the same metrics as in Python ------------------


@data_source
def py_points(ctx, size: int = 100):
    return ctx.rng.normal(size=size)


@pipeline_step()
def py_shift(data, ctx, delta: float = 0.0):
    return data + delta


@pipeline_step()
def py_score(data, ctx, power: int = 1, mode: str = "plain"):
    mean = float(data.mean())
    error = abs(mean - 0.5) ** power
    ctx.metrics.add("mean", mean)
    ctx.metrics.add("loss", error * error if mode == "squared" else error)
    return data


def python_demo() -> Experiment:
    return Experiment(
        datasource=py_points(size=50),
        pipeline=Pipeline([py_shift(), py_score(power=1)]),
        plugins=[SeedPlugin(seed=7)],
        name="demo",
        treatments=[Treatment("plus_one", {"delta": 1.0}), Treatment("plus_two", {"delta": 2.0})],
        hypotheses=[Hypothesis(welch_t_test(alpha=0.01, alternative="greater"), "mean", name="shift_helps")],
        replicates=5,
    )


def test_the_demo_study_builds_every_configured_part(workdir: Path) -> None:
    study = load_study(DEMO)
    exp = study.experiment
    assert isinstance(study, StudyConfig)
    assert study.path == (DEMO / "config.yaml").resolve() and study.folder == DEMO.resolve()
    assert (exp.name, exp.replicates, exp.master_seed) == ("demo", 5, 7)
    assert exp.description == "Does shifting the data raise its mean?"
    assert [t.name for t in exp.treatments] == ["plus_one", "plus_two"]
    assert exp.treatments[0].params == {"delta": 1.0}
    assert [s.name for s in exp.pipeline] == ["shift", "score"]
    assert exp.pipeline.steps[1].params == {"power": 1}
    assert [h.name for h in exp.hypotheses] == ["shift_helps", "shifted_more:mean"]
    assert exp.hypotheses[0].verifier == welch_t_test(alpha=0.01, alternative="greater")
    assert [a.name for a in exp.outputs] == ["summary.txt", "values.json"]
    assert exp.outputs[1].loader is not None and exp.outputs[1].loader.__name__ == "load_json"
    assert exp.get_plugin(SerialExecution) is not None and exp.get_plugin(ParallelExecution) is None


def test_the_demo_study_runs_with_the_metrics_of_the_same_experiment_built_in_python(workdir: Path) -> None:
    result = Experiment.from_yaml(DEMO).run()
    expected = python_demo().run()
    assert not result.errors
    for condition in ("baseline", "plus_one", "plus_two"):
        for metric in ("mean", "loss"):
            got = result.metrics.condition(condition).metrics[metric]
            assert got == expected.metrics.condition(condition).metrics[metric]
            assert len(got) == 5
    ours, theirs = result.metrics.hypotheses[0], expected.metrics.hypotheses[0]
    assert ours.results["plus_one"]["p_value"] == theirs.results["plus_one"]["p_value"]
    assert result.metrics.hypotheses[1].results["plus_one"]["significant"] is True  # the study's verifier
    stored = result.artifacts["values.json"]["plus_one"][0]
    assert len(load_study(DEMO).experiment.outputs[1].load(Path(stored))) == 3  # the loader from outputs.py


def test_process_execution_imports_the_study_files_in_workers_with_identical_metrics(
    workdir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "demo_processes"
    shutil.copytree(DEMO, folder)
    text = (
        (folder / "config.yaml")
        .read_text()
        .replace("seed: 7\n", "seed: 7\nexecution: {type: process, workers: 2}\n")
    )
    (folder / "config.yaml").write_text(text)
    exp = Experiment.from_yaml(folder)
    plugin = exp.get_plugin(ParallelExecution)
    assert plugin is not None and (plugin.executor_type, plugin.max_workers) == ("process", 2)
    in_processes = exp.run()
    serial = Experiment.from_yaml(DEMO).run()
    assert not in_processes.errors
    assert os.getpid() not in set(in_processes.metrics.baseline.metrics["pid"])
    for condition in ("baseline", "plus_one", "plus_two"):
        for metric in ("mean", "loss"):
            assert (
                in_processes.metrics.condition(condition).metrics[metric]
                == serial.metrics.condition(condition).metrics[metric]
            )
    assert not list(folder.glob("__pycache__"))  # study files are compiled from source
    # optimization trials run their replicates in the worker processes too, with the serial values
    values = []
    for source in (folder, DEMO):
        study = load_study(source)
        assert study.optimize is not None
        optimizer = study.optimize.make_optimizer(storage=":memory:")
        study.experiment.optimize(optimizer, num_trials=2, replicates_per_trial=2)
        values.append([(t.params, t.value) for t in optimizer.study.trials])
    assert values[0] == values[1]


def test_the_optimize_section_drives_an_optimization(workdir: Path) -> None:
    study = load_study(DEMO / "config.yaml")
    config = study.optimize
    assert isinstance(config, OptimizeConfig)
    assert config.objective.metric == "loss" and config.objective.direction == "minimize"
    assert (config.trials, config.replicates_per_trial, config.seed) == (6, 2, 7)  # seed: the experiment's
    assert (config.sampler_name, config.sampler_settings) == ("tpe", {"n_startup_trials": 3})
    assert (config.pruner_name, config.pruner_settings) == ("median", {"n_startup_trials": 2})
    assert config.search_space["power"] == IntDistribution(1, 3)
    assert config.search_space["scale"] == 1.0
    optimizer = config.make_optimizer(storage=":memory:")
    assert isinstance(optimizer.sampler, optuna.samplers.TPESampler)
    assert isinstance(optimizer.pruner, optuna.pruners.MedianPruner)
    best = study.experiment.optimize(
        optimizer, num_trials=4, replicates_per_trial=config.replicates_per_trial
    )
    assert len(optimizer.study.trials) == 4 and optimizer.study.study_name == "demo"
    assert set(best.params) == {"delta", "power", "mode", "scale"}


def test_storage_defaults_to_sqlite_in_the_study_folder_and_study_name_to_the_folder(
    workdir: Path, tmp_path: Path
) -> None:
    folder = study_with(
        tmp_path,
        optimize={
            "objective": "loss",
            "trials": 2,
            "search_space": {"delta": {"type": "float", "low": 0, "high": 1}},
        },
    )
    config = load_study(folder).optimize
    assert config is not None
    assert config.storage == f"sqlite:///{folder.resolve() / 'study.db'}"
    assert config.study_name == "study"
    assert (config.sampler_name, config.seed, config.pruner_name) == ("tpe", 0, None)
    exp = load_study(folder).experiment
    exp.optimize(config.make_optimizer(), num_trials=config.trials)
    assert (folder / "study.db").is_file()
    reopened = optuna.load_study(study_name="study", storage=config.storage)
    assert len(reopened.trials) == 2


def test_storage_urls_and_overrides(tmp_path: Path) -> None:
    space = {"delta": {"type": "float", "low": 0, "high": 1}}
    base = {"objective": "loss", "trials": 2, "search_space": space}
    relative = load_study(study_with(tmp_path, optimize={**base, "storage": "sqlite:///runs/s.db"})).optimize
    assert (
        relative is not None
        and relative.storage == f"sqlite:///{(tmp_path / 'study').resolve() / 'runs/s.db'}"
    )
    for url in (":memory:", "postgresql://user@host/db", f"sqlite:///{tmp_path / 'abs.db'}"):
        config = load_study(
            write_study(tmp_path, {**BASE, "optimize": {**base, "storage": url}}, name="u")
        ).optimize
        assert config is not None and config.storage == url
    assert_in(
        error_of(write_study(tmp_path, {**BASE, "optimize": {**base, "storage": "study.db"}}, name="bad")),
        "optimize.storage",
        "'study.db'",
        "storage URL",
    )
    config = load_study(
        study_with(tmp_path, optimize={**base, "study_name": "named", "sampler": {"name": "random"}})
    )
    assert config.optimize is not None and config.optimize.study_name == "named"
    optimizer = config.optimize.make_optimizer(storage=":memory:", study_name="cli", seed=3)
    assert optimizer.study_name == "cli" and isinstance(optimizer.sampler, optuna.samplers.RandomSampler)

    def first_params(seed: int) -> dict[str, Any]:
        assert config.optimize is not None
        optimizer = config.optimize.make_optimizer(storage=":memory:", seed=seed)
        return optimizer.space.ask(optimizer.study)[1]

    assert first_params(3) == first_params(3) != first_params(4)
    with pytest.raises(ConfigurationError, match="seed"):
        config.optimize.make_optimizer(seed=-1)


def test_deterministic_key_makes_the_seed_plugin_deterministic(tmp_path: Path) -> None:
    experiment = load_study(study_with(tmp_path, deterministic=True, seed=4)).experiment
    plugin = experiment.get_plugin(SeedPlugin)
    assert plugin is not None and plugin.deterministic and plugin.seed == 4
    plain = load_study(write_study(tmp_path, BASE, name="plain")).experiment.get_plugin(SeedPlugin)
    assert plain is not None and not plain.deterministic
    message = error_of(write_study(tmp_path, {**BASE, "deterministic": "yes"}, name="bad"))
    assert_in(message, "config.yaml", "deterministic", "true or false", "'yes'")


# --- defaults and the forms of each key ----------------------------------------------------


def test_crystallize_ml_cli_section_is_accepted_and_checked(tmp_path: Path) -> None:
    cli = {"group": "g", "priority": 1, "icon": "x", "color": "#fff", "hidden": False}
    assert load_study(study_with(tmp_path, cli=cli)).experiment.name == "study"
    assert_in(
        error_of(write_study(tmp_path, {**BASE, "cli": {"colour": "red"}}, name="bad")),
        "cli.colour",
        "unknown key",
    )


def test_report_section_chooses_how_reports_get_plotlyjs(tmp_path: Path) -> None:
    assert load_study(study_with(tmp_path)).report.plotlyjs == "inline"
    for section, expected in (
        ({"plotlyjs": "shared"}, "shared"),
        ({"plotlyjs": None}, "inline"),
        (None, "inline"),
    ):
        folder = write_study(tmp_path, {**BASE, "report": section}, name="given")
        assert load_study(folder).report.plotlyjs == expected
    bad = write_study(tmp_path, {**BASE, "report": {"plotlyjs": "cdn"}}, name="bad")
    assert error_of(bad) == (
        f"{bad / 'config.yaml'}: report.plotlyjs: expected one of [inline, shared], got 'cdn'"
    )
    assert_in(
        error_of(write_study(tmp_path, {**BASE, "report": {"plotly": "shared"}}, name="typo")),
        "config.yaml: report.plotly: unknown key (did you mean 'plotlyjs'?); allowed keys: [plotlyjs]",
    )
    assert_in(
        error_of(write_study(tmp_path, {**BASE, "report": "shared"}, name="flat")),
        "config.yaml: report: expected a mapping, got 'shared'",
    )


def test_treatments_as_a_list_of_one_key_mappings_as_crystallize_ml_wrote_them(tmp_path: Path) -> None:
    exp = load_study(study_with(tmp_path, treatments=[{"up": {"delta": 2}}, {"baseline": None}])).experiment
    assert [(t.name, t.params) for t in exp.treatments] == [("up", {"delta": 2}), ("baseline", {})]


def test_a_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    study = load_study(study_with(tmp_path))
    exp = study.experiment
    assert (exp.name, exp.replicates, exp.master_seed, exp.description) == ("study", 1, 0, None)
    assert exp.treatments == [] and exp.hypotheses == [] and exp.outputs == [] and exp.initial_ctx == {}
    assert exp.get_plugin(SerialExecution) is not None
    assert study.optimize is None


def test_steps_and_datasources_in_every_form(tmp_path: Path) -> None:
    folder = study_with(
        tmp_path,
        datasource={"Constant": {"value": 2.0}},
        steps=["shift", {"Scale": {"factor": 3.0}}, {"score": None}, {"score": {"power": 2}}],
        initial_ctx={"delta": 1.0},
    )
    exp = load_study(folder).experiment
    assert type(exp.datasource).__name__ == "Constant" and exp.datasource.value == 2.0  # type: ignore[attr-defined]
    assert [s.params for s in exp.pipeline] == [{}, {"factor": 3.0}, {}, {"power": 2}]
    assert exp.initial_ctx == {"delta": 1.0}
    assert exp.apply().tolist() == [9.0] * 4  # (2 + 1) * 3


@pytest.mark.parametrize(
    ("execution", "expected"),
    [
        ("serial", None),
        ({"type": "serial"}, None),
        ("thread", ("thread", None, None)),
        ({"type": "thread", "workers": 3}, ("thread", 3, None)),
        ({"type": "process", "workers": 2, "start_method": "spawn"}, ("process", 2, "spawn")),
        ("dask", ("dask", None, None)),  # the client open in the process, found when a run starts
        ({"type": "dask", "address": "tcp://scheduler:8786"}, ("dask", None, None)),
    ],
)
def test_execution_forms(tmp_path: Path, execution: Any, expected: tuple[Any, ...] | None) -> None:
    exp = load_study(study_with(tmp_path, execution=execution)).experiment
    plugin = exp.get_plugin(ParallelExecution)
    if expected is None:
        assert plugin is None and exp.get_plugin(SerialExecution) is not None
    else:
        assert plugin is not None
        assert (plugin.executor_type, plugin.max_workers, plugin.start_method) == expected
        address = execution.get("address") if isinstance(execution, dict) else None
        assert plugin.client == address


def test_threads_give_the_serial_metrics(workdir: Path, tmp_path: Path) -> None:
    config = {**BASE, "replicates": 3, "seed": 5, "treatments": {"up": {"delta": 2}}}
    serial = load_study(write_study(tmp_path, config, name="a")).experiment.run()
    threads = load_study(write_study(tmp_path, {**config, "execution": "thread"}, name="b")).experiment.run()
    assert serial.metrics.treatments["up"].metrics == threads.metrics.treatments["up"].metrics


def test_verifiers_resolve_from_the_study_file_before_the_built_ins(tmp_path: Path) -> None:
    own = """
    from functools import partial

    def _always(baseline, treatment, verdict):
        return {"p_value": 0.5, "significant": verdict}

    def welch_t_test(verdict: bool = True):
        return partial(_always, verdict=verdict)
    """
    hypotheses = [
        {"verifier": "welch_t_test", "metrics": "mean", "params": {"verdict": False}},
        {"verifier": "mann_whitney_u", "metrics": ["mean", "loss"], "name": "mwu"},
    ]
    folder = write_study(tmp_path, {**BASE, "hypotheses": hypotheses}, {"verifiers": own})
    exp = load_study(folder).experiment
    assert exp.hypotheses[0].verifier.keywords == {"verdict": False}  # type: ignore[attr-defined]
    assert [h.name for h in exp.hypotheses] == ["welch_t_test:mean", "mwu"]
    assert exp.hypotheses[1].metrics == ["mean", "loss"]


def test_edited_study_files_are_imported_again(tmp_path: Path) -> None:
    folder = study_with(tmp_path)
    assert load_study(folder).experiment.pipeline.steps[0].name == "shift"
    (folder / "steps.py").write_text(
        textwrap.dedent(STEPS).replace("def shift(", "def shift_renamed(") + "\n# v2\n"
    )
    assert_in(error_of(folder), "no step 'shift'", "shift_renamed")


def test_from_yaml_builds_the_subclass_it_is_called_on(tmp_path: Path) -> None:
    class MyExperiment(Experiment):
        pass

    assert type(MyExperiment.from_yaml(study_with(tmp_path))) is MyExperiment


def test_warm_start_and_optimizer_flags(tmp_path: Path) -> None:
    optimize = {
        "objective": {
            "metrics": ["loss", "mean"],
            "direction": ["minimize", "maximize"],
            "aggregate": "median",
        },
        "trials": 3,
        "search_space": {"delta": {"type": "float", "low": -1, "high": 1}},
        "warm_start": ["up"],
        "run_baseline": True,
        "common_random_numbers": False,
        "sampler": "nsga2",
    }
    config = load_study(study_with(tmp_path, treatments={"up": {"delta": 0.5}}, optimize=optimize)).optimize
    assert config is not None
    assert config.warm_start == (Treatment("up", {"delta": 0.5}),)
    assert config.objective.directions == ("minimize", "maximize") and config.objective.aggregate == "median"
    optimizer = config.make_optimizer(storage=":memory:")
    assert optimizer.run_baseline is True and optimizer.common_random_numbers is False
    bad = {**optimize, "warm_start": ["nope"]}
    assert_in(
        error_of(study_with(tmp_path, treatments={"up": {"delta": 0.5}}, optimize=bad)),
        "optimize.warm_start[0]",
        "'nope'",
        "[up]",
    )
    outside = {**optimize, "warm_start": "up"}
    message = error_of(study_with(tmp_path, treatments={"up": {"x": 1}}, optimize=outside))
    assert_in(message, "optimize.warm_start", "[x]", "not in the search space")


# --- samplers and pruners --------------------------------------------------------------------

FINITE_SPACE = {
    "delta": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "power": {"type": "int", "low": 1, "high": 3},
    "mode": {"type": "categorical", "choices": ["a", "b"]},
}


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
        ("gp", optuna.samplers.GPSampler),
        ("cmaes", ResumableCmaEsSampler),  # Optuna's CmaEsSampler, resumable exactly
        ("nsga2", optuna.samplers.NSGAIISampler),
        ("nsga3", optuna.samplers.NSGAIIISampler),
        ("qmc", optuna.samplers.QMCSampler),
        ("grid", optuna.samplers.GridSampler),
        ("bruteforce", optuna.samplers.BruteForceSampler),
    ],
)
def test_every_sampler_name_maps_to_its_optuna_class(tmp_path: Path, name: str, cls: type) -> None:
    optimize = {
        "objective": "loss",
        "trials": 2,
        "search_space": FINITE_SPACE,
        "sampler": {"name": name, "seed": 11},
    }
    config = load_study(study_with(tmp_path, optimize=optimize)).optimize
    assert config is not None and config.seed == 11
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = config.make_sampler()
    assert type(sampler) is cls
    if name == "grid":
        assert sampler._search_space == {  # type: ignore[attr-defined]
            "delta": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
            "mode": ["a", "b"],
            "power": [1, 2, 3],
        }


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("median", optuna.pruners.MedianPruner),
        ({"name": "percentile", "percentile": 25.0}, optuna.pruners.PercentilePruner),
        ({"name": "successive_halving", "reduction_factor": 3}, optuna.pruners.SuccessiveHalvingPruner),
        ({"name": "hyperband", "max_resource": 3}, optuna.pruners.HyperbandPruner),
        ({"name": "threshold", "upper": 10.0}, optuna.pruners.ThresholdPruner),
        ({"name": "wilcoxon", "p_threshold": 0.05}, optuna.pruners.WilcoxonPruner),
        (
            {"name": "patient", "patience": 2, "wrapped_pruner": {"name": "median"}},
            optuna.pruners.PatientPruner,
        ),
        ("nop", optuna.pruners.NopPruner),
    ],
)
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_every_pruner_name_maps_to_its_optuna_class(tmp_path: Path, spec: Any, cls: type) -> None:
    optimize = {"objective": "loss", "trials": 2, "search_space": FINITE_SPACE, "pruner": spec}
    config = load_study(study_with(tmp_path, optimize=optimize)).optimize
    assert config is not None
    pruner = config.make_pruner()
    assert type(pruner) is cls
    if cls is optuna.pruners.PatientPruner:
        assert isinstance(pruner._wrapped_pruner, optuna.pruners.MedianPruner)  # type: ignore[attr-defined]


def optimize_error(tmp_path: Path, **changes: Any) -> str:
    optimize = {"objective": "loss", "trials": 2, "search_space": FINITE_SPACE, **changes}
    return error_of(study_with(tmp_path, optimize=optimize))


def test_sampler_and_pruner_errors(tmp_path: Path) -> None:
    cases = [
        ({"sampler": "tpee"}, ["optimize.sampler", "'tpee'", "did you mean 'tpe'", "bruteforce", "nsga2"]),
        ({"sampler": {"seed": 1}}, ["optimize.sampler", "missing required key 'name'"]),
        ({"sampler": 5}, ["optimize.sampler", "got 5", "sampler name"]),
        (
            {"sampler": {"name": "tpe", "n_startup_trail": 5}},
            [
                "optimize.sampler.n_startup_trail",
                "unknown setting",
                "TPESampler",
                "n_startup_trials",
                "did you mean",
            ],
        ),
        (
            {"sampler": {"name": "tpe", "n_startup_trials": "five"}},
            ["optimize.sampler.n_startup_trials", "int", "'five'"],
        ),
        ({"sampler": {"name": "tpe", "multivariate": 1}}, ["optimize.sampler.multivariate", "bool", "got 1"]),
        ({"sampler": {"name": "tpe", "gamma": 1}}, ["optimize.sampler.gamma", "unknown setting"]),
        (
            {"sampler": {"name": "random", "sed": 3}},
            ["optimize.sampler.sed", "did you mean 'seed'", "allowed settings: [seed]"],
        ),
        (
            {"sampler": {"name": "random", "seed": -3}},
            ["optimize.sampler.seed", "non-negative integer", "-3"],
        ),
        (
            {"sampler": {"name": "qmc", "qmc_type": "nope"}},
            ["optimize.sampler", "QMCSampler rejects", "nope"],
        ),
        (
            {"sampler": {"name": "grid", "search_space": {}}},
            ["optimize.sampler.search_space", "unknown setting"],
        ),
        ({"pruner": "medain"}, ["optimize.pruner", "did you mean 'median'", "successive_halving"]),
        ({"pruner": {"name": "percentile"}}, ["optimize.pruner", "missing required setting 'percentile'"]),
        (
            {"pruner": {"name": "median", "n_startup": 1}},
            ["optimize.pruner.n_startup", "MedianPruner", "n_warmup_steps"],
        ),
        ({"pruner": {"name": "nop", "x": 1}}, ["optimize.pruner.x", "allowed settings: none"]),
        (
            {"pruner": {"name": "percentile", "percentile": 150.0}},
            ["optimize.pruner", "PercentilePruner rejects"],
        ),
        (
            {"pruner": {"name": "patient", "patience": 1, "wrapped_pruner": "bogus"}},
            ["optimize.pruner.wrapped_pruner", "'bogus'"],
        ),
    ]
    for changes, parts in cases:
        assert_in(optimize_error(tmp_path, **changes), "study/config.yaml", *parts)
    space = {"x": {"type": "float", "low": 0, "high": 1}}
    assert_in(
        optimize_error(tmp_path, sampler="grid", search_space=space), "optimize.search_space", "'x'", "step"
    )
    huge = {"x": {"type": "int", "low": 0, "high": 10**9}}
    assert_in(optimize_error(tmp_path, sampler="grid", search_space=huge), "optimize.search_space", "at most")
    multi = {"metrics": ["loss", "mean"]}
    assert_in(
        optimize_error(tmp_path, objective=multi, pruner="median"), "optimize.pruner", "single objective"
    )
    assert_in(
        optimize_error(tmp_path, objective=multi, sampler="cmaes"), "optimize.sampler", "single objective"
    )


def test_objective_errors(tmp_path: Path) -> None:
    cases = [
        ({}, ["optimize.objective", "exactly one of 'metric' or 'metrics'"]),
        ({"metric": "a", "metrics": ["b"]}, ["exactly one of"]),
        (
            {"metric": "loss", "direction": "down"},
            ["optimize.objective.direction", "'down'", "[maximize, minimize]"],
        ),
        (
            {"metric": ["a", "b"], "direction": ["minimize"]},
            ["optimize.objective.direction", "2 direction(s)", "got 1"],
        ),
        ({"metric": "loss", "aggregate": "max"}, ["optimize.objective.aggregate", "'max'", "[mean, median]"]),
        (
            {"metric": "loss", "constraints": [1]},
            ["optimize.objective.constraints[0]", "non-empty string", "got 1"],
        ),
        ({"metric": ["a", "a"]}, ["optimize.objective.metric", "repeats [a]"]),
        (
            {"metric": "loss", "goal": "min"},
            ["optimize.objective.goal", "unknown key", "aggregate, constraints, direction"],
        ),
    ]
    for objective, parts in cases:
        assert_in(optimize_error(tmp_path, objective=objective), *parts)
    config = load_study(
        study_with(
            tmp_path,
            optimize={
                "objective": {"metric": "loss", "direction": "maximize", "constraints": "mean"},
                "trials": 1,
                "search_space": FINITE_SPACE,
            },
        )
    ).optimize
    assert config is not None and config.objective.constraints == ("mean",)
    assert config.objective.direction == "maximize"


def test_optimize_section_errors(tmp_path: Path) -> None:
    assert_in(optimize_error(tmp_path, trials=0), "optimize.trials", "positive integer", "got 0")
    assert_in(optimize_error(tmp_path, trials=2.5), "optimize.trials", "integer", "2.5")
    assert_in(optimize_error(tmp_path, replicates_per_trial=-1), "optimize.replicates_per_trial", "-1")
    assert_in(optimize_error(tmp_path, trails=3), "optimize.trails", "unknown key", "did you mean 'trials'")
    assert_in(optimize_error(tmp_path, study_name=""), "optimize.study_name", "non-empty string")
    assert_in(optimize_error(tmp_path, run_baseline="yes"), "optimize.run_baseline", "true or false", "'yes'")
    no_trials = {"objective": "loss", "search_space": FINITE_SPACE}
    assert_in(error_of(study_with(tmp_path, optimize=no_trials)), "optimize", "missing required key 'trials'")


# --- the search-space compiler -------------------------------------------------------------


def test_search_space_compiles_every_type() -> None:
    space = compile_search_space(
        {
            "lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-1, "log": True},
            "layers": {"type": "int", "low": 1, "high": 4},
            "width": {"type": "int", "low": 8, "high": 64, "log": True},
            "batch": {"type": "int", "low": 16, "high": 128, "step": 16},
            "activation": {"type": "categorical", "choices": ["relu", "tanh", None, 2, False]},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
            "fixed_value": {"type": "constant", "value": 3},
            "fixed_list": {"type": "constant", "value": [1, 2]},
        }
    )
    assert space["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert space["layers"] == IntDistribution(1, 4)
    assert space["width"] == IntDistribution(8, 64, log=True)
    assert space["batch"] == IntDistribution(16, 128, step=16)
    assert space["activation"] == CategoricalDistribution(["relu", "tanh", None, 2, False])
    assert space["dropout"] == FloatDistribution(0.0, 0.5, step=0.1)
    assert space["fixed_value"] == 3 and space["fixed_list"] == [1, 2]


@pytest.mark.parametrize(
    ("entry", "path", "parts"),
    [
        ({"type": "float", "low": "abc", "high": 1}, "lr.low", ["expected a number, got 'abc'"]),
        ({"type": "float", "low": 2.0, "high": 1.0}, "lr.high", ["expected a value >= low (2.0)", "got 1.0"]),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "lr.low", ["log: true", "> 0", "got 0.0"]),
        ({"type": "int", "low": 0, "high": 5, "log": True}, "lr.low", [">= 1", "got 0"]),
        (
            {"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1},
            "lr.step",
            ["cannot be combined with log"],
        ),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 0}, "lr.step", ["positive step", "got 0"]),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 0.3}, "lr.step", ["whole number of steps"]),
        ({"type": "int", "low": 1, "high": 10, "step": 2}, "lr.step", ["whole number of steps"]),
        (
            {"type": "float", "low": 0, "high": 1, "step": 1e-300},
            "lr.step",
            ["too small for the range 0 to 1"],
        ),
        ({"type": "int", "low": 1.5, "high": 3}, "lr.low", ["expected an integer, got 1.5"]),
        ({"type": "int", "low": True, "high": 3}, "lr.low", ["expected an integer, got true"]),
        ({"type": "float", "low": 0, "high": float("inf")}, "lr.high", ["finite number", "inf"]),
        ({"type": "float", "low": 0, "high": 1, "log": "yes"}, "lr.log", ["true or false", "'yes'"]),
        ({"type": "float", "high": 1}, "lr", ["missing required key 'low'"]),
        ({"type": "categorical", "choices": []}, "lr.choices", ["non-empty list", "empty list"]),
        ({"type": "categorical", "choices": "relu"}, "lr.choices", ["expected a list", "'relu'"]),
        ({"type": "categorical"}, "lr", ["missing required key 'choices'"]),
        (
            {"type": "categorical", "choices": [[1], 2]},
            "lr.choices[0]",
            ["string, number, boolean or null", "a list"],
        ),
        ({"type": "categorical", "choices": ["a", "b", "a"]}, "lr.choices[2]", ["repeats choice 'a'"]),
        ({"type": "categorical", "choices": [1, 1.0]}, "lr.choices[1]", ["repeats choice 1.0"]),
        ({"type": "constant"}, "lr", ["missing required key 'value'"]),
        (
            {"type": "uniform", "low": 0, "high": 1},
            "lr.type",
            ["'uniform'", "[categorical, constant, float, int]"],
        ),
        ({"low": 0, "high": 1}, "lr", ["missing required key 'type'", "categorical, constant, float, int"]),
        (
            {"type": "float", "low": 0, "high": 1, "choices": [1]},
            "lr.choices",
            ["unknown key", "[high, log, low, step, type]"],
        ),
        ([0, 1], "lr", ["expected a mapping", "a list [0, 1]"]),
        (0.5, "lr", ["expected a mapping", "got 0.5"]),
    ],
)
def test_search_space_errors_name_the_key_path_what_was_found_and_what_is_allowed(
    entry: Any, path: str, parts: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as info:
        compile_search_space({"lr": entry, "other": {"type": "int", "low": 0, "high": 2}})
    assert_in(str(info.value), f"optimize.search_space.{path}: ", *parts)


def test_search_space_errors_in_a_study_name_the_file_and_the_prefix(tmp_path: Path) -> None:
    message = optimize_error(tmp_path, search_space={"lr": {"type": "float", "low": "abc", "high": 1}})
    config_file = tmp_path / "study" / "config.yaml"
    assert message == f"{config_file}: optimize.search_space.lr.low: expected a number, got 'abc'"
    with pytest.raises(ConfigurationError, match=r"^space: keys must be non-empty strings, got key 3$"):
        compile_search_space({"x": {"type": "categorical", "choices": ["a"]}, 3: {}}, path_prefix="space")  # type: ignore[dict-item]
    for bad in ({}, [], None, "x"):
        with pytest.raises(ConfigurationError, match="non-empty mapping"):
            compile_search_space(bad)
    with pytest.raises(ConfigurationError, match=r"only constants \[a\]"):
        compile_search_space({"a": {"type": "constant", "value": 1}})


# --- errors of the experiment part -----------------------------------------------------------


def test_top_level_errors(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (
            {"replicate": 3},
            [
                "replicate: unknown key",
                "did you mean 'replicates'",
                "allowed keys: [cli, datasource, description",
            ],
        ),
        ({"replicates": 0}, ["replicates: expected a positive integer of at most 10,000, got 0"]),
        ({"replicates": "5"}, ["replicates: expected a positive integer of at most 10,000, got '5'"]),
        ({"replicates": True}, ["replicates: expected a positive integer of at most 10,000, got true"]),
        (
            {"replicates": 10**11},
            ["replicates: expected a positive integer of at most 10,000, got 100000000000"],
        ),
        ({"seed": -1}, ["seed: expected a non-negative integer of at most 4294967295 (2**32 - 1), got -1"]),
        ({"seed": 1.5}, ["seed: expected a non-negative integer of at most 4294967295", "got 1.5"]),
        ({"seed": 2**32}, ["seed: expected a non-negative integer of at most 4294967295", "got 4294967296"]),
        ({"name": "../../e"}, ["name: '../../e' contains '/'; expected a plain file name: 1 to 255 bytes"]),
        ({"name": ".."}, ["name: '..' starts with '.'; expected a plain file name"]),
        ({"name": ["x"]}, ["name: expected a non-empty string, got a list ['x']"]),
        ({"description": 3}, ["description: expected a string, got 3"]),
        ({"steps": []}, ["steps: expected a non-empty list of steps"]),
        ({"steps": "shift"}, ["steps: expected a list, got 'shift'"]),
        (
            {"steps": [{"shift": {}, "score": {}}]},
            ["steps[0]: expected step as a name or a mapping with one key"],
        ),
        ({"steps": [3]}, ["steps[0]: expected a step name or a mapping", "got 3"]),
        ({"steps": [{"score": [2]}]}, ["steps[0].score: expected a mapping, got a list [2]"]),
        ({"datasource": None}, ["missing required key 'datasource'"]),
        ({"treatments": ["a"]}, ["treatments[0]: expected a mapping with one key {name: values}"]),
        ({"treatments": 3}, ["treatments: expected a mapping of treatment name -> context values"]),
        (
            {"treatments": {"t": {"replicate": 1}}},
            [
                "treatments.t.replicate",
                "reserved context key 'replicate'",
                "[condition, replicate, seed_used]",
            ],
        ),
        ({"treatments": {"t": {"seed_used": 1}}}, ["treatments.t.seed_used", "reserved"]),
        ({"treatments": {"t": 5}}, ["treatments.t: expected a mapping, got 5"]),
        ({"initial_ctx": {"condition": "x"}}, ["initial_ctx.condition", "reserved context key"]),
        ({"execution": "gpu"}, ["execution: expected one of [dask, process, serial, thread], got 'gpu'"]),
        (
            {"execution": {"type": "thread", "workers": 0}},
            ["execution.workers: expected a positive integer, got 0"],
        ),
        ({"execution": {"workers": 2}}, ["execution.workers", "thread or process only"]),
        ({"execution": {"type": "dask", "workers": 2}}, ["execution.workers", "thread or process only"]),
        ({"execution": {"type": "thread", "address": "tcp://h:8786"}}, ["execution.address", "dask only"]),
        (
            {"execution": {"type": "thread", "start_method": "spawn"}},
            ["execution.start_method", "process only"],
        ),
        (
            {"execution": {"type": "process", "start_method": "teleport"}},
            ["execution.start_method", "'teleport'"],
        ),
        (
            {"execution": {"type": "thread", "threads": 2}},
            ["execution.threads: unknown key", "[address, start_method, type, workers]"],
        ),
        ({"hypotheses": {"verifier": "welch_t_test"}}, ["hypotheses: expected a list"]),
        ({"hypotheses": [{"verifier": "welch_t_test"}]}, ["hypotheses[0]: missing required key 'metrics'"]),
        (
            {"hypotheses": [{"verifier": "t_test", "metrics": "mean"}]},
            [
                "hypotheses[0].verifier: unknown verifier 't_test'",
                "[mann_whitney_u, welch_t_test, wilcoxon_signed_rank]",
                "there is no",
            ],
        ),
        (
            {"hypotheses": [{"verifier": "welch_t_test", "metrics": "mean", "params": {"alpah": 0.1}}]},
            [
                "hypotheses[0].params.alpah",
                "unknown parameter",
                "did you mean 'alpha'",
                "[alpha, alternative]",
            ],
        ),
        (
            {"hypotheses": [{"verifier": "welch_t_test", "metrics": "mean", "params": {"alpha": 2}}]},
            ["hypotheses[0].params", "alpha=2 is invalid"],
        ),
        (
            {"hypotheses": [{"verifier": "welch_t_test", "metrics": []}]},
            ["hypotheses[0].metrics", "non-empty list"],
        ),
        (
            {"hypotheses": [{"verifier": "welch_t_test", "metrics": "mean"}] * 2},
            ["hypotheses: hypothesis names repeat [welch_t_test:mean]"],
        ),
        (
            {"hypotheses": [{"verifier": "welch_t_test", "metrics": "mean", "alpha": 0.1}]},
            ["hypotheses[0].alpha: unknown key", "[metrics, name, params, verifier]"],
        ),
        ({"outputs": ["a/b.txt"]}, ["outputs[0]", "plain file name", "'a/b.txt'"]),
        ({"outputs": ["x.txt", "x.txt"]}, ["outputs[1]: repeats output 'x.txt'"]),
        (
            {"outputs": [{"x.json": "load"}]},
            ["outputs[0].x.json", "loader function 'load'", "outputs.py, which does not exist"],
        ),
        ({"outputs": [7]}, ["outputs[0]: expected a file name or a mapping", "got 7"]),
    ]
    for keys, parts in cases:
        message = error_of(study_with(tmp_path, **keys))
        assert message.startswith(str(tmp_path / "study" / "config.yaml") + ": "), message
        assert_in(message, *parts)


def test_file_level_errors(tmp_path: Path) -> None:
    folder = write_study(tmp_path, "name: x\nsteps: [a, b\nreplicates: 2\n")
    assert_in(error_of(folder), "config.yaml: line 3, column 11", "invalid YAML")
    duplicate = (
        "datasource: points\nsteps: [shift]\ntreatments:\n  plus_one: {delta: 1}\n  plus_one: {delta: 2}\n"
    )
    assert_in(
        error_of(write_study(tmp_path, duplicate)),
        "config.yaml: treatments: duplicate key 'plus_one' (lines 4 and 5)",
    )
    assert_in(error_of(write_study(tmp_path, "", name="empty")), "empty/config.yaml: is empty")
    assert_in(
        error_of(write_study(tmp_path, "- datasource\n", name="listed")), "expected a mapping, got a list"
    )
    assert_in(error_of(write_study(tmp_path, "a: &x [*x]\n", name="loop")), "a[0]: recursive alias")
    assert_in(error_of(write_study(tmp_path, "a: 2001-13-01\n", name="date")), "invalid YAML value")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "config.yaml").write_bytes(b"\xff\xfe\x00")
    assert_in(error_of(tmp_path / "binary"), "binary/config.yaml: is not UTF-8")
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    (nothing / "study.yml").write_text("x: 1")
    assert_in(error_of(nothing), "nothing: no config.yaml in this study folder; it has study.yml")
    assert_in(error_of(tmp_path / "missing"), "missing: no such study folder or config file")
    other = write_study(tmp_path, None, name="named_file")
    (other / "variant.yaml").write_text(yaml.safe_dump(BASE))
    assert load_study(other / "variant.yaml").experiment.name == "named_file"


def test_study_file_errors_name_the_file_the_entry_and_what_the_file_defines(tmp_path: Path) -> None:
    assert_in(
        error_of(study_with(tmp_path, steps=["shift", "scroe"])),
        "config.yaml: steps[1]: no step 'scroe' in",
        "study/steps.py (did you mean 'score'?)",
        "it defines [Scale, not_a_step, plain, refuses, score, shift]",
    )
    assert_in(
        error_of(study_with(tmp_path, datasource="pts")),
        "datasource: no datasource 'pts' in",
        "datasources.py",
        "it defines [Constant, points]",
    )
    missing = write_study(tmp_path, BASE, {"steps": None}, name="nosteps")
    assert_in(
        error_of(missing),
        "nosteps/config.yaml: steps[0]: step 'shift' must be defined in",
        "nosteps/steps.py, which does not exist",
    )
    assert_in(
        error_of(study_with(tmp_path, steps=["plain"])),
        "steps[0].plain: 'plain' is a plain function",
        "@pipeline_step()",
    )
    assert_in(
        error_of(study_with(tmp_path, steps=["not_a_step"])),
        "not_a_step(...) returned 42, expected a PipelineStep",
    )
    assert_in(error_of(study_with(tmp_path, steps=["NUMBER"])), "'NUMBER' is 3, not a step factory")
    assert_in(error_of(study_with(tmp_path, datasource="Constant", steps=["points"])), "no step 'points'")
    typo = error_of(study_with(tmp_path, steps=["shift", {"score": {"powr": 2}}]))
    assert_in(
        typo,
        "steps[1].score.powr: unknown argument (did you mean 'power'?) of step 'score'; it accepts [power]",
    )
    assert_in(
        error_of(study_with(tmp_path, steps=[{"Scale": {"size": 2}}])),
        "steps[0].Scale.size",
        "accepts [factor]",
    )
    assert_in(
        error_of(study_with(tmp_path, datasource={"points": {"n": 2}})),
        "datasource.points.n",
        "accepts [size]",
    )
    with pytest.raises(ConfigurationError) as info:
        load_study(study_with(tmp_path, steps=[{"refuses": {"a": 1}}]))
    assert_in(str(info.value), "steps[0].refuses: refuses(...) raised ValueError: this factory refuses")
    assert isinstance(info.value.__cause__, ValueError)


def test_exceptions_while_importing_a_study_file_are_wrapped_naming_the_file(tmp_path: Path) -> None:
    folder = write_study(tmp_path, BASE, {"steps": "raise RuntimeError('no GPU here')\n"})
    with pytest.raises(ConfigurationError) as info:
        load_study(folder)
    assert str(info.value) == f"{folder / 'steps.py'}: importing it raised RuntimeError: no GPU here"
    assert isinstance(info.value.__cause__, RuntimeError)
    broken = write_study(tmp_path, BASE, {"datasources": "def points(:\n"}, name="syntax")
    assert_in(error_of(broken), "syntax/datasources.py: importing it raised SyntaxError", "line 1")
    exits = write_study(tmp_path, BASE, {"datasources": "import sys\nsys.exit(3)\n"}, name="exits")
    assert_in(error_of(exits), "exits/datasources.py: importing it raised SystemExit: 3")
    bad_verifier = write_study(
        tmp_path,
        {**BASE, "hypotheses": [{"verifier": "v", "metrics": "m"}]},
        {"verifiers": "1 / 0\n"},
        name="vz",
    )
    assert_in(error_of(bad_verifier), "vz/verifiers.py: importing it raised ZeroDivisionError")
    not_factory = write_study(
        tmp_path,
        {**BASE, "hypotheses": [{"verifier": "check", "metrics": "m"}]},
        {"verifiers": "def helper():\n    return 1\n\ndef check():\n    return 'yes'\n"},
        name="vf",
    )
    assert_in(
        error_of(not_factory), "hypotheses[0].params: check(...) returned 'yes', not a callable", "factory"
    )
    unknown = write_study(
        tmp_path,
        {**BASE, "hypotheses": [{"verifier": "chek", "metrics": "m"}]},
        {"verifiers": "def check():\n    pass\n"},
        name="vu",
    )
    assert_in(
        error_of(unknown),
        "unknown verifier 'chek' (did you mean 'check'?)",
        "vu/verifiers.py defines [check]",
    )


# --- property-based fuzzing: malformed input only ever raises ConfigurationError --------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(
        ["points", "shift", "score", "Scale", "Constant", "float", "int", "tpe", "median", "process"]
    )
    | st.sampled_from(["", " ", "baseline", "replicate", 0, -1, 1e308, 2**64])
)
_keys = st.text(max_size=8) | st.sampled_from(
    [
        *("type", "low", "high", "log", "step", "choices", "value", "name", "seed", "metric", "delta"),
        *("power", "noise", "racing_z", "max_replicates", "holdout_seeds"),
    ]
)
_trees = st.recursive(
    _scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_keys, kids, max_size=4),
    max_leaves=16,
)
_top_keys = st.sampled_from(
    [
        "name",
        "replicates",
        "seed",
        "deterministic",
        "datasource",
        "steps",
        "treatments",
        "hypotheses",
        "outputs",
        "execution",
        "optimize",
        "report",
    ]
)
_VALID: dict[str, Any] = {
    **BASE,
    "replicates": 2,
    "seed": 3,
    "deterministic": False,
    "treatments": {"up": {"delta": 1.0}},
    "hypotheses": [{"verifier": "welch_t_test", "metrics": "mean", "params": {"alpha": 0.1}}],
    "steps": ["shift", "score", "save"],  # save takes output out.txt as its parameter out
    "outputs": ["out.txt"],
    "execution": {"type": "thread", "workers": 2},
    "optimize": {
        "objective": {"metric": "loss", "direction": "minimize", "constraints": ["mean"]},
        "trials": 3,
        "replicates_per_trial": 2,
        "sampler": {"name": "tpe", "n_startup_trials": 2},
        "pruner": {"name": "median"},
        "search_space": {
            "delta": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.5},
            "power": {"type": "int", "low": 1, "high": 3},
        },
    },
    "report": {"plotlyjs": "shared"},
}
_PATHS = [
    ("name",),
    ("replicates",),
    ("seed",),
    ("deterministic",),
    ("datasource",),
    ("steps",),
    ("steps", 0),
    ("treatments",),
    ("treatments", "up"),
    ("hypotheses",),
    ("hypotheses", 0, "params"),
    ("hypotheses", 0, "metrics"),
    ("outputs", 0),
    ("execution",),
    ("execution", "workers"),
    ("optimize",),
    ("optimize", "objective"),
    ("optimize", "objective", "direction"),
    ("optimize", "trials"),
    ("optimize", "sampler"),
    ("optimize", "sampler", "n_startup_trials"),
    ("optimize", "pruner"),
    ("optimize", "storage"),
    ("optimize", "noise"),
    ("optimize", "search_space"),
    ("optimize", "search_space", "delta"),
    ("optimize", "search_space", "delta", "step"),
    ("optimize", "search_space", "power", "low"),
    ("report",),
    ("report", "plotlyjs"),
]
_EDGE_VALUES: list[Any] = [
    "",
    " ",
    "x",
    "baseline",
    0,
    -1,
    1.5,
    float("nan"),
    True,
    None,
    [],
    {},
    [""],
    {"": 1},
    [[1]],
]
_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    save = "\n\n@pipeline_step()\ndef save(data, ctx, out):\n    out.write(str(float(data.mean())))\n    return data\n"
    return write_study(tmp_path_factory.mktemp("fuzz"), None, {"steps": textwrap.dedent(STEPS) + save})


def _load_or_config_error(folder: Path, config: Any) -> None:
    (folder / "config.yaml").write_text(yaml.safe_dump(config) if not isinstance(config, str) else config)
    try:
        study = load_study(folder)
    except ConfigurationError as exc:
        assert str(exc).startswith(f"{folder}{os.sep}") and str(exc).strip() != str(folder)  # names the file
    else:
        assert isinstance(study.experiment, Experiment)


@_FUZZ
@given(st.dictionaries(_top_keys | _keys, _trees, max_size=6) | _trees)
def test_fuzz_random_trees_raise_only_configuration_errors(fuzz_folder: Path, config: Any) -> None:
    _load_or_config_error(fuzz_folder, config)


@_FUZZ
@given(st.sampled_from(_PATHS), st.sampled_from(_EDGE_VALUES) | _trees)
def test_fuzz_one_bad_value_in_a_valid_config_raises_only_configuration_errors(
    fuzz_folder: Path, path: tuple[Any, ...], value: Any
) -> None:
    _load_or_config_error(fuzz_folder, _mutated(path, value))


def test_every_edge_value_at_every_key_path_raises_only_configuration_errors(fuzz_folder: Path) -> None:
    for path in _PATHS:
        for value in _EDGE_VALUES:
            _load_or_config_error(fuzz_folder, _mutated(path, value))


def _mutated(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(yaml.safe_dump(_VALID))
    target: Any = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return config


@_FUZZ
@given(st.text(max_size=60) | st.binary(max_size=30).map(lambda b: b.decode("latin-1")))
def test_fuzz_random_yaml_text_raises_only_configuration_errors(fuzz_folder: Path, text: str) -> None:
    _load_or_config_error(fuzz_folder, text)


_entries = (
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["float", "int", "categorical", "constant"]) | _scalars,
            "low": st.integers(-5, 5) | st.floats(-10, 10) | _scalars,
            "high": st.integers(-5, 10) | st.floats(-10, 10) | _scalars,
            "log": st.booleans() | _scalars,
            "step": st.integers(-1, 3) | st.sampled_from([0.1, 0.25, 0.5]) | _scalars,
            "choices": st.lists(_scalars, max_size=4) | _trees,
            "value": _trees,
        },
    )
    | _trees
)


@_FUZZ
@given(st.dictionaries(st.text(max_size=5) | st.integers(), _entries, max_size=4) | _trees)
def test_fuzz_search_space_entries_compile_or_raise_configuration_errors(space: Any) -> None:
    try:
        compiled = compile_search_space(space)
    except ConfigurationError as exc:
        assert str(exc).startswith("optimize.search_space")
        return
    assert set(compiled) == set(space)
    for distribution in compiled.values():
        if isinstance(distribution, (FloatDistribution, IntDistribution)):
            assert distribution.low <= distribution.high
            assert not (distribution.log and distribution.low <= 0)
        if isinstance(distribution, CategoricalDistribution):
            assert distribution.choices


def test_fuzz_helpers_cover_a_valid_config(fuzz_folder: Path) -> None:
    (fuzz_folder / "config.yaml").write_text(yaml.safe_dump(_VALID))
    study = load_study(fuzz_folder)
    assert study.optimize is not None and np.isclose(study.optimize.search_space["delta"].step, 0.5)
    assert study.report.plotlyjs == "shared"
