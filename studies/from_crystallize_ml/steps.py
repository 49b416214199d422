"""Steps of the study, as crystallize-ml users write them."""

import numpy as np

from crystallize_opt import Artifact, pipeline_step


@pipeline_step()
def split_train_test(data, ctx):
    order = ctx.rng.permutation(len(data["y"]))
    train, test = order[:40], order[40:]
    return {
        "train": (data["x"][train], data["y"][train]),
        "test": (data["x"][test], data["y"][test]),
    }


@pipeline_step()
def fit_ridge(data, ctx, coefficients: Artifact, penalty: float = 0.1):
    x, y = data["train"]
    weights = np.linalg.solve(x.T @ x + penalty * np.eye(x.shape[1]), x.T @ y)
    coefficients.write([float(w) for w in weights])
    return {**data, "weights": weights}


@pipeline_step()
def score_holdout(data, ctx):
    x, y = data["test"]
    mse = float(np.mean((x @ data["weights"] - y) ** 2))
    ctx.metrics.add("holdout_mse", mse)
    return data, {"weight_norm": float(np.linalg.norm(data["weights"]))}
