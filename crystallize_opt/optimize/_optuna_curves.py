"""Learning-curve pruning in the Optuna adapter: the points a trial's replicates report
(``ctx.report(value, step)``) go to the study's pruner as intermediate values, and the pruner
may stop the trial in the middle of a replicate.

**Steps.** Replicate ``r``'s step ``e`` is Optuna step ``r * E + e``, where ``E`` (the study's
steps per replicate, :class:`~crystallize_opt.records.CurveLayout`) is one more than the last
step the first replicate of the first trial to reach a second replicate reported (e.g. the
epochs). So a pruner compares a trial with the others at the same replicate and the same epoch,
and the Optuna step counts the epochs a trial has trained, over its replicates: the budgets of
successive halving and Hyperband (``min_resource``, ``max_resource``) are epochs, and a trial
earns the next replicate only by surviving the rungs of the one before. Replicate 0's steps
need no ``E`` (``0 * E + e``), and a trial reaches replicate 1 only after its replicate 0
finished, so ``E`` is always known when needed. A later replicate's step ``e >= E`` is recorded
but not reported (it would collide with the next replicate's).

**Values.** ``"paired"``: the replicate's own value. With common random numbers replicate ``r``
of every trial runs on the same seed (the same split and initialisation), so the pruner compares
trials on equal terms, as a paired test does. ``"pooled"``: the mean, at step ``e``, over the
replicates the trial has run so far (``0 .. r``): less noisy, and still on the same seeds as the
other trials' means at that Optuna step.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import TrialState

from .._logging import get_logger
from ..records import CurveLayout
from ._optuna_session import StudySession
from ._study import describe_component

_log = get_logger("optimize")


class CurveSteps:
    """The study's curve layout (its steps per replicate): read from the study, or stored by the
    first trial that needs it (see the module's docstring); kept once known."""

    def __init__(self, session: StudySession) -> None:
        self._session = session
        self._known: CurveLayout | None = None

    def get(self, learned: CurveLayout | None) -> CurveLayout | None:
        """The study's layout; ``learned`` (from the asking trial's first replicate) is stored
        when the study has none yet. None when neither is known."""
        if self._known is not None:
            return self._known
        study = self._session.study
        layout = CurveLayout.from_study(study)
        if layout is not None and layout.steps_per_replicate:
            self._known = layout
        elif learned is not None:
            learned.store(study)
            self._known = learned
        return self._known


class TrialCurves:
    """The :class:`~crystallize_opt.context.CurveReporter` of one trial: reports its replicates'
    points to the pruner (see the module's docstring) and says when the pruner stops it.

    Args:
        session: the optimizer's study session.
        trial: the running trial.
        mode: ``"paired"`` or ``"pooled"``.
        steps: the study's curve layout.
        pruner: the study's pruner (described in the decision).
        first_replicate_only: the pruner may stop the trial only inside replicate 0 (later
            replicates' points are reported, never pruned on).
    """

    def __init__(
        self,
        session: StudySession,
        trial: optuna.Trial,
        mode: str,
        steps: CurveSteps,
        pruner: BasePruner | None,
        *,
        first_replicate_only: bool = False,
    ) -> None:
        self._session = session
        self._first_replicate_only = first_replicate_only
        self._trial = trial
        self._mode = mode
        self._steps = steps
        self._pruner = pruner
        #: replicate -> step -> value, every point reported so far.
        self.points: dict[int, dict[int, float]] = {}
        #: Replicates whose points arrived as they ran (the pruner was asked at each).
        self.live: set[int] = set()
        self._warned = False
        self._looked = False
        self._layout: CurveLayout | None = None

    def report(self, replicate: int, step: int, value: float) -> dict[str, Any] | None:
        """Report a point as it is recorded and ask the pruner; the decision to stop, or None."""
        self.live.add(replicate)
        reported = self._add(replicate, step, value)
        return None if reported is None else self._ask(replicate, step, *reported)

    def catch_up(self, replicate: int, curve: list[tuple[int, float]]) -> dict[str, Any] | None:
        """Report a finished replicate's curve that ran in another process, then ask the pruner
        once, at its last reported point; the decision to stop, or None."""
        last: tuple[int, int, float] | None = None
        for step, value in curve:
            reported = self._add(replicate, step, value)
            if reported is not None:
                last = (step, *reported)
        return None if last is None else self._ask(replicate, *last)

    def _add(self, replicate: int, step: int, value: float) -> tuple[int, float] | None:
        """Record the point and report it; ``(optuna step, value reported)``, or None when it
        has no Optuna step (see the module's docstring) or is not finite in pooled mode."""
        self.points.setdefault(replicate, {})[step] = value
        optuna_step = self._optuna_step(replicate, step)
        if optuna_step is None:
            return None
        shown = value if self._mode == "paired" else self._pooled(step)
        self._trial.report(shown, optuna_step)
        return optuna_step, shown

    def _pooled(self, step: int) -> float:
        values = [points[step] for points in self.points.values() if step in points]
        return math.fsum(values) / len(values)

    def _optuna_step(self, replicate: int, step: int) -> int | None:
        if self._layout is None and (replicate > 0 or not self._looked):
            # Replicate 0 looks once per trial (a stored layout bounds its steps); a later
            # replicate learns the layout from this trial's first one when the study has none.
            self._looked = True
            self._layout = self._steps.get(self._learned(replicate) if replicate > 0 else None)
        per_replicate = None if self._layout is None else self._layout.steps_per_replicate
        if per_replicate is None:
            return None if replicate else step
        if step >= per_replicate:
            if not self._warned:
                self._warned = True
                _log.warning(
                    "trial %d: replicate %d reported step %d, beyond the study's %d step(s) per replicate "
                    "(learned from the first replicate to finish); such points are recorded but not pruned on",
                    self._trial.number,
                    replicate,
                    step,
                    per_replicate,
                )
            return None
        return replicate * per_replicate + step

    def _learned(self, replicate: int) -> CurveLayout | None:
        """The layout of this trial's first replicate before ``replicate`` that reported any."""
        earlier = [r for r, points in self.points.items() if r < replicate and points]
        return None if not earlier else CurveLayout.learn(sorted(self.points[min(earlier)]))

    def _ask(self, replicate: int, step: int, optuna_step: int, shown: float) -> dict[str, Any] | None:
        if (self._first_replicate_only and replicate > 0) or not self._trial.should_prune():
            return None
        decision = describe_decision(
            self._session.study,
            self._trial.number,
            self._pruner,
            replicate=replicate,
            step=step,
            optuna_step=optuna_step,
            value=shown,
            mode=self._mode,
        )
        if self._layout is not None:  # CurveSteps keeps only layouts with their steps per replicate
            decision["share"] = self._layout.share(step)  # what it cost a budget of executions
        return decision


def describe_decision(
    study: optuna.Study,
    number: int,
    pruner: BasePruner | None,
    *,
    replicate: int,
    step: int | None,
    optuna_step: int,
    value: float,
    mode: str,
) -> dict[str, Any]:
    """Where and why trial ``number`` was stopped, for its record: the point, the pruner and
    the values of the other complete trials at that Optuna step, which median and percentile
    pruners compare it with (a successive-halving or Hyperband pruner compares within the
    trial's rung and bracket, pruned trials included; a threshold pruner with its bounds)."""
    others = [
        t.intermediate_values[optuna_step]
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.number != number and optuna_step in t.intermediate_values
    ]
    finite = sorted(v for v in others if math.isfinite(v))
    compared: dict[str, Any] = {"trials": len(others)}
    minimize = study.direction == StudyDirection.MINIMIZE
    if finite:
        middle = len(finite) // 2
        median = finite[middle] if len(finite) % 2 else (finite[middle - 1] + finite[middle]) / 2
        compared.update(median=median, best=finite[0] if minimize else finite[-1])
    described = describe_component(pruner) or {"class": "pruner", "settings": {}}
    what = {
        "paired": "its value",
        "pooled": f"its mean over replicates 0-{replicate}" if replicate else "its value",
        "replicates": "the replicate's objective value",
    }.get(mode, "its value")
    where = (
        f"replicate {replicate}"
        + ("" if step is None else f", step {step}")
        + f" (Optuna step {optuna_step})"
    )
    against = (
        f"{len(others)} other complete trial(s) there (median {compared['median']:.6g}, best {compared['best']:.6g})"
        if finite
        else "no other complete trial there"
        if not others
        else f"{len(others)} other trial(s) with no finite value"
    )
    return {
        "replicate": replicate,
        "step": step,
        "optuna_step": optuna_step,
        "value": value if math.isfinite(value) else None,
        "mode": mode,
        "pruner": described,
        "compared": compared,
        "reason": f"{described['class']} stopped it at {where}: {what} {value:.6g} against {against}",
    }
