"""Compatibility path: crystallize-ml's ``crystallize.plugins.execution`` (the execution strategies).

A thin re-export so ``from crystallize_opt.plugins.execution import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.plugins.execution import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

# The reference's module imported the pool class here, and code written for it may import it
# from here; the engine's pools are made in ._execution, so replacing this name changes nothing.
from concurrent.futures import ProcessPoolExecutor

from .._constants import VALID_EXECUTOR_TYPES
from ._execution import AsyncExecution, ParallelExecution, SerialExecution

__all__ = [
    "VALID_EXECUTOR_TYPES",
    "AsyncExecution",
    "ParallelExecution",
    "ProcessPoolExecutor",
    "SerialExecution",
]
