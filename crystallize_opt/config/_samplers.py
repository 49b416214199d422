"""Samplers and pruners by name, with their settings checked against the Optuna class signature."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

from ..optimize import ResumableCmaEsSampler
from ._errors import describe, names_list, suggestion
from ._schema import Field

#: Sampler names of the config -> their classes: Optuna's, but ``cmaes`` builds
#: :class:`~crystallize_opt.ResumableCmaEsSampler`, Optuna's CMA-ES resumable exactly.
SAMPLERS: dict[str, type] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "gp": optuna.samplers.GPSampler,
    "cmaes": ResumableCmaEsSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "nsga3": optuna.samplers.NSGAIIISampler,
    "qmc": optuna.samplers.QMCSampler,
    "grid": optuna.samplers.GridSampler,
    "bruteforce": optuna.samplers.BruteForceSampler,
}
#: Pruner names of the config -> Optuna's classes.
PRUNERS: dict[str, type] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "patient": optuna.pruners.PatientPruner,
    "nop": optuna.pruners.NopPruner,
}
#: Constructor parameters filled by the config itself, never given as settings.
_DERIVED = {"seed", "search_space", "wrapped_pruner"}
#: Annotation fragments of parameters that take Python objects, which YAML cannot express.
_OBJECT_TYPES = ("Callable", "Sampler", "Pruner", "Mutation", "Crossover", "FrozenTrial", "Study")
_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "None": (type(None),),
    "dict": (dict,),
    "Mapping": (dict,),
    "list": (list,),
    "Sequence": (list,),
}


def component_class(kind: str, name: str) -> type:
    """The class of sampler or pruner ``name`` (``kind``: ``"sampler"`` or ``"pruner"``)."""
    return (SAMPLERS if kind == "sampler" else PRUNERS)[name]


def _annotation(param: inspect.Parameter) -> str:
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        return ""
    return ann if isinstance(ann, str) else inspect.formatannotation(ann)


def settable(cls: type) -> dict[str, inspect.Parameter]:
    """The constructor parameters of ``cls`` that a YAML config can set."""
    params = {}
    for name, param in inspect.signature(cls).parameters.items():
        if (
            param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            or name in _DERIVED
        ):
            continue
        if any(fragment in _annotation(param) for fragment in _OBJECT_TYPES):
            continue
        params[name] = param
    return params


def _type_ok(value: Any, annotation: str) -> bool:
    """Whether ``value`` fits a simple annotation such as ``int | None`` (unknown ones: yes)."""
    parts = [part.strip().split("[", 1)[0] for part in annotation.split("|")] if annotation else []
    if not parts or any(part not in _SIMPLE_TYPES for part in parts):
        return True
    for part in parts:
        types = _SIMPLE_TYPES[part]
        if isinstance(value, bool) and bool not in types:
            continue
        if isinstance(value, types):
            return True
    return False


def check_settings(kind: str, name: str, settings: Mapping[str, Field], where: Field) -> dict[str, Any]:
    """Validate ``settings`` of sampler/pruner ``name`` against its class signature."""
    cls = component_class(kind, name)
    allowed = settable(cls)
    label = f"{name} {kind} ({cls.__name__})"
    values: dict[str, Any] = {}
    for key, field in settings.items():
        if key not in allowed:
            shown = [
                *allowed,
                *(["seed"] if kind == "sampler" else []),
                *(["wrapped_pruner"] if name == "patient" else []),
            ]
            accepted = names_list(shown) if shown else "none"
            raise field.error(
                f"unknown setting for the {label}{suggestion(key, shown)}; allowed settings: {accepted}"
            )
        annotation = _annotation(allowed[key])
        if not _type_ok(field.value, annotation):
            raise field.error(f"expected {annotation} for the {label}, got {describe(field.value)}")
        values[key] = field.value
    required = [
        n
        for n, p in inspect.signature(cls).parameters.items()
        if p.default is inspect.Parameter.empty and n not in _DERIVED
    ]
    missing = [n for n in required if n not in values and n in allowed]
    if missing:
        raise where.error(f"missing required setting {missing[0]!r} for the {label}")
    return values


def parse_component(kind: str, field: Field) -> tuple[str, dict[str, Field]]:
    """Read ``name`` or ``{name: ..., <key>: ...}``; return the name and the other keys' fields."""
    table = SAMPLERS if kind == "sampler" else PRUNERS
    if isinstance(field.value, str):
        return field.choice(table), {}
    if not isinstance(field.value, dict):
        raise field.error(
            f"expected a {kind} name (one of {names_list(table)}) or a mapping {{name: ..., <settings>}}, "
            f"got {describe(field.value)}"
        )
    name_field = field.child("name")
    if name_field is None:
        raise field.error(f"missing required key 'name' (one of {names_list(table)})")
    return name_field.choice(table), {k: f for k, f in field.items() if k != "name"}


def build(kind: str, name: str, settings: Mapping[str, Any], **derived: Any) -> Any:
    """Construct sampler/pruner ``name`` (a nested ``wrapped_pruner`` spec is built first)."""
    kwargs = dict(settings)
    if kind == "pruner" and name == "patient":
        wrapped = kwargs.get("wrapped_pruner")
        kwargs["wrapped_pruner"] = (
            None if wrapped is None else build("pruner", wrapped["name"], wrapped["settings"])
        )
    return component_class(kind, name)(**kwargs, **derived)


def try_build(kind: str, name: str, settings: Mapping[str, Any], where: Field, **derived: Any) -> Any:
    """Construct the component once, turning Optuna's own complaints into a config error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build(kind, name, settings, **derived)
    except Exception as exc:
        cls = component_class(kind, name).__name__
        raise where.error(f"Optuna's {cls} rejects these settings: {type(exc).__name__}: {exc}") from exc
