"""Seeding: one master seed, a derived seed for every replicate."""

from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._constants import DEFAULT_MASTER_SEED, REPLICATE_KEY, SEED_USED_KEY
from ._base import BasePlugin

_log = logging.getLogger(__name__)

#: What cuBLAS needs to be deterministic (NVIDIA's documentation; read when CUDA starts).
CUBLAS_WORKSPACE_CONFIG = ":4096:8"

if TYPE_CHECKING:
    from ..context import FrozenContext
    from ..experiment import Experiment


def derive_seed(master_seed: int, *keys: int) -> int:
    """Return a 32-bit seed derived from ``master_seed`` and ``keys`` (e.g. a replicate index).

    Uses :class:`numpy.random.SeedSequence`, so seeds for different keys are independent and
    the same inputs always give the same seed, on every platform.
    """
    return int(np.random.SeedSequence([master_seed, *keys]).generate_state(1)[0])


def default_seed_function(seed: int) -> None:
    """Seed Python's :mod:`random`, NumPy's legacy global generator and, when the user's code has
    imported them, PyTorch (its CPU generator and every CUDA device's) and TensorFlow.

    A framework is seeded only if it is already in ``sys.modules``: this never imports one the
    pipeline does not use. Import it at the top of the module that defines your steps (not inside
    a step), so it is imported before the first replicate is seeded. JAX has no global generator:
    make a key from the replicate's seed, ``jax.random.key(ctx["seed_used"])``. Global generators
    are shared by threads: code that must be reproducible under thread execution should draw from
    ``ctx.rng`` (or a framework generator made from ``ctx["seed_used"]``) instead.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)  # the CPU generator and every CUDA device's
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:
        tensorflow.random.set_seed(seed)


def make_frameworks_deterministic() -> None:
    """Ask the imported frameworks for deterministic algorithms (PyTorch: deterministic
    algorithms, cuDNN without autotuning, cuBLAS's workspace setting; TensorFlow: deterministic
    ops). Slower kernels, and PyTorch raises ``RuntimeError`` for an operation that has no
    deterministic implementation. ``CUBLAS_WORKSPACE_CONFIG`` is set in the environment if it is
    not set already (child processes inherit it; CUDA reads it when it starts)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:
        tensorflow.config.experimental.enable_op_determinism()


@dataclass
class SeedPlugin(BasePlugin):
    """Give every replicate a seed derived from one master seed.

    Replicate ``i`` gets ``derive_seed(seed, i)`` in the context under ``"seed_used"`` (the
    baseline and every treatment of a replicate share it, so they compare on equal terms), and
    ``ctx.rng`` is a :class:`numpy.random.Generator` seeded with it. ``seed`` defaults to a fixed
    value, so two runs of the same experiment give the same metrics.

    Args:
        seed: the master seed, an integer from 0 to 2**32 - 1 (the seeds NumPy and Optuna take;
            it is also an optimizer's default sampler seed); None means the fixed default
            (crystallize-ml drew a random one).
        auto_seed: when True, also seed the global generators with ``seed_fn`` before each
            replicate. Pipelines that draw only from ``ctx.rng`` can set False and save the
            re-seeding (about 10 microseconds per replicate).
        seed_fn: function that seeds global generators; defaults to
            :func:`default_seed_function` (Python's ``random``, NumPy's global state, and
            PyTorch and TensorFlow when the pipeline's code has imported them).
        deterministic: when True, also make the imported frameworks use deterministic
            algorithms before each replicate (:func:`make_frameworks_deterministic`): the same
            seed then gives the same metrics on a GPU too, at some cost in speed. Beyond
            crystallize-ml, which has no such switch.

    Raises:
        ConfigurationError: if ``seed`` is not an integer from 0 to 2**32 - 1.
        SettingError: if ``deterministic`` is not a bool.
    """

    seed: int | None = DEFAULT_MASTER_SEED
    auto_seed: bool = True
    seed_fn: Callable[[int], None] | None = None
    deterministic: bool = False

    def __post_init__(self) -> None:
        from .._checks import boolean_expected, check_seed, refuse

        if self.seed is not None:  # None: the fixed default, set by init_hook
            self.seed = check_seed(self.seed, "SeedPlugin seed")
        refuse("SeedPlugin deterministic", boolean_expected(self.deterministic), self.deterministic)

    def init_hook(self, experiment: Experiment) -> None:
        # seed=None: crystallize-ml draws a random master seed here, so its runs were not
        # reproducible; the fixed default is used instead.
        if self.seed is None:
            self.seed = DEFAULT_MASTER_SEED

    def replicate_seed(self, replicate: int) -> int:
        """Return the seed of replicate ``replicate``."""
        if self.seed is None:
            self.seed = DEFAULT_MASTER_SEED
        return derive_seed(self.seed, replicate)

    def before_replicate(self, experiment: Experiment, ctx: FrozenContext) -> None:
        if SEED_USED_KEY not in ctx:  # an optimizer may have chosen the seed already
            ctx.add(SEED_USED_KEY, self.replicate_seed(int(ctx.get(REPLICATE_KEY, 0))))
        if self.deterministic:
            # Every replicate, not once: a replicate may run in a fresh worker process.
            make_frameworks_deterministic()
        if self.auto_seed:
            (self.seed_fn or default_seed_function)(int(ctx[SEED_USED_KEY]))
