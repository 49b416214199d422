"""Pipeline steps of the quickstart study."""

import math

from crystallize_opt import pipeline_step


@pipeline_step()
def noisy_valley(noise, ctx, x: float = 0.0, y: float = 0.0, shape: str = "ridge"):
    """Record ``loss``: a valley with its minimum 0 at x=1, y=-0.5, shape='bowl', plus noise."""
    value = (x - 1.0) ** 2 + 2.0 * (y + 0.5) ** 2
    if shape != "bowl":
        value += 0.4 + 0.1 * math.sin(5 * x)
    ctx.metrics.add("loss", value + noise)
    return value
