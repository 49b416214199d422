"""``--gpus`` and ``optimize.gpus``: which GPUs the processes of a command line run see."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._logging import get_logger
from ..exceptions import ConfigurationError

_log = get_logger("cli")


def gpus_option(args: argparse.Namespace) -> tuple[int, ...] | None:
    """``--gpus 0,1,2`` as indices (None when not given).

    Raises:
        ConfigurationError: ``--gpus must be a non-empty list of distinct GPU indices ...``.
    """
    text = getattr(args, "gpus", None)
    if text is None:
        return None
    from ..plugins import check_gpus

    parts = [part.strip() for part in text.split(",")]
    values: list[Any] = [int(part) if part.isdigit() else part for part in parts]
    return check_gpus(values, "--gpus")


def use_gpus_in_this_process(gpus: tuple[int, ...], what: str) -> None:
    """One process (``--workers 1``, the ``worker`` command): this process sees ``gpus`` itself.

    Raises:
        ConfigurationError: if the study's code already started CUDA (too late to choose), or
            as :func:`~crystallize_opt.plugins.device_plan`.
    """
    from ..plugins import device_plan, use_devices

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise ConfigurationError(
            f"{what}: the study's code started CUDA while it was loaded, so this process can no longer "
            "choose its GPUs; pass --gpus on the command line (set before the study is loaded)"
        )
    devices = device_plan(gpus, 1, what)[0]
    use_devices(devices)
    _log.info("GPUs of this process (CUDA_VISIBLE_DEVICES): %s", devices)
