"""A pipeline that records which GPUs its process sees (``CUDA_VISIBLE_DEVICES``) and its pid."""

from __future__ import annotations

import os
import time

import crystallize_opt as co

#: Stands for "no CUDA_VISIBLE_DEVICES set" in the recorded metric.
UNSET = -1.0


@co.data_source
def nothing(ctx: co.FrozenContext) -> None:
    return None


@co.pipeline_step
def record_devices(data: None, ctx: co.FrozenContext, x: float = 0.0, sleep: float = 0.0) -> None:
    time.sleep(sleep)
    devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    # One GPU per process in these tests: its (physical) index as a number.
    ctx.metrics.add("device", UNSET if devices is None else float(devices))
    ctx.metrics.add("pid", float(os.getpid()))
    ctx.metrics.add("loss", (x - 1) ** 2)


def experiment(*, sleep: float = 0.0, plugins: list[co.BasePlugin] | None = None) -> co.Experiment:
    return co.Experiment(
        datasource=nothing(),
        pipeline=co.Pipeline([record_devices(sleep=sleep)]),
        name="gpus",
        plugins=plugins or [],
    )


@co.pipeline_step
def record_cuda(data: None, ctx: co.FrozenContext, x: float = 0.0, sleep: float = 0.0) -> None:
    """On a GPU machine: the GPU count this process sees and where a new tensor lands."""
    import torch  # only the GPU test uses this step

    time.sleep(sleep)
    ctx.metrics.add("device", float(os.environ["CUDA_VISIBLE_DEVICES"]))
    ctx.metrics.add("pid", float(os.getpid()))
    ctx.metrics.add("visible_count", float(torch.cuda.device_count()))
    ctx.metrics.add("tensor_device", float(torch.zeros(1, device="cuda").device.index))
    ctx.metrics.add("pci_bus", float(pci_bus_of(torch, 0)))
    ctx.metrics.add("loss", (x - 1) ** 2)


def pci_bus_of(torch: object, index: int) -> int:
    """The PCI bus number of the process's CUDA device ``index``: which physical GPU it is,
    whatever index the process sees it under (-1 where torch does not say)."""
    properties = torch.cuda.get_device_properties(index)  # type: ignore[attr-defined]
    return int(getattr(properties, "pci_bus_id", -1))
