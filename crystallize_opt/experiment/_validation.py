"""Checks of an Experiment: the arguments it is built or run with, and whether it can run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .. import _constants as C
from .._checks import check_replicates
from .._paths import check_name
from ..artifacts import Artifact
from ..exceptions import ConfigurationError
from ..hypothesis import Hypothesis
from ..pipeline import DataSource, Pipeline
from ..plugins import step_folder
from ..treatment import Treatment

if TYPE_CHECKING:
    from ._experiment import Experiment

ItemT = TypeVar("ItemT")


def check_names(experiment: Experiment) -> None:
    """Check the experiment's and its steps' names, which the ArtifactPlugin makes folder names.

    Raises:
        ConfigurationError: naming the name that does not follow :data:`~crystallize_opt._paths.NAME_RULE`.
    """
    check_name(experiment.name, "experiment name")
    for step in getattr(experiment.pipeline, "steps", ()):
        check_name(step.name, "step name")
        check_name(step_folder(step), "step folder")


def typed_list(items: Any, cls: type[ItemT], what: str) -> list[ItemT]:
    values = list(items or [])
    for index, item in enumerate(values):
        if not isinstance(item, cls):
            raise ConfigurationError(f"{what}[{index}] must be a {cls.__name__}, got {type(item).__name__}")
    return values


def treatment_list(treatments: Any) -> list[Treatment]:
    items = typed_list(treatments, Treatment, "treatments")
    names = [t.name for t in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(f"treatment names must be unique; repeated: {duplicates}")
    return items


def hypothesis_list(hypotheses: Any) -> list[Hypothesis]:
    return typed_list(hypotheses, Hypothesis, "hypotheses")


def check_structure(experiment: Experiment) -> None:
    """Check the experiment's datasource, pipeline, names, ``initial_ctx`` and outputs.

    Raises:
        ConfigurationError: naming the first argument of the wrong type, a name that cannot be a
            folder name (see :func:`check_names`), or the reserved keys ``initial_ctx`` sets.
    """
    if not isinstance(experiment.datasource, DataSource):
        hint = (
            " (a @data_source function must be called: write points())"
            if callable(experiment.datasource)
            else ""
        )
        raise ConfigurationError(
            f"datasource must be a DataSource, got {type(experiment.datasource).__name__}{hint}"
        )
    if not isinstance(experiment.pipeline, Pipeline):
        raise ConfigurationError(f"pipeline must be a Pipeline, got {type(experiment.pipeline).__name__}")
    check_names(experiment)
    bad = sorted(set(experiment.initial_ctx) & C.RESERVED_CONTEXT_KEYS)
    if bad:
        raise ConfigurationError(f"initial_ctx sets reserved key(s) {bad}; the engine sets them itself")
    for index, output in enumerate(experiment.outputs):
        if not isinstance(output, Artifact):
            raise ConfigurationError(f"outputs[{index}] must be an Artifact, got {type(output).__name__}")


def check_runnable(experiment: Experiment) -> None:
    """The checks of :meth:`Experiment.validate` (see there).

    Raises:
        ConfigurationError: as :func:`check_structure` and for invalid replicates, treatments or
            hypotheses, or hypotheses without a treatment to compare; else listing every parameter a step or the datasource needs that some
            condition does not provide.
    """
    check_structure(experiment)
    check_replicates(experiment.replicates, "replicates")
    treatments = treatment_list(experiment.treatments)
    hypotheses = hypothesis_list(experiment.hypotheses)
    if hypotheses and not any(t.name != C.BASELINE_CONDITION for t in treatments):
        # As crystallize-ml: a hypothesis compares treatments with the baseline; none to compare.
        raise ConfigurationError(
            f"hypotheses {[h.name for h in hypotheses]} need at least one treatment to compare "
            "with the baseline; give treatments (or run(hypotheses=[]))"
        )
    provided = (
        set(experiment.initial_ctx)
        | C.RESERVED_CONTEXT_KEYS  # the engine sets these in every run
        | {n for a in experiment.outputs for n in a.injection_names}
    )
    problems: list[str] = []
    users: list[Any] = [experiment.datasource, *experiment.pipeline.steps]
    for user in users:
        for param in getattr(user, "required_params", []):
            if param in provided:
                continue
            lacking = [t.name for t in experiment.treatments if not t.is_callable and param not in t.params]
            kind = "datasource" if user is experiment.datasource else "step"
            problems.append(
                f"{kind} {user.name!r} needs {param!r}, which is set neither by initial_ctx nor by the "
                f"conditions {[C.BASELINE_CONDITION, *lacking]}"
            )
    if problems:
        raise ConfigurationError("experiment is not runnable: " + "; ".join(problems))
