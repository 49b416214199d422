"""Datasources of the quickstart study."""

from crystallize_opt import data_source


@data_source
def measurement_noise(ctx, noise_sd: float = 0.3):
    """This replicate's measurement noise, drawn from its seeded generator."""
    return float(ctx.rng.normal(scale=noise_sd))
