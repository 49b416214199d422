"""Building the parts of an Experiment from the config: datasource, steps, treatments,
hypotheses, outputs, execution; user objects come from the study's Python files."""

from __future__ import annotations

import importlib.util
import inspect
import multiprocessing
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from .._constants import RESERVED_CONTEXT_KEYS
from ..artifacts import Artifact
from ..exceptions import ConfigurationError
from ..hypothesis import Hypothesis
from ..pipeline import DataSource, PipelineStep
from ..plugins import BasePlugin, ParallelExecution
from ..treatment import Treatment
from ..verifiers import mann_whitney_u, welch_t_test, wilcoxon_signed_rank
from ._artifact_args import taken_outputs, with_artifacts
from ._errors import describe, names_list, suggestion
from ._modules import defined_names, import_study_file
from ._schema import Field

BUILTIN_VERIFIERS: dict[str, Callable[..., Any]] = {
    "welch_t_test": welch_t_test,
    "mann_whitney_u": mann_whitney_u,
    "wilcoxon_signed_rank": wilcoxon_signed_rank,
}
HYPOTHESIS_KEYS = ("name", "verifier", "metrics", "params")
EXECUTION_KEYS = ("type", "workers", "start_method", "address")
EXECUTION_TYPES = ("serial", "thread", "process", "dask")
T = TypeVar("T")


class StudyFiles:
    """The Python files of a study folder, imported on first use."""

    def __init__(self, folder: Path, display_folder: Path):
        self.folder = folder
        self.display_folder = display_folder
        self._modules: dict[str, ModuleType | None] = {}

    def display(self, stem: str) -> str:
        return str(self.display_folder / f"{stem}.py")

    def optional(self, stem: str) -> ModuleType | None:
        """``<stem>.py`` of the study, or None when the folder has no such file."""
        if stem not in self._modules:
            self._modules[stem] = import_study_file(self.folder, stem, self.display(stem))
        return self._modules[stem]

    def lookup(self, stem: str, name: str, field: Field, what: str, exclude: tuple[type, ...] = ()) -> Any:
        """The object ``name`` defined in ``<stem>.py``, for the config entry ``field``."""
        module = self.optional(stem)
        if module is None:
            raise field.error(
                f"{what} {name!r} must be defined in {self.display(stem)}, which does not exist"
            )
        if not hasattr(module, name):
            usable = defined_names(module, exclude)
            raise field.error(
                f"no {what} {name!r} in {self.display(stem)}{suggestion(name, usable)}; "
                f"it defines {names_list(usable) if usable else 'no public function or class'}"
            )
        return getattr(module, name)


def _call_checked(
    obj: Any,
    leading: tuple[str, ...],
    values: dict[str, Field],
    at: Field,
    *,
    noun: str,
    owner: str,
    name: str,
) -> Any:
    """Call ``obj(**values)`` after refusing keys it does not accept; its own errors name ``at``."""
    accepted = _accepted(obj, leading)
    unknown = [key for key in values if accepted is not None and key not in accepted]
    if unknown:
        raise values[unknown[0]].error(
            f"unknown {noun}{suggestion(unknown[0], accepted or [])} of {owner} {name!r}; "
            f"it accepts {names_list(accepted) if accepted else f'no {noun}s'}"
        )
    try:
        return obj(**{key: field.value for key, field in values.items()})
    except Exception as exc:
        raise at.error(f"{name}(...) raised {type(exc).__name__}: {exc}") from exc


def _accepted(obj: Any, leading: tuple[str, ...]) -> list[str] | None:
    """Keyword arguments ``obj(**kwargs)`` takes (None: any, or unknown)."""
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None
    if hasattr(obj, "__wrapped__"):  # a decorated factory: the signature is the function's
        params = params[len(leading) :]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def instantiate(
    obj: Any, name: str, kwargs: Field, base: type, what: str, leading: tuple[str, ...], hint: str
) -> Any:
    """Call factory or class ``obj`` with the config's keyword arguments and check the result."""
    if inspect.isclass(obj) and not issubclass(obj, base):
        raise kwargs.error(f"{name!r} is a class, but not a {base.__name__} subclass; {hint}")
    if not callable(obj):
        raise kwargs.error(f"{name!r} is {describe(obj)}, not a {what} factory; {hint}")
    params = dict(kwargs.items())
    if inspect.isfunction(obj) and not hasattr(obj, "__wrapped__"):
        first = [p for p in inspect.signature(obj).parameters][: len(leading)]
        if first == list(leading):
            raise kwargs.error(f"{name!r} is a plain function; {hint}")
    result = _call_checked(obj, leading, params, kwargs, noun="argument", owner=what, name=name)
    if not isinstance(result, base):
        raise kwargs.error(f"{name}(...) returned {describe(result)}, expected a {base.__name__}; {hint}")
    return result


def _named_entry(field: Field, what: str) -> tuple[str, Field]:
    """``name`` or ``{name: {kwargs}}`` -> the name and the kwargs field."""
    if isinstance(field.value, str) and field.value:
        return field.value, field.at(field.value, None)
    if not isinstance(field.value, dict):
        raise field.error(
            f"expected a {what} name or a mapping {{name: {{arguments}}}}, got {describe(field.value)}"
        )
    return field.single_key(what)


def build_datasource(field: Field, files: StudyFiles) -> DataSource:
    name, kwargs = _named_entry(field, "datasource")
    obj = files.lookup("datasources", name, field, "datasource", exclude=(PipelineStep,))
    hint = "decorate a function with @data_source or subclass DataSource"
    datasource: DataSource = instantiate(obj, name, kwargs, DataSource, "datasource", ("ctx",), hint)
    return datasource


def build_steps(
    field: Field, files: StudyFiles, outputs: list[Artifact] | None = None, used: set[int] | None = None
) -> list[PipelineStep]:
    """The ``steps:`` list. A step argument annotated ``Artifact`` whose value names one of
    ``outputs`` (by alias or file name) receives that artifact, as in crystallize-ml.

    ``used`` (when given) receives the ``id`` of every output some step takes: one passed to a
    step argument that way, or one a ``@pipeline_step`` function receives at run time because a
    parameter it is not given is named after the output (its alias, file name or file name
    without extension)."""
    items = field.sequence()
    if not items:
        raise field.error("expected a non-empty list of steps, got an empty list")
    steps = []
    hint = "decorate a function with @pipeline_step() or subclass PipelineStep"
    for item in items:
        name, kwargs = _named_entry(item, "step")
        obj = files.lookup("steps", name, item, "step", exclude=(DataSource,))
        kwargs = with_artifacts(obj, kwargs, outputs or [])
        if used is not None:
            used.update(taken_outputs(obj, kwargs, outputs or []))
        steps.append(instantiate(obj, name, kwargs, PipelineStep, "step", ("data", "ctx"), hint))
    return steps


def context_values(field: Field, what: str) -> dict[str, Any]:
    """A mapping of context values; reserved keys are refused."""
    values = field.mapping()
    for key in values:
        if key in RESERVED_CONTEXT_KEYS:
            raise field.at(key, None).error(
                f"{what} may not set reserved context key {key!r}; the engine sets "
                f"{names_list(RESERVED_CONTEXT_KEYS)} itself"
            )
    return dict(values)


def build_treatments(field: Field) -> list[Treatment]:
    """``treatments:``: a mapping of name -> context values (null for none), or a list of
    one-key such mappings (as crystallize-ml's older configs wrote them)."""
    if isinstance(field.value, list):
        entries = []
        for entry in field.sequence():
            if not isinstance(entry.value, dict) or len(entry.value) != 1:
                raise entry.error(
                    f"expected a mapping with one key {{name: values}}, got {describe(entry.value)}"
                )
            entries.append(entry.single_key("treatment name"))
    elif isinstance(field.value, dict):
        entries = field.items()
    else:
        raise field.error(
            f"expected a mapping of treatment name -> context values, got {describe(field.value)}"
        )
    treatments = []
    for name, params in entries:
        treatments.append(_wrap(params, partial(Treatment, name, context_values(params, "a treatment"))))
    return treatments


def build_hypotheses(field: Field, files: StudyFiles) -> list[Hypothesis]:
    hypotheses = []
    for item in field.sequence():
        values = item.mapping(HYPOTHESIS_KEYS, required=("verifier",))
        if "metrics" not in values:  # null is allowed (every metric), a forgotten key is not
            raise item.error("missing required key 'metrics' (null for every metric)")
        verifier_field = item.at("verifier", values["verifier"])
        name = verifier_field.string()
        params = item.at("params", values.get("params"))
        factory = _verifier_factory(name, verifier_field, files)
        verifier = instantiate_verifier(factory, name, params)
        metrics = _hypothesis_metrics(item.at("metrics", values.get("metrics")))
        flat = (
            [m for group in metrics for m in ([group] if isinstance(group, str) else group)]
            if metrics
            else []
        )
        default = f"{name}:{'+'.join(flat) or '*'}"  # as Hypothesis names the built-in verifiers
        label = default if item.child("name") is None else item.at("name", values["name"]).string()
        hypotheses.append(_wrap(item, partial(Hypothesis, verifier, metrics, name=label)))
    names = [h.name for h in hypotheses]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise field.error(
            f"hypothesis names repeat {names_list(repeated)}; give each hypothesis its own 'name'"
        )
    return hypotheses


def _hypothesis_metrics(field: Field) -> list[str] | list[list[str]] | None:
    """A hypothesis's ``metrics``, as crystallize-ml reads them: null or absent (every metric the
    baseline recorded), a name or a list of names (one group), or a list of lists of names
    (several groups: the verifier runs once per group)."""
    value = field.value
    if value is None:
        return None
    if isinstance(value, list) and value and all(isinstance(group, list) for group in value):
        return [field.at(i, group).names("metric name") for i, group in enumerate(value)]
    return field.names("metric name")


def _verifier_factory(name: str, field: Field, files: StudyFiles) -> Any:
    module = files.optional("verifiers")
    if module is not None and hasattr(module, name):
        return getattr(module, name)
    if name in BUILTIN_VERIFIERS:
        return BUILTIN_VERIFIERS[name]
    own = defined_names(module) if module is not None else []
    where = (
        f"{files.display('verifiers')} defines {names_list(own)}"
        if module
        else f"there is no {files.display('verifiers')}"
    )
    raise field.error(
        f"unknown verifier {name!r}{suggestion(name, [*own, *BUILTIN_VERIFIERS])}; built-in verifiers: "
        f"{names_list(BUILTIN_VERIFIERS)}; {where}"
    )


def instantiate_verifier(factory: Any, name: str, params: Field) -> Any:
    """``factory(**params)`` must return the verifier callable (like the built-in factories)."""
    hint = f"a verifier name refers to a factory: {name}(**params) must return verifier(baseline, treatment)"
    if not callable(factory) or inspect.isclass(factory):
        raise params.error(f"{name!r} is {describe(factory)}; {hint}")
    verifier = _call_checked(
        factory, (), dict(params.items()), params, noun="parameter", owner="verifier", name=name
    )
    if not callable(verifier):
        raise params.error(f"{name}(...) returned {describe(verifier)}, not a callable; {hint}")
    return verifier


def build_outputs(field: Field, files: StudyFiles) -> list[Artifact]:
    outputs: list[Artifact] = []
    for item in field.sequence():
        if isinstance(item.value, str):
            name, loader = item.value, None
        elif not isinstance(item.value, dict):
            raise item.error(
                f"expected a file name or a mapping {{file name: loader}}, got {describe(item.value)}"
            )
        else:
            name, loader_field = item.single_key("output")
            loader_name = loader_field.string()
            loader = files.lookup("outputs", loader_name, loader_field, "loader function")
            if not callable(loader):
                raise loader_field.error(
                    f"{loader_name!r} in {files.display('outputs')} is {describe(loader)}, not a function"
                )
        if any(a.name == name for a in outputs):
            raise item.error(f"repeats output {name!r}; give each output once")
        outputs.append(_wrap(item, partial(Artifact, name, loader)))
    return outputs


def build_execution(field: Field) -> list[BasePlugin]:
    """The ``execution:`` entry: a type name, or a mapping of ``type``, ``workers`` (thread,
    process), ``start_method`` (process) and ``address`` (dask: the scheduler; without it, the
    Dask client open in the process, or ``DASK_SCHEDULER_ADDRESS``)."""
    address = None
    if isinstance(field.value, str):
        kind, workers, start_method = field.choice(EXECUTION_TYPES), None, None
    else:
        field.mapping(EXECUTION_KEYS)
        type_field = field.child("type")
        kind = "serial" if type_field is None else type_field.choice(EXECUTION_TYPES)
        workers_field, method_field = field.child("workers"), field.child("start_method")
        address_field = field.child("address")
        if kind in ("serial", "dask") and workers_field is not None:
            raise workers_field.error(
                "applies to type thread or process only; serial execution uses one worker, "
                "and the Dask cluster's workers run dask's"
            )
        if kind != "process" and method_field is not None:
            raise method_field.error("applies to type process only")
        if address_field is not None:
            if kind != "dask":
                raise address_field.error("applies to type dask only (the Dask scheduler's address)")
            address = address_field.string()
        workers = None if workers_field is None else workers_field.positive_int()
        methods = multiprocessing.get_all_start_methods()
        start_method = None if method_field is None else method_field.choice(methods)
    if kind == "serial":
        return []
    if kind == "dask":
        if importlib.util.find_spec("distributed") is None:
            raise field.error(
                "type dask runs replicates on a Dask cluster, which needs dask.distributed: "
                "pip install 'crystallize-opt[dask]'"
            )
        return [ParallelExecution(executor_type="dask", client=address)]
    return [ParallelExecution(max_workers=workers, executor_type=kind, start_method=start_method)]


def _wrap(field: Field, make: Callable[[], T]) -> T:
    """Run a package constructor, locating its ConfigurationError at ``field``."""
    try:
        return make()
    except ConfigurationError as exc:
        raise field.error(str(exc)) from exc
