"""A small Gaussian process: the model that pools neighbouring parameter sets and seeds.

scipy.linalg and scipy.optimize are imported by the methods that use them: importing the
package's API (every worker process does) then does not pay for them before a noisy search
fits a model."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

_SQRT5 = math.sqrt(5.0)
#: Prior on log length scales (unit-cube inputs): weak, centred on half the range.
_PRIOR_MEAN, _PRIOR_SD = math.log(0.5), 1.5
_JITTER = 1e-8
#: Fitted log-hyperparameters are rounded to this step (1% relative): see :func:`snap_to_grid`.
THETA_STEP = 0.01
#: Hyperparameters are fitted on at most this many observations (an even spread over those the
#: model conditions on); the cost of a fit grows with the cube of the count.
MAX_FIT_POINTS = 300
#: Largest block of pairwise terms (rows x observations x dimensions) computed at once: the model's
#: memory grows with the square of its observations, not with that times the dimensions, nor with
#: the number of points predicted at.
BLOCK_ELEMENTS = 2**21


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS (and OpenMP) limited to one thread inside the block: the model's matrices are a few
    hundred to a few thousand rows, where threads cost more than they save, and on a busy machine
    an oversubscribed OpenBLAS is 10-100 times slower (``cho_factor`` of 1000 rows on a loaded
    2-core machine: ~1 s with its default threads, 11 ms with one). Restores the limits after."""
    with threadpool_limits(limits=1):
        yield


def _row_blocks(rows: int, columns: int, dimension: int) -> Iterator[slice]:
    """Slices of ``range(rows)`` whose pairwise blocks with ``columns`` points stay within
    :data:`BLOCK_ELEMENTS` (one slice when everything fits)."""
    step = max(1, BLOCK_ELEMENTS // max(1, columns * max(1, dimension)))
    for start in range(0, rows, step):
        yield slice(start, min(rows, start + step))


def snap_to_grid(point: np.ndarray, step: float, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``point`` rounded to multiples of ``step``, kept within ``[low, high]``.

    Applied to what an optimizer returns from the model (fitted hyperparameters, minima of the
    mean) before it is used: BLAS libraries round differently on different CPUs, and without the
    grid those last-digit differences reach the choice of the winner, so that one seed picks
    different winners on machines with different BLAS kernels.
    """
    return np.clip(np.round(np.asarray(point, float) / step) * step, low, high)


class SeedEffectGP:
    """GP regression on unit-cube inputs with a Matern-5/2 ARD kernel, a random effect per
    replicate seed (what every parameter set shares on that seed) and white noise; with
    ``point_effect``, also an independent effect per parameter set (observations at the same
    point share it, other points do not).

    The point effect is the part of a parameter set's expected value that the smooth kernel
    cannot carry from its neighbours: the bumps of a rough response (many local minima closer
    together than the search's points). Its variance is fitted with the others, and it can only
    be told apart from the noise where parameter sets have several replicates (after a
    confirmation round); where the response is smooth it fits near zero and the model is the
    one without it. With it, a parameter set's estimate leans on its own replicates as much as
    the data say the neighbours do not predict it: on a rough response the smooth model
    shrinks every candidate towards its neighbourhood's average and ranks neighbourhoods, not
    points.

    Hyperparameters are maximum a posteriori (a weak log-normal prior on length scales),
    found by L-BFGS-B with analytic gradients and rounded to :data:`THETA_STEP` in log space.
    :meth:`predict` gives the posterior of the seed-free response, which is what a winner
    should be chosen by.

    Args:
        inputs: ``(n, d)`` points in the unit cube.
        values: ``n`` observed values.
        groups: ``n`` seed labels; observations with equal labels share a seed effect.
        point_effect: fit the per-parameter-set effect described above (default False).

    With more than :data:`MAX_FIT_POINTS` observations, the hyperparameters are fitted on
    :data:`MAX_FIT_POINTS` of them spread evenly over the order given, and the posterior
    conditions on all of them. The spread matters: hyperparameters fitted on a part of the data
    that is not like the whole (the best observations only: a narrow range of values) give the
    whole data a model that cannot follow it, whose means can lie far outside every observed
    value. Memory is of the
    order of ``n**2`` numbers (the covariance and its factor); pairwise terms are computed in
    blocks of at most :data:`BLOCK_ELEMENTS` numbers. Callers bound ``n`` (the winner's selection
    conditions on at most ``MAX_MODEL_OBSERVATIONS``) and run the model inside
    :func:`single_threaded_blas`.
    """

    def __init__(
        self, inputs: np.ndarray, values: np.ndarray, groups: np.ndarray, point_effect: bool = False
    ):
        self.point_effect = point_effect
        self.inputs = np.asarray(inputs, float)
        self.n, self.d = self.inputs.shape
        values = np.asarray(values, float)
        self._values = values
        self._groups = np.asarray(groups)
        self.offset = float(values.mean())
        self.scale = float(values.std()) or 1.0
        self._targets = (values - self.offset) / self.scale
        self._pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # fit only
        self.theta: np.ndarray | None = None
        #: Log marginal likelihood plus log prior at the fitted hyperparameters (up to a constant),
        #: on the observations the hyperparameters were fitted on: what :meth:`fit` maximised.
        self.log_posterior = -math.inf
        self._chol: Any = None
        self._alpha: np.ndarray | None = None

    @property
    def _sq_dist(self) -> np.ndarray:
        """``(n, n, d)`` squared coordinate differences: what fitting needs for its gradient
        (built on first use; fits see at most :data:`MAX_FIT_POINTS` observations)."""
        return self._pair_terms()[0]

    @property
    def _same_seed(self) -> np.ndarray:
        return self._pair_terms()[1]

    @property
    def _same_point(self) -> np.ndarray:
        """``(n, n)``: 1 where two observations are of the same parameter set (fit only)."""
        return self._pair_terms()[2]

    def _pair_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._pairs is None:
            groups = self._groups
            sq_dist = (self.inputs[:, None, :] - self.inputs[None, :, :]) ** 2
            self._pairs = (
                sq_dist,
                (groups[:, None] == groups[None, :]).astype(float),
                (sq_dist.sum(-1) == 0).astype(float),
            )
        return self._pairs

    def _point_var(self, theta: np.ndarray) -> float:
        """The point effect's variance at ``theta`` (0 for a model without one)."""
        return math.exp(theta[self.d + 3]) if self.point_effect else 0.0

    def _same_points(self, points: np.ndarray) -> np.ndarray:
        """``(len(points), n)``: 1 where a point is the parameter set of an observation."""
        same: np.ndarray = (((points[:, None, :] - self.inputs[None, :, :]) ** 2).sum(-1) == 0).astype(float)
        return same

    @staticmethod
    def _kernel(sq_dist: np.ndarray, lengthscales: np.ndarray) -> np.ndarray:
        """The Matern-5/2 correlation of squared coordinate differences (last axis)."""
        r = np.sqrt(np.maximum((sq_dist / lengthscales**2).sum(-1), 1e-300))
        kernel: np.ndarray = (1 + _SQRT5 * r + 5.0 / 3.0 * r**2) * np.exp(-_SQRT5 * r)
        return kernel

    @staticmethod
    def _matern(sq_dist: np.ndarray, lengthscales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The correlation and its slope (what the gradient of a fit needs)."""
        r = np.sqrt(np.maximum((sq_dist / lengthscales**2).sum(-1), 1e-300))
        decay = np.exp(-_SQRT5 * r)
        return (1 + _SQRT5 * r + 5.0 / 3.0 * r**2) * decay, 5.0 / 3.0 * (1 + _SQRT5 * r) * decay

    def _cross(self, points: np.ndarray, lengthscales: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """The correlations of ``points`` with every observation, in blocks of rows: the same
        numbers as one ``(len(points), n, d)`` computation, without that array."""
        for rows in _row_blocks(len(points), self.n, self.d):
            yield rows, self._kernel((points[rows, None, :] - self.inputs[None, :, :]) ** 2, lengthscales)

    def _covariance(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lengthscales = np.exp(theta[: self.d])
        signal, seed, noise = np.exp(theta[self.d : self.d + 3])
        matern, slope = self._matern(self._sq_dist, lengthscales)
        cov = signal * matern + seed * self._same_seed + (noise + _JITTER) * np.eye(self.n)
        if self.point_effect:
            cov += self._point_var(theta) * self._same_point
        return cov, matern, slope

    def _posterior_covariance(self, theta: np.ndarray) -> np.ndarray:
        """The covariance of the observations at ``theta`` (the numbers :meth:`_covariance`
        gives), built block by block for more than :data:`MAX_FIT_POINTS` observations."""
        if self.n <= MAX_FIT_POINTS:
            return self._covariance(theta)[0]
        lengthscales = np.exp(theta[: self.d])
        signal, seed, noise = np.exp(theta[self.d : self.d + 3])
        point = self._point_var(theta)
        cov = np.empty((self.n, self.n))
        for rows, kernel in self._cross(self.inputs, lengthscales):
            block = signal * kernel
            block += seed * (self._groups[rows, None] == self._groups[None, :])
            if point:
                block += point * self._same_points(self.inputs[rows])
            cov[rows] = block
        cov[np.diag_indices(self.n)] += noise + _JITTER
        return cov

    def _neg_log_posterior(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        import scipy.linalg

        d = self.d
        lengthscales = np.exp(theta[:d])
        signal, seed, noise = np.exp(theta[d : d + 3])
        cov, matern, slope = self._covariance(theta)
        try:
            factor = scipy.linalg.cho_factor(cov, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = scipy.linalg.cho_solve(factor, self._targets, check_finite=False)
        inverse = scipy.linalg.cho_solve(factor, np.eye(self.n), check_finite=False)
        outer = np.outer(alpha, alpha) - inverse
        value = 0.5 * self._targets @ alpha + np.log(np.diag(factor[0])).sum()
        grad = np.empty_like(theta)
        scaled_slope = signal * slope
        for k in range(d):
            grad[k] = -0.5 * np.sum(outer * scaled_slope * self._sq_dist[:, :, k]) / lengthscales[k] ** 2
        grad[d] = -0.5 * np.sum(outer * (signal * matern))
        grad[d + 1] = -0.5 * np.sum(outer * (seed * self._same_seed))
        grad[d + 2] = -0.5 * noise * np.trace(outer)
        if self.point_effect:
            grad[d + 3] = -0.5 * np.sum(outer * (self._point_var(theta) * self._same_point))
        value += 0.5 * np.sum(((theta[:d] - _PRIOR_MEAN) / _PRIOR_SD) ** 2)
        grad[:d] += (theta[:d] - _PRIOR_MEAN) / _PRIOR_SD**2
        return float(value), grad

    def fit(self, start: np.ndarray | None = None, restarts: int = 2) -> SeedEffectGP:
        """Fit the hyperparameters from ``restarts`` default starting points (or warm from
        ``start``, e.g. a previous fit's :attr:`theta`) and return ``self``."""
        import scipy.optimize

        if self.n > MAX_FIT_POINTS:
            head = np.unique(np.linspace(0, self.n - 1, MAX_FIT_POINTS).round().astype(np.int64))
            subset = SeedEffectGP(
                self.inputs[head], self._values[head], self._groups[head], self.point_effect
            ).fit(start, restarts)
            assert subset.theta is not None
            theta = subset.theta.copy()
            theta[self.d :] += 2.0 * math.log(subset.scale / self.scale)  # variances in our units
            self.log_posterior = subset.log_posterior
            return self._condition(theta)
        d = self.d
        bounds = (
            [(math.log(0.02), math.log(10.0))] * d
            + [
                (math.log(1e-3), math.log(20.0)),
                (math.log(1e-6), math.log(10.0)),
                (math.log(1e-4), math.log(10.0)),
            ]
            + ([(math.log(1e-6), math.log(10.0))] if self.point_effect else [])
        )
        low = np.array([b[0] for b in bounds])
        high = np.array([b[1] for b in bounds])
        extra = [math.log(0.05)] if self.point_effect else []
        starts = (
            [
                np.array([math.log(length)] * d + [0.0, math.log(0.05), math.log(noise)] + extra)
                for length, noise in ((0.3, 0.5), (1.0, 0.8), (0.1, 0.3), (3.0, 0.95))[:restarts]
            ]
            if start is None or len(start) != len(bounds)
            else [np.clip(start, low, high)]
        )
        best: Any = None
        for x0 in starts:
            result = scipy.optimize.minimize(
                self._neg_log_posterior,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 80},
            )
            if best is None or result.fun < best.fun:
                best = result
        theta = snap_to_grid(best.x, THETA_STEP, low, high)
        self.log_posterior = -self._neg_log_posterior(theta)[0]
        return self._condition(theta)

    def _condition(self, theta: np.ndarray) -> SeedEffectGP:
        import scipy.linalg

        self.theta = theta
        cov = self._posterior_covariance(theta)
        self._chol = scipy.linalg.cho_factor(cov, lower=True, check_finite=False)
        self._alpha = scipy.linalg.cho_solve(self._chol, self._targets, check_finite=False)
        return self

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Fitted length scales (unit-cube units) and signal, seed-effect and noise sds (in
        the units of the values), and the point effect's sd when the model has one."""
        assert self.theta is not None, "fit() first"
        d = self.d
        return {
            "lengthscales": [round(float(v), 4) for v in np.exp(self.theta[:d])],
            "signal_sd": float(math.sqrt(math.exp(self.theta[d])) * self.scale),
            "seed_sd": float(math.sqrt(math.exp(self.theta[d + 1])) * self.scale),
            "noise_sd": float(math.sqrt(math.exp(self.theta[d + 2])) * self.scale),
            **(
                {"point_sd": float(math.sqrt(self._point_var(self.theta)) * self.scale)}
                if self.point_effect
                else {}
            ),
        }

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and sd of the seed-free response at ``points`` (in value units),
        with the point effect where the model has one (zero mean, its prior sd, at a point
        never observed).

        The sd costs ``n**2`` per point (a triangular solve); :meth:`mean` skips it. Points are
        taken in blocks (see :data:`BLOCK_ELEMENTS`), so memory does not grow with their number.
        """
        return self._posterior(points, with_sd=True)

    def mean(self, points: np.ndarray) -> np.ndarray:
        """Posterior mean of the seed-free response at ``points``: the first result of
        :meth:`predict`, the same numbers, without the sd."""
        return self._posterior(points, with_sd=False)[0]

    def _posterior(self, points: np.ndarray, with_sd: bool) -> tuple[np.ndarray, np.ndarray]:
        import scipy.linalg

        assert self.theta is not None and self._alpha is not None, "fit() first"
        lengthscales = np.exp(self.theta[: self.d])
        signal = math.exp(self.theta[self.d])
        point = self._point_var(self.theta)
        points = np.atleast_2d(np.asarray(points, float))
        mean = np.empty(len(points))
        var = np.empty(len(points) if with_sd else 0)
        for rows, kernel in self._cross(points, lengthscales):
            cross = signal * kernel
            if point:
                cross = cross + point * self._same_points(points[rows])
            mean[rows] = cross @ self._alpha
            if with_sd:
                solved = scipy.linalg.cho_solve(self._chol, cross.T, check_finite=False)
                var[rows] = np.maximum(signal + point - np.sum(cross * solved.T, axis=1), 1e-12)
        return self.offset + self.scale * mean, self.scale * np.sqrt(var)

    def difference(self, first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
        """Posterior mean and sd of ``f(first) - f(second)`` for two points (in value units):
        how sure the model is that one point is better than the other."""
        import scipy.linalg

        assert self.theta is not None and self._alpha is not None, "fit() first"
        lengthscales = np.exp(self.theta[: self.d])
        signal = math.exp(self.theta[self.d])
        point = self._point_var(self.theta)
        points = np.stack([np.asarray(first, float), np.asarray(second, float)])
        cross = signal * self._kernel((points[:, None, :] - self.inputs[None, :, :]) ** 2, lengthscales)
        if point:
            cross += point * self._same_points(points)
        between = signal * float(self._kernel(((points[0] - points[1]) ** 2)[None, :], lengthscales)[0])
        if point and np.array_equal(points[0], points[1]):
            between += point
        weights = cross[0] - cross[1]
        solved = scipy.linalg.cho_solve(self._chol, weights, check_finite=False)
        var = max(2.0 * (signal + point - between) - float(weights @ solved), 1e-12)
        return self.scale * float(weights @ self._alpha), self.scale * math.sqrt(var)
