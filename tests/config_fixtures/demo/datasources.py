"""Datasources of the demo study."""

from crystallize_opt import data_source


@data_source
def points(ctx, size: int = 100):
    """A standard normal sample drawn from the replicate's seeded generator."""
    return ctx.rng.normal(size=size)
