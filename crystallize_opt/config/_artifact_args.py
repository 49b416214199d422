"""How a study config passes its declared outputs (``outputs:``, each an :class:`Artifact`) to
the steps that write them: a step argument annotated ``Artifact`` names one by alias or file
name, a ``@pipeline_step`` function receives one by a parameter's name, and an output that no
step takes is refused."""

from __future__ import annotations

import inspect
from typing import Any

from ..artifacts import Artifact
from ._errors import names_list
from ._schema import Field


def taken_outputs(obj: Any, kwargs: Field, outputs: list[Artifact]) -> set[int]:
    """The ``id`` of each of ``outputs`` the step ``obj`` built with ``kwargs`` (artifacts
    already put in by :func:`with_artifacts`) takes: passed as an argument, or, for a
    ``@pipeline_step`` factory, injected by the name of a parameter the entry does not set."""
    given = kwargs.value if isinstance(kwargs.value, dict) else {}
    taken = {id(value) for value in given.values() if isinstance(value, Artifact)}
    if inspect.isclass(obj) or not hasattr(obj, "__wrapped__"):
        return taken  # a class's constructor receives only what the entry passes
    try:
        params = list(inspect.signature(obj.__wrapped__).parameters.items())
    except (TypeError, ValueError):
        return taken
    if [key for key, _ in params[:2]] != ["data", "ctx"]:
        return taken  # not a step function, whose other parameters are injected
    for key, param in params[2:]:
        if key in given or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        taken.update(id(a) for a in outputs if key in a.injection_names)
    return taken


def with_artifacts(obj: Any, kwargs: Field, outputs: list[Artifact]) -> Field:
    """``kwargs`` with each string value given to a parameter annotated ``Artifact`` replaced
    by the output it names (by alias or file name).

    Raises:
        ConfigurationError: naming the key, when such a string names no declared output and
            the parameter takes only an ``Artifact`` (as in crystallize-ml, which refuses an
            unknown alias).
    """
    if not isinstance(kwargs.value, dict):
        return kwargs
    try:
        params = inspect.signature(getattr(obj, "__wrapped__", obj)).parameters
    except (TypeError, ValueError):
        return kwargs
    replaced = dict(kwargs.value)
    for key, value in kwargs.value.items():
        param = params.get(key) if isinstance(key, str) else None
        if param is None or not isinstance(value, str) or "Artifact" not in str(param.annotation):
            continue
        match = next((a for a in outputs if value in (*a.aliases, a.name)), None)
        if match is None and param.annotation not in (Artifact, "Artifact"):
            continue  # e.g. ``Artifact | str``: a string is a valid value
        if match is None:
            declared = sorted({n for a in outputs for n in (*a.aliases, a.name)})
            raise kwargs.at(key, value).error(
                f"{value!r} names no output of this experiment: parameter {key!r} takes an Artifact, and "
                f"outputs: declares {names_list(declared) if declared else 'none'}"
            )
        replaced[key] = match
    return Field(replaced, kwargs.path, kwargs.source)


def check_outputs_taken(field: Field, outputs: list[Artifact], used: set[int]) -> None:
    """Refuse a declared output no step takes (as crystallize-ml): nothing would write it.

    ``field`` is the ``outputs:`` entry (a mapping alias -> settings, or a list), whose entries
    are ``outputs`` in order.

    Raises:
        ConfigurationError: (a ``ValueError``) located at the first such output's key, naming it.
    """
    entries = [f for _, f in field.items()] if isinstance(field.value, dict) else field.sequence()
    for artifact, entry in zip(outputs, entries, strict=True):
        if id(artifact) in used:
            continue
        shown = (artifact.aliases or (artifact.name,))[0]
        names = names_list(dict.fromkeys((*artifact.aliases, *artifact.injection_names)))
        raise entry.error(
            f"no step takes output {shown!r}, so nothing would write it: pass it to a step argument "
            f"annotated Artifact ({{step_name: {{argument: {shown}}}}}), give a @pipeline_step function a "
            f"parameter named one of {names}, or remove the output"
        )
