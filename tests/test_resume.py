"""strategy="resume": continue an interrupted run replicate by replicate, and never reuse
results made by a different pipeline, treatment, replicate count or seed."""

from __future__ import annotations

import logging
import signal
from collections import Counter
from pathlib import Path

import pytest

from crystallize_opt import Experiment, Pipeline, SeedPlugin, Treatment, pipeline_step, replicate_seed
from crystallize_opt.plugins import ArtifactPlugin

from .engine_fixtures import count_runs, fail_on, interrupt_once, points, score, shift


def build(
    traces, *, name="resumable", replicates=5, delta_step=None, treatment_delta=1.0, plugins=None, extra=()
):
    return Experiment(
        datasource=points(),
        pipeline=Pipeline(
            [
                delta_step or shift(),
                score(),
                count_runs(counter_dir=str(traces)),
                interrupt_once(marker_dir=str(traces)),
                *extra,
            ]
        ),
        name=name,
        treatments=[Treatment("plus_one", {"delta": treatment_delta})],
        replicates=replicates,
        plugins=plugins,
    )


def runs(traces) -> Counter[tuple[str, int]]:
    path = traces / "runs.txt"
    if not path.exists():
        return Counter()
    lines = path.read_text().splitlines()
    return Counter((cond, int(rep)) for cond, rep in (line.split() for line in lines))


def interrupted(traces, **kwargs) -> Experiment:
    """Run an experiment that is interrupted at replicate 3; return it."""
    exp = build(traces, **kwargs)
    with pytest.raises(KeyboardInterrupt):
        exp.run()
    assert (traces / "interrupted").exists()
    return exp


def test_resume_continues_an_interrupted_run(workdir, traces, caplog):
    exp = interrupted(traces)
    before = runs(traces)
    assert before == Counter(
        {**{(c, r): 1 for c in ("baseline", "plus_one") for r in range(3)}, ("baseline", 3): 1}
    )

    caplog.set_level(logging.INFO, logger="crystallize_opt")
    result = exp.run(strategy="resume")
    assert result.errors == []
    assert result.provenance["strategy"] == "resume"
    assert result.provenance["reused"] == {"baseline": [0, 1, 2], "plus_one": [0, 1, 2]}
    # replicates 0-2 were not executed again; 3 and 4 ran (baseline 3 a second time)
    added = runs(traces) - before
    assert added == Counter({(c, r): 1 for c in ("baseline", "plus_one") for r in (3, 4)})

    fresh = build(traces, name="uninterrupted").run()  # the marker exists: no interruption
    assert result.metrics.baseline == fresh.metrics.baseline
    assert result.metrics.treatments == fresh.metrics.treatments
    assert result.provenance["seeds"] == fresh.provenance["seeds"]

    def without_durations(changes):
        return [{k: v for k, v in step.items() if k != "duration"} for step in changes]

    for rep in (1, 4):  # a reused replicate and a rerun one
        assert without_durations(result.provenance["ctx_changes"]["plus_one"][rep]) == without_durations(
            fresh.provenance["ctx_changes"]["plus_one"][rep]
        )
    assert [s["step"] for s in result.provenance["ctx_changes"]["baseline"][0]] == [
        "shift",
        "score",
        "count_runs",
        "interrupt_once",
    ]


def test_resume_in_a_new_process_uses_the_stored_records(workdir, traces):
    interrupted(traces)
    before = runs(traces)
    result = build(traces).run(strategy="resume")  # a freshly constructed twin
    assert result.provenance["reused"] == {"baseline": [0, 1, 2], "plus_one": [0, 1, 2]}
    assert sum((runs(traces) - before).values()) == 4


def test_resuming_a_complete_run_reuses_everything(workdir, traces):
    (traces / "interrupted").touch()
    exp = build(traces, replicates=3)
    first = exp.run()
    before = runs(traces)
    resumed = exp.run(strategy="resume")
    assert runs(traces) == before
    assert resumed.metrics.baseline == first.metrics.baseline
    assert resumed.metrics.treatments == first.metrics.treatments
    assert resumed.provenance["reused"] == {"baseline": [0, 1, 2], "plus_one": [0, 1, 2]}


def test_a_default_run_after_resume_starts_afresh(workdir, traces):
    (traces / "interrupted").touch()
    exp = build(traces, replicates=2)
    exp.run()
    exp.run()
    assert set(runs(traces).values()) == {2}
    assert exp.run(strategy="resume").provenance["reused"] == {"baseline": [0, 1], "plus_one": [0, 1]}


def _assert_rerun_logged(caplog, conditions):
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("crystallize_opt")]
    for condition in conditions:
        assert any(
            m.startswith(f"resume: rerunning {condition} replicate 0") and "different pipeline" in m
            for m in messages
        ), messages


def test_resume_reruns_results_of_a_different_pipeline(workdir, traces, caplog):
    interrupted(traces)
    before = runs(traces)
    caplog.set_level(logging.INFO, logger="crystallize_opt")
    changed = build(traces, delta_step=shift(delta=0.5))  # a step's explicit parameter changed
    result = changed.run(strategy="resume")
    assert result.provenance["reused"] == {}
    assert runs(traces) - before == Counter({(c, r): 1 for c in ("baseline", "plus_one") for r in range(5)})
    _assert_rerun_logged(caplog, ["baseline", "plus_one"])
    assert (
        result.metrics.baseline
        == build(traces, name="other", delta_step=shift(delta=0.5)).run().metrics.baseline
    )


def test_resume_reruns_results_of_different_treatment_parameters(workdir, traces, caplog):
    interrupted(traces)
    before = runs(traces)
    caplog.set_level(logging.INFO, logger="crystallize_opt")
    result = build(traces, treatment_delta=2.0).run(strategy="resume")
    assert result.provenance["reused"] == {"baseline": [0, 1, 2]}  # the baseline did not change
    added = runs(traces) - before
    assert added == Counter(
        {**{("plus_one", r): 1 for r in range(5)}, ("baseline", 3): 1, ("baseline", 4): 1}
    )
    _assert_rerun_logged(caplog, ["plus_one"])
    base = result.metrics.baseline.metrics["mean"]
    assert result.metrics.treatments["plus_one"].metrics["mean"] == pytest.approx([b + 2.0 for b in base])


def test_resume_reruns_results_of_a_different_replicate_count(workdir, traces, caplog):
    interrupted(traces)
    before = runs(traces)
    caplog.set_level(logging.INFO, logger="crystallize_opt")
    result = build(traces, replicates=4).run(strategy="resume")
    assert result.provenance["reused"] == {}
    assert sum((runs(traces) - before).values()) == 8
    _assert_rerun_logged(caplog, ["baseline", "plus_one"])


def test_resume_reruns_results_of_a_different_seed(workdir, traces, caplog):
    interrupted(traces)
    caplog.set_level(logging.INFO, logger="crystallize_opt")
    result = build(traces, plugins=[SeedPlugin(seed=99)]).run(strategy="resume")
    assert result.provenance["reused"] == {}
    assert result.metrics.baseline.seeds == {r: replicate_seed(99, r) for r in range(5)}
    _assert_rerun_logged(caplog, ["baseline"])


def test_resume_reruns_replicates_that_failed(workdir, traces, caplog):
    (traces / "interrupted").touch()
    failing = build(traces, replicates=3, extra=[fail_on(fail_replicates=(1,), fail_condition="baseline")])
    first = failing.run()
    assert [(e.condition, e.replicate) for e in first.errors] == [("baseline", 1)]
    before = runs(traces)
    caplog.set_level(logging.INFO, logger="crystallize_opt")
    resumed = failing.run(strategy="resume")
    assert runs(traces) - before == Counter({("baseline", 1): 1})
    assert resumed.provenance["reused"] == {"baseline": [0, 2], "plus_one": [0, 1, 2]}
    assert any(
        "rerunning baseline replicate 1, which failed before" in r.getMessage() for r in caplog.records
    )


def test_resume_continues_the_latest_version_when_versioned(workdir, traces):
    plugin = ArtifactPlugin(versioned=True)
    exp = build(traces, plugins=[plugin])
    with pytest.raises(KeyboardInterrupt):
        exp.run()
    assert plugin.existing_versions(exp) == [0]
    result = exp.run(strategy="resume")
    assert plugin.version == 0 and result.provenance["reused"]["baseline"] == [0, 1, 2]
    exp.run()  # a fresh versioned run gets a new folder
    assert plugin.existing_versions(exp) == [0, 1]


@pipeline_step()
def ctrl_c_at(data, ctx, counter_dir: str, at_replicate: int = 2):
    """Record the run, then deliver a real SIGINT (as Ctrl-C does) at ``at_replicate``."""
    with open(Path(counter_dir) / "runs.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{ctx['condition']} {ctx['replicate']}\n")
    if ctx["replicate"] == at_replicate and not (Path(counter_dir) / "interrupted").exists():
        (Path(counter_dir) / "interrupted").touch()
        signal.raise_signal(signal.SIGINT)
    return data


@pytest.fixture
def python_sigint_handler():
    """Python's own Ctrl-C handling (a shell may start the tests with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_run_at_once_and_resume_continues_it(workdir, traces, python_sigint_handler):
    exp = Experiment(
        datasource=points(),
        pipeline=Pipeline([shift(), score(), ctrl_c_at(counter_dir=str(traces))]),
        name="ctrl_c",
        treatments=[Treatment("plus_one", {"delta": 1.0})],
        replicates=5,
    )
    with pytest.raises(KeyboardInterrupt):
        exp.run()
    # nothing ran after the interrupt
    assert max(rep for _cond, rep in runs(traces)) == 2
    assert ("plus_one", 2) not in runs(traces)
    result = exp.run(strategy="resume")
    assert result.provenance["reused"] == {"baseline": [0, 1], "plus_one": [0, 1]}
    assert result.metrics.baseline.replicates == [0, 1, 2, 3, 4]
