"""The dataset: made here, deterministically, so the study needs no download.

A binary classification problem with 8 features, a curved class boundary and 8% label noise.
The data are the same for every replicate (generated from a fixed seed); replicates differ
in how they split it into cross-validation folds.
"""

import numpy as np

from crystallize_opt import data_source

DATASET_SEED = 20261126


def make_dataset(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(DATASET_SEED)
    scales = np.array([1.0, 2.0, 0.5, 1.5, 3.0, 1.0, 0.8, 2.5])
    X = rng.normal(size=(n_samples, scales.size)) * scales
    score = 1.2 * X[:, 0] - 0.8 * X[:, 1] / 2 + 0.9 * X[:, 2] * X[:, 3] + 0.5 * (X[:, 4] / 3) ** 2 - 0.5
    y = (score + rng.normal(scale=0.6, size=n_samples) > 0).astype(float)
    flip = rng.random(n_samples) < 0.08
    y[flip] = 1.0 - y[flip]
    return X, y


@data_source
def tabular_dataset(ctx, n_samples: int = 600):
    """Return ``(X, y)``; fixed across replicates."""
    return make_dataset(n_samples)
