"""Two interleaved spirals with a little noise; fixed across replicates."""

import numpy as np

from crystallize_opt import data_source

DATASET_SEED = 7


@data_source
def spirals(ctx, n_samples: int = 400):
    """Return ``(X, y)`` with ``X`` of shape (n_samples, 2) and labels 0/1."""
    rng = np.random.default_rng(DATASET_SEED)
    half = n_samples // 2
    t = np.sqrt(rng.random(half)) * 3 * np.pi
    arm = np.column_stack([t * np.cos(t), t * np.sin(t)]) / (3 * np.pi)
    X = np.vstack([arm, -arm]) + rng.normal(scale=0.04, size=(2 * half, 2))
    y = np.concatenate([np.zeros(half), np.ones(half)])
    return X, y
