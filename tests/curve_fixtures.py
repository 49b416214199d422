"""Module-level pipelines that report learning curves (importable by worker processes)."""

from __future__ import annotations

from crystallize_opt import Experiment, Pipeline, data_source, pipeline_step

#: Epochs every replicate trains.
EPOCHS = 6


@data_source
def seeded_offset(ctx):
    """The replicate's seed-dependent offset (its "split and initialisation")."""
    return float(ctx.rng.normal(scale=0.05))


@pipeline_step()
def train(data, ctx, lr: float = 0.1, epochs: int = EPOCHS, first_step: int = 0, every: int = 1):
    """A model whose loss shrinks by a factor ``1 - lr`` per epoch: a higher ``lr`` is better.
    Epoch ``i`` (from 0) is reported as step ``first_step + i * every``."""
    loss = 1.0
    for epoch in range(epochs):
        loss = loss * (1.0 - lr) + data / epochs
        ctx.report(loss, step=first_step + epoch * every)
    ctx.metrics.add("loss", loss)
    return data


def curve_experiment(name: str = "curves", plugins=None, **train_settings) -> Experiment:
    """The training experiment; ``train_settings`` go to the ``train`` step (e.g. ``first_step``)."""
    return Experiment(
        datasource=seeded_offset(), pipeline=Pipeline([train(**train_settings)]), plugins=plugins, name=name
    )
