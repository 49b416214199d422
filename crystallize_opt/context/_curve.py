"""Learning curves: the intermediate values a step reports while it trains (``ctx.report``), the
exception that stops a replicate when a pruner says so, and the reporter the optimizer attaches."""

from __future__ import annotations

import math
from typing import Any, Protocol

import optuna

from ..exceptions import CrystallizeError


class TrialPruned(optuna.TrialPruned, CrystallizeError):
    """Raised by :meth:`FrozenContext.report` when the optimizer's pruner stops the trial.

    It is an :class:`optuna.TrialPruned` (code catching Optuna's name catches it) and a
    :class:`~crystallize_opt.CrystallizeError`. The engine catches it around the replicate: the
    replicate and the trial stop, the trial is stored as PRUNED and its record says where and
    why (:attr:`decision`). A step may catch it to clean up, but must raise it again (or raise
    its own :class:`TrialPruned`); a step that swallows it simply goes on training. Outside
    :meth:`Experiment.optimize` it is never raised. Beyond the reference API.

    Attributes:
        decision: where and why the trial stopped: ``replicate``, ``step`` (the step's own
            numbering, e.g. the epoch), ``optuna_step`` (the intermediate value's step in the
            Optuna study), ``value`` (what the pruner saw there), ``pruner``, ``mode`` and
            ``reason`` (one line), ``compared`` (the other trials' values at that step).
    """

    def __init__(self, message: str = "", decision: dict[str, Any] | None = None) -> None:
        self.decision: dict[str, Any] = dict(decision or {})
        super().__init__(message or str(self.decision.get("reason") or "the trial was pruned"))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.decision))


def is_pruned_signal(exc: BaseException) -> bool:
    """True for an :class:`optuna.TrialPruned` (ours or Optuna's own)."""
    return isinstance(exc, optuna.TrialPruned)


class CurveReporter(Protocol):
    """What the optimizer attaches to a replicate's context to hear its learning curve.

    ``report(replicate, step, value)`` receives every point :meth:`FrozenContext.report` records
    and returns the decision to stop the trial (a ``dict`` as :attr:`TrialPruned.decision`) or
    None to go on.
    """

    def report(self, replicate: int, step: int, value: float) -> dict[str, Any] | None: ...


def check_point(value: object, step: object, last_step: int | None) -> tuple[float, int]:
    """``(value, step)`` of a reported point, as a float and an int.

    Raises:
        TypeError: if ``value`` is not a real number or ``step`` not an integer.
        ValueError: if ``step`` is negative or not greater than the replicate's last step.
    """
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            import numpy as np

            if not isinstance(step, np.integer):
                raise TypeError
            step = int(step)
        except TypeError:
            raise TypeError(f"ctx.report: step must be an integer (e.g. the epoch), got {step!r}") from None
    assert isinstance(step, int)
    if step < 0:
        raise ValueError(f"ctx.report: step must be 0 or more, got {step}")
    if last_step is not None and step <= last_step:
        raise ValueError(
            f"ctx.report: step {step} was reported after step {last_step}; each replicate reports "
            "increasing steps (one value per step)"
        )
    if isinstance(value, bool):
        raise TypeError(f"ctx.report: value must be a real number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"ctx.report: value must be a real number, got {value!r}") from None
    return number, step


def curve_as_json(curve: list[tuple[int, float]]) -> list[list[Any]]:
    """A curve as stored: ``[[step, value], ...]``, a value that is not finite as None."""
    return [[step, value if math.isfinite(value) else None] for step, value in curve]
