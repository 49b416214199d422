"""crystallize-ml 0.27's plugin, treatment and cache-file API, written from its specification:
``SeedPlugin(seed=None)``, ``ArtifactPlugin``'s retention helpers, execution plugins driven by
hand with the reference's replicate functions, ``Treatment.apply_map`` and ``_MappingApplier``,
and the ``crystallize.utils.cache`` file store."""

from __future__ import annotations

import asyncio
import inspect
import logging
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest.mock import patch

import pytest

from crystallize_opt import (
    ArtifactPlugin,
    AsyncExecution,
    FrozenContext,
    LoggingPlugin,
    ParallelExecution,
    Pipeline,
    PipelineStep,
    SeedPlugin,
    SerialExecution,
    Treatment,
)
from crystallize_opt.experiments.treatment import _MappingApplier
from crystallize_opt.utils import cache

from .engine_fixtures import demo_experiment


def test_seed_none_is_the_fixed_default_not_a_random_seed():
    plugin = SeedPlugin(seed=None)
    plugin.init_hook(demo_experiment(plugins=[plugin]))
    assert plugin.seed == SeedPlugin().seed
    late = SeedPlugin(seed=None)  # before_replicate without init_hook
    ctx = FrozenContext({"replicate": 0})
    late.before_replicate(demo_experiment(), ctx)
    assert late.seed == SeedPlugin().seed and ctx["seed_used"] == SeedPlugin().replicate_seed(0)


def test_retention_helpers_under_the_reference_names(tmp_path: Path):
    plugin = ArtifactPlugin(
        root_dir=str(tmp_path), versioned=True, artifact_retention=2, big_file_threshold_mb=1
    )
    base = tmp_path / "exp"
    for v in range(4):
        (base / f"v{v}" / "baseline").mkdir(parents=True)
        (base / f"v{v}" / "baseline" / "results.json").write_text("{}")
        (base / f"v{v}" / "baseline" / "model.bin").write_bytes(b"x" * (2 << 20))
    plugin._prune_old_versions(base)
    assert not (base / "v0" / "baseline" / "model.bin").exists()  # pruned to results
    assert (base / "v0" / "baseline" / "results.json").exists()
    assert not (base / "v2" / "baseline" / "model.bin").exists()  # kept, lost its big file
    assert (base / "v3" / "baseline" / "model.bin").exists()  # newest: whole
    small = base / "v3" / "baseline" / "small.txt"
    small.write_text("s")
    plugin._prune_large_files(base / "v3", 1 << 20)
    assert small.exists() and not (base / "v3" / "baseline" / "model.bin").exists()
    plugin._prune_to_metrics(base / "v3")
    assert not small.exists() and (base / "v3" / "baseline" / "results.json").exists()


def test_execution_plugins_take_the_reference_replicate_functions():
    exp = demo_experiment(replicates=3)

    async def replicate(rep: int) -> int:
        await asyncio.sleep(0)
        return rep * 10

    assert asyncio.run(SerialExecution().run_experiment_loop(exp, replicate)) == [0, 10, 20]
    assert asyncio.run(AsyncExecution().run_experiment_loop(exp, replicate)) == [0, 10, 20]
    assert ParallelExecution(max_workers=2).run_experiment_loop(exp, lambda rep: rep) == [0, 1, 2]
    with pytest.raises(TypeError, match="only supports synchronous tasks"):
        ParallelExecution().run_experiment_loop(exp, replicate)


def test_treatment_apply_map_and_mapping_applier():
    assert Treatment("t", {"lr": 0.1}).apply_map == {"lr": 0.1}
    assert Treatment("f", lambda ctx: None).apply_map == {}
    applier = pickle.loads(pickle.dumps(_MappingApplier({"x": 1})))
    ctx = FrozenContext({})
    Treatment("m", applier).apply(ctx)
    assert applier.items == {"x": 1} and ctx["x"] == 1


def test_step_hash_follows_a_redefined_class_s_call():
    def make(variant: int) -> PipelineStep:
        # Two classes of one qualified name, as a class redefined in a file or a notebook.
        if variant == 1:

            class Adder(PipelineStep):
                def __call__(self, data, ctx):
                    return data + 1

        else:

            class Adder(PipelineStep):
                def __call__(self, data, ctx):
                    return data + 2

        return Adder()

    assert make(1).step_hash == make(1).step_hash
    assert make(1).step_hash != make(2).step_hash


def test_source_reads_for_step_hashes_take_turns(monkeypatch):
    # inspect.getsource parses with ast, which CPython 3.11 can fail ("AST constructor recursion
    # depth mismatch") when threads parse at once, as thread-executed replicates hash their steps.
    lock, inside, most = threading.Lock(), [0], [0]

    def slow_getsource(obj):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.01)
        with lock:
            inside[0] -= 1
        return f"source of {obj!r}"

    monkeypatch.setattr(inspect, "getsource", slow_getsource)

    def one(x):
        return x

    work = [lambda: cache._code_fingerprint(one)] * 4 + [lambda: PipelineStep.step_hash.fget(Pass())] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda call: call(), work))
    assert most[0] == 1


class Pass(PipelineStep):
    def __call__(self, data, ctx):
        return data


def test_cache_file_store(tmp_path: Path):
    with patch.object(cache, "CACHE_DIR", tmp_path / "cache"):
        path = cache.cache_path("step", "input")
        assert path == tmp_path / "cache" / "step" / "input.pkl" and path.parent.is_dir()
        with pytest.raises(FileNotFoundError):
            cache.load_cache("step", "input")
        cache.store_cache("step", "input", {"v": 1})
        cache.store_cache("step", "input", {"v": 2})  # the first write wins
        assert cache.load_cache("step", "input") == {"v": 1}

    def one(x):
        return x

    def two(x):
        return x

    assert len(cache._code_fingerprint(one)) == 64 and cache._code_fingerprint(
        one
    ) != cache._code_fingerprint(two)


def test_logging_plugin_called_by_hand_logs_the_reference_s_phrases(caplog, workdir, monkeypatch):
    package_logger = logging.getLogger("crystallize_opt")
    monkeypatch.setattr(package_logger, "level", package_logger.level)  # log_level sets it
    plugin = LoggingPlugin(verbose=True, log_level="INFO")
    exp = demo_experiment(plugins=[plugin])
    with caplog.at_level(logging.INFO):
        plugin.before_run(exp)
        plugin.after_step(exp, exp.pipeline.steps[0], None, exp._setup_ctx)
        plugin.after_run(exp, exp.run(replicates=1))
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Experiment:") for m in messages)
    assert any("finished step shift" in m for m in messages)
    assert any(m.startswith("Completed in") for m in messages)
    assert exp._setup_ctx.as_dict() == exp.initial_ctx


class _HoldsAFile(PipelineStep):
    def __init__(self) -> None:
        self.handle = open(__file__)  # noqa: SIM115 - an unpicklable resource, on purpose

    def __call__(self, data, ctx):
        return data


def test_process_execution_refuses_an_unpicklable_step_before_starting_workers():
    step = _HoldsAFile()
    try:
        exp = demo_experiment(pipeline=Pipeline([step]), name="held")
        with pytest.raises(RuntimeError, match=r"'held'.*_HoldsAFile.*resource_factory"):
            ParallelExecution(executor_type="process").run_experiment_loop(exp, lambda i: i)
    finally:
        step.handle.close()


def test_async_execution_progress_uses_tqdm_gather_for_several_replicates(monkeypatch):
    descriptions = []

    async def gather(*tasks, **kwargs):
        descriptions.append(kwargs.get("desc"))
        return await asyncio.gather(*tasks)

    monkeypatch.setattr("tqdm.asyncio.tqdm.gather", gather)

    async def replicate(rep: int) -> int:
        return rep

    assert asyncio.run(
        AsyncExecution(progress=True).run_experiment_loop(demo_experiment(replicates=3), replicate)
    ) == [0, 1, 2]
    assert asyncio.run(
        AsyncExecution(progress=True).run_experiment_loop(demo_experiment(replicates=1), replicate)
    ) == [0]
    assert descriptions == ["Replicates"]  # one replicate: no bar


def test_logging_plugin_warns_when_no_seed_plugin_is_installed(caplog, workdir):
    exp = demo_experiment(replicates=1, treatments=[])
    with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
        exp.run()
    assert "No SeedPlugin installed" not in caplog.text
    exp.plugins = [p for p in exp.plugins if not isinstance(p, SeedPlugin)]
    with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
        exp.run()
    assert "No SeedPlugin installed" in caplog.text


def test_threads_warn_once_that_seeding_the_global_generators_is_not_reproducible(caplog, workdir):
    # crystallize-ml warns when a SeedPlugin seeds the shared global generators under threads.
    threads = ParallelExecution(executor_type="thread", max_workers=2)
    exp = demo_experiment(plugins=[threads, SeedPlugin(seed=3)], treatments=[], replicates=3)
    with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
        exp.run()
        exp.run()
    warnings = [r for r in caplog.records if "executor_type='thread' is not reproducible" in r.getMessage()]
    assert len(warnings) == 1 and "ctx.rng" in warnings[0].getMessage()


@pytest.mark.parametrize(
    "plugins",
    [
        [ParallelExecution(executor_type="thread"), SeedPlugin(seed=3, auto_seed=False)],  # no global seeding
        [ParallelExecution(executor_type="process"), SeedPlugin(seed=3)],  # one process per worker
    ],
    ids=["auto_seed-off", "processes"],
)
def test_no_thread_warning_where_the_global_generators_are_not_shared(caplog, workdir, plugins):
    exp = demo_experiment(plugins=plugins, treatments=[], replicates=2)
    with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
        exp.run()
    assert "is not reproducible" not in caplog.text
