"""A small Gaussian process: the model that pools neighbouring parameter sets and seeds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize

_SQRT5 = math.sqrt(5.0)
#: Prior on log length scales (unit-cube inputs): weak, centred on half the range.
_PRIOR_MEAN, _PRIOR_SD = math.log(0.5), 1.5
_JITTER = 1e-8
#: Fitted log-hyperparameters are rounded to this step (1% relative): see :func:`snap_to_grid`.
THETA_STEP = 0.01
#: Hyperparameters are fitted on at most this many observations (the first ones given: callers
#: put the most relevant first); the cost of a fit grows with the cube of the count.
MAX_FIT_POINTS = 300


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
    replicate seed (what every parameter set shares on that seed) and white noise.

    Hyperparameters are maximum a posteriori (a weak log-normal prior on length scales),
    found by L-BFGS-B with analytic gradients and rounded to :data:`THETA_STEP` in log space.
    :meth:`predict` gives the posterior of the seed-free response, which is what a winner
    should be chosen by.

    Args:
        inputs: ``(n, d)`` points in the unit cube.
        values: ``n`` observed values.
        groups: ``n`` seed labels; observations with equal labels share a seed effect.

    With more than :data:`MAX_FIT_POINTS` observations, the hyperparameters are fitted on the
    first :data:`MAX_FIT_POINTS` and the posterior conditions on all of them.
    """

    def __init__(self, inputs: np.ndarray, values: np.ndarray, groups: np.ndarray):
        self.inputs = np.asarray(inputs, float)
        self.n, self.d = self.inputs.shape
        values = np.asarray(values, float)
        self._values = values
        self._groups = np.asarray(groups)
        self.offset = float(values.mean())
        self.scale = float(values.std()) or 1.0
        self._targets = (values - self.offset) / self.scale
        self._sq_dist = (self.inputs[:, None, :] - self.inputs[None, :, :]) ** 2
        groups = np.asarray(groups)
        self._same_seed = (groups[:, None] == groups[None, :]).astype(float)
        self.theta: np.ndarray | None = None
        self._chol: Any = None
        self._alpha: np.ndarray | None = None

    @staticmethod
    def _matern(sq_dist: np.ndarray, lengthscales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.sqrt(np.maximum((sq_dist / lengthscales**2).sum(-1), 1e-300))
        decay = np.exp(-_SQRT5 * r)
        return (1 + _SQRT5 * r + 5.0 / 3.0 * r**2) * decay, 5.0 / 3.0 * (1 + _SQRT5 * r) * decay

    def _covariance(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lengthscales = np.exp(theta[: self.d])
        signal, seed, noise = np.exp(theta[self.d :])
        matern, slope = self._matern(self._sq_dist, lengthscales)
        cov = signal * matern + seed * self._same_seed + (noise + _JITTER) * np.eye(self.n)
        return cov, matern, slope

    def _neg_log_posterior(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = self.d
        lengthscales = np.exp(theta[:d])
        signal, seed, noise = np.exp(theta[d:])
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
        value += 0.5 * np.sum(((theta[:d] - _PRIOR_MEAN) / _PRIOR_SD) ** 2)
        grad[:d] += (theta[:d] - _PRIOR_MEAN) / _PRIOR_SD**2
        return float(value), grad

    def fit(self, start: np.ndarray | None = None, restarts: int = 2) -> SeedEffectGP:
        """Fit the hyperparameters from ``restarts`` default starting points (or warm from
        ``start``, e.g. a previous fit's :attr:`theta`) and return ``self``."""
        if self.n > MAX_FIT_POINTS:
            head = slice(0, MAX_FIT_POINTS)
            subset = SeedEffectGP(self.inputs[head], self._values[head], self._groups[head]).fit(
                start, restarts
            )
            assert subset.theta is not None
            theta = subset.theta.copy()
            theta[self.d :] += 2.0 * math.log(subset.scale / self.scale)  # variances in our units
            return self._condition(theta)
        d = self.d
        bounds = [(math.log(0.02), math.log(10.0))] * d + [
            (math.log(1e-3), math.log(20.0)),
            (math.log(1e-6), math.log(10.0)),
            (math.log(1e-4), math.log(10.0)),
        ]
        low = np.array([b[0] for b in bounds])
        high = np.array([b[1] for b in bounds])
        starts = (
            [
                np.array([math.log(length)] * d + [0.0, math.log(0.05), math.log(noise)])
                for length, noise in ((0.3, 0.5), (1.0, 0.8), (0.1, 0.3), (3.0, 0.95))[:restarts]
            ]
            if start is None or len(start) != d + 3
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
        return self._condition(snap_to_grid(best.x, THETA_STEP, low, high))

    def _condition(self, theta: np.ndarray) -> SeedEffectGP:
        self.theta = theta
        cov, _, _ = self._covariance(theta)
        self._chol = scipy.linalg.cho_factor(cov, lower=True, check_finite=False)
        self._alpha = scipy.linalg.cho_solve(self._chol, self._targets, check_finite=False)
        return self

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Fitted length scales (unit-cube units) and signal, seed-effect and noise sds (in
        the units of the values)."""
        assert self.theta is not None, "fit() first"
        d = self.d
        return {
            "lengthscales": [round(float(v), 4) for v in np.exp(self.theta[:d])],
            "signal_sd": float(math.sqrt(math.exp(self.theta[d])) * self.scale),
            "seed_sd": float(math.sqrt(math.exp(self.theta[d + 1])) * self.scale),
            "noise_sd": float(math.sqrt(math.exp(self.theta[d + 2])) * self.scale),
        }

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and sd of the seed-free response at ``points`` (in value units)."""
        assert self.theta is not None and self._alpha is not None, "fit() first"
        lengthscales = np.exp(self.theta[: self.d])
        signal = math.exp(self.theta[self.d])
        points = np.atleast_2d(points)
        cross, _ = self._matern((points[:, None, :] - self.inputs[None, :, :]) ** 2, lengthscales)
        cross = signal * cross
        mean = cross @ self._alpha
        solved = scipy.linalg.cho_solve(self._chol, cross.T, check_finite=False)
        var = np.maximum(signal - np.sum(cross * solved.T, axis=1), 1e-12)
        return self.offset + self.scale * mean, self.scale * np.sqrt(var)

    def difference(self, first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
        """Posterior mean and sd of ``f(first) - f(second)`` for two points (in value units):
        how sure the model is that one point is better than the other."""
        assert self.theta is not None and self._alpha is not None, "fit() first"
        lengthscales = np.exp(self.theta[: self.d])
        signal = math.exp(self.theta[self.d])
        points = np.stack([np.asarray(first, float), np.asarray(second, float)])
        cross, _ = self._matern((points[:, None, :] - self.inputs[None, :, :]) ** 2, lengthscales)
        between, _ = self._matern(((points[0] - points[1]) ** 2)[None, :], lengthscales)
        weights = signal * (cross[0] - cross[1])
        solved = scipy.linalg.cho_solve(self._chol, weights, check_finite=False)
        var = max(2.0 * signal * (1.0 - float(between[0])) - float(weights @ solved), 1e-12)
        return self.scale * float(weights @ self._alpha), self.scale * math.sqrt(var)
