"""The one ranking of a study's trials and the one answer to "what is the study's best", used by
the optimizer's ``get_best_treatment``, the ``best``, ``trials`` and ``optimize`` commands and
the report (public: ``study_best``, ``rank_study`` and ``rank_trials`` give scripts the same
answers; the array functions are what the report builds its tables with).

Ranked are the completed trials with finite values, best first:

0. in a noise-aware study that stored its winner selection, the trials of the selection's
   candidates first, in the selection's order (the winner first): the rule that chose the
   winner ranks them (see ``WinnerSelection``); the other trials follow by the rules below;
1. feasible trials (every constraint ``<= 0``, as in Optuna) before infeasible ones;
2. feasible trials by non-domination front (front 0 is the Pareto front; one objective: by value);
3. within a front, by distance to the ideal point once each objective is scaled to [0, 1] over
   the Pareto front (0 best), so the first trial is the Pareto trial closest to the ideal point;
4. infeasible trials by their total constraint violation (sum of the positive constraint values);
5. ties by trial number (the earlier trial first).

The best of a study (:func:`study_best`) is a stored selection's winner, else the first trial of
this ranking when it is feasible. Optuna's own ``study.best_trial`` is the trial with the best
value told to Optuna: the same trial in a study without a selection, often another one (a lucky
draw) in a noise-aware study, whose study user attribute ``"crystallize_winner"`` names the
winner for Optuna's tools (``WinnerSelection.winner_label``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .records import TrialRecord, WinnerSelection
from .treatment import Treatment

__all__ = [
    "RankedTrial",
    "Ranking",
    "StudyBest",
    "best_among",
    "direction_names",
    "front_ranks",
    "oriented",
    "pareto_mask",
    "rank_rows",
    "rank_study",
    "rank_trials",
    "study_best",
    "violation",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Ranking:
    """The ranking of trial rows (see the module's docstring for the rule).

    Attributes:
        order: the ranked rows, best first: the feasible ones, then the infeasible ones.
        feasible: per row, whether every constraint is ``<= 0`` (True without constraints).
        front: per row, the 0-based non-domination front among the ranked feasible rows (one
            objective: the rank of its distinct value); -1 for rows not ranked or infeasible.
    """

    order: IntArray
    feasible: BoolArray
    front: IntArray

    @property
    def best(self) -> int | None:
        """The best row: the first ranked one when it is feasible, else None."""
        if self.order.size and self.feasible[self.order[0]]:
            return int(self.order[0])
        return None

    @property
    def ranked_feasible(self) -> IntArray:
        """The ranked feasible rows, best first (a prefix of :attr:`order`)."""
        return self.order[self.feasible[self.order]]

    @property
    def pareto(self) -> BoolArray:
        """Per row, whether it is a feasible Pareto-optimal trial (one objective: has the best value)."""
        return np.asarray(self.front == 0, dtype=bool)


def direction_names(study: optuna.Study) -> list[str]:
    """The study's directions as ``"minimize"``/``"maximize"``."""
    return ["maximize" if d == StudyDirection.MAXIMIZE else "minimize" for d in study.directions]


def violation(trial: FrozenTrial) -> float:
    """The trial's total constraint violation: the sum of its positive constraint values (0 when
    feasible; infinite when a constraint value is NaN, which is never feasible)."""
    values = [float(c) for c in trial.constraints.values()]
    if any(math.isnan(c) for c in values):
        return math.inf
    return float(sum(c for c in values if c > 0))


def oriented(values: FloatArray, directions: Sequence[str]) -> FloatArray:
    """``values`` (rows x objectives) turned so that lower is better in every column."""
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    return np.asarray(np.asarray(values, dtype=float) * signs, dtype=float)


def _front_of_sorted(points: FloatArray) -> BoolArray:
    """The non-dominated rows of unique, lexicographically sorted ``points`` (lower is better).
    No row can dominate an earlier one, so the first row is on the front."""
    m = points.shape[0]
    if points.shape[1] == 2:  # sorted by the first column: on the front when the second improves
        best_second = np.minimum.accumulate(points[:, 1])
        front = np.ones(m, dtype=bool)
        front[1:] = best_second[1:] < best_second[:-1]
        return front
    front = np.zeros(m, dtype=bool)
    remaining = np.arange(m)
    while remaining.size:  # the first remaining row is non-dominated; drop the rows it dominates
        top = remaining[0]
        front[top] = True
        remaining = remaining[np.any(points[remaining] < points[top], axis=1)]
    return front


def pareto_mask(points: FloatArray) -> BoolArray:
    """True for each row of ``points`` (lower is better in every column) that no other row
    dominates; equal rows do not dominate each other, so duplicates of a front point are all on
    the front (as in Optuna)."""
    if points.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    return np.asarray(_front_of_sorted(unique)[inverse.reshape(-1)], dtype=bool)


def front_ranks(points: FloatArray) -> IntArray:
    """The 0-based non-domination front of each row of ``points`` (lower is better in every
    column): front 0 is :func:`pareto_mask`, front 1 what is non-dominated once it is removed,
    and so on. One column: the rank of each distinct value."""
    if points.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    if points.shape[1] == 1:
        _, inverse = np.unique(points[:, 0], return_inverse=True)
        return np.asarray(inverse.reshape(-1), dtype=np.int64)
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    ranks = np.zeros(unique.shape[0], dtype=np.int64)
    remaining = np.arange(unique.shape[0])
    rank = 0
    while remaining.size:
        front = _front_of_sorted(unique[remaining])
        ranks[remaining[front]] = rank
        remaining = remaining[~front]
        rank += 1
    return np.asarray(ranks[inverse.reshape(-1)], dtype=np.int64)


def ideal_distance(points: FloatArray, reference: FloatArray) -> FloatArray:
    """Distance of each row of ``points`` to the ideal point, after scaling every column to [0, 1]
    over the rows of ``reference`` (lower is better; a constant column scales to 0)."""
    low, high = reference.min(axis=0), reference.max(axis=0)
    span = high - low
    scaled = np.where(span > 0, (points - low) / np.where(span > 0, span, 1.0), 0.0)
    return np.asarray(np.sqrt(np.sum(scaled**2, axis=1)), dtype=float)


def rank_rows(
    values: FloatArray,
    directions: Sequence[str],
    complete: BoolArray,
    violations: FloatArray,
    numbers: IntArray,
    first: Sequence[int] = (),
) -> Ranking:
    """Rank trial rows by the rule of this module.

    Args:
        values: rows x objectives, what Optuna was told.
        directions: ``"minimize"``/``"maximize"`` per objective.
        complete: per row, whether the trial completed (only those with finite values are ranked).
        violations: per row, the total constraint violation (see :func:`violation`).
        numbers: per row, the trial number (ties go to the lower one).
        first: trial numbers ranked first, in this order, when they are ranked feasible rows (a
            noise-aware study's candidates, :attr:`WinnerSelection.candidate_trials`).
    """
    values = np.asarray(values, dtype=float)
    feasible = np.asarray(violations <= 0, dtype=bool)
    rankable = np.asarray(complete, dtype=bool) & np.all(np.isfinite(values), axis=1)
    front = np.full(values.shape[0], -1, dtype=np.int64)
    good = np.flatnonzero(rankable & feasible)
    bad = np.flatnonzero(rankable & ~feasible)
    points = oriented(values[good], directions)
    front[good] = front_ranks(points)
    if good.size and points.shape[1] > 1:
        distance = ideal_distance(points, points[front[good] == 0])
    else:
        distance = np.zeros(good.size)
    good_order = good[np.lexsort((numbers[good], distance, front[good]))]
    if len(first):
        position = {int(n): i for i, n in enumerate(dict.fromkeys(first))}
        rank_of = np.array([position.get(int(n), len(position)) for n in numbers[good_order]])
        good_order = good_order[np.argsort(rank_of, kind="stable")]
    bad_order = bad[np.lexsort((numbers[bad], violations[bad]))]
    order = np.concatenate([good_order, bad_order]).astype(np.int64)
    return Ranking(order=order, feasible=feasible, front=front)


@dataclass(frozen=True)
class RankedTrial:
    """A trial in the ranking: its rank (1 = best), whether it is feasible, and its front."""

    trial: FrozenTrial
    rank: int
    feasible: bool
    front: int


def rank_trials(
    trials: Sequence[FrozenTrial], directions: Sequence[str], first: Sequence[int] = ()
) -> list[RankedTrial]:
    """The completed trials with finite values among ``trials``, best first (see the module's
    docstring; ``first`` as in :func:`rank_rows`); the others are left out."""
    k = len(directions)
    values = np.full((len(trials), k), np.nan)
    for i, trial in enumerate(trials):
        if trial.values is not None and len(trial.values) == k:
            values[i] = trial.values
    ranking = rank_rows(
        values,
        directions,
        np.array([t.state == TrialState.COMPLETE for t in trials], dtype=bool),
        np.array([violation(t) for t in trials], dtype=float),
        np.array([t.number for t in trials], dtype=np.int64),
        first,
    )
    return [
        RankedTrial(trials[row], rank, bool(ranking.feasible[row]), int(ranking.front[row]))
        for rank, row in enumerate(ranking.order.tolist(), start=1)
    ]


def rank_study(study: optuna.Study) -> list[RankedTrial]:
    """:func:`rank_trials` over all of ``study``'s trials, the candidates of its stored winner
    selection first (a noise-aware study; see the module's docstring).

    Raises:
        RecordError: if the stored selection is malformed.
    """
    selection = WinnerSelection.from_study(study)
    first = () if selection is None else selection.candidate_trials
    return rank_trials(study.get_trials(deepcopy=False), direction_names(study), first)


@dataclass(frozen=True)
class StudyBest:
    """The best of a study, as every surface shows it (see :func:`study_best`).

    Attributes:
        trial: the trial :attr:`treatment` names; None for a ``model-<i>`` winner.
        selection: the noise-aware selection that chose the winner; None when the ranking did.
    """

    trial: FrozenTrial | None
    selection: WinnerSelection | None

    @property
    def treatment(self) -> Treatment:
        """The best treatment: ``trial-<n>`` with the parameters trial ``n`` evaluated
        (constants included), or a noise-aware study's winner, ``trial-<n>`` (``n`` is the first
        trial that ran its parameters) or ``model-<i>`` (a minimum of the response model's mean
        that no trial ran).

        Raises:
            RecordError: if the trial's record is malformed.
        """
        if self.selection is not None:
            return self.selection.winner
        assert self.trial is not None
        return Treatment(f"trial-{self.trial.number}", TrialRecord.params_of(self.trial))


def best_among(
    trials: Sequence[FrozenTrial], directions: Sequence[str], selection: WinnerSelection | None
) -> StudyBest | None:
    """The best of a study with these ``trials`` and stored ``selection``: the selection's
    winner (with the trial it names, when it is one of ``trials``), else the first trial of
    :func:`rank_trials` when it is feasible; None when there is neither."""
    if selection is not None:
        number = selection.winner_trial
        trial = next((t for t in trials if t.number == number), None) if number is not None else None
        return StudyBest(trial, selection)
    ranked = rank_trials(trials, directions)
    if not ranked or not ranked[0].feasible:
        return None
    return StudyBest(ranked[0].trial, None)


def study_best(study: optuna.Study, selection: WinnerSelection | None = None) -> StudyBest | None:
    """The best of ``study``: its winner selection's winner when it stored one (noise-aware
    optimization; ``selection`` given: that one), else the first trial of :func:`rank_study` when
    it is feasible; None when there is neither (no trial completed feasibly). See
    :func:`best_among`.

    Raises:
        RecordError: if the stored selection is malformed.
    """
    selection = WinnerSelection.from_study(study) if selection is None else selection
    return best_among(study.get_trials(deepcopy=False), direction_names(study), selection)
