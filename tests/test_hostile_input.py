"""Hostile or mistaken input (issue 20, items 7-10): an alias bomb costs no time or memory, no
name places a file outside its folder, values out of range are refused with the same one-line
error as a bad config, and every config error is one line."""

from __future__ import annotations

import random
import re
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from crystallize_opt import Artifact, Experiment, Pipeline, PipelineStep, SeedPlugin, Treatment
from crystallize_opt.cli import main
from crystallize_opt.config import load_study
from crystallize_opt.config._errors import describe
from crystallize_opt.exceptions import ConfigurationError

from . import servers

# -- helpers -------------------------------------------------------------------------------------


def _limit_memory() -> None:  # runs in the child: 1 GiB of address space
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def cli(*args: str | Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own, limited to 1 GiB of memory."""
    return subprocess.run(
        servers.cli_command(*map(str, args)),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**servers.process_env(), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        preexec_fn=_limit_memory,
    )


def one_error_line(stderr: str) -> str:
    """The command's only line on stderr, which must be its error."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("crystallize-opt: error: "), stderr
    return lines[0]


def everything_under(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def bomb_yaml(key: str = "replicates") -> str:
    """The issue's alias bomb: 9 levels of 9 aliases, ~400 million values from under 1 KB."""
    lines = [f"{key}:", '  a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


def rewrite(folder: Path, old: str, new: str) -> None:
    config = folder / "config.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))


# -- item 7: an alias bomb ---------------------------------------------------------------------------


@pytest.mark.slow  # wall-clock bounds
def test_an_alias_bomb_is_refused_in_a_second_within_1_gib(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "bomb")
    rewrite(folder, "replicates: 3\n", bomb_yaml())
    assert len((folder / "config.yaml").read_bytes()) < 1000
    started = time.monotonic()
    result = cli("run", folder, cwd=tmp_path)
    took = time.monotonic() - started
    assert result.returncode == 2, result.stderr  # was: 78 s and 6 GB, then MemoryError (exit 1)
    line = one_error_line(result.stderr)
    assert f"{folder / 'config.yaml'}: replicates." in line and "alias" in line, line
    assert took < 30, took  # the imports of a cold start on a busy machine; the check itself is ~ms


@pytest.mark.timeout(20)
def test_an_alias_bomb_anywhere_is_refused_before_its_values_are_built(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "bomb")
    merge = "\n".join(  # merge keys (<<) that expand the same way
        ["x:", "  a: &a {k0: 0, k1: 1, k2: 2}"]
        + [
            f"  {n}: &{n} {{<<: [{', '.join([f'*{p}'] * 9)}]}}"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ]
    )
    for block, key in [(bomb_yaml("initial_ctx"), "initial_ctx."), (merge + "\n", "x.")]:
        (folder / "config.yaml").write_text(block + "datasource: noise\nsteps: [loss]\n")
        with pytest.raises(ConfigurationError, match="YAML aliases expand this value") as caught:
            load_study(folder)
        assert f"config.yaml: {key}" in str(caught.value)


@pytest.mark.timeout(20)
def test_describing_a_huge_shared_value_looks_at_a_bounded_part_of_it() -> None:
    value: Any = ["x"] * 9
    for _ in range(9):  # 9**9 leaves, shared as YAML aliases share them: repr() would take minutes
        value = [value] * 9
    text = describe({"deep": value, "big": 10**5000, "long": "y" * 10**6})
    assert len(text) <= 100 and "\n" not in text, text
    assert describe(value).startswith("a list [[[")


# -- item 8: names that would place files outside their folder ----------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("name: tiny", "name: ../../escaped", "name"),
        ("name: tiny", "name: '..'", "name"),
        ("  one: {x: 1.0}", "  ../../escaped: {x: 1.0}", "treatments"),
        ("  one: {x: 1.0}", '  "a\\\\b": {x: 1.0}', "treatments"),
        ("steps: [loss]", "steps: [loss]\noutputs: ['../../escaped.txt']", "outputs[0]"),
    ],
)
def test_no_name_of_a_config_places_a_file_outside_its_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    key: str,
) -> None:
    work = tmp_path / "a" / "b" / "work"
    folder = servers.write_study(work / "study")
    rewrite(folder, old, new)
    monkeypatch.chdir(work)  # where `run` keeps its ./data
    before = everything_under(tmp_path)
    assert main(["run", str(folder)]) == 2  # was: 0, writing below ./data/../../escaped/
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert f"config.yaml: {key}" in err and "plain file name" in err, err
    assert everything_under(tmp_path) == before  # nothing written anywhere


class _Step(PipelineStep):
    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def __call__(self, data: Any, ctx: Any) -> Any:
        ctx.metrics.add("loss", 1.0)
        return data


@pytest.mark.parametrize(
    "bad", ["../x", "a/b", "a\\b", ".", "..", ".hidden", "", "a\x00b", "a\nb", "x" * 256]
)
def test_every_name_that_becomes_a_path_follows_one_rule(tmp_path: Path, bad: str) -> None:
    rule = "must be a plain file name"
    good = servers.tiny_experiment()
    with pytest.raises(ConfigurationError, match=rule):
        Treatment(bad, {"x": 1.0})
    with pytest.raises(ConfigurationError, match=rule):
        Artifact(bad)
    with pytest.raises(ConfigurationError, match=rule):
        Experiment(datasource=good.datasource, pipeline=good.pipeline, name=bad)
    with pytest.raises(ConfigurationError, match=rule):
        Experiment(datasource=good.datasource, pipeline=Pipeline([_Step(bad)]), name="ok")
    with pytest.raises(ConfigurationError, match=rule):
        good.artifact_datasource(step="loss", name=bad)


def test_a_name_changed_after_construction_is_checked_where_it_becomes_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # the default ArtifactPlugin writes below ./data
    experiment = servers.tiny_experiment()
    experiment.name = "../../escaped"
    with pytest.raises(ConfigurationError, match=re.escape("experiment name '../../escaped' contains '/'")):
        experiment.run()
    assert everything_under(tmp_path) == {tmp_path / "work"}


# -- item 9: values out of range -------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return servers.write_study(tmp_path / "tiny", trials=2, replicates_per_trial=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimize", "--trials", "0"], "--trials must be a positive integer, got 0"),
        (
            ["optimize", "--replicates", "0"],
            "--replicates must be a positive integer of at most 10,000, got 0",
        ),
        (["optimize", "--replicates", "100000000000"], "--replicates must be a positive integer of at most"),
        (["worker", "--trials", "-1"], "--trials must be a positive integer, got -1"),
        (["run", "--replicates", "0"], "--replicates must be a positive integer of at most 10,000, got 0"),
        (["optimize", "--study", ""], "--study must be a non-empty string, got ''"),
        (["optimize", "--workers", "0"], "--workers must be a positive integer, got 0"),
        (
            ["optimize", "--seed", "99999999999999999999"],
            "--seed must be a non-negative integer of at most 4294967295 (2**32 - 1), got 99999999999999999999",
        ),
        (["optimize", "--seed", "-1"], "--seed must be a non-negative integer of at most 4294967295"),
        (["trials", "--top", "0"], "--top must be a positive integer, got 0"),
        (["trials", "--top", "-1"], "--top must be a positive integer, got -1"),
    ],
)
def test_options_out_of_range_are_refused_before_anything_runs(
    tiny: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    command, *options = args
    assert main([command, str(tiny), *options]) == 2  # was: 0 (running or listing), or 1
    captured = capsys.readouterr()
    assert captured.err == f"crystallize-opt: error: {message}\n" or message in captured.err, captured.err
    assert len(captured.err.splitlines()) == 1 and captured.out == "", captured
    assert not (tiny / "study.db").exists() and not (tiny.parent / "data").exists()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # without a sampler the seed reached Optuna's TPESampler: a raw ValueError, exit 1
        (
            "  sampler: {name: tpe, seed: 0}\n",
            "",
            "seed: expected a non-negative integer of at most 4294967295",
        ),
        ("seed: 7", "seed: 4294967296", "seed: expected a non-negative integer of at most 4294967295"),
        (
            "sampler: {name: tpe, seed: 0}",
            "sampler: {name: tpe, seed: 4294967296}",
            "optimize.sampler.seed: expected a non-negative integer of at most 4294967295",
        ),
        (
            "replicates_per_trial: 1",  # was accepted, then hung deriving 10**11 seeds
            "replicates_per_trial: 100000000000",
            "optimize.replicates_per_trial: expected a positive integer of at most 10,000, got 100000000000",
        ),
        ("replicates: 3", "replicates: 10001", "replicates: expected a positive integer of at most 10,000"),
    ],
)
def test_config_values_out_of_range_are_refused(
    tiny: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    rewrite(tiny, old, new)
    if old.startswith("  sampler"):  # the master seed is the default sampler's seed
        rewrite(tiny, "seed: 7", "seed: 4294967296")
    with pytest.raises(ConfigurationError, match="expected") as caught:
        load_study(tiny)
    assert message in str(caught.value)
    assert main(["optimize", str(tiny), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"crystallize-opt: error: {tiny / 'config.yaml'}: ") and message in err, err
    assert len(err.splitlines()) == 1


@pytest.mark.timeout(60)
def test_the_python_api_applies_the_same_ranges() -> None:
    from optuna.distributions import FloatDistribution

    from crystallize_opt import Objective, OptunaOptimizer

    space = {"x": FloatDistribution(0.0, 1.0)}
    study = servers.tiny_experiment()
    optimizer = OptunaOptimizer(space, Objective("loss"), storage=":memory:")
    with pytest.raises(
        ConfigurationError, match="replicates_per_trial must be a positive integer of at most"
    ):
        study.optimize(optimizer, num_trials=1, replicates_per_trial=10**11)  # was: a hang
    with pytest.raises(ConfigurationError, match="num_trials must be a positive integer, got 0"):
        study.optimize(optimizer, num_trials=0)
    with pytest.raises(ConfigurationError, match=r"SeedPlugin seed must be .* 4294967295"):
        SeedPlugin(seed=2**32)
    assert SeedPlugin(seed=2**32 - 1).seed == 2**32 - 1
    with pytest.raises(ConfigurationError, match="study_name must be a non-empty string"):
        OptunaOptimizer(space, Objective("loss"), storage=":memory:", study_name="")


def test_make_optimizer_checks_the_seed_it_is_given(tiny: Path) -> None:
    settings = load_study(tiny).optimize
    assert settings is not None
    with pytest.raises(
        ConfigurationError, match=r"seed must be a non-negative integer of at most 4294967295"
    ):
        settings.make_optimizer(storage=":memory:", seed=2**32)  # was: a raw ValueError from Optuna


# -- item 10: every config error is one line -------------------------------------------------------

_AWKWARD = [chr(c) for c in range(32)] + ["\x7f", "\x85", "\u2028", "\u2029", "\ufeff", "\u200b", "'", '"']
_VALUES = [
    "0",
    "-1",
    "1e400",
    ".nan",
    "99999999999999999999",
    "null",
    "[]",
    "{}",
    "[1, [2, [3]]]",
    "*x",
    "&a 1",
]


def _escaped(text: str) -> str:
    """``text`` as a YAML double-quoted string: the way a control character gets into a key or
    value past the reader, which refuses most of them written raw."""
    return '"' + "".join(f"\\x{ord(c):02x}" if ord(c) < 256 and not c.isalnum() else c for c in text) + '"'


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    index = rng.randrange(len(lines))
    line = lines[index]
    word = "".join(rng.choice([*_AWKWARD, "a", "b", "é", "/", ":"]) for _ in range(rng.randint(1, 6)))
    kind = rng.randrange(5)
    if kind == 0:  # a raw character anywhere
        at = rng.randrange(len(line) + 1)
        lines[index] = line[:at] + rng.choice(_AWKWARD) + line[at:]
    elif kind == 1 and ":" in line:  # a key with control characters
        indent = line[: len(line) - len(line.lstrip())]
        lines[index] = indent + _escaped(word) + ":" + line.split(":", 1)[1]
    elif kind == 2 and ":" in line:  # a value with control characters
        lines[index] = line.split(":", 1)[0] + ": " + _escaped(word)
    elif kind == 3 and ":" in line:  # another kind of value
        lines[index] = line.split(":", 1)[0] + ": " + rng.choice(_VALUES)
    else:  # a line of its own
        lines.insert(index, rng.choice(["", "  "]) + _escaped(word) + ": " + rng.choice(_VALUES))
    return "\n".join(lines) + "\n"


def test_fuzzed_configs_give_one_line_configuration_errors(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "fuzz", extra_yaml="  storage: ':memory:'\n")
    config = folder / "config.yaml"
    base = config.read_text()
    rng = random.Random(20)
    refused = 0
    for number in range(400):
        text = base
        for _ in range(rng.randint(1, 3)):
            text = _mutate(text, rng)
        config.write_text(text, encoding="utf-8", newline="")
        try:
            load_study(folder)
        except ConfigurationError as exc:
            refused += 1
            message = str(exc)
            assert len(message.splitlines()) == 1 and message.isprintable(), (number, text, message)
        # any other exception fails the test, as it would exit 1 with a traceback-like message
    assert refused > 200  # the mutations mostly break the config


def test_a_config_with_control_characters_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "ctl")
    # a raw control character (PyYAML's message had two lines), then a key with line breaks
    (folder / "config.yaml").write_text("name: tiny\nreplicates: 3\x07\ndatasource: noise\nsteps: [loss]\n")
    result = cli("run", folder, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "special characters are not allowed" in one_error_line(result.stderr)
    (folder / "config.yaml").write_text(
        'name: tiny\n"bad\\nkey\\u2028": 1\ndatasource: noise\nsteps: [loss]\n'
    )
    with pytest.raises(ConfigurationError, match=re.escape("config.yaml: bad\\nkey\\u2028: unknown key")):
        load_study(folder)


def test_the_one_line_rule_covers_a_study_file_name_with_a_newline(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "new\nline")
    (folder / "config.yaml").write_text("replicates: 0\ndatasource: noise\nsteps: [loss]\n")
    with pytest.raises(ConfigurationError) as caught:
        load_study(folder)
    assert "new\\nline" in str(caught.value) and len(str(caught.value).splitlines()) == 1
