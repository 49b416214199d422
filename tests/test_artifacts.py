"""Artifacts: files steps write, where they are stored, reading them back through
artifact_datasource, and apply() leaving a run's stored results alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crystallize_opt import (
    Artifact,
    ArtifactPlugin,
    ConfigurationError,
    Experiment,
    FrozenContext,
    Pipeline,
    Treatment,
    pipeline_step,
)

from .engine_fixtures import demo_experiment, load_saved, save, score, shift


@pipeline_step()
def save_twice(data, ctx, out):
    out.write(b"one")
    out.write(b"two")
    return data


@pipeline_step()
def save_text(data, ctx, out):
    out.write({"not": "bytes"})
    return data


def producer(**overrides) -> Experiment:
    kwargs = dict(
        name="producer",
        pipeline=Pipeline([shift(), score(), save()]),
        outputs=[Artifact("out.json")],
        replicates=3,
    )
    kwargs.update(overrides)
    return demo_experiment(**kwargs)


def consumer(source, replicates=3) -> Experiment:
    return Experiment(
        datasource=source, pipeline=Pipeline([load_saved()]), name="consumer", replicates=replicates
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- writing -------------------------------------------------------------------------------


def test_artifacts_are_stored_per_replicate_condition_and_step(workdir):
    result = producer().run()
    assert result.errors == []
    base = workdir / "data" / "producer" / "v0"
    for condition in ("baseline", "plus_one"):
        paths = result.artifacts["out.json"][condition]
        assert paths == [
            # crystallize-ml's layout: the step's class name (``save`` -> ``SaveStep``)
            (base / f"replicate_{r}" / condition / "SaveStep" / "out.json").resolve()
            for r in range(3)
        ]
        means = result.metrics.condition(condition).metrics["mean"]
        for rep, path in enumerate(paths):
            assert json.loads(path.read_bytes()) == {"replicate": rep, "mean": pytest.approx(means[rep])}


def test_metadata_describes_the_run(workdir):
    exp = producer()
    result = exp.run()
    meta = json.loads((workdir / "data" / "producer" / "v0" / Experiment.METADATA_FILENAME).read_text())
    assert meta["replicates"] == 3 and meta["id"] == exp.id  # the reference's keys too
    assert (workdir / "data" / "producer" / "v0" / "baseline" / ".crystallize_complete").is_file()
    assert meta["conditions"] == ["baseline", "plus_one"]
    assert meta["pipeline_signature"] == exp.pipeline.signature() == result.provenance["pipeline_signature"]
    assert meta["master_seed"] == 0 and meta["name"] == "producer"


def test_artifact_written_twice_in_one_step_fails_the_run(workdir):
    result = producer(pipeline=Pipeline([save_twice()]), replicates=1, treatments=[]).run()
    (error,) = result.errors
    assert error.error_type == "ContextMutationError" and "out.json" in error.message


def test_artifact_data_must_be_bytes_or_text_without_a_writer(workdir):
    result = producer(pipeline=Pipeline([save_text()]), replicates=1, treatments=[]).run()
    (error,) = result.errors
    assert error.error_type == "TypeError" and "bytes or str, got dict" in error.message


def test_unbound_artifact_cannot_be_written():
    with pytest.raises(RuntimeError, match="not bound"):
        Artifact("model.bin").write(b"x")


@pytest.mark.parametrize("bad", ["", "dir/file.txt", ".hidden", None])
def test_artifact_names_must_be_plain_file_names(bad):
    with pytest.raises(ConfigurationError, match="plain file name"):
        Artifact(bad)  # type: ignore[arg-type]


def test_artifact_injection_names_and_loader(tmp_path):
    assert Artifact("model.json").injection_names == ("model.json", "model")
    assert Artifact("weights").injection_names == ("weights",)
    path = tmp_path / "m.json"
    path.write_text('{"a": 1}')
    assert Artifact("m.json").load(path) == b'{"a": 1}'
    assert Artifact("m.json", loader=lambda p: json.loads(p.read_text())).load(path) == {"a": 1}
    bound = Artifact("m.json").bind(FrozenContext())
    bound.write(b"data")  # goes to the run's artifact log
    assert [r.name for r in bound._ctx.artifacts] == ["m.json"]


def test_versioned_runs_get_new_folders(workdir):
    plugin = ArtifactPlugin(versioned=True)
    exp = producer(plugins=[plugin], replicates=1)
    first = exp.run()
    second = exp.run()
    assert plugin.existing_versions(exp) == [0, 1]
    assert "v0" in str(first.artifacts["out.json"]["baseline"][0])
    assert "v1" in str(second.artifacts["out.json"]["baseline"][0])
    assert first.artifacts["out.json"]["baseline"][0].is_file()


def test_results_are_not_stored_when_disabled(workdir):
    producer(plugins=[ArtifactPlugin(store_results=False)], replicates=1).run()
    assert list((workdir / "data").rglob("_result.json")) == []
    assert list((workdir / "data").rglob("out.json"))


# --- reading back --------------------------------------------------------------------------


def test_artifact_datasource_reads_replicate_by_replicate(workdir):
    a = producer()
    a_result = a.run()
    b = consumer(a.artifact_datasource(step="save", name="out.json"))
    b_result = b.run()
    assert b_result.errors == []
    assert b_result.metrics.baseline.metrics["stored_replicate"] == [0, 1, 2]
    assert b_result.metrics.baseline.metrics["stored_mean"] == pytest.approx(
        a_result.metrics.baseline.metrics["mean"]
    )


def test_artifact_datasource_reads_a_treatments_artifacts(workdir):
    a = producer()
    a_result = a.run()
    source = a.artifact_datasource(step="save", name="out.json", condition="plus_one", require_metadata=True)
    assert source.replicates == 3
    b_result = consumer(source).run()
    assert b_result.metrics.baseline.metrics["stored_mean"] == pytest.approx(
        a_result.metrics.treatments["plus_one"].metrics["mean"]
    )


def test_artifact_datasource_requires_metadata_when_asked(workdir):
    a = producer()
    with pytest.raises(FileNotFoundError, match=r"metadata\.json"):
        a.artifact_datasource(step="save", name="out.json", require_metadata=True)
    inferred = a.artifact_datasource(step="save", name="out.json")
    assert inferred.replicates == 3  # taken from the experiment instance


def test_artifact_datasource_reports_a_missing_file_per_replicate(workdir):
    a = producer(replicates=2)
    a.run()
    reader = consumer(a.artifact_datasource(step="save", name="out.json"), replicates=3)
    # Without replicates=, the run takes the count its input states (2), as crystallize-ml's.
    assert reader.run().metrics.baseline.metrics["stored_replicate"] == [0, 1]
    result = reader.run(replicates=3)
    assert result.metrics.baseline.metrics["stored_replicate"] == [0, 1]
    (error,) = result.errors
    assert error.replicate == 2 and error.error_type == "FileNotFoundError"
    assert "replicate 2" in error.message and "out.json" in error.message


def test_artifact_datasource_reads_the_latest_version(workdir):
    a = producer(plugins=[ArtifactPlugin(versioned=True)], replicates=1)
    a.run()
    latest = a.run(treatments=[], replicates=1)
    result = consumer(a.artifact_datasource(step="save", name="out.json"), replicates=1).run()
    assert result.metrics.baseline.metrics["stored_mean"] == pytest.approx(
        latest.metrics.baseline.metrics["mean"]
    )
    assert result.provenance["datasource"].startswith("artifact:producer:save:out.json")


# --- apply ---------------------------------------------------------------------------------


def test_apply_never_overwrites_a_runs_stored_results(workdir):
    exp = producer()
    run = exp.run()
    version = workdir / "data" / "producer" / "v0"
    before = snapshot(version)
    assert any(name.endswith("_result.json") for name in before)  # resume records exist
    exp.apply(Treatment("plus_one", {"delta": 5.0}))
    exp.apply()
    after = snapshot(version)
    assert {k: v for k, v in after.items() if k in before} == before
    new_files = sorted(set(after) - set(before))
    assert new_files and all(name.startswith("apply/") for name in new_files)
    assert not any(name.endswith("_result.json") for name in new_files)
    # resume still reuses the whole run
    resumed = exp.run(strategy="resume")
    assert resumed.provenance["reused"] == {"baseline": [0, 1, 2], "plus_one": [0, 1, 2]}
    assert resumed.artifacts == run.artifacts  # reused replicates still list their files
    assert resumed.metrics.baseline == run.metrics.baseline


def test_apply_before_any_run_writes_below_apply(workdir):
    exp = producer()
    exp.apply()
    files = sorted(
        p.relative_to(workdir / "data" / "producer" / "v0") for p in (workdir / "data").rglob("*.json")
    )
    assert files == [Path("apply/replicate_0/baseline/SaveStep/out.json")]


def test_artifact_datasource_made_before_the_producer_runs_reads_its_latest_run(workdir):
    a = producer(plugins=[ArtifactPlugin(versioned=True)], replicates=1, treatments=[])
    a.run()
    source = a.artifact_datasource(step="save", name="out.json")  # made while v0 is the latest
    b = consumer(source, replicates=2)
    latest = a.run(replicates=2)  # v1, with a second replicate
    result = b.run()
    assert result.errors == []
    assert result.metrics.baseline.metrics["stored_mean"] == pytest.approx(
        latest.metrics.baseline.metrics["mean"]
    )
    assert source.replicates == 2


# --- crystallize-ml's shapes ---------------------------------------------------------------


def test_result_artifact_paths_are_a_list_and_replicate_zeros_path(workdir):
    result = producer(replicates=2).run()
    paths = result.artifacts["out.json"]["baseline"]
    first = paths[0]
    assert len(paths) == 2 and paths[1] != first
    # crystallize-ml's Result.artifacts[name][condition] was replicate 0's Path
    assert paths == first and str(paths) == str(first) and Path(paths) == first
    assert paths.read_bytes() == first.read_bytes() and paths.exists() and paths.name == "out.json"
    with open(paths, "rb") as handle:
        assert handle.read() == first.read_bytes()
    assert paths / "x" == first / "x"
    assert result.errors == {} and "baseline_rep_0" not in result.errors


def test_a_decorated_step_is_found_by_its_class_name_and_by_its_name(workdir):
    a = producer()
    a.run()
    step = a.pipeline.steps[-1]
    assert type(step).__name__ == "SaveStep" and step.name == "save"  # crystallize-ml: "<Fn.title()>Step"
    for given in ("SaveStep", "save"):
        source = a.artifact_datasource(step=given, name="out.json")
        assert source.fetch(FrozenContext({"replicate": 1})).parent.name == "SaveStep"


def _upper(path: Path) -> str:
    return path.read_text().upper()


def test_an_artifact_with_a_lambda_loader_pickles_for_process_execution(tmp_path):
    import pickle

    pytest.importorskip("cloudpickle", reason="a lambda is pickled by value with cloudpickle")
    artifact = Artifact("a.txt", loader=lambda p: p.read_text() + "!", writer=lambda d: d.encode())
    copy = pickle.loads(pickle.dumps(artifact))
    (tmp_path / "a.txt").write_text("hi")
    assert copy.load(tmp_path / "a.txt") == "hi!" and copy.writer("x") == b"x"
    plain = pickle.loads(pickle.dumps(Artifact("b.txt", loader=_upper)))
    assert plain.loader is _upper  # module-level functions still pickle by reference


def test_an_unnamed_experiment_stores_under_its_id(workdir):
    from .engine_fixtures import points

    exp = Experiment(
        datasource=points(), pipeline=Pipeline([shift(), score(), save()]), outputs=[Artifact("out.json")]
    )
    exp.run()
    base = workdir / "data" / exp.id / "v0"  # crystallize-ml: <root>/<exp.name or exp.id>/v<N>
    assert (base / "metadata.json").is_file()
    assert (base / "replicate_0" / "baseline" / "SaveStep" / "out.json").is_file()
