"""Ranking of trials: best value (one objective), or Pareto front and distance to the ideal point."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def oriented(values: FloatArray, directions: Sequence[str]) -> FloatArray:
    """``values`` (rows x objectives) turned so that lower is better in every column."""
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    return np.asarray(np.asarray(values, dtype=float) * signs, dtype=float)


def pareto_mask(points: FloatArray) -> BoolArray:
    """True for each row of ``points`` (lower is better in every column) that no other row dominates.

    Equal rows do not dominate each other, so duplicates of a front point are all on the front
    (as in Optuna). Points are visited in lexicographic order, where no later point can dominate
    an earlier one, so the front only grows: O(rows x front size).
    """
    m = points.shape[0]
    mask = np.zeros(m, dtype=bool)
    if m == 0:
        return mask
    order = np.lexsort(points.T[::-1])
    front = np.empty((0, points.shape[1]))
    for i in order:
        p = points[i]
        if front.shape[0] and np.any(np.all(front <= p, axis=1) & np.any(front < p, axis=1)):
            continue
        mask[i] = True
        front = np.vstack([front, p])
    return mask


def ideal_distance(points: FloatArray, reference: FloatArray) -> FloatArray:
    """Distance of each row of ``points`` to the ideal point, after scaling every column to [0, 1]
    over the rows of ``reference`` (lower is better; a constant column scales to 0)."""
    low, high = reference.min(axis=0), reference.max(axis=0)
    span = high - low
    scaled = np.where(span > 0, (points - low) / np.where(span > 0, span, 1.0), 0.0)
    return np.asarray(np.sqrt(np.sum(scaled**2, axis=1)), dtype=float)


def rank_trials(
    values: FloatArray, directions: Sequence[str], usable: BoolArray, numbers: IntArray
) -> tuple[IntArray, BoolArray]:
    """Rank the usable rows, best first, and mark the Pareto-optimal ones.

    One objective: by value (ties: lower trial number first), which puts Optuna's
    ``study.best_trial`` first; the Pareto mask marks the rows with the best value. Several
    objectives: Pareto-optimal rows first, each group by distance to the ideal point after
    scaling every objective to [0, 1] over the Pareto set (the rule of
    ``OptunaOptimizer.get_best_treatment``), ties by trial number.

    Returns:
        ``(ranking, pareto)``: row indices, and a boolean mask over all rows.
    """
    rows = np.flatnonzero(usable)
    pareto = np.zeros(values.shape[0], dtype=bool)
    if rows.size == 0:
        return rows.astype(np.int64), pareto
    points = oriented(values[rows], directions)
    if points.shape[1] == 1:
        order = np.lexsort((numbers[rows], points[:, 0]))
        pareto[rows[points[:, 0] == points[:, 0].min()]] = True
        return rows[order].astype(np.int64), pareto
    front = pareto_mask(points)
    pareto[rows[front]] = True
    distance = ideal_distance(points, points[front])
    order = np.lexsort((numbers[rows], distance, ~front))
    return rows[order].astype(np.int64), pareto
