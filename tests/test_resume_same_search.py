"""A study interrupted at any point and resumed proposes the same trials and picks the same
winner as one that ran straight through with the same seed (plain and noise-aware search).

What is equal, precisely: the trials that ran (complete, pruned, or failed after running their
replicates), in number order, have the same parameters, states and values; the winner has the
same parameters (and, noise-aware, the same selection: executions, confirmation and held-out
comparison). The interrupted run adds one FAIL trial ("interrupted") per interruption inside a
trial: it ran nothing to an end, and the next trial proposes its parameters again, so every later
trial's number (and the winner's name, ``trial-<number>``) is shifted by one per such trial.

Every study is a real SQLite file; each resume is a fresh optimizer, and one case resumes in a
fresh ``crystallize-opt optimize`` process."""

from __future__ import annotations

import math
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from crystallize_opt import (
    Experiment,
    HandOffSampler,
    NoiseHandling,
    Objective,
    OptunaOptimizer,
    Pipeline,
    ResumableCmaEsSampler,
    Treatment,
)
from crystallize_opt.optimize import stored_selection
from crystallize_opt.records import TrialRecord

from . import noise_fixtures as nf
from .optimize_fixtures import interrupt_after
from .optional import require_package
from .servers import Processes, cli_command, process_env, wait_for, write_study

SPACE = {"x": FloatDistribution(-3.0, 3.0), "y": FloatDistribution(-3.0, 3.0)}
TRIALS = 12
REPLICATES = 2

MakeSampler = Callable[[], optuna.samplers.BaseSampler | None]


def experiment(flag: Path | None = None, exact: bool = False) -> Experiment:
    """A noisy quadratic (``exact``: a deterministic one); with ``flag`` (a file holding a count
    ``c``), execution ``c`` (from 0) of this experiment raises KeyboardInterrupt, once."""
    quadratic = nf.deterministic_quadratic() if exact else nf.shifted_quadratic(own_sd=0.2)
    return Experiment(
        datasource=nf.seed_offset(noise_sd=0.3),
        pipeline=Pipeline([interrupt_after(), quadratic]),
        name="resumed",
        initial_ctx={"interrupt_file": str(flag) if flag else ""},
    )


def optimizer(url: str, noise: bool, sampler: MakeSampler) -> OptunaOptimizer:
    # Noise handling with racing and intensification (not the default): the resume of their
    # state (stopped trials, queued intensification trials) is tested with the rest.
    return OptunaOptimizer(
        SPACE,
        Objective("loss"),
        sampler=sampler(),
        storage=url,
        study_name="s",
        noise=NoiseHandling(max_replicates=3, racing_z=2.0, intensify=True) if noise else None,
    )


def trials_of(url: str) -> list[FrozenTrial]:
    return optuna.load_study(study_name="s", storage=url).trials


def ran(trial: FrozenTrial) -> bool:
    """Finished, or failed after running its replicates (not interrupted)."""
    record = TrialRecord.from_trial(trial)
    return trial.state != TrialState.FAIL or (record is not None and record.replicates is not None)


def what_ran(url: str) -> list[tuple[TrialState, dict[str, Any], float | None]]:
    return [(t.state, t.params, t.value) for t in trials_of(url) if ran(t)]


def interrupted(trial: FrozenTrial) -> bool:
    record = TrialRecord.from_trial(trial)
    return record is not None and (record.failure or "").startswith("interrupted")


def run_with_interrupts(
    tmp_path: Path,
    url: str,
    executions: list[int],
    noise: bool,
    sampler: MakeSampler,
    exact: bool = False,
) -> Treatment:
    """Run the search, interrupted at each of ``executions`` (counted from the start of each
    run), each time resumed by a fresh optimizer on the same study; return the winner."""
    flag = tmp_path / "interrupt"
    for count in executions:
        flag.write_text(str(count))
        with pytest.raises(KeyboardInterrupt):
            experiment(flag, exact).optimize(optimizer(url, noise, sampler), TRIALS, REPLICATES)
        assert not flag.exists()
    return experiment(exact=exact).optimize(optimizer(url, noise, sampler), TRIALS, REPLICATES)


def straight(tmp_path: Path, noise: bool, sampler: MakeSampler, exact: bool = False) -> tuple[str, Treatment]:
    url = f"sqlite:///{tmp_path / 'straight.db'}"
    return url, experiment(exact=exact).optimize(optimizer(url, noise, sampler), TRIALS, REPLICATES)


def assert_same_search(url: str, winner: Treatment, reference_url: str, reference: Treatment) -> None:
    assert what_ran(url) == what_ran(reference_url)
    assert winner.params == reference.params
    # Each interrupted trial's parameters are the next trial's of its kind: a queued trial's are
    # queued again, and the sampler proposes a sampled trial's again.
    trials = trials_of(url)
    for trial in (t for t in trials if interrupted(t)):
        queued = "fixed_params" in trial.system_attrs
        following = [
            t for t in trials if t.number > trial.number and ("fixed_params" in t.system_attrs) == queued
        ]
        assert following and following[0].params == trial.params, trial.number
    study, reference_study = (optuna.load_study(study_name="s", storage=u) for u in (url, reference_url))
    selection, reference_selection = stored_selection(study), stored_selection(reference_study)
    if reference_selection is None:
        assert selection is None
    else:
        assert selection is not None
        assert selection.winner.params == reference_selection.winner.params
        assert selection.executions == reference_selection.executions
        assert selection.comparison == reference_selection.comparison


def default() -> None:
    return None


# Execution counts: 0 is the first trial's first replicate, 5 the second replicate of the third
# trial (in the middle of it), 14 the first replicate of the eighth trial (between trials).
@pytest.mark.parametrize(
    ("noise", "executions"),
    [
        pytest.param(False, [0], marks=pytest.mark.slow),
        (False, [5]),
        pytest.param(False, [14], marks=pytest.mark.slow),
        pytest.param(False, [3, 0, 6], marks=pytest.mark.slow),  # three interruptions, each resumed
        pytest.param(True, [1], marks=pytest.mark.slow),  # in the noise check
        (True, [4, 9]),
    ],
    ids=lambda value: str(value),
)
def test_an_interrupted_search_resumes_as_if_it_had_run_straight_through(
    tmp_path: Path, noise: bool, executions: list[int]
) -> None:
    reference_url, reference = straight(tmp_path, noise, default)
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    winner = run_with_interrupts(tmp_path, url, executions, noise, default)
    assert_same_search(url, winner, reference_url, reference)
    assert sum(interrupted(t) for t in trials_of(url)) == len(executions)


def test_a_noise_aware_search_interrupted_while_choosing_its_winner_chooses_the_same(tmp_path: Path) -> None:
    reference_url, reference = straight(tmp_path, True, default)
    selection = stored_selection(optuna.load_study(study_name="s", storage=reference_url))
    assert selection is not None
    assert selection.executions["confirmation"] + selection.executions["holdout"] > 1
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    # The search's executions, then one into the winner's confirmation or held-out test.
    winner = run_with_interrupts(tmp_path, url, [selection.executions["search"] + 1], True, default)
    assert_same_search(url, winner, reference_url, reference)


def test_an_interrupted_intensification_trial_is_queued_again(tmp_path: Path) -> None:
    """The incumbent's extra replicate is a queued trial: interrupted, it is queued again (a
    rerun would otherwise lose it and search elsewhere)."""
    reference_url, reference = straight(tmp_path, True, default)
    spent, starts = 0, []
    for trial in trials_of(reference_url):
        if "fixed_params" in trial.system_attrs:
            starts.append(spent)
        record = TrialRecord.from_trial(trial)
        spent += len(record.replicates or []) if record else 0
    assert starts, "the search intensified"
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    winner = run_with_interrupts(tmp_path, url, [starts[0]], True, default)
    assert_same_search(url, winner, reference_url, reference)
    assert any(interrupted(t) and "fixed_params" in t.system_attrs for t in trials_of(url))


@pytest.mark.parametrize("first", [1, pytest.param(5, marks=pytest.mark.slow), 11])
def test_a_plain_search_stopped_at_a_smaller_target_goes_on_as_if_it_had_run_straight_through(
    tmp_path: Path, first: int
) -> None:
    reference_url, reference = straight(tmp_path, False, default)
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    experiment().optimize(optimizer(url, False, default), first, REPLICATES)
    winner = experiment().optimize(optimizer(url, False, default), TRIALS, REPLICATES)
    assert_same_search(url, winner, reference_url, reference)
    assert len(trials_of(url)) == TRIALS


def cma_es() -> optuna.samplers.BaseSampler:
    require_package("cmaes", "samplers")
    return ResumableCmaEsSampler(seed=11)


@pytest.mark.parametrize(
    "sampler",
    [
        lambda: optuna.samplers.TPESampler(seed=11),
        lambda: optuna.samplers.RandomSampler(seed=11),
        pytest.param(
            lambda: optuna.samplers.TPESampler(seed=11, multivariate=True, n_startup_trials=3),
            marks=pytest.mark.slow,
        ),
        # Interrupted before and after the hand-off (trial 4).
        lambda: HandOffSampler(
            optuna.samplers.RandomSampler(seed=11), optuna.samplers.TPESampler(seed=12), 4
        ),
        # Two generations of 6 (Optuna's CmaEsSampler offsets its draws by the trial number).
        cma_es,
    ],
    ids=["tpe", "random", "multivariate-tpe", "hand-off", "cma-es"],
)
def test_a_given_seeded_sampler_resumes_the_same_search(tmp_path: Path, sampler: MakeSampler) -> None:
    reference_url, reference = straight(tmp_path, False, sampler)
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    winner = run_with_interrupts(tmp_path, url, [5, 2], False, sampler)
    assert_same_search(url, winner, reference_url, reference)


@pytest.mark.parametrize("noise", [False, True], ids=["plain", "noise-aware"])
def test_a_seeded_gp_sampler_resumes_the_same_search(tmp_path: Path, noise: bool) -> None:
    """Optuna's GPSampler starts each fit from the kernel parameters of its previous one, a
    cache a resumed process does not have: the optimizer forgets it before every proposal, so
    what a trial proposes depends only on the study (interruptions after the startup trials)."""
    require_package("torch", "samplers")

    def sampler() -> optuna.samplers.BaseSampler:
        return optuna.samplers.GPSampler(seed=11, n_startup_trials=3)

    reference_url, reference = straight(tmp_path, noise, sampler)
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    winner = run_with_interrupts(tmp_path, url, [8, 5], noise, sampler)
    assert_same_search(url, winner, reference_url, reference)


def test_the_noise_aware_default_on_a_deterministic_pipeline_resumes_the_same_search(tmp_path: Path) -> None:
    """The default search of a deterministic pipeline (an interpolating GP that never evaluates
    a point twice, TPE where it would): interrupted before and after the GP's start-up trials,
    it proposes what an uninterrupted run did, and no point is evaluated twice."""
    require_package("torch", "samplers")
    reference_url, reference = straight(tmp_path, True, default, exact=True)
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    winner = run_with_interrupts(tmp_path, url, [3, 14], True, default, exact=True)
    assert_same_search(url, winner, reference_url, reference)
    searched = [tuple(sorted(t.params.items())) for t in trials_of(url) if t.state == TrialState.COMPLETE]
    assert len(searched) > 10 and len(set(searched)) == len(searched)


def test_the_noise_aware_default_over_five_numbers_resumes_the_same_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default search of a noisy response over five numbers (CMA-ES, whose state Optuna
    keeps in the trials): interrupted in its first generation and across the next one, it
    proposes what an uninterrupted run did."""
    require_package("torch", "samplers")
    require_package("cmaes", "samplers")
    # Three more numbers that the quadratic ignores; the search still runs over all five.
    extra = {
        "a": FloatDistribution(0.0, 1.0),
        "b": FloatDistribution(0.1, 10.0, log=True),
        "c": FloatDistribution(-1, 1),
    }
    monkeypatch.setitem(globals(), "SPACE", {**SPACE, **extra})
    monkeypatch.setitem(globals(), "TRIALS", 30)  # a budget of 60 executions: three generations of 8
    reference_url, reference = straight(tmp_path, True, default)
    study = optuna.load_study(study_name="s", storage=reference_url)
    generations = {t.system_attrs.get("cma:generation") for t in study.trials} - {None}
    assert len(generations) >= 2, "CMA-ES proposed more than one generation"
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    winner = run_with_interrupts(tmp_path, url, [3, 11, 9], True, default)
    assert_same_search(url, winner, reference_url, reference)


def test_a_given_unseeded_sampler_stays_random(tmp_path: Path) -> None:
    """Seeding per trial is for seeded samplers: two searches with ``RandomSampler()`` propose
    different points."""
    unseeded = optuna.samplers.RandomSampler
    first = f"sqlite:///{tmp_path / 'first.db'}"
    second = f"sqlite:///{tmp_path / 'second.db'}"
    for url in (first, second):
        experiment().optimize(optimizer(url, False, unseeded), 4, 1)
    assert [t.params for t in trials_of(first)] != [t.params for t in trials_of(second)]


def test_the_samplers_draws_differ_from_trial_to_trial(tmp_path: Path) -> None:
    """Reseeded before each trial, a seeded random sampler still draws a new point every trial
    (also when several trials are asked before any is told)."""
    asking = optimizer(":memory:", False, lambda: optuna.samplers.RandomSampler(seed=3))
    points = [tuple(asking.ask()[0].params.values()) for _ in range(4)]
    assert len(set(points)) == 4
    opt = optimizer(
        f"sqlite:///{tmp_path / 'study.db'}", False, lambda: optuna.samplers.RandomSampler(seed=3)
    )
    experiment().optimize(opt, 12, 1)
    xs = [t.params["x"] for t in opt.study.trials]
    assert len(set(xs)) == len(xs)
    assert all(math.isfinite(x) for x in xs)


# -- a fresh process: the command line --------------------------------------------------------

#: The study folder's step: interrupts the run (KeyboardInterrupt, as Ctrl+C does) at execution
#: ``c`` of the process when the file ``interrupt`` beside it holds ``c``; with the file ``hang``
#: holding ``c``, it writes the file ``hanging`` at execution ``c`` and sleeps (to be killed).
INTERRUPTING_STEP = """
import time
from pathlib import Path
from crystallize_opt import pipeline_step

HERE = Path(__file__).parent

def due(name):
    flag = HERE / name
    if not flag.exists():
        return False
    count = int(flag.read_text())
    if count <= 0:
        flag.unlink()
        return True
    flag.write_text(str(count - 1))
    return False

@pipeline_step()
def loss(noise, ctx, x: float = 0.0):
    if due("interrupt"):
        raise KeyboardInterrupt
    if due("hang"):
        (HERE / "hanging").write_text("")
        time.sleep(120)
    ctx.metrics.add("loss", (x - 1.0) ** 2 + noise)
    return noise
"""


def noisy_folder(folder: Path) -> Path:
    """``servers.write_study``'s tiny study, noise-aware with the default sampler, interruptible."""
    write_study(folder, trials=10, replicates_per_trial=2, extra_yaml="  noise: true\n")
    config = folder / "config.yaml"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(line for line in lines if not line.strip().startswith("sampler:")))
    (folder / "steps.py").write_text(INTERRUPTING_STEP)
    return folder


def optimize_in_a_process(folder: Path, storage: str) -> subprocess.CompletedProcess[str]:
    command = cli_command("optimize", str(folder), "--storage", storage, "--study", "s", "--no-report", "-q")
    return subprocess.run(
        command, cwd=folder, env=process_env(), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_a_noise_aware_study_resumed_by_a_new_process_goes_on_as_if_uninterrupted(tmp_path: Path) -> None:
    folder = noisy_folder(tmp_path / "tiny")
    reference_url = f"sqlite:///{tmp_path / 'straight.db'}"
    done = optimize_in_a_process(folder, reference_url)
    assert done.returncode == 0, done.stderr
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    for count in (3, 6):
        (folder / "interrupt").write_text(str(count))
        stopped = optimize_in_a_process(folder, url)
        assert stopped.returncode != 0 and not (folder / "interrupt").exists(), stopped.stderr
    resumed = optimize_in_a_process(folder, url)
    assert resumed.returncode == 0, resumed.stderr
    assert what_ran(url) == what_ran(reference_url)
    assert sum(interrupted(t) for t in trials_of(url)) == 2
    selection = stored_selection(optuna.load_study(study_name="s", storage=url))
    reference = stored_selection(optuna.load_study(study_name="s", storage=reference_url))
    assert selection is not None and reference is not None
    assert selection.winner.params == reference.winner.params
    assert selection.executions == reference.executions
    assert selection.comparison == reference.comparison
    # The first line names the winner: its parameters are the same (its trial number is shifted).
    assert resumed.stdout.splitlines()[0].split(": ", 1)[1] == done.stdout.splitlines()[0].split(": ", 1)[1]


class Delegating(optuna.samplers.BaseSampler):
    """A sampler of another package: its generator is where crystallize-opt does not look."""

    def __init__(self) -> None:
        self.inner = optuna.samplers.RandomSampler(seed=1)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)


def test_a_sampler_whose_generators_are_not_found_is_used_as_it_is_and_said_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="crystallize_opt")
    for name in ("first", "second"):
        sampler = Delegating()
        expected = optuna.samplers.RandomSampler(seed=1)
        opt = optimizer(f"sqlite:///{tmp_path / f'{name}.db'}", False, lambda sampler=sampler: sampler)
        experiment().optimize(opt, 3, 1)
        study = optuna.create_study(sampler=expected)
        assert [t.params for t in opt.study.trials] == [study.ask(SPACE).params for _ in range(3)]
    said = [r for r in caplog.records if "Delegating keeps no random generator" in r.getMessage()]
    assert len(said) == 1


@pytest.mark.slow
def test_a_noise_aware_study_killed_mid_trial_and_rerun_goes_on_as_if_uninterrupted(tmp_path: Path) -> None:
    """``kill -9`` leaves the trial RUNNING: the rerun fails it and queues its parameters again
    (a retry), and the search goes on as the uninterrupted one."""
    folder = noisy_folder(tmp_path / "tiny")
    reference_url = f"sqlite:///{tmp_path / 'straight.db'}"
    done = optimize_in_a_process(folder, reference_url)
    assert done.returncode == 0, done.stderr
    url = f"sqlite:///{tmp_path / 'resumed.db'}"
    (folder / "hang").write_text("5")
    command = cli_command("optimize", str(folder), "--storage", url, "--study", "s", "--no-report", "-q")
    with Processes(tmp_path) as processes:
        victim = processes.start(command)
        wait_for(lambda: (folder / "hanging").exists(), 60, "the trial to hang")
        os.killpg(victim.pid, signal.SIGKILL)
        processes.finish(victim, timeout=30)
    assert [t.state for t in trials_of(url)][-1] == TrialState.RUNNING
    resumed = optimize_in_a_process(folder, url)
    assert resumed.returncode == 0, resumed.stderr
    assert what_ran(url) == what_ran(reference_url)
    selection = stored_selection(optuna.load_study(study_name="s", storage=url))
    reference = stored_selection(optuna.load_study(study_name="s", storage=reference_url))
    assert selection is not None and reference is not None
    assert selection.winner.params == reference.winner.params
    assert selection.comparison == reference.comparison
