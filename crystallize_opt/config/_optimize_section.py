"""The ``optimize:`` section: objective, search space, sampler, pruner, budget and storage."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._checks import check_seed, check_study_name, replicates_expected, seed_expected
from ..optimize import (
    NoiseHandling,
    Objective,
    OptunaOptimizer,
    SearchSpace,
    check_arguments,
    check_warm_start,
    default_sampler,
)
from ..plugins import gpus_expected
from ..treatment import Treatment
from ._errors import describe, names_list, relabelled, suggestion
from ._noise import parse_noise
from ._samplers import build, check_settings, parse_component, try_build
from ._schema import Field
from ._space import compile_grid, compile_search_space
from ._storage import DATABASE_FILE, JOURNAL_FILE, journal_holds, sqlite_holds

OPTIMIZE_KEYS = (
    "objective",
    "search_space",
    "sampler",
    "pruner",
    "trials",
    "replicates_per_trial",
    "storage",
    "study_name",
    "run_baseline",
    "common_random_numbers",
    "warm_start",
    "heartbeat_interval",
    "grace_period",
    "max_retries",
    "outage_timeout",
    "noise",
    "gpus",
    "curve_pruning",
)
OBJECTIVE_KEYS = ("metric", "metrics", "direction", "aggregate", "constraints")
DIRECTIONS = ("minimize", "maximize")
AGGREGATES = ("mean", "median")
#: The ``optimize:`` keys that are :class:`~crystallize_opt.OptunaOptimizer` keyword arguments,
#: YAML key -> argument. The config turns each into its argument (most are taken as they are,
#: see :data:`TAKEN_AS_THEY_ARE`; an absent one gets the constructor's default) and the
#: constructor's own check (``optimize._arguments.check_arguments``) is the only one: its errors
#: are relabelled with the file and this key.
ARGUMENTS = {
    "objective": "objective",
    "search_space": "search_space",
    "sampler": "sampler",
    "pruner": "pruner",
    "storage": "storage",
    "study_name": "study_name",
    "warm_start": "warm_start",
    "noise": "noise",
    "run_baseline": "run_baseline",
    "common_random_numbers": "common_random_numbers",
    "heartbeat_interval": "heartbeat_interval",
    "grace_period": "grace_period",
    "max_retries": "max_retries",
    "outage_timeout": "outage_timeout",
    "curve_pruning": "curve_pruning",
}
#: The keys of :data:`ARGUMENTS` whose YAML value is the argument itself.
TAKEN_AS_THEY_ARE = (
    "run_baseline",
    "common_random_numbers",
    "heartbeat_interval",
    "grace_period",
    "max_retries",
    "outage_timeout",
    "curve_pruning",
)


@dataclass(frozen=True)
class OptimizeConfig:
    """The parsed ``optimize:`` section of a study (treat its dicts as read-only).

    Attributes:
        objective: what to minimise or maximise.
        search_space: parameter name -> Optuna distribution, or a constant value.
        sampler_name: the config name of the sampler (``"tpe"``, ``"gp"``, ...).
        sampler_settings: keyword arguments of the sampler class (without ``seed``).
        seed: the sampler's seed (default: the experiment's master seed).
        pruner_name: the config name of the pruner, or None for no pruning.
        pruner_settings: keyword arguments of the pruner class (for ``patient``,
            ``wrapped_pruner`` is ``{"name": ..., "settings": {...}}`` or None).
        trials: the study's target number of finished trials.
        replicates_per_trial: seeded replicates every trial runs.
        storage: the Optuna storage URL (``":memory:"`` for an in-memory study).
        study_name: the Optuna study name.
        run_baseline: also evaluate the baseline once per study, as reference.
        common_random_numbers: replicate ``r`` of every trial shares one seed.
        warm_start: treatments evaluated first.
        heartbeat_interval: seconds between heartbeats of a running trial.
        grace_period: seconds without heartbeat after which a RUNNING trial counts as stale.
        max_retries: how often a stale trial's parameters are queued again.
        outage_timeout: seconds to wait for a database that stops answering, or stays
            locked, before the run fails (see :class:`~crystallize_opt.OptunaOptimizer`).
        curve_pruning: how learning curves reach the pruner (``paired``, ``pooled``, ``off``;
            see :class:`~crystallize_opt.OptunaOptimizer`), or None without a pruner or with
            noise handling.
        noise: noise-aware optimization settings (with them, ``trials * replicates_per_trial``
            is a budget of pipeline executions), or None (off).
        storage_is_default: True when the config names no storage: :meth:`storage_for` then
            chooses between the folder's ``study.db`` and ``study.log``.
        sampler_is_default: True when the config names no sampler (see :meth:`make_sampler`).
        gpus: GPU indices the worker processes of ``--workers N`` share (each sees its own
            through ``CUDA_VISIBLE_DEVICES``), or None.
    """

    objective: Objective
    search_space: dict[str, Any]
    sampler_name: str
    sampler_settings: dict[str, Any]
    seed: int
    pruner_name: str | None
    pruner_settings: dict[str, Any]
    trials: int
    replicates_per_trial: int
    storage: str
    study_name: str
    # No defaults here: an absent key gets the constructor's (see ARGUMENTS).
    run_baseline: bool
    common_random_numbers: bool
    warm_start: tuple[Treatment, ...]
    heartbeat_interval: float
    grace_period: float
    max_retries: int
    outage_timeout: float
    curve_pruning: str | None
    noise: NoiseHandling | None
    storage_is_default: bool = False
    sampler_is_default: bool = False
    gpus: tuple[int, ...] | None = None

    def storage_for(self, *, workers: int = 1, study_name: str | None = None) -> str:
        """The storage URL of the study ``study_name`` (default :attr:`study_name`).

        A storage named in the config is returned as it is. Without one, the study lives in
        its folder: in ``study.db`` (SQLite) when that file holds the study, else in
        ``study.log`` (a journal file) when that holds it, and a study in neither is created in
        ``study.log`` when ``workers > 1``, else in ``study.db``. Why: with many workers, every
        trial's writes queue for SQLite's single write lock (8 workers of a 0.2-s waiting
        pipeline: 7.5x one worker's trials per minute on SQLite and 7.8x on the journal file on
        a quiet machine, but 2.7-6.3x against 5.2-7.0x once other work shares the cores; see
        benchmarks/README.md, "Parallel workers"), while a serial study is best kept in one
        SQLite file that any tool can read. An existing study stays where it is, so resuming
        it with or without ``--workers``, ``best``, ``trials`` and ``report`` all find it.

        Raises:
            StorageFileError: when ``study.db`` exists but cannot be read (damaged, locked), since
                a new study in ``study.log`` would then hide the one it holds.
            JournalFileError: when a line of ``study.log`` is no journal record.
        """
        if not self.storage_is_default:
            return self.storage
        name = self.study_name if study_name is None else study_name
        database = Path(self.storage[len("sqlite:///") :])
        journal = database.with_name(JOURNAL_FILE)
        if sqlite_holds(database, name):
            return self.storage
        if workers > 1 or journal_holds(journal, name):
            return f"journal:///{journal}"
        return self.storage

    def make_sampler(self, seed: int | None = None) -> Any:
        """A new sampler instance (``seed`` overrides :attr:`seed`). A config that names no
        sampler gets the optimizer's default (``default_sampler``: Optuna's TPE; with noise
        handling and PyTorch, a Gaussian-process search where it did better)."""
        derived: dict[str, Any] = {"seed": self.seed if seed is None else seed}
        if self.sampler_is_default:
            return default_sampler(
                derived["seed"], noise_aware=self.noise is not None, space=self.search_space
            )
        if self.sampler_name == "grid":
            derived["search_space"] = compile_grid(self.search_space, Field(None, "optimize.search_space"))
        return build("sampler", self.sampler_name, self.sampler_settings, **derived)

    def make_pruner(self) -> Any:
        """A new pruner instance, or None."""
        return None if self.pruner_name is None else build("pruner", self.pruner_name, self.pruner_settings)

    def make_optimizer(
        self,
        *,
        storage: str | None = None,
        study_name: str | None = None,
        seed: int | None = None,
        workers: int = 1,
    ) -> OptunaOptimizer:
        """A new :class:`~crystallize_opt.OptunaOptimizer` for this study.

        Pass it to ``experiment.optimize(optimizer, config.trials, config.replicates_per_trial)``.
        The keyword arguments override the config's ``storage`` (any Optuna storage URL, or
        ``":memory:"``), ``study_name`` and sampler ``seed`` (e.g. from the command line).
        Without a storage here or in the config, ``workers`` (the number of worker processes
        the optimizer will be run with) picks the folder's file, see :meth:`storage_for`.

        Raises:
            ConfigurationError: if ``seed`` is not an integer from 0 to 2**32 - 1, or
                ``study_name`` is empty.
        """
        if seed is not None:
            check_seed(seed, "make_optimizer: seed")
        if study_name is not None:
            check_study_name(study_name, "make_optimizer: study_name")
        return OptunaOptimizer(
            search_space=dict(self.search_space),
            objective=self.objective,
            sampler=self.make_sampler(seed),
            pruner=self.make_pruner(),
            storage=self.storage_for(workers=workers, study_name=study_name) if storage is None else storage,
            study_name=self.study_name if study_name is None else study_name,
            warm_start=self.warm_start,
            noise=self.noise,
            **{ARGUMENTS[key]: getattr(self, key) for key in TAKEN_AS_THEY_ARE},
        )


def parse_optimize(
    section: Field, folder: Path, default_seed: int, treatments: Mapping[str, Treatment]
) -> OptimizeConfig:
    """Validate the ``optimize:`` section and compile it."""
    values = section.mapping(OPTIMIZE_KEYS, required=("objective", "search_space", "trials"))
    get = section.child
    objective = parse_objective(section.at("objective", values["objective"]))
    space = compile_search_space(
        values["search_space"], path_prefix=f"{section.path}.search_space", source=section.source
    )
    sampler_name, sampler_settings, seed, sampler = _sampler(get("sampler"), default_seed, space, section)
    pruner_name, pruner_settings, pruner = (
        (None, {}, None) if get("pruner") is None else _pruner(section.at("pruner", values["pruner"]))
    )
    replicates = get("replicates_per_trial")
    defaults = optimizer_defaults()
    given = {key: defaults[ARGUMENTS[key]] if get(key) is None else values[key] for key in TAKEN_AS_THEY_ARE}
    with relabelled(section.source, section.path, {argument: key for key, argument in ARGUMENTS.items()}):
        checked = check_arguments(
            objective,
            sampler=sampler,
            pruner=pruner,
            study_name=folder.name if get("study_name") is None else values["study_name"],
            noise=parse_noise(get("noise")),
            poll_interval=defaults["poll_interval"],
            **{ARGUMENTS[key]: value for key, value in given.items()},
        )
        warm_start = tuple(
            check_warm_start(_warm_start(get("warm_start"), treatments), SearchSpace(space).names)
        )
    assert checked.study_name is not None  # given above, so checked, never None
    return OptimizeConfig(
        objective=objective,
        search_space=space,
        sampler_name=sampler_name,
        sampler_settings=sampler_settings,
        seed=seed,
        pruner_name=pruner_name,
        pruner_settings=pruner_settings,
        trials=section.at("trials", values["trials"]).positive_int(),
        replicates_per_trial=1 if replicates is None else _replicates(replicates),
        storage=_storage(get("storage"), folder),
        study_name=checked.study_name,
        warm_start=warm_start,
        noise=checked.noise,
        **{key: getattr(checked, ARGUMENTS[key]) for key in TAKEN_AS_THEY_ARE},
        storage_is_default=get("storage") is None,
        sampler_is_default=get("sampler") is None,
        gpus=_gpus(get("gpus")),
    )


def optimizer_defaults() -> dict[str, Any]:
    """The keyword arguments of :class:`OptunaOptimizer` that have a default, with it: what an
    absent ``optimize:`` key gets."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(OptunaOptimizer).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def _gpus(field: Field | None) -> tuple[int, ...] | None:
    return None if field is None else tuple(field.check(gpus_expected))


def _replicates(field: Field) -> int:
    value: int = field.check(replicates_expected)
    return value


def parse_objective(field: Field) -> Objective:
    """``metric``/``metrics``, ``direction``, ``aggregate``, ``constraints`` -> an Objective."""
    if isinstance(field.value, str):  # shorthand: the metric name, minimised
        return Objective(field.string())
    values = field.mapping(OBJECTIVE_KEYS)
    given = [key for key in ("metric", "metrics") if values.get(key) is not None]
    if len(given) != 1:
        problem = "got both" if given else "got neither"
        raise field.error(
            f"expected exactly one of 'metric' or 'metrics' (a metric name or a list of names), {problem}"
        )
    key = "metric" if values.get("metric") is not None else "metrics"
    metrics = field.at(key, values[key]).names("metric name")
    direction_field = field.child("direction")
    directions = ["minimize"] * len(metrics)
    if direction_field is not None:
        if isinstance(direction_field.value, str):
            directions = [direction_field.choice(DIRECTIONS)] * len(metrics)
        else:
            directions = [item.choice(DIRECTIONS) for item in direction_field.sequence()]
            if len(directions) != len(metrics):
                raise direction_field.error(
                    f"expected {len(metrics)} direction(s), one per metric {names_list(metrics)}, got {len(directions)}"
                )
    aggregate_field = field.child("aggregate")
    aggregate = "mean" if aggregate_field is None else aggregate_field.choice(AGGREGATES)
    constraints_field = field.child("constraints")
    constraints = [] if constraints_field is None else constraints_field.names("metric name")
    return Objective(metrics if len(metrics) > 1 else metrics[0], directions, aggregate, constraints)


def _sampler(
    field: Field | None, default_seed: int, space: dict[str, Any], section: Field
) -> tuple[str, dict[str, Any], int, Any]:
    """The sampler's name, settings and seed, and an instance built once to check them (None
    for the default sampler, which the optimizer chooses)."""
    if field is None:
        return "tpe", {}, default_seed, None
    name, fields = parse_component("sampler", field)
    seed_field = fields.pop("seed", None)
    seed = default_seed if seed_field is None or seed_field.value is None else seed_field.check(seed_expected)
    settings = check_settings("sampler", name, fields, field)
    derived: dict[str, Any] = {"seed": seed}
    if name in ("grid", "bruteforce"):
        grid = compile_grid(space, section.at("search_space", None))
        if name == "grid":
            derived["search_space"] = grid
    return name, settings, seed, try_build("sampler", name, settings, field, **derived)


def _pruner(field: Field) -> tuple[str, dict[str, Any], Any]:
    """The pruner's name and settings, and an instance built once to check them."""
    name, fields = parse_component("pruner", field)
    wrapped = fields.pop("wrapped_pruner", None) if name == "patient" else None
    settings = check_settings("pruner", name, fields, field)
    if name == "patient":
        nested = None
        if wrapped is not None and wrapped.value is not None:
            inner_name, inner_settings, _ = _pruner(wrapped)
            nested = {"name": inner_name, "settings": inner_settings}
        settings["wrapped_pruner"] = nested
    return name, settings, try_build("pruner", name, settings, field)


def _storage(field: Field | None, folder: Path) -> str:
    if field is None:
        return f"sqlite:///{folder / DATABASE_FILE}"
    url = field.string()
    if url == ":memory:":
        return url
    if "://" not in url:
        raise field.error(
            f"expected ':memory:' or a storage URL such as 'sqlite:///study.db', got {describe(url)}"
        )
    for prefix in ("sqlite:///", "journal:///"):
        if url.startswith(prefix) and url[len(prefix) :] and not url[len(prefix) :].startswith(":"):
            database = Path(url[len(prefix) :])
            if not database.is_absolute():  # relative to the study folder, not the working directory
                return f"{prefix}{folder / database}"
    return url


def _warm_start(
    field: Field | None, treatments: Mapping[str, Treatment]
) -> Treatment | tuple[Treatment, ...]:
    """The config's treatments that ``warm_start`` names (one, or a tuple for a list of names);
    OptunaOptimizer's check of them runs with the other arguments'."""
    if field is None:
        return ()
    chosen = []
    for item in [field] if isinstance(field.value, str) else field.sequence():
        name = item.string()
        if name not in treatments:
            raise item.error(
                f"unknown treatment {describe(name)}{suggestion(name, treatments)}; "
                f"the config's treatments are {names_list(treatments)}"
            )
        chosen.append(treatments[name])
    return chosen[0] if isinstance(field.value, str) else tuple(chosen)
