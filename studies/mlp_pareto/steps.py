"""Train a one-hidden-layer tanh MLP with L-BFGS; record validation error and parameter count."""

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from crystallize_opt import pipeline_step


def unpack(theta: np.ndarray, hidden: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    W1 = theta[: 2 * hidden].reshape(2, hidden)
    b1 = theta[2 * hidden : 3 * hidden]
    w2 = theta[3 * hidden : 4 * hidden]
    return W1, b1, w2, float(theta[4 * hidden])


def forward(theta: np.ndarray, X: np.ndarray, hidden: int) -> tuple[np.ndarray, np.ndarray]:
    W1, b1, w2, b2 = unpack(theta, hidden)
    H = np.tanh(X @ W1 + b1)
    return H, H @ w2 + b2


@pipeline_step()
def train_mlp(data, ctx, hidden: int = 8, log10_alpha: float = -3.0, max_iter: int = 300):
    """Fit on a 70% split drawn with this replicate's seed; record ``val_error`` and ``n_parameters``."""
    X, y = data
    order = ctx.rng.permutation(len(y))
    cut = int(0.7 * len(y))
    train, val = order[:cut], order[cut:]
    alpha = 10.0**log10_alpha
    Xt, yt = X[train] * 3.0, y[train]

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W1, _, w2, _ = unpack(theta, hidden)
        H, z = forward(theta, Xt, hidden)
        loss = -np.mean(yt * log_expit(z) + (1 - yt) * log_expit(-z)) + alpha * (np.sum(W1**2) + w2 @ w2) / 2
        dz = (expit(z) - yt) / len(yt)
        dH = np.outer(dz, w2) * (1 - H**2)
        grad = np.concatenate(
            [(Xt.T @ dH + alpha * W1).ravel(), dH.sum(axis=0), H.T @ dz + alpha * w2, [dz.sum()]]
        )
        return float(loss), grad

    theta0 = ctx.rng.normal(scale=1.0, size=4 * hidden + 1)
    theta = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter}).x
    _, z_val = forward(theta, X[val] * 3.0, hidden)
    ctx.metrics.add("val_error", float(np.mean((z_val > 0) != (y[val] > 0.5))))
    ctx.metrics.add("n_parameters", float(4 * hidden + 1))
    return data
