"""The step cache (issue 16): cacheable steps keyed by code, parameters, input and the context
values they read; a hit replays what the step did; bounded memory and disk caches; optimize
runs a step that reads no search parameter once per replicate seed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution

from crystallize_opt import (
    Experiment,
    FrozenContext,
    Objective,
    OptunaOptimizer,
    ParallelExecution,
    Pipeline,
    StepCache,
    Treatment,
    compute_hash,
    data_source,
    pipeline_step,
    set_step_cache,
)

#: Steps append their name here each time they really run (serial runs, this process).
RUNS: list[str] = []


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StepCache]:
    monkeypatch.chdir(tmp_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    RUNS.clear()
    cache = StepCache(tmp_path / "step-cache")
    set_step_cache(cache)
    yield cache
    set_step_cache(None)


@data_source
def constant(ctx, value: float = 2.0):
    return value


@data_source
def seeded_points(ctx, size: int = 200):
    """Data that depend on the replicate's seed, as loaded or split data do."""
    return ctx.rng.normal(size=size)


def _scaled(data, ctx, scale: float = 1.0):
    RUNS.append("scaled")
    ctx.metrics.add("value", data * scale)
    return data * scale


scaled = pipeline_step(cacheable=True)(_scaled)
scaled_uncached = pipeline_step()(_scaled)


def _noisy(data, ctx):
    RUNS.append("noisy")
    noise = float(ctx.rng.normal())
    ctx.metrics.add("noise", noise)
    return data + noise


noisy = pipeline_step(cacheable=True)(_noisy)
noisy_uncached = pipeline_step()(_noisy)


@pipeline_step(cacheable=True)
def tag_seed(data, ctx, seed_used: int = 0):
    RUNS.append("tag_seed")
    ctx.metrics.add("seed_seen", seed_used)
    return data


def _preprocess(data, ctx):
    RUNS.append("preprocess")
    return np.sort(data)[::2] * 0.5


preprocess = pipeline_step(cacheable=True)(_preprocess)
preprocess_uncached = pipeline_step()(_preprocess)


@pipeline_step()
def model(data, ctx, x: float = 0.0):
    ctx.metrics.add("loss", float((x - 1.0) ** 2 + data.mean()))
    return data


@pipeline_step(cacheable=True)
def writes_everything(data, ctx, label: str = "a"):
    RUNS.append("writes_everything")
    ctx.add("features", {"label": label, "rows": [1, 2, 3]})
    ctx.metrics.add("prep_loss", 0.25, tags={"epoch": 1})
    ctx.metrics.add("prep_loss", 0.125)
    return {"data": data, "draw": float(ctx.rng.normal())}


@pipeline_step()
def after(data, ctx, features: dict | None = None):
    ctx.metrics.add("next_draw", float(ctx.rng.normal()))
    return (data, features)


@pipeline_step(cacheable=True)
def branches(data, ctx):
    """Reads ``b`` only when ``a`` is positive: its read set depends on what it read."""
    RUNS.append("branches")
    return data + (ctx["b"] if ctx["a"] > 0 else -1)


@pipeline_step(cacheable=True)
def noisy_logged(data, ctx, run_log: str = ""):
    """``noisy``, counting its runs in the file ``run_log`` (it runs in worker processes)."""
    with open(run_log, "a") as log:
        log.write("run\n")
    noise = float(ctx.rng.normal())
    ctx.metrics.add("noise", noise)
    return data + noise


def experiment(*steps, datasource=None, treatments=None, replicates=1, **kwargs) -> Experiment:
    return Experiment(
        datasource=datasource if datasource is not None else constant(),
        pipeline=Pipeline(list(steps)),
        treatments=treatments,
        replicates=replicates,
        name="cache",
        **kwargs,
    )


def metric_values(result, condition: str, metric: str) -> list[float]:
    metrics = result.metrics.baseline if condition == "baseline" else result.metrics.treatments[condition]
    return list(metrics.metrics[metric])


def step_hits(result, condition: str) -> list[bool]:
    steps = result.provenance["ctx_changes"][condition]
    return [record["cache_hit"] for replicate in sorted(steps) for record in steps[replicate]]


def test_a_treatment_parameter_read_by_a_cached_step_changes_its_key() -> None:
    treatments = [Treatment("x2", {"scale": 2.0}), Treatment("x3", {"scale": 3.0})]
    exp = experiment(scaled(), treatments=treatments)
    first = exp.run()
    # The reference returned the baseline's cached 2.0 for every treatment.
    assert metric_values(first, "baseline", "value") == [2.0]
    assert metric_values(first, "x2", "value") == [4.0]
    assert metric_values(first, "x3", "value") == [6.0]
    assert RUNS == ["scaled"] * 3
    second = exp.run()
    assert RUNS == ["scaled"] * 3  # every condition came from the cache
    for condition, value in [("baseline", 2.0), ("x2", 4.0), ("x3", 6.0)]:
        assert metric_values(second, condition, "value") == [value]
        assert step_hits(second, condition) == [True]
    assert step_hits(first, "x2") == [False]


def test_an_explicit_parameter_changes_the_key() -> None:
    experiment(scaled(scale=5.0)).run()
    result = experiment(scaled(scale=7.0)).run()
    assert metric_values(result, "baseline", "value") == [14.0]
    assert RUNS == ["scaled", "scaled"]


def test_the_seed_changes_the_key_and_cached_runs_match_uncached_ones() -> None:
    uncached = experiment(noisy_uncached(), replicates=3).run()
    RUNS.clear()
    cached_first = experiment(noisy(), replicates=3).run()
    cached_again = experiment(noisy(), replicates=3).run()
    expected = metric_values(uncached, "baseline", "noise")
    assert len(set(expected)) == 3  # each replicate's seed gives its own draw
    assert metric_values(cached_first, "baseline", "noise") == expected
    assert metric_values(cached_again, "baseline", "noise") == expected
    assert RUNS == ["noisy"] * 3
    assert step_hits(cached_again, "baseline") == [True] * 3


def test_a_step_reading_the_seed_is_cached_per_seed() -> None:
    result = experiment(tag_seed(), replicates=3).run()
    seeds = [result.provenance["seeds"]["baseline"][r] for r in range(3)]
    assert metric_values(result, "baseline", "seed_seen") == seeds
    assert metric_values(experiment(tag_seed(), replicates=3).run(), "baseline", "seed_seen") == seeds
    assert RUNS == ["tag_seed"] * 3


def test_a_hit_restores_context_writes_metrics_tags_and_the_generator() -> None:
    pipe = Pipeline([writes_everything(), after()])

    def run() -> tuple[object, FrozenContext]:
        ctx = FrozenContext({"seed_used": 11})
        return pipe.run("input", ctx), ctx

    first_output, first = run()
    assert [r["cache_hit"] for r in pipe.get_provenance()] == [False, False]
    second_output, second = run()
    assert [r["cache_hit"] for r in pipe.get_provenance()] == [True, False]
    assert RUNS == ["writes_everything"]
    assert second_output == first_output
    assert second["features"] == {"label": "a", "rows": [1, 2, 3]}
    assert second.metrics.as_dict() == first.metrics.as_dict()
    assert second.metrics.get_tags("prep_loss") == ({"epoch": 1}, {})
    # The next step draws from ctx.rng where the cached step left it.
    assert second.metrics["next_draw"] == first.metrics["next_draw"]
    records = pipe.get_provenance()
    assert records[0]["step_hash"] == writes_everything().step_hash
    assert records[0]["input_hash"] == compute_hash("input")
    assert records[0]["ctx_changes"]["wrote"]["features"]["after"].startswith("{'label'")
    assert records[1]["input_hash"] is None  # a step that is not cacheable is never hashed


def test_a_cached_output_is_a_copy_the_next_step_may_change() -> None:
    @pipeline_step()
    def mutate(data, ctx):
        data["data"] = "changed"
        return data

    pipe = Pipeline([writes_everything(), mutate()])
    assert pipe.run("input", FrozenContext())["data"] == "changed"  # a miss
    assert pipe.run("input", FrozenContext())["data"] == "changed"  # a hit
    assert RUNS == ["writes_everything"]
    # What the next step changed reached neither the cache nor a later hit.
    assert Pipeline([writes_everything()]).run("input", FrozenContext())["data"] == "input"


@pipeline_step(cacheable=True)
async def async_scaled(data, ctx, scale: float = 1.0):
    RUNS.append("async_scaled")
    await asyncio.sleep(0)
    return data * scale


def test_an_async_cacheable_step_is_awaited_and_cached() -> None:
    pipe = Pipeline([async_scaled()])
    outputs = [pipe.run(2.0, FrozenContext({"scale": s})) for s in (3.0, 3.0, 4.0)]
    assert outputs == [6.0, 6.0, 8.0]
    assert RUNS == ["async_scaled", "async_scaled"]


def test_a_step_whose_reads_depend_on_values_is_keyed_by_what_it_read() -> None:
    pipe = Pipeline([branches()])
    contexts = [
        {"a": 1, "b": 10},
        {"a": -1, "b": 10},
        {"a": 1, "b": 20},
        {"a": -1, "b": 30},
        {"a": 1, "b": 10},
    ]
    outputs = [pipe.run(0, FrozenContext(values)) for values in contexts]
    assert outputs == [10, -1, 20, -1, 10]
    # a=-1 never reads b, so its second run is a hit whatever b holds; so is the repeat.
    assert RUNS == ["branches"] * 3


def test_cached_and_uncached_optimize_studies_give_identical_metrics(tmp_path: Path) -> None:
    space = {"x": FloatDistribution(-3.0, 3.0)}

    def study(prep, name: str) -> list[tuple[object, ...]]:
        exp = experiment(prep, model(), datasource=seeded_points())
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        optimizer = OptunaOptimizer(
            storage=url,
            sampler=optuna.samplers.TPESampler(seed=3),
            search_space=space,
            objective=Objective("loss"),
        )
        exp.optimize(optimizer, num_trials=12, replicates_per_trial=3)
        (study_name,) = optuna.get_all_study_names(url)
        trials = optuna.load_study(study_name=study_name, storage=url).trials
        return [(t.params, t.values) for t in trials]

    uncached = study(preprocess_uncached(), "uncached")
    assert RUNS.count("preprocess") == 12 * 3
    RUNS.clear()
    cached = study(preprocess(), "cached")
    # The preprocessing reads no search parameter: it runs once per replicate seed.
    assert RUNS.count("preprocess") == 3
    assert cached == uncached
    assert len(cached) == 12


def test_the_memory_bound_evicts_the_least_recently_used_entry() -> None:
    cache = StepCache(None, memory_bytes=250)
    for key in "abc":
        cache.put(key * 64, bytes(100))
    assert cache.get("a" * 64) is None  # three entries of 100 bytes do not fit in 250
    assert cache.get("b" * 64) is not None
    cache.put("d" * 64, bytes(100))  # b was used last, so c goes
    assert cache.get("c" * 64) is None
    assert cache.get("b" * 64) is not None
    cache.put("e" * 64, bytes(300))  # larger than the bound: not kept
    assert cache.get("e" * 64) is None


def test_a_step_evicted_from_a_bounded_cache_runs_again() -> None:
    set_step_cache(StepCache(None, memory_bytes=0))
    for _ in range(2):
        experiment(scaled()).run()
    assert RUNS == ["scaled", "scaled"]


def test_the_disk_bound_evicts_the_oldest_files(tmp_path: Path) -> None:
    folder = tmp_path / "bounded"
    cache = StepCache(folder, memory_bytes=0, disk_bytes=2000)
    keys = [f"{i:02x}" * 32 for i in range(6)]
    for key in keys:
        cache.put(key, bytes(600))
    files = list(folder.glob("*/*.pkl"))
    assert sum(f.stat().st_size for f in files) <= 2000
    assert len(files) == 3
    fresh = StepCache(folder, memory_bytes=0)
    assert [fresh.get(key) is not None for key in keys] == [False, False, False, True, True, True]


SCRIPT = """
import json, sys
from pathlib import Path
from crystallize_opt import Experiment, Pipeline, Treatment, data_source, pipeline_step

@data_source
def source(ctx):
    return float(ctx.rng.normal())

@pipeline_step(cacheable=True)
def slow(data, ctx, scale: float = 1.0):
    with open(sys.argv[1], "a") as runs:
        runs.write("run\\n")
    ctx.metrics.add("value", data * scale + float(ctx.rng.normal()))
    return data

exp = Experiment(datasource=source(), pipeline=Pipeline([slow()]), replicates=2, name="proc",
                 treatments=[Treatment("x2", {"scale": 2.0})])
result = exp.run()
Path(sys.argv[2]).write_text(json.dumps({c: m.metrics["value"] for c, m in
    [("baseline", result.metrics.baseline), ("x2", result.metrics.treatments["x2"])]}))
"""


def run_script(tmp_path: Path, cache_dir: Path, out: str) -> dict[str, list[float]]:
    script = tmp_path / "cached_run.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {"CRYSTALLIZE_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs.txt"), str(tmp_path / out)],
        check=True,
        cwd=tmp_path,
        env={**os.environ, **env},
        timeout=120,
    )
    values: dict[str, list[float]] = json.loads((tmp_path / out).read_text())
    return values


def run_count(tmp_path: Path) -> int:
    return len((tmp_path / "runs.txt").read_text().splitlines())


@pytest.mark.slow  # two Python processes
def test_the_disk_cache_survives_a_new_process(tmp_path: Path) -> None:
    first = run_script(tmp_path, tmp_path / "shared-cache", "first.json")
    assert run_count(tmp_path) == 4  # 2 conditions x 2 replicates
    second = run_script(tmp_path, tmp_path / "shared-cache", "second.json")
    assert run_count(tmp_path) == 4
    assert second == first
    assert first["baseline"] != first["x2"]


@pytest.mark.slow  # worker processes
def test_worker_processes_share_the_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "shared"
    monkeypatch.setenv("CRYSTALLIZE_CACHE_DIR", str(folder))  # what the workers read
    run_log = tmp_path / "runs.txt"

    def run() -> list[float]:
        set_step_cache(StepCache(folder))  # this process's memory starts empty
        exp = experiment(
            noisy_logged(),
            replicates=4,
            plugins=[ParallelExecution(executor_type="process", max_workers=2)],
            initial_ctx={"run_log": str(run_log)},
        )
        return metric_values(exp.run(), "baseline", "noise")

    first = run()
    assert len(run_log.read_text().splitlines()) == 4
    assert run() == first
    assert len(run_log.read_text().splitlines()) == 4
    expected = metric_values(experiment(noisy_uncached(), replicates=4).run(), "baseline", "noise")
    assert first == expected


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_disk_entry_is_a_miss_with_a_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "damaged"
    set_step_cache(StepCache(folder))
    expected = metric_values(experiment(noisy(), replicates=2).run(), "baseline", "noise")
    for path in folder.glob("*/*.pkl"):
        raw = path.read_bytes()
        path.write_bytes(b"not a cache entry" if damage == "garbage" else raw[: len(raw) - 8])
    set_step_cache(StepCache(folder))  # a new process: nothing in memory
    with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
        again = experiment(noisy(), replicates=2).run()
    assert metric_values(again, "baseline", "noise") == expected
    assert RUNS == ["noisy"] * 4
    assert "step cache" in caplog.text


def test_an_unhashable_input_runs_the_step_uncached_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    @pipeline_step(cacheable=True)
    def count_lock(data, ctx):
        RUNS.append("count_lock")
        return data

    pipe = Pipeline([count_lock()])
    with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
        lock = threading.Lock()
        assert pipe.run(lock, FrozenContext()) is lock
        pipe.run(lock, FrozenContext())
    assert RUNS == ["count_lock", "count_lock"]
    assert "runs uncached" in caplog.text


def test_step_hash_identifies_code_and_parameters(tmp_path: Path) -> None:
    assert scaled(scale=2.0).step_hash == scaled(scale=2.0).step_hash
    assert scaled(scale=2.0).step_hash != scaled(scale=3.0).step_hash
    assert scaled().step_hash != noisy().step_hash
    # Same function name in another module: another step.
    other = tmp_path / "other_steps.py"
    other.write_text("def _scaled(data, ctx, scale=1.0):\n    return data * scale\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import other_steps  # type: ignore[import-not-found]

        assert pipeline_step(cacheable=True)(other_steps._scaled)().step_hash != scaled().step_hash
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("other_steps", None)


def test_compute_hash_is_by_content() -> None:
    array = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert compute_hash(array) == compute_hash(array.copy())
    assert compute_hash(array.T) == compute_hash(np.ascontiguousarray(array.T))
    assert compute_hash(array) != compute_hash(array.astype(np.float32))
    assert compute_hash(array) != compute_hash(array.reshape(4, 3))
    assert compute_hash({"a": 1, "b": [1, 2]}) == compute_hash({"b": [1, 2], "a": 1})
    assert len({compute_hash(v) for v in (1, 1.0, True, "1", b"1", (1,), [1])}) == 7
    with pytest.raises(TypeError, match="lock"):
        compute_hash(threading.Lock())
