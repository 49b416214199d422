"""Where steps' artifacts are stored: the step's class name is the step folder, as in
crystallize-ml (``write_out`` -> ``Write_OutStep``), and what earlier versions stored under the
step's name (the function's name) is still read by every reader."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from crystallize_opt import (
    Artifact,
    Experiment,
    ExperimentGraph,
    ExperimentInput,
    FrozenContext,
    Pipeline,
    PipelineStep,
    Treatment,
    pipeline_step,
)

from .engine_fixtures import load_saved, points, save, score, shift


@pipeline_step()
def write_out(data, ctx, out):
    out.write(f"{ctx['condition']} {ctx['replicate']}")
    return data


class Writer(PipelineStep):
    """A class-based step: its folder is its class name, as before."""

    def __init__(self, out: Artifact):
        self.out = out

    @property
    def params(self) -> dict[str, object]:
        return {}

    def __call__(self, data, ctx):
        self.out.write(b"class")
        return data


@pipeline_step()
def fail_always(data, ctx):
    raise RuntimeError("boom")


def producer(replicates: int = 3) -> Experiment:
    return Experiment(
        points(),
        Pipeline([shift(), score(), save()]),
        name="producer",
        treatments=[Treatment("plus_one", {"delta": 1.0})],
        outputs=[Artifact("out.json")],
        replicates=replicates,
    )


def to_earlier_layout(version_dir: Path, step_class: str, step_name: str) -> None:
    """Make ``version_dir`` what an earlier version stored: step folders named by the step's
    name, and the manifest and resume records saying so."""
    for folder in sorted(version_dir.glob(f"replicate_*/*/{step_class}")):
        folder.rename(folder.with_name(step_name))
    for record in [version_dir / "_manifest.json", *version_dir.glob("replicate_*/*/_result.json")]:
        text = record.read_text(encoding="utf-8")
        text = text.replace(f"{os.sep}{step_class}{os.sep}", f"{os.sep}{step_name}{os.sep}")
        record.write_text(text.replace(f'"{step_class}"', f'"{step_name}"'), encoding="utf-8")
    assert not list(version_dir.glob(f"replicate_*/*/{step_class}"))


def test_a_step_functions_artifacts_go_to_its_class_name_folder(workdir):
    exp = Experiment(
        points(),
        Pipeline([write_out()]),
        name="exp",
        treatments=[Treatment("t1", {})],
        outputs=[Artifact("out.txt")],
        replicates=2,
    )
    result = exp.run()
    assert result.errors == []
    # <root_dir>/<exp.name>/v<version>/replicate_<rep>/<condition>/<StepClassName>/<artifact name>
    path = workdir / "data" / "exp" / "v0" / "replicate_1" / "t1" / "Write_OutStep" / "out.txt"
    assert path.read_text() == "t1 1"
    assert result.artifacts["out.txt"]["t1"][1] == path.resolve()
    manifest = json.loads((workdir / "data" / "exp" / "v0" / "_manifest.json").read_text())
    assert manifest == {"out.txt": "Write_OutStep"}
    step = exp.pipeline.steps[0]
    assert type(step).__name__ == "Write_OutStep" and step.name == "write_out"  # name: provenance


def test_a_step_keeps_its_name_in_provenance_and_errors(workdir):
    exp = Experiment(points(), Pipeline([write_out(), fail_always()]), outputs=[Artifact("out.txt")])
    result = exp.run()
    assert [s["step"] for s in exp.pipeline.get_provenance()] == ["write_out"]
    assert result.errors[0].step == "fail_always"


def test_a_class_based_steps_folder_is_its_class_name(workdir):
    out = Artifact("c.bin")
    exp = Experiment(points(), Pipeline([Writer(out)]), name="classy", outputs=[out])
    assert exp.run().errors == []
    assert (workdir / "data" / "classy" / "v0" / "replicate_0" / "baseline" / "Writer" / "c.bin").is_file()


@pytest.mark.parametrize("manifest", ["kept", "missing"])
def test_artifacts_stored_by_earlier_versions_under_the_step_name_are_read(workdir, manifest):
    first = producer().run()
    version = workdir / "data" / "producer" / "v0"
    to_earlier_layout(version, "SaveStep", "save")
    if manifest == "missing":
        (version / "_manifest.json").unlink()
    # artifact_datasource, by the class name (crystallize-ml's spelling) and by the name
    for step in ("SaveStep", "save"):
        reader = Experiment(
            producer().artifact_datasource(step=step, name="out.json", condition="plus_one"),
            Pipeline([load_saved()]),
            name="reader",
            replicates=3,
        )
        result = reader.run()
        assert result.errors == []
        assert result.metrics.baseline.metrics["stored_replicate"] == [0, 1, 2]
        assert result.metrics.baseline.metrics["stored_mean"] == pytest.approx(
            first.metrics.treatments["plus_one"].metrics["mean"]
        )
    # Artifact.fetch
    artifact = producer().outputs["out.json"]
    stored = json.loads(artifact.fetch(FrozenContext({"replicate": 2, "condition": "plus_one"})))
    assert stored["replicate"] == 2
    old = version / "replicate_2" / "plus_one" / "save" / "out.json"
    assert stored == json.loads(old.read_text())


def test_a_missing_artifact_names_both_folders_looked_in(workdir):
    producer().run()
    source = producer().artifact_datasource(step="save", name="nothing.json")
    with pytest.raises(FileNotFoundError) as info:
        source.fetch(FrozenContext({"replicate": 0}))
    message = str(info.value)
    assert f"baseline{os.sep}SaveStep{os.sep}nothing.json or " in message
    assert f"baseline{os.sep}save{os.sep}nothing.json" in message


def test_resume_continues_a_version_stored_by_an_earlier_version(workdir):
    producer().run()
    version = workdir / "data" / "producer" / "v0"
    to_earlier_layout(version, "SaveStep", "save")
    shutil.rmtree(version / "replicate_2")  # the earlier version's run was interrupted there
    resumed = producer().run(strategy="resume")
    assert resumed.errors == []
    assert resumed.provenance["reused"] == {"baseline": [0, 1], "plus_one": [0, 1]}
    paths = resumed.artifacts["out.json"]["baseline"]
    # reused replicates list the files where they are; the new one is in the class-name folder
    assert [p.parent.name for p in paths] == ["save", "save", "SaveStep"] and all(p.is_file() for p in paths)
    reader = Experiment(
        producer().artifact_datasource(step="save", name="out.json"),
        Pipeline([load_saved()]),
        name="reader",
        replicates=3,
    )
    result = reader.run()
    assert result.errors == [] and result.metrics.baseline.metrics["stored_replicate"] == [0, 1, 2]
    artifact = producer().outputs["out.json"]
    read = [json.loads(artifact.fetch(FrozenContext({"replicate": r})))["replicate"] for r in range(3)]
    assert read == [0, 1, 2]


def test_a_graph_resumes_a_producer_stored_by_an_earlier_version(workdir):
    def pair() -> tuple[Experiment, Experiment]:
        prod = producer()
        table = prod.outputs["out.json"]
        cons = Experiment(ExperimentInput(table=table), Pipeline([score_table()]), name="cons", replicates=3)
        return prod, cons

    prod, cons = pair()
    ExperimentGraph(prod, cons).run()
    to_earlier_layout(workdir / "data" / "producer" / "v0", "SaveStep", "save")
    prod, cons = pair()
    results = ExperimentGraph(prod, cons).run(strategy="resume")
    # the producer's artifacts are found in the old folders, so it is not run again
    assert results["producer"].provenance["reused"] == {"baseline": [0, 1, 2], "plus_one": [0, 1, 2]}
    assert results["cons"].errors == []
    assert results["cons"].metrics.baseline.metrics["stored_replicate"] == [0, 1, 2]


@pipeline_step()
def score_table(data, ctx):
    ctx.metrics.add("stored_replicate", json.loads(data["table"])["replicate"])
    return data
