"""A pipeline that trains nothing but draws from PyTorch's global generator, as a training step
does (weight initialisation, dropout, shuffling). Imports torch at the top, as the docs ask."""

from __future__ import annotations

import torch

import crystallize_opt as co


@co.data_source
def features(ctx: co.FrozenContext) -> torch.Tensor:
    return torch.randn(64, 4)  # the global generator: what the seed plugin seeds


@co.pipeline_step
def fit(data: torch.Tensor, ctx: co.FrozenContext, lr: float = 0.1) -> None:
    weights = torch.randn(4, 1)  # an "initialisation"
    for _ in range(5):
        noise = torch.rand(64, 1) * 0.1  # like dropout: drawn during training
        loss = ((data @ weights + noise) ** 2).mean()
        weights = weights * (1 - lr * torch.tanh(loss))  # bounded: no lr makes it diverge
    ctx.metrics.add("loss", float(((data @ weights) ** 2).mean()))


def experiment(plugins: list[co.BasePlugin] | None = None) -> co.Experiment:
    return co.Experiment(
        datasource=features(),
        pipeline=co.Pipeline([fit()]),
        name="torch_draws",
        plugins=plugins or [],
    )
