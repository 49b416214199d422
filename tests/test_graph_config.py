"""Folder experiments that read each other's outputs: the ``datasource:`` alias mapping with
``"experiment#artifact"`` references, the ``outputs:`` mapping, and ExperimentGraph.from_yaml."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from crystallize_opt import (
    Artifact,
    ConfigurationError,
    DataSource,
    Experiment,
    ExperimentGraph,
    ExperimentInput,
    FrozenContext,
)

DATASOURCES = """
from crystallize_opt import data_source


@data_source
def numbers(ctx):
    return ctx["replicate"]


@data_source
def constant(ctx):
    return 1
"""

STEPS = """
from crystallize_opt import Artifact, pipeline_step


@pipeline_step()
def produce_to(data, ctx, target: Artifact):
    target.write({"v": data})
    return data


@pipeline_step()
def produce(data, ctx, table, scale: int = 1):
    table.write({"v": data * 10 * scale})
    ctx.metrics.add("v", data * 10 * scale)
    return data


@pipeline_step()
def consume(data, ctx):
    ctx.metrics.add("got", data["table"]["v"] + data["k"])
    return data


@pipeline_step()
def passthrough(data, ctx):
    ctx.metrics.add("seen", 1)
    return data
"""

OUTPUTS = """
import json


def to_json(value):
    return json.dumps(value).encode()


def from_json(path):
    return json.loads(path.read_text())
"""

PRODUCER: dict[str, Any] = {
    "replicates": 2,
    "datasource": {"n": "numbers"},
    "steps": ["produce"],
    "outputs": {"table": {"file_name": "table.json", "writer": "to_json", "loader": "from_json"}},
    "treatments": {"x3": {"scale": 3}},
}
CONSUMER: dict[str, Any] = {"datasource": [{"table": "prod#table"}, {"k": "constant"}], "steps": ["consume"]}


def experiment_folder(root: Path, name: str, config: dict[str, Any]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for stem, text in (("datasources", DATASOURCES), ("steps", STEPS), ("outputs", OUTPUTS)):
        (folder / f"{stem}.py").write_text(textwrap.dedent(text))
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


@pytest.fixture
def experiments(workdir: Path) -> Path:
    root = workdir / "project" / "experiments"
    experiment_folder(root, "prod", PRODUCER)
    experiment_folder(root, "cons", CONSUMER)
    return root


def test_from_yaml_loads_the_referenced_experiments_and_runs_them_in_order(experiments):
    graph = ExperimentGraph.from_yaml(experiments / "cons" / "config.yaml")
    assert graph.order() == ["prod", "cons"] and graph.name == "cons"
    results = graph.run()
    assert results["cons"].metrics.baseline.metrics == {"got": [1, 11]}  # writer/loader from outputs.py
    assert results["cons"].metrics.treatments["x3"].metrics == {"got": [1, 31]}  # inherited treatment
    assert "prod -> cons" in ExperimentGraph.visualize_from_yaml(experiments / "cons")


def test_from_yaml_of_a_folder_of_experiments_loads_each(experiments):
    graph = ExperimentGraph.from_yaml(experiments)
    assert graph.order() == ["prod", "cons"]


def test_references_are_found_beside_the_experiment_without_an_experiments_folder(workdir):
    root = workdir / "elsewhere"
    experiment_folder(root, "prod", PRODUCER)
    experiment_folder(root, "cons", CONSUMER)
    assert ExperimentGraph.from_yaml(root / "cons").order() == ["prod", "cons"]


def test_an_experiment_loaded_alone_keeps_an_unresolved_reference(experiments):
    exp = Experiment.from_yaml(experiments / "cons")
    assert isinstance(exp.datasource, ExperimentInput)
    table = exp.datasource.inputs["table"]
    assert isinstance(table, Artifact) and exp.datasource.required_outputs == [table]
    with pytest.raises(RuntimeError, match=r"prod#table is a reference .* ExperimentGraph\.from_yaml"):
        table.fetch(FrozenContext({"replicate": 0}))


def test_the_outputs_mapping_names_files_and_gives_steps_the_alias(experiments):
    exp = Experiment.from_yaml(experiments / "prod")
    (table,) = exp.outputs
    assert table.name == "table.json" and "table" in table.injection_names
    assert table.writer({"a": 1}) == b'{"a": 1}'


def test_a_step_argument_annotated_artifact_names_an_output_by_alias(workdir):
    config = {
        "replicates": 2,
        "datasource": "numbers",
        "steps": [{"produce_to": {"target": "table"}}],
        "outputs": {"table": {"file_name": "t.json", "writer": "to_json", "loader": "from_json"}},
    }
    exp = Experiment.from_yaml(experiment_folder(workdir, "named", config))
    assert not exp.run().errors
    assert exp.outputs["t.json"].fetch(FrozenContext({"replicate": 1})) == {"v": 1}


@pytest.mark.parametrize(
    "outputs", [{"table": {"file_name": "t.json"}}, None], ids=["other-output", "no-outputs"]
)
def test_a_step_argument_annotated_artifact_naming_no_output_is_refused(workdir, outputs):
    # As in crystallize-ml, which refuses an unknown alias, instead of handing the step a string.
    config: dict[str, Any] = {"datasource": "numbers", "steps": [{"produce_to": {"target": "tabel"}}]}
    if outputs:
        config["outputs"] = outputs
    folder = experiment_folder(workdir, "typo", config)
    declared = r"\[t\.json, table\]" if outputs else "none"
    with pytest.raises(
        ConfigurationError, match=rf"steps.*target.*'tabel' names no output.*declares {declared}"
    ):
        Experiment.from_yaml(folder)


def test_one_plain_alias_is_the_datasource_itself_and_several_are_bundled(workdir):
    one = Experiment.from_yaml(
        experiment_folder(workdir, "one", {"datasource": {"d": "numbers"}, "steps": ["passthrough"]})
    )
    assert isinstance(one.datasource, DataSource) and not isinstance(one.datasource, ExperimentInput)
    two = Experiment.from_yaml(
        experiment_folder(
            workdir, "two", {"datasource": {"a": "numbers", "b": "constant"}, "steps": ["passthrough"]}
        )
    )
    assert isinstance(two.datasource, ExperimentInput)
    assert two.datasource.fetch(FrozenContext({"replicate": 3})) == {"a": 3, "b": 1}


@pytest.mark.parametrize(
    ("datasource", "expected"),
    [
        ({}, "datasource: expected a datasource name"),
        ([], "datasource: expected a datasource name"),
        ([{"a": "numbers"}, {"a": "constant"}], "datasource[1].a: repeats alias 'a'"),
        ([{"a": "numbers", "b": "constant"}], "datasource[0]: expected a mapping with one key"),
        (
            {"a": "numbers", "b": 3},
            "datasource.b: expected a datasource name or 'experiment#artifact', got 3",
        ),
        ({"a": "prod#"}, "datasource.a: expected 'experiment#artifact'"),
        ({"a": "a#b#c"}, "datasource.a: expected 'experiment#artifact'"),
        ({"a": "nothing"}, "datasource.a: no datasource 'nothing'"),
    ],
)
def test_bad_datasource_sections_name_the_key(workdir, datasource, expected):
    folder = experiment_folder(workdir, "bad", {"datasource": datasource, "steps": ["passthrough"]})
    with pytest.raises(ConfigurationError) as info:
        Experiment.from_yaml(folder)
    assert str(info.value).startswith(str(folder / "config.yaml")) and expected in str(info.value)


def test_bad_outputs_mappings_name_the_key(workdir):
    folder = experiment_folder(
        workdir,
        "bad",
        {"datasource": "numbers", "steps": ["passthrough"], "outputs": {"t": {"writer": "nope"}}},
    )
    with pytest.raises(ConfigurationError, match=r"outputs\.t\.writer: no writer function 'nope'"):
        Experiment.from_yaml(folder)
    (folder / "config.yaml").write_text(
        yaml.safe_dump({"datasource": "numbers", "steps": ["passthrough"], "outputs": {"t": {"size": 1}}})
    )
    with pytest.raises(ConfigurationError, match=r"outputs\.t\.size: unknown key"):
        Experiment.from_yaml(folder)


def test_references_to_missing_experiments_or_outputs_name_the_key(experiments):
    experiment_folder(experiments, "lost", {"datasource": {"x": "ghost#table"}, "steps": ["passthrough"]})
    with pytest.raises(
        ConfigurationError, match=r"lost/config\.yaml: datasource\.x: refers to experiment 'ghost'"
    ) as missing:
        ExperimentGraph.from_yaml(experiments / "lost")
    # Also what crystallize-ml raised there: `except FileNotFoundError` keeps working.
    assert isinstance(missing.value, FileNotFoundError)
    for path in (experiments / "nowhere", experiments / "nowhere" / "config.yaml"):
        with pytest.raises(FileNotFoundError, match="no such study folder or config file") as gone:
            Experiment.from_yaml(path)
        assert isinstance(gone.value, ConfigurationError)
    experiment_folder(experiments, "wrong", {"datasource": {"x": "prod#chart"}, "steps": ["passthrough"]})
    with pytest.raises(
        ConfigurationError, match=r"declares no output 'chart'; its outputs: \[table, table\.json\]"
    ):
        ExperimentGraph.from_yaml(experiments / "wrong")


# --- outputs no step takes (crystallize-ml refuses them too) -----------------------------------

KEEPER = """

from crystallize_opt import PipelineStep


class Keep(PipelineStep):
    def __init__(self, out: Artifact | None = None):
        self.out = out

    @property
    def params(self):
        return {}

    def __call__(self, data, ctx):
        if self.out is not None:
            self.out.write({"v": data})
        return data
"""


def test_an_output_no_step_takes_is_refused_naming_its_key(workdir):
    # crystallize-ml's case: only ``result`` is a step argument.
    config = {
        "datasource": {"x": "constant"},
        "steps": [{"produce_to": {"target": "result"}}],
        "outputs": {
            "result": {"file_name": "out.txt", "writer": "to_json"},
            "unused": {"file_name": "u.txt"},
        },
    }
    folder = experiment_folder(workdir, "exp_unused", config)
    with pytest.raises(ValueError, match="unused") as info:
        Experiment.from_yaml(folder / "config.yaml")
    assert isinstance(info.value, ConfigurationError)
    assert str(info.value).startswith(
        f"{folder / 'config.yaml'}: outputs.unused: no step takes output 'unused'"
    )
    assert not (workdir / "data").exists()  # refused before anything ran
    with pytest.raises(ConfigurationError, match=r"outputs\.unused: no step takes"):
        ExperimentGraph.from_yaml(folder)


def test_an_output_is_taken_as_an_argument_or_by_a_step_functions_parameter_name(workdir):
    by_argument = {  # named by its file name
        "datasource": "numbers",
        "steps": [{"produce_to": {"target": "t.json"}}],
        "outputs": {"table": {"file_name": "t.json", "writer": "to_json"}},
    }
    by_name = {"datasource": "numbers", "steps": ["produce"], "outputs": {"table": {"writer": "to_json"}}}
    for name, config in (("arg", by_argument), ("param", by_name)):
        exp = Experiment.from_yaml(experiment_folder(workdir, name, config))
        assert exp.run().errors == []
    listed = {"datasource": "numbers", "steps": [{"produce_to": {"target": "t.json"}}], "outputs": ["t.json"]}
    assert [a.name for a in Experiment.from_yaml(experiment_folder(workdir, "list", listed)).outputs] == [
        "t.json"
    ]


@pytest.mark.parametrize(
    ("steps", "outputs", "where"),
    [
        # produce's parameter table is set, so the output is not injected
        ([{"produce": {"table": 5}}], {"table": {"writer": "to_json"}}, "outputs.table"),
        ([{"produce_to": {"target": "t.json"}}], ["t.json", "spare.txt"], r"outputs\[1\]"),
        # a class step receives only what its entry passes
        (["Keep"], {"out": {"writer": "to_json"}}, "outputs.out"),
    ],
    ids=["argument-set", "list-form", "class-step"],
)
def test_outputs_no_step_takes_are_refused(workdir, steps, outputs, where):
    folder = experiment_folder(workdir, "exp", {"datasource": "numbers", "steps": steps, "outputs": outputs})
    (folder / "steps.py").write_text(textwrap.dedent(STEPS) + KEEPER)
    with pytest.raises(ConfigurationError, match=rf"config\.yaml: {where}: no step takes output"):
        Experiment.from_yaml(folder)


def test_a_class_step_takes_an_output_passed_to_its_constructor(workdir):
    config = {
        "datasource": "numbers",
        "steps": [{"Keep": {"out": "out"}}],
        "outputs": {"out": {"writer": "to_json"}},
    }
    folder = experiment_folder(workdir, "exp", config)
    (folder / "steps.py").write_text(textwrap.dedent(STEPS) + KEEPER)
    result = Experiment.from_yaml(folder).run()
    assert result.errors == []
    assert (
        workdir / "data" / "exp" / "v0" / "replicate_0" / "baseline" / "Keep" / "out"
    ).read_text() == '{"v": 0}'
