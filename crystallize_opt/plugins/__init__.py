"""Plugins: hooks into the experiment lifecycle (seeding, logging, artifacts, execution)."""

from ._artifacts import MANIFEST_FILE, ArtifactPlugin, step_folder
from ._base import BasePlugin, plugins_with_hook
from ._dask import ship_study_code
from ._devices import check_gpus, device_plan, gpus_expected, use_devices
from ._execution import AsyncExecution, ParallelExecution, SerialExecution
from ._logging import LoggingPlugin
from ._metrics_files import load_all_metrics, load_metrics
from ._seed import (
    SEED_SCHEME,
    SEEDSEQUENCE_SCHEME,
    SeedPlugin,
    default_seed_function,
    derive_seed,
    replicate_of_seed,
    replicate_seed,
)

__all__ = [
    "MANIFEST_FILE",  # for crystallize_opt.artifacts (not re-exported by crystallize_opt)
    "ArtifactPlugin",
    "AsyncExecution",
    "BasePlugin",
    "LoggingPlugin",
    "ParallelExecution",
    "SeedPlugin",
    "SerialExecution",
    "default_seed_function",
    "derive_seed",
    "device_plan",
    "load_all_metrics",
    "load_metrics",
    "replicate_seed",
]
# For the experiment engine and the layers above (not re-exported by crystallize_opt).
__all__ += [
    "SEEDSEQUENCE_SCHEME",
    "SEED_SCHEME",
    "check_gpus",
    "gpus_expected",
    "plugins_with_hook",
    "replicate_of_seed",
    "ship_study_code",
    "step_folder",
    "use_devices",
]
