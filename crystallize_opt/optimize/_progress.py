"""A progress bar for optimizations (trials done of target, or pipeline executions of a noise-aware
search's budget, confirmation and held-out runs included; best so far), off unless asked for."""

from __future__ import annotations

import math
from typing import Any, Protocol


class TrialProgress:
    """Wraps :mod:`tqdm` when ``enabled``; otherwise every method does nothing.

    ``best_label`` names the best value shown after the bar: ``best`` by default; a noise-aware
    search shows ``best observed`` (the best value told to Optuna so far, a search figure; the
    winner is chosen after the search, see ``OptunaOptimizer.selection``).
    """

    def __init__(
        self,
        enabled: bool,
        total: int,
        initial: int,
        description: str,
        unit: str = "trial",
        best_label: str = "best",
    ):
        self._bar: Any = None
        self._best_label = best_label
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=max(total, initial), initial=initial, desc=description, unit=unit, dynamic_ncols=True
            )

    def advance(self, best: float | None, to: float | None = None) -> None:
        """One more trial done (or, with ``to``, that many units done in all; whole units are
        shown, so a share of an execution that a pruned one cost waits for the rest)."""
        if self._bar is None:
            return
        if best is not None and math.isfinite(best):
            self._bar.set_postfix_str(f"{self._best_label}={best:.6g}", refresh=False)
        self._update(1 if to is None else max(0, math.floor(to) - self._bar.n))

    def add(self, count: int) -> None:
        """``count`` more units done (e.g. the executions of a confirmation or held-out round)."""
        if self._bar is not None and count > 0:
            self._update(count)

    def _update(self, count: int) -> None:
        """Count ``count`` more; a total overshot (workers' trials in flight can spend a few
        executions beyond a noise-aware budget) becomes what ran, so the bar ends full at it."""
        bar = self._bar
        if bar.total is not None and bar.n + count > bar.total:
            bar.total = bar.n + count
        bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def execution_bar(description: str, progress: tuple[float, int]) -> TrialProgress:
    """A shown bar of pipeline executions from ``progress`` = ``(spent, budget)`` (a noise-aware
    search's budget, whole executions shown), its value named ``best observed``."""
    spent, budget = progress
    return TrialProgress(
        True,
        total=budget,
        initial=math.floor(spent),
        description=description,
        unit="execution",
        best_label="best observed",
    )


class _FollowedStudy(Protocol):
    """What :class:`StudyProgress` reads of an optimizer whose trials run elsewhere."""

    @property
    def study(self) -> Any: ...

    def finished_trials(self) -> int: ...

    def execution_progress(self) -> tuple[float, int] | None: ...


class StudyProgress:
    """The bar of a parent whose workers (processes or Dask tasks) run the study: it follows what
    the study holds, as trials done of ``num_trials`` or, under noise handling, as pipeline
    executions of the budget (the same count a single process shows). Off unless ``enabled``;
    the study is read only when it is on (each read costs CPU the workers would otherwise get)."""

    def __init__(self, optimizer: _FollowedStudy, num_trials: int, enabled: bool):
        self._optimizer = optimizer
        self._num_trials = num_trials
        self._enabled = enabled
        self._budget = optimizer.execution_progress() if enabled else None
        name = optimizer.study.study_name
        self._bar = (
            TrialProgress(
                enabled,
                total=num_trials,
                initial=min(optimizer.finished_trials(), num_trials) if enabled else 0,
                description=name,
            )
            if self._budget is None
            else execution_bar(name, self._budget)
        )
        self._shown = optimizer.finished_trials() if enabled else 0

    def refresh(self) -> None:
        """Bring the bar up to what the study holds now."""
        if not self._enabled:
            return
        if self._budget is not None:
            self._bar.advance(None, to=(self._optimizer.execution_progress() or self._budget)[0])
            return
        done = min(self._optimizer.finished_trials(), self._num_trials)
        for _ in range(done - self._shown):
            self._bar.advance(None)
        self._shown = max(self._shown, done)

    def close(self) -> None:
        self._bar.close()
