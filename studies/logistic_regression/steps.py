"""Cross-validated training of an L2-regularised logistic regression with scipy.optimize."""

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from crystallize_opt import pipeline_step


def features(X: np.ndarray, degree: int) -> np.ndarray:
    if degree == 1:
        return X
    rows, cols = np.triu_indices(X.shape[1])
    return np.hstack([X, X[:, rows] * X[:, cols]])


def fit(X: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """Weights (bias last) minimising mean log-loss + ||w||^2 / (2 C n)."""
    n, d = X.shape
    Xb = np.hstack([X, np.ones((n, 1))])

    def loss_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = Xb @ w
        loss = -np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)) + w[:-1] @ w[:-1] / (2 * c * n)
        grad = Xb.T @ (expit(z) - y) / n
        grad[:-1] += w[:-1] / (c * n)
        return float(loss), grad

    return minimize(loss_and_grad, np.zeros(d + 1), jac=True, method="L-BFGS-B").x


def log_loss(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    z = np.hstack([X, np.ones((len(X), 1))]) @ w
    loss = -np.mean(y * log_expit(z) + (1 - y) * log_expit(-z))
    error = np.mean((z > 0) != (y > 0.5))
    return float(loss), float(error)


@pipeline_step()
def cross_validate(
    data, ctx, folds: int = 4, log10_c: float = 0.0, degree: int = 1, standardize: bool = True
):
    """Record ``val_loss`` and ``val_error`` averaged over ``folds`` folds shuffled by this replicate's seed."""
    X, y = data
    X = features(X, degree)
    order = ctx.rng.permutation(len(y))
    losses, errors = [], []
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        X_train, X_val = X[train], X[fold]
        if standardize:
            mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-12
            X_train, X_val = (X_train - mean) / std, (X_val - mean) / std
        w = fit(X_train, y[train], 10.0**log10_c)
        loss, error = log_loss(X_val, y[fold], w)
        losses.append(loss)
        errors.append(error)
    ctx.metrics.add("val_loss", float(np.mean(losses)))
    ctx.metrics.add("val_error", float(np.mean(errors)))
    return data
