"""Pipeline steps of the noisy_quadratic study."""

from crystallize_opt import pipeline_step


@pipeline_step()
def noisy_bowl(noise, ctx, x: float = 0.0, y: float = 0.0):
    """Record ``loss``: a bowl with its minimum 0 at x=1, y=-0.5 (the baseline, x=y=0, is at
    1.25), plus noise as large as the whole bowl near the optimum.

    Part of a seed's noise is an offset shared by every parameter set (paired comparisons on
    the same seed cancel it); the other part grows with ``x - y``, so it differs between
    parameter sets and the winner's estimate and its test against the baseline stay uncertain.
    """
    offset, slope = float(noise[0]), float(noise[1])
    value = (x - 1.0) ** 2 + (y + 0.5) ** 2
    ctx.metrics.add("loss", value + offset + slope * (x - y) / 2)
    return value
