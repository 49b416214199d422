"""Steps of the demo study."""

import json
import os

from crystallize_opt import pipeline_step

from .helpers import squared_error


@pipeline_step()
def shift(data, ctx, delta: float = 0.0):
    return data + delta


@pipeline_step()
def score(data, ctx, power: int = 1, mode: str = "plain", summary=None, values=None):
    ctx.metrics.add("mean", float(data.mean()))
    ctx.metrics.add("loss", squared_error(float(data.mean()), power, mode))
    ctx.metrics.add("pid", os.getpid())
    if summary is not None:
        summary.write(f"mean={data.mean():.6f}".encode())
    if values is not None:
        values.write(json.dumps([float(v) for v in data[:3]]).encode())
    return data
