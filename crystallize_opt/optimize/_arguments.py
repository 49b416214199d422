"""The one check of :class:`OptunaOptimizer`'s settings.

``OptunaOptimizer.__init__`` calls :func:`check_arguments` before it builds anything, and a
study config calls it while it loads (with the values of its ``optimize:`` keys as they are),
so a setting is refused by one rule with one message whichever way it comes in; the config
relabels the :class:`~crystallize_opt._checks.SettingError` with its file and key path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from optuna.pruners import BasePruner, NopPruner
from optuna.samplers import BaseSampler, CmaEsSampler

from .._checks import (
    SettingError,
    boolean_expected,
    integer_expected,
    name_expected,
    refuse,
    seconds_expected,
)
from ..exceptions import ConfigurationError
from ..treatment import Treatment
from ._noise import NoiseHandling, check_noise_settings
from ._objective import Objective

#: How learning curves can reach a pruner (see ``OptunaOptimizer``'s ``curve_pruning``).
CURVE_PRUNING_MODES = ("paired", "pooled", "off")
#: The mode used when a pruner is given without ``curve_pruning``.
DEFAULT_CURVE_PRUNING = "pooled"
#: The shortest default grace period of a silent RUNNING trial, in seconds.
MIN_DEFAULT_GRACE_PERIOD = 60.0
#: Samplers that handle a single objective only (Optuna would say so at the first proposal).
_SINGLE_OBJECTIVE_SAMPLERS: tuple[type[BaseSampler], ...] = (CmaEsSampler,)


def default_grace_period(heartbeat_interval: float) -> float:
    """The grace period when none is given: 60 s, or two heartbeat intervals when that is
    longer (a trial is never failed as stale for missing a single heartbeat)."""
    return max(MIN_DEFAULT_GRACE_PERIOD, 2 * heartbeat_interval)


@dataclass(frozen=True)
class CheckedArguments:
    """The checked keyword arguments of :class:`OptunaOptimizer` (numbers as floats, ``noise``
    as settings or None, ``grace_period`` resolved)."""

    study_name: str | None
    run_baseline: bool
    common_random_numbers: bool
    heartbeat_interval: float
    grace_period: float
    max_retries: int
    poll_interval: float
    outage_timeout: float
    noise: NoiseHandling | None
    #: How learning curves reach the pruner (``"paired"``, ``"pooled"``, ``"off"``); None when
    #: no pruner decides (no pruner, Optuna's NopPruner, or noise handling).
    curve_pruning: str | None = None


def check_arguments(
    objective: Objective,
    *,
    sampler: Any,
    pruner: Any,
    study_name: Any,
    run_baseline: Any,
    common_random_numbers: Any,
    heartbeat_interval: Any,
    grace_period: Any,
    max_retries: Any,
    poll_interval: Any,
    outage_timeout: Any,
    noise: Any,
    curve_pruning: Any = None,
) -> CheckedArguments:
    """Check the settings of an :class:`OptunaOptimizer` (see there for each one).

    Raises:
        SettingError: naming the setting, what it must be and the value; for ``noise``, the
            objective it cannot handle.
    """
    if sampler is not None and not isinstance(sampler, BaseSampler):
        raise SettingError("sampler", f"sampler must be an Optuna sampler, got {type(sampler).__name__}")
    if isinstance(sampler, _SINGLE_OBJECTIVE_SAMPLERS) and objective.is_multi_objective:
        raise SettingError(
            "sampler",
            f"{type(sampler).__name__} handles a single objective only, but the objective has "
            f"{len(objective.metrics)} metrics; use TPE, NSGA-II, random, GP, QMC, grid or brute force",
        )
    check_pruner(objective, pruner)
    if study_name is not None:
        refuse("study_name", name_expected(study_name), study_name)
    for name, value in (("run_baseline", run_baseline), ("common_random_numbers", common_random_numbers)):
        refuse(name, boolean_expected(value), value)
    for name, value in (
        ("heartbeat_interval", heartbeat_interval),
        ("poll_interval", poll_interval),
        ("outage_timeout", outage_timeout),
    ):
        refuse(name, seconds_expected(value), value)
    if grace_period is None:
        grace_period = default_grace_period(heartbeat_interval)
    refuse("grace_period", seconds_expected(grace_period), grace_period)
    if grace_period <= heartbeat_interval:
        raise SettingError(
            "grace_period",
            f"grace_period ({grace_period:g} s) must be longer than heartbeat_interval ({heartbeat_interval:g} s)",
        )
    refuse("max_retries", integer_expected(max_retries, 0), max_retries)
    curve_mode = check_curve_pruning(curve_pruning, pruner)
    return CheckedArguments(
        study_name=study_name,
        run_baseline=run_baseline,
        common_random_numbers=common_random_numbers,
        heartbeat_interval=float(heartbeat_interval),
        grace_period=float(grace_period),
        max_retries=int(max_retries),
        poll_interval=float(poll_interval),
        outage_timeout=float(outage_timeout),
        noise=_relabelled("noise", check_noise_settings, noise, objective, common_random_numbers),
        curve_pruning=curve_mode,
    )


def check_pruner(objective: Objective, pruner: Any) -> BasePruner | None:
    """``pruner``, checked: None or an Optuna pruner, and only for a single objective.

    Raises:
        SettingError: about ``pruner``.
    """
    if pruner is not None and not isinstance(pruner, BasePruner):
        raise SettingError("pruner", f"pruner must be an Optuna pruner, got {type(pruner).__name__}")
    if pruner is not None and objective.is_multi_objective and not isinstance(pruner, NopPruner):
        raise SettingError(
            "pruner",
            "pruning works with a single objective only, but the objective has "
            f"{len(objective.metrics)} metrics; remove the pruner",
        )
    return pruner


def check_curve_pruning(curve_pruning: Any, pruner: Any) -> str | None:
    """The curve-pruning mode in effect: ``curve_pruning`` (default :data:`DEFAULT_CURVE_PRUNING`)
    when a pruner decides, else None.

    Raises:
        SettingError: for a mode other than ``"paired"``, ``"pooled"`` or ``"off"``, or a mode
            given without a pruner.
    """
    if curve_pruning is not None and curve_pruning not in CURVE_PRUNING_MODES:
        raise SettingError(
            "curve_pruning",
            f"curve_pruning must be one of {', '.join(repr(m) for m in CURVE_PRUNING_MODES)} (or None for the "
            f"default, {DEFAULT_CURVE_PRUNING!r}), got {curve_pruning!r}",
        )
    decides = pruner is not None and not isinstance(pruner, NopPruner)
    if curve_pruning is not None and not decides:
        raise SettingError(
            "curve_pruning",
            f"curve_pruning={curve_pruning!r} tells a pruner how to read learning curves, but there is no pruner; "
            "give one (e.g. pruner=optuna.pruners.MedianPruner()) or drop curve_pruning (ctx.report then only "
            "records the curves)",
        )
    if not decides:
        return None
    return DEFAULT_CURVE_PRUNING if curve_pruning is None else str(curve_pruning)


def check_warm_start(treatments: Treatment | Iterable[Treatment], names: set[str] | None) -> list[Treatment]:
    """The warm-start treatments as a list, after checking each sets parameters of the search
    space (whose parameter ``names``; None for a callable space, where any will do).

    Raises:
        SettingError: about ``warm_start`` (one treatment) or ``warm_start[<index>]``, for a
            treatment that is callable or sets a parameter outside the search space.
    """
    single = isinstance(treatments, Treatment)
    items = [treatments] if isinstance(treatments, Treatment) else list(treatments)
    for index, treatment in enumerate(items):
        setting = "warm_start" if single else f"warm_start[{index}]"
        if not isinstance(treatment, Treatment) or treatment.is_callable:
            raise SettingError(
                setting, f"warm start needs Treatments with parameter mappings, got {treatment!r}"
            )
        unknown = sorted(set(treatment.params) - names) if names is not None else []
        if unknown:
            raise SettingError(
                setting,
                f"warm-start treatment {treatment.name!r} sets [{', '.join(unknown)}], which are not in the "
                f"search space [{', '.join(sorted(names or ()))}]",
            )
    return items


def _relabelled(setting: str, check: Any, *args: Any) -> Any:
    """``check(*args)``, its ConfigurationError made a SettingError about ``setting``."""
    try:
        return check(*args)
    except SettingError:
        raise
    except ConfigurationError as exc:
        raise SettingError(setting, str(exc)) from None
