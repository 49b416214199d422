"""Datasources of the noisy_quadratic study."""

import numpy as np

from crystallize_opt import data_source


@data_source
def measurement_noise(ctx, noise_sd: float = 1.0):
    """This replicate's two noise draws (a shared offset and a slope), from its seeded generator."""
    return np.asarray(ctx.rng.normal(scale=noise_sd, size=2))
