"""Data sources of the study (crystallize-ml style: zero-argument factories)."""

import numpy as np

from crystallize_opt import data_source


@data_source
def noisy_linear_data(ctx):
    """60 samples of y = X @ w + noise, drawn from the replicate's seeded generator."""
    x = ctx.rng.normal(size=(60, 8))
    w = np.array([1.5, -2.0, 0.5, 0.0, 0.0, 1.0, 0.0, -0.5])
    y = x @ w + ctx.rng.normal(scale=2.0, size=60)
    return {"x": x, "y": y}
