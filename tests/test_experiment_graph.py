"""Experiments reading each other's artifacts: ExperimentInput, Artifact.fetch and
ExperimentGraph (edges, errors, run order, treatment inheritance, replicates, resume)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from crystallize_opt import (
    Artifact,
    ArtifactPlugin,
    BasePlugin,
    ConfigurationError,
    DataSource,
    EventLoopError,
    Experiment,
    ExperimentGraph,
    ExperimentInput,
    FrozenContext,
    MultiArtifactDataSource,
    ParallelExecution,
    Pipeline,
    PipelineStep,
    Treatment,
    data_source,
    default_writer,
    pipeline_step,
)

from .engine_fixtures import count_runs


@data_source
def replicate_number(ctx):
    return ctx["replicate"]


@data_source
def constant(ctx, value: int = 1):
    return value


@pipeline_step()
def produce(data, ctx, table, scale: int = 1):
    """Write ``{"v": replicate * 10 * scale}`` to the artifact ``table.json``."""
    table.write(json.dumps({"v": data * 10 * scale}))
    ctx.metrics.add("v", data * 10 * scale)
    return data


@pipeline_step()
def consume(data, ctx):
    """Record what the upstream table held for this replicate (plus the bundled constant)."""
    table = json.loads(data["table"]) if isinstance(data, dict) else json.loads(data)
    extra = data.get("k", 0) if isinstance(data, dict) else 0
    ctx.metrics.add("got", table["v"] + extra)
    return table


@pipeline_step()
def record(data, ctx, increment: int = 0):
    ctx.metrics.add("val", data + increment)
    return data


def pair(producer_replicates: int = 2, **consumer: object) -> tuple[Experiment, Experiment, Artifact]:
    table = Artifact("table.json")
    prod = Experiment(
        replicate_number(),
        Pipeline([produce()]),
        name="prod",
        outputs=[table],
        replicates=producer_replicates,
        treatments=[Treatment("x3", {"scale": 3})],
    )
    cons = Experiment(
        ExperimentInput(table=table, k=constant()), Pipeline([consume()]), name="cons", **consumer
    )
    return prod, cons, table


def plain(name: str, **kwargs: object) -> Experiment:
    return Experiment(replicate_number(), Pipeline([record()]), name=name, **kwargs)


# --- ExperimentInput ------------------------------------------------------------------------


class Stated(DataSource):
    def __init__(self, value: str, replicates: int | None):
        self.value, self.replicates = value, replicates

    def fetch(self, ctx: FrozenContext) -> str:
        return self.value


def test_experiment_input_fetches_every_input_by_alias():
    bundle = ExperimentInput(first=Stated("x", 2), second=Stated("y", None))
    assert bundle.fetch(FrozenContext({"replicate": 0})) == {"first": "x", "second": "y"}
    assert bundle.replicates == 2
    assert MultiArtifactDataSource is ExperimentInput


def test_experiment_input_lists_its_artifacts_as_required_outputs():
    art = Artifact("a.json")
    bundle = ExperimentInput(a=art, other=constant())
    assert bundle.required_outputs == [art]
    assert bundle.replicates is None  # the artifact's producer has not run
    art.replicates = 4  # as crystallize-ml's attribute, a count may be set
    assert bundle.replicates == 4


def test_experiment_input_awaits_asynchronous_inputs(workdir):
    @data_source
    async def later(ctx):
        return ctx["replicate"] + 100

    bundle = ExperimentInput(a=later(), b=constant())
    assert bundle.is_async
    result = Experiment(bundle, Pipeline([record_sum()]), name="async_input", replicates=2).run()
    assert result.metrics.baseline.metrics == {"sum": [101, 102]}


@pipeline_step()
def record_sum(data, ctx):
    ctx.metrics.add("sum", data["a"] + data["b"])
    return data


def test_experiment_input_refuses_conflicting_replicates_empty_and_foreign_inputs():
    # "Conflicting replicates": crystallize-ml's wording, which its users match on
    with pytest.raises(ValueError, match=r"Conflicting replicates.*replicate counts differ \(a=2, b=3\)"):
        ExperimentInput(a=Stated("x", 2), b=Stated("y", 3))
    with pytest.raises(ValueError, match="at least one input"):
        ExperimentInput()
    with pytest.raises(ConfigurationError, match="input 'bad' must be a DataSource or an Artifact, got int"):
        ExperimentInput(bad=3)  # type: ignore[arg-type]


# --- Artifact.fetch and the writer ----------------------------------------------------------


def test_artifact_fetch_reads_the_producers_file_cycling_its_replicates(workdir):
    prod, _, table = pair()
    prod.run()
    assert table.replicates == 2
    read = [json.loads(table.fetch(FrozenContext({"replicate": r, "condition": "x3"}))) for r in range(4)]
    assert [v["v"] for v in read] == [0, 30, 0, 30]
    manifest = json.loads((workdir / "data" / "prod" / "v0" / "_manifest.json").read_text())
    assert manifest == {"table.json": "ProduceStep"}  # the step folder: its class name


def test_artifact_fetch_falls_back_to_the_baseline_with_a_warning(workdir, caplog):
    prod, _, table = pair()
    prod.run()
    with caplog.at_level(logging.WARNING, logger="crystallize_opt"):
        data = table.fetch(FrozenContext({"replicate": 1, "condition": "other"}))
    assert json.loads(data) == {"v": 10}
    # The reference's words, with where the condition's file would have been.
    missing = Path("data", "prod", "v0", "replicate_1", "other", "ProduceStep", "table.json")
    assert f"{missing} missing for condition 'other', falling back to baseline" in caplog.text


def test_artifact_fetch_errors_name_what_is_missing(workdir):
    _, _, table = pair()
    with pytest.raises(FileNotFoundError, match=r"'table\.json'.*has experiment 'prod' run"):
        table.fetch(FrozenContext({"replicate": 0}))
    with pytest.raises(RuntimeError, match="no producing experiment"):
        Artifact("loose.json").fetch(FrozenContext({"replicate": 0}))


class HoldingStep(PipelineStep):
    """crystallize-ml's way: the step object holds the Artifact it writes."""

    def __init__(self, out: Artifact):
        self.out = out

    @property
    def params(self) -> dict[str, object]:
        return {}

    def __call__(self, data, ctx):
        self.out.write(f"{ctx['condition']}-{ctx['replicate']}")
        return data


@pytest.mark.parametrize("execution", ["serial", "thread", "process"])
def test_an_artifact_held_by_a_step_object_writes_into_the_running_replicate(workdir, execution):
    out = Artifact("held.txt")
    plugins = [] if execution == "serial" else [ParallelExecution(max_workers=2, executor_type=execution)]
    prod = Experiment(
        replicate_number(),
        Pipeline([HoldingStep(out)]),
        plugins=plugins,
        name="holder",
        outputs=[out],
        replicates=2,
        treatments=[Treatment("t", {"x": 1})],
    )
    result = prod.run()
    assert not result.errors
    assert [out.fetch(FrozenContext({"replicate": r, "condition": "t"})) for r in (0, 1)] == [b"t-0", b"t-1"]
    with pytest.raises(RuntimeError, match="not bound to a run"):
        out.write(b"outside a run")


def test_artifact_writer_and_loader_are_used(workdir):
    table = Artifact(
        "t.json", loader=lambda p: json.loads(p.read_text()), writer=lambda o: json.dumps(o).encode()
    )

    @pipeline_step()
    def write_obj(data, ctx, t):
        t.write({"rep": ctx["replicate"]})
        return data

    Experiment(replicate_number(), Pipeline([write_obj()]), name="w", outputs=[table], replicates=2).run()
    assert table.fetch(FrozenContext({"replicate": 1})) == {"rep": 1}
    assert default_writer("é") == "é".encode() and default_writer(b"x") == b"x"
    with pytest.raises(TypeError, match="bytes or str, got list"):
        default_writer([1])


def test_experiment_outputs_are_a_list_and_a_mapping_by_file_name():
    table, chart = Artifact("table.json"), Artifact("chart.png")
    exp = plain("p", outputs=[table, chart])
    assert exp.outputs == [table, chart] and exp.outputs[1] is chart
    assert exp.outputs["chart.png"] is chart and exp.outputs.get("none.txt") is None
    assert exp.outputs.keys() == ["table.json", "chart.png"] and list(exp.outputs.values()) == [table, chart]
    assert "table.json" in exp.outputs and table in exp.outputs and "x" not in exp.outputs
    with pytest.raises(
        KeyError, match=r"no output artifact 'x'; the experiment declares \['table.json', 'chart.png'\]"
    ):
        exp.outputs["x"]


# --- building a graph -----------------------------------------------------------------------


def test_edges_are_inferred_from_artifacts_whatever_the_order_given(workdir):
    prod, cons, _ = pair()
    graph = ExperimentGraph(cons, prod)
    assert graph.order() == ["prod", "cons"]
    assert graph.edges() == [("prod", "cons")]
    assert graph.name == "cons"
    assert ExperimentGraph.from_experiments([prod, cons]).order() == ["prod", "cons"]


def test_builder_outputs_declare_what_a_graph_links(workdir):
    table = Artifact("table.json")
    prod = (
        Experiment.builder("prod")
        .datasource(replicate_number())
        .add_step(produce())
        .outputs([Artifact("other.json")])
        .outputs([table])
        .build()
    )
    assert prod.outputs == [table]
    cons = Experiment.builder("cons").datasource(table).add_step(consume()).build()
    results = ExperimentGraph(cons, prod).run()
    assert results["cons"].metrics.baseline.metrics == {"got": [0]}


def test_a_consumer_of_an_artifact_datasource_runs_after_its_producer(workdir):
    prod, _, _ = pair()
    reader = Experiment(
        prod.artifact_datasource("produce", "table.json"), Pipeline([consume()]), name="reader"
    )
    assert ExperimentGraph(reader, prod).order() == ["prod", "reader"]


def test_graph_as_networkx_digraph_for_reference_code():
    pytest.importorskip("networkx")  # crystallize-ml's dependency, not ours
    prod, reader, _ = pair()
    graph = ExperimentGraph(prod, reader)._graph
    assert set(graph.nodes) == {"prod", reader.name} and list(graph.successors("prod")) == [reader.name]


def test_graph_refuses_two_producers_a_missing_producer_and_cycles():
    shared = Artifact("same.json")
    one = plain("one", outputs=[shared])
    two = plain("two", outputs=[shared])
    with pytest.raises(
        ValueError, match=r"'same\.json' is produced by multiple experiments: 'one' and 'two'"
    ):
        ExperimentGraph(one, two)
    orphan = Experiment(Artifact("orphan.json"), Pipeline([record()]), name="orphan")
    with pytest.raises(ValueError, match=r"'orphan\.json' read by experiment 'orphan' has no producing"):
        ExperimentGraph(orphan)
    a, b = plain("a"), plain("b")
    graph = ExperimentGraph()
    graph.add_experiment(a)
    graph.add_experiment(b)
    graph.add_dependency(b, a)
    graph.add_dependency(a, b)
    with pytest.raises(ValueError, match="contains cycles"):
        graph.run()


def test_graph_needs_named_distinct_experiments_added_before_wiring():
    graph = ExperimentGraph()
    with pytest.raises(ValueError, match="needs a name"):
        graph.add_experiment(Experiment(replicate_number(), Pipeline([record()])))
    a = plain("a")
    graph.add_experiment(a)
    graph.add_experiment(a)  # the same object again: nothing changes
    with pytest.raises(ValueError, match="two experiments are named 'a'"):
        graph.add_experiment(plain("a"))
    with pytest.raises(ValueError, match="not in the graph"):
        graph.add_dependency(plain("b"), a)


def test_independent_experiments_share_a_graph(workdir):
    graph = ExperimentGraph(plain("a"), plain("b"))
    assert graph.name == "ExperimentGraph"
    results = graph.run()
    assert sorted(results) == ["a", "b"]
    assert ExperimentGraph().run() == {}


# --- running --------------------------------------------------------------------------------


def test_run_feeds_each_consumer_its_producers_artifacts_per_condition(workdir):
    prod, cons, _ = pair()
    results = ExperimentGraph(prod, cons).run()
    assert list(results) == ["prod", "cons"]
    consumer = results["cons"].metrics
    assert consumer.baseline.metrics == {"got": [1, 11]}  # inherited treatment x3 read x3's files
    assert consumer.treatments["x3"].metrics == {"got": [1, 31]}
    assert not results["cons"].errors


def test_global_treatments_and_replicates_override_every_experiment(workdir):
    a, b, c = plain("a"), plain("b"), plain("c", treatments=[Treatment("own", {"increment": 5})])
    graph = ExperimentGraph()
    for e in (a, b, c):
        graph.add_experiment(e)
    graph.add_dependency(c, a)
    graph.add_dependency(c, b)
    results = graph.run(treatments=[Treatment("inc", {"increment": 1})], replicates=2)
    assert results["a"].metrics.treatments["inc"].metrics["val"] == [1, 2]
    assert list(results["c"].metrics.treatments) == ["inc"]


def test_treatments_are_inherited_downstream_own_winning_on_a_name(workdir):
    up = plain("up", treatments=[Treatment("t", {"increment": 1}), Treatment("u", {"increment": 2})])
    down = plain("down", treatments=[Treatment("t", {"increment": 7})])
    graph = ExperimentGraph()
    graph.add_experiment(up)
    graph.add_experiment(down)
    graph.add_dependency(down, up)
    assert [t.name for t in graph.treatments_for("down")] == ["t", "u"]
    results = graph.run(replicates=1)
    assert results["down"].metrics.treatments["t"].metrics["val"] == [7]
    assert results["down"].metrics.treatments["u"].metrics["val"] == [2]


def test_a_consumer_runs_as_many_replicates_as_its_producer_stored(workdir):
    prod, cons, _ = pair(producer_replicates=3)
    results = ExperimentGraph(prod, cons).run()
    assert results["cons"].metrics.baseline.metrics["got"] == [1, 11, 21]
    assert len(results["cons"].metrics.baseline.metrics["got"]) == 3


def test_independent_branches_run_in_threads_with_the_serial_results(workdir):
    def build() -> ExperimentGraph:
        prod, cons, _ = pair()
        return ExperimentGraph(prod, cons, plain("alone", replicates=3))

    serial = build().run()
    threaded = build().run(max_workers=2)
    assert list(threaded) == list(serial)
    for name in serial:
        assert threaded[name].metrics.baseline.metrics == serial[name].metrics.baseline.metrics
    with pytest.raises(ValueError, match="max_workers must be a positive integer"):
        build().run(max_workers=0)


def test_run_inside_an_event_loop_points_to_arun(workdir):
    async def inside() -> None:
        ExperimentGraph(plain("a")).run()

    with pytest.raises(
        EventLoopError, match=r"ExperimentGraph\.run\(\) cannot .* `await graph\.arun\(\.\.\.\)`"
    ):
        asyncio.run(inside())


def test_arun_reports_progress_in_dependency_order(workdir):
    prod, cons, _ = pair()
    seen: list[tuple[str, str]] = []

    async def progress(status: str, name: str) -> None:
        seen.append((status, name))

    asyncio.run(ExperimentGraph(cons, prod).arun(progress_callback=progress))
    assert seen == [("running", "prod"), ("completed", "prod"), ("running", "cons"), ("completed", "cons")]


# --- resume ---------------------------------------------------------------------------------


def runs_of(folder: Path) -> list[str]:
    path = folder / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


def counted_pair(folder: Path, outputs: list[Artifact]) -> tuple[Experiment, Experiment]:
    @pipeline_step()
    def write_all(data, ctx):
        for art in outputs:
            ctx.outputs[art.name].write(b"x")
        return data

    prod = Experiment(
        replicate_number(),
        Pipeline([count_runs(counter_dir=str(folder)), write_all()]),
        name="prod",
        outputs=outputs,
    )
    needed = {Path(a.name).stem: prod.artifact_datasource("write_all", a.name) for a in outputs}
    cons = Experiment(ExperimentInput(**needed), Pipeline([record_names()]), name="cons")
    return prod, cons


@pipeline_step()
def record_names(data, ctx):
    ctx.metrics.add("inputs", len(data))
    return data


def test_resume_skips_experiments_whose_results_and_artifacts_are_stored(workdir):
    prod, cons = counted_pair(workdir, [Artifact("one.txt")])
    ExperimentGraph(prod, cons).run()
    assert runs_of(workdir) == ["baseline 0"]
    prod, cons = counted_pair(workdir, [Artifact("one.txt")])
    results = ExperimentGraph(prod, cons).run(strategy="resume")
    assert runs_of(workdir) == ["baseline 0"]  # nothing ran again
    assert results["cons"].metrics.baseline.metrics == {"inputs": [1]}


def test_an_experiments_own_strategy_is_the_graphs_default(workdir):
    prod, cons = counted_pair(workdir, [Artifact("one.txt")])
    ExperimentGraph(prod, cons).run()
    prod, cons = counted_pair(workdir, [Artifact("one.txt")])
    prod.strategy = "resume"
    ExperimentGraph(prod, cons).run()
    assert runs_of(workdir) == ["baseline 0"]  # prod resumed; cons reran (no strategy of its own)
    prod.run()
    assert runs_of(workdir) == ["baseline 0"]  # Experiment.run's default is the experiment's too


def test_resume_reruns_a_producer_when_a_consumer_needs_an_artifact_it_did_not_store(workdir):
    prod, cons = counted_pair(workdir, [Artifact("one.txt")])
    ExperimentGraph(prod, cons).run()
    prod, cons = counted_pair(workdir, [Artifact("one.txt"), Artifact("two.txt")])
    results = ExperimentGraph(prod, cons).run(strategy="resume")
    assert runs_of(workdir) == ["baseline 0", "baseline 0"]
    assert results["cons"].metrics.baseline.metrics == {"inputs": [2]}
    assert not results["cons"].errors


def test_resume_reruns_the_consumers_of_an_experiment_that_ran_anew(workdir):
    prod, cons, _ = pair()
    ExperimentGraph(prod, cons).run()
    table = Artifact("table.json")
    changed = Experiment(
        replicate_number(),
        Pipeline([produce(scale=2)]),  # another pipeline: its stored results do not match
        name="prod",
        outputs=[table],
        replicates=2,
    )
    cons = Experiment(ExperimentInput(table=table, k=constant()), Pipeline([consume()]), name="cons")
    results = ExperimentGraph(changed, cons).run(strategy="resume")
    assert results["cons"].metrics.baseline.metrics == {"got": [1, 21]}  # read the new tables
    again = ExperimentGraph(changed, cons).run(strategy="resume")
    assert again["cons"].provenance["reused"] == {"baseline": [0, 1]}  # nothing changed upstream now


@pipeline_step()
def timed(data, ctx, log_dir: str, label: str):
    """Append this run's start and end times to ``log_dir/<label>.txt``, 0.2 s apart."""
    import time

    start = time.monotonic()
    time.sleep(0.2)
    with open(Path(log_dir) / f"{label}.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{start} {time.monotonic()}\n")
    return data


def test_experiments_sharing_a_plugin_object_never_run_at_once(workdir):
    shared = ArtifactPlugin(root_dir=str(workdir / "arts"), versioned=True)
    one = Experiment(
        replicate_number(), Pipeline([timed(log_dir=str(workdir), label="one")]), plugins=[shared], name="one"
    )
    two = Experiment(
        replicate_number(), Pipeline([timed(log_dir=str(workdir), label="two")]), plugins=[shared], name="two"
    )
    ExperimentGraph(one, two).run(max_workers=2)
    (a_start, a_end), (b_start, b_end) = (
        tuple(map(float, (workdir / f"{label}.txt").read_text().split())) for label in ("one", "two")
    )
    assert a_end <= b_start or b_end <= a_start
    for name in ("one", "two"):  # each run stored under its own experiment's first version
        assert json.loads((workdir / "arts" / name / "v0" / "metadata.json").read_text())["name"] == name


class RefusingPlugin(BasePlugin):
    def before_run(self, experiment):
        raise RuntimeError(f"{experiment.name} refuses to run")


@pytest.mark.parametrize("max_workers", [1, 2])
def test_an_error_raised_by_an_experiments_run_ends_the_graph_run(workdir, max_workers):
    seen: list[tuple[str, str]] = []

    async def progress(status: str, name: str) -> None:
        seen.append((status, name))

    bad = plain("bad", plugins=[RefusingPlugin()])
    after = plain("after")
    graph = ExperimentGraph(bad, after, plain("alone"))
    graph.add_dependency(after, bad)
    with pytest.raises(RuntimeError, match="bad refuses to run"):
        asyncio.run(graph.arun(progress_callback=progress, max_workers=max_workers))
    assert ("running", "after") not in seen  # nothing downstream of the failure started
