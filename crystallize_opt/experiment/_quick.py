"""``quick_experiment``: a function run for several configurations and seeded replicates,
without datasource, pipeline or plugins (the first step from a script to an Experiment)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._checks import check_replicates, check_seed
from .._constants import BASELINE_CONDITION, CONDITION_KEY, DEFAULT_MASTER_SEED, REPLICATE_KEY, SEED_USED_KEY
from .._logging import get_logger
from ..context import FrozenContext
from ..plugins import default_seed_function, replicate_seed

_log = get_logger("experiment")


def _arity(fn: Callable[..., Any]) -> int:
    """How ``fn`` is called: 0 (no arguments), 1 (``fn(config)``) or 2 (``fn(config, ctx)``)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: call it with the config
        return 1
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.name == "ctx" for p in params) or len(positional) >= 2:
        return 2
    takes_any = positional or any(p.kind == p.VAR_POSITIONAL for p in params)
    return 1 if takes_any else 0


def quick_experiment(
    fn: Callable[..., Any],
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    replicates: int = 1,
    *,
    seed: int | None = None,
    verbose: bool = False,
) -> dict[str, list[Any]]:
    """Call ``fn`` for every configuration and replicate and collect what it returns.

    ``configs`` maps a name to the configuration's parameters (default: one configuration,
    ``{"baseline": {}}``). For each configuration, replicate ``i`` reseeds Python's
    :mod:`random` and NumPy's global generator with the seed replicate ``i`` of an
    :class:`Experiment` gets (:func:`~crystallize_opt.replicate_seed` ``(seed, i)``, that is
    ``(seed + i * 31337) mod 2**32`` as in crystallize-ml; ``seed`` defaults to the package's
    fixed master seed, so two calls agree), then calls ``fn(config)``, or ``fn(config, ctx)``
    when ``fn`` has a ``ctx`` parameter or takes two positional ones, or ``fn()`` when it takes
    no argument. ``config`` is a copy of the parameters; ``ctx`` is a :class:`FrozenContext`
    holding them plus ``replicate``, ``condition`` (the configuration's name), ``seed_used`` and
    ``seed`` (both this replicate's seed; crystallize-ml put the master seed in ``seed``), with
    ``ctx.rng`` seeded by it. Every configuration of replicate ``i`` uses the same seed (common
    random numbers). There are no plugins, artifacts or hypotheses: turn the function into an
    :class:`Experiment` for those.

    Returns:
        ``{name: [fn's return value for each replicate, in order]}``.

    Raises:
        ConfigurationError: if ``replicates`` or ``seed`` is out of range, or ``configs`` is not
            a mapping of names to mappings.
        Exception: whatever ``fn`` raised (nothing is collected then).
    """
    from ..exceptions import ConfigurationError

    count = check_replicates(replicates, "replicates")
    master = DEFAULT_MASTER_SEED if seed is None else check_seed(seed, "seed")
    table = {BASELINE_CONDITION: {}} if configs is None else configs
    if not isinstance(table, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Mapping) for k, v in table.items()
    ):
        raise ConfigurationError(
            f"quick_experiment: configs must map configuration names to parameter mappings, got {configs!r}"
        )
    arity = _arity(fn)
    results: dict[str, list[Any]] = {}
    for name, params in table.items():
        outputs = results.setdefault(name, [])
        for replicate in range(count):
            seed_used = replicate_seed(master, replicate)
            default_seed_function(seed_used)
            config = dict(params)
            if arity == 2:
                ctx = FrozenContext(
                    {
                        **config,
                        REPLICATE_KEY: replicate,
                        CONDITION_KEY: name,
                        SEED_USED_KEY: seed_used,
                        "seed": seed_used,
                    },
                    rng=np.random.default_rng(seed_used),
                )
                outputs.append(fn(config, ctx))
            elif arity == 1:
                outputs.append(fn(config))
            else:
                outputs.append(fn())
            if verbose:
                _log.info("quick_experiment: %s replicate %d (seed %d) done", name, replicate, seed_used)
    return results
