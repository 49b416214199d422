"""A noise-aware study seen from every surface: the progress bar counts every execution of the
budget, and the winner is what the Python API, the command line, the report and the study's
attributes for Optuna's own tools show as "best"."""

from __future__ import annotations

import re

import optuna
import pytest
from optuna.distributions import FloatDistribution

from crystallize_opt import NoiseHandling, Objective, OptunaOptimizer

from . import noise_fixtures
from .noise_fixtures import noisy_experiment

SPACE = {"x": FloatDistribution(-3.0, 3.0), "y": FloatDistribution(-3.0, 3.0)}
#: ``done/total [`` of a tqdm bar as it is drawn.
BAR = re.compile(r"(\d+)/(\d+) \[")


@pytest.fixture(autouse=True)
def _quiet_and_counted() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    noise_fixtures.CALLS.clear()


def noise_optimizer(
    storage: str = ":memory:", study_name: str | None = None, **noise: int
) -> OptunaOptimizer:
    return OptunaOptimizer(
        SPACE,
        Objective("loss"),
        sampler=optuna.samplers.TPESampler(seed=3),
        storage=storage,
        study_name=study_name,
        noise=NoiseHandling(**noise) if noise else True,
    )


def last_bar(stderr: str) -> tuple[int, int, str]:
    """The last state the bar drew: done, total, and its line."""
    lines = [line for line in re.split(r"[\r\n]", stderr) if BAR.search(line)]
    assert lines, f"no progress bar on stderr: {stderr[-300:]!r}"
    found = BAR.search(lines[-1])
    assert found is not None
    return int(found[1]), int(found[2]), lines[-1]


def test_the_progress_bar_counts_search_confirmation_and_held_out_executions(
    capfd: pytest.CaptureFixture[str], tmp_path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optimizer = noise_optimizer(storage, "bar")
    noisy_experiment(noise_sd=0.3, own_sd=0.1).optimize(
        optimizer, num_trials=60, replicates_per_trial=2, progress=True
    )
    done, total, line = last_bar(capfd.readouterr().err)
    selection = optimizer.selection
    assert selection is not None
    executions = selection.executions
    assert executions["confirmation"] > 0 and executions["holdout"] > 0, "every phase ran"
    ran = len(noise_fixtures.CALLS)
    assert ran == executions["search"] + executions["confirmation"] + executions["holdout"] == 120
    assert (done, total) == (ran, 120), line
    assert "execution" in line and "best observed=" in line, "the value shown is a search figure, named so"

    # Run again with the same budget: the stored winner comes back, nothing runs, and the bar
    # starts (and ends) at the budget spent by the first run.
    noise_fixtures.CALLS.clear()
    noisy_experiment(noise_sd=0.3, own_sd=0.1).optimize(
        noise_optimizer(storage, "bar"), num_trials=60, replicates_per_trial=2, progress=True
    )
    assert noise_fixtures.CALLS == []
    done, total, line = last_bar(capfd.readouterr().err)
    assert (done, total) == (120, 120), line


def test_a_plain_study_s_bar_still_counts_trials(capfd: pytest.CaptureFixture[str]) -> None:
    optimizer = OptunaOptimizer(
        SPACE, Objective("loss"), sampler=optuna.samplers.TPESampler(seed=3), storage=":memory:"
    )
    noisy_experiment().optimize(optimizer, num_trials=7, replicates_per_trial=2, progress=True)
    done, total, line = last_bar(capfd.readouterr().err)
    assert (done, total) == (7, 7) and "trial" in line and "best=" in line
