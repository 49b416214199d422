"""Seeding: one master seed, a seed for every replicate (crystallize-ml's formula), and
independent derived seeds for the streams that must not overlap the replicates'."""

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


#: What replicate ``r``'s seed adds to the master seed per replicate (crystallize-ml's constant).
REPLICATE_SEED_STRIDE = 31337
#: Seeds are 32-bit: the ones NumPy and Optuna take.
_SEED_MODULUS = 2**32
#: ``REPLICATE_SEED_STRIDE``'s inverse modulo 2**32 (it is odd, so it has one): turns a seed back
#: into the replicate index that gives it (see :func:`replicate_of_seed`).
_STRIDE_INVERSE = pow(REPLICATE_SEED_STRIDE, -1, _SEED_MODULUS)

#: The replicate-seed scheme of this release (:func:`replicate_seed`), stored with every study
#: it creates and part of every resume record's fingerprint.
SEED_SCHEME = "crystallize-ml"
#: The scheme of releases before: replicate ``r`` had ``derive_seed(master, r)``. Studies they
#: stored keep it, so a continued study never mixes the two.
SEEDSEQUENCE_SCHEME = "seedsequence"


def replicate_seed(master_seed: int, replicate: int) -> int:
    """Return the seed of replicate ``replicate``: ``(master_seed + replicate * 31337) mod 2**32``.

    crystallize-ml's formula (its ADR 0006 chose it because it is the same on every OS and
    whether replicates run serially or in processes), so numbers made with crystallize-ml are
    reproduced here: replicate 0 runs on the master seed itself. Every replicate seed comes from
    it: :class:`SeedPlugin`'s, the engine's without a SeedPlugin, :func:`quick_experiment`'s, and
    replicate ``r`` of every trial of an optimization (common random numbers). Seeds 31337 apart
    still give unrelated random streams (``ctx.rng``, NumPy's ``default_rng``, hashes its seed
    through SeedSequence; the global generators' initialisations scramble theirs); seeds that
    must be independent of the replicates' (a trial's own seeds, the fresh seeds of a
    noise-aware search's last phases) come from :func:`derive_seed` instead.

    Args:
        master_seed: the master seed (reduced modulo 2**32, as crystallize-ml does).
        replicate: the replicate index, from 0.

    Returns:
        An integer from 0 to 2**32 - 1.
    """
    return (master_seed + replicate * REPLICATE_SEED_STRIDE) % _SEED_MODULUS


def replicate_of_seed(master_seed: int, seed: int) -> int:
    """Return the replicate index ``r`` (0 to 2**32 - 1) whose :func:`replicate_seed` under
    ``master_seed`` is ``seed``: there is exactly one, as the stride is odd."""
    return ((seed - master_seed) * _STRIDE_INVERSE) % _SEED_MODULUS


def derive_seed(master_seed: int, *keys: int) -> int:
    """Return a 32-bit seed derived from ``master_seed`` and ``keys``.

    Uses :class:`numpy.random.SeedSequence`, so seeds for different keys are independent and
    the same inputs always give the same seed, on every platform. For seeds that must be
    independent streams (a trial's own seeds, fresh seeds after a search); a replicate's seed
    is :func:`replicate_seed` (releases before this one used ``derive_seed(master, r)``).
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
    """Give every replicate a seed that follows from one master seed.

    Replicate ``i`` gets :func:`replicate_seed` ``(seed, i)``, that is
    ``(seed + i * 31337) mod 2**32`` as in crystallize-ml (replicate 0 gets ``seed`` itself), in
    the context under ``"seed_used"`` (the baseline and every treatment of a replicate share it,
    so they compare on equal terms), and ``ctx.rng`` is a :class:`numpy.random.Generator`
    seeded with it. ``seed`` defaults to a fixed value, so two runs of the same experiment give
    the same metrics.

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
        """Return the seed of replicate ``replicate``: :func:`replicate_seed` ``(seed, replicate)``."""
        if self.seed is None:
            self.seed = DEFAULT_MASTER_SEED
        return replicate_seed(self.seed, replicate)

    def before_replicate(self, experiment: Experiment, ctx: FrozenContext) -> None:
        if SEED_USED_KEY not in ctx:  # an optimizer may have chosen the seed already
            ctx.add(SEED_USED_KEY, self.replicate_seed(int(ctx.get(REPLICATE_KEY, 0))))
        if self.deterministic:
            # Every replicate, not once: a replicate may run in a fresh worker process.
            make_frameworks_deterministic()
        if self.auto_seed:
            (self.seed_fn or default_seed_function)(int(ctx[SEED_USED_KEY]))
