"""Artifact retention (crystallize-ml's ``artifact_retention`` / ``big_file_threshold_mb``):
off unless asked; when on, the newest version stays whole, recent ones lose big files, older
ones keep only their small JSON files, and their metrics stay readable."""

from __future__ import annotations

from pathlib import Path

import pytest

import crystallize_opt as co

SIZES = {"small.bin": 1_000, "big.bin": 300_000}


@co.data_source
def nothing(ctx: co.FrozenContext) -> None:
    return None


@co.pipeline_step
def write_files(data: None, ctx: co.FrozenContext, small: co.Artifact, big: co.Artifact) -> None:
    small.write(b"s" * SIZES["small.bin"])
    big.write(b"b" * SIZES["big.bin"])
    ctx.metrics.add("value", 1.0)


def run_versions(root: Path, count: int, **plugin: object) -> Path:
    for _ in range(count):
        co.Experiment(
            datasource=nothing(),
            pipeline=co.Pipeline([write_files()]),
            name="kept",
            outputs=[co.Artifact("small.bin"), co.Artifact("big.bin")],
            plugins=[co.ArtifactPlugin(root_dir=root, versioned=True, **plugin)],  # type: ignore[arg-type]
        ).run()
    return root / "kept"


def files_of(version: Path) -> set[str]:
    return {p.name for p in version.rglob("*") if p.is_file()}


def test_without_retention_every_version_keeps_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRYSTALLIZE_ARTIFACT_RETENTION", raising=False)
    folder = run_versions(tmp_path, 4)
    assert all({"small.bin", "big.bin", "results.json"} <= files_of(folder / f"v{v}") for v in range(4))


def test_retention_prunes_old_versions_and_big_files_of_recent_ones(tmp_path: Path) -> None:
    folder = run_versions(tmp_path, 5, artifact_retention=3, big_file_threshold_mb=0.1)
    newest, recent, old = folder / "v4", [folder / "v3", folder / "v2"], [folder / "v1", folder / "v0"]
    assert {"small.bin", "big.bin", "results.json", "metadata.json"} <= files_of(newest)
    for version in recent:
        assert "small.bin" in files_of(version) and "big.bin" not in files_of(version)
    for version in old:
        assert files_of(version) <= {"results.json", "metadata.json", "_manifest.json"}
        assert "results.json" in files_of(version)
    # The metrics of every version stay readable.
    for version in range(5):
        assert co.load_metrics(folder, version=version)[1]["value"] == [1.0]


def test_the_environment_variables_set_retention(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYSTALLIZE_ARTIFACT_RETENTION", "1")
    monkeypatch.setenv("CRYSTALLIZE_BIG_FILE_THRESHOLD_MB", "0.1")
    folder = run_versions(tmp_path, 2)
    assert "big.bin" in files_of(folder / "v1") and "big.bin" not in files_of(folder / "v0")
    monkeypatch.setenv("CRYSTALLIZE_ARTIFACT_RETENTION", "three")
    with pytest.raises(
        co.ConfigurationError, match="CRYSTALLIZE_ARTIFACT_RETENTION must be an integer, got 'three'"
    ):
        run_versions(tmp_path / "bad", 1)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("artifact_retention", "3"),
        ("artifact_retention", 2.5),
        ("big_file_threshold_mb", 0),
        ("big_file_threshold_mb", "x"),
    ],
)
def test_bad_settings_are_refused_when_the_plugin_is_made(setting: str, value: object) -> None:
    with pytest.raises(co.ConfigurationError, match=f"ArtifactPlugin {setting} must be"):
        co.ArtifactPlugin(**{setting: value})  # type: ignore[arg-type]
