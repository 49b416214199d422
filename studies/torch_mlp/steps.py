"""Split the data with the replicate's seed (cached), then train an MLP and report each epoch."""

import math

import torch

from crystallize_opt import pipeline_step


@pipeline_step(cacheable=True)
def split(data, ctx, validation_fraction: float = 0.5):
    """A train/validation split drawn from ``ctx.rng``: different for every replicate, the same
    for every trial's replicate ``r`` (so computed once per replicate and then read from the cache)."""
    X, y = data
    order = torch.as_tensor(ctx.rng.permutation(len(y)))
    cut = int(len(y) * (1 - validation_fraction))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]


@pipeline_step()
def train(
    data, ctx, log10_lr: float = -2.5, log10_weight_decay: float = -4.0, hidden: int = 32, epochs: int = 10
):
    """Train a one-hidden-layer ReLU MLP with Adam (batches of 128) for ``epochs`` epochs; after each,
    report the validation error, so the pruner can stop the trial there. Records ``val_error`` (the
    last epoch's). torch's generator (initialisation, batch order) is seeded by the seed plugin."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)  # a model this small: more threads cost more than they save
    Xt, yt, Xv, yv = (t.to(device) for t in data)
    model = torch.nn.Sequential(
        torch.nn.Linear(Xt.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=10.0**log10_lr, weight_decay=10.0**log10_weight_decay)
    error = math.nan
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in torch.randperm(len(yt)).split(128):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[batch]), yt[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            error = float((model(Xv).argmax(dim=1) != yv).float().mean())
        ctx.report(error, step=epoch)  # the learning curve; may stop the trial here
    ctx.metrics.add("val_error", error)
    return data
