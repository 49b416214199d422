"""crystallize-ml's config forms for what an experiment reads and writes: the ``datasource:``
alias mapping (with ``"experiment#artifact"`` references) and the ``outputs:`` mapping."""

from __future__ import annotations

from functools import partial
from typing import Any

from .._paths import NAME_RULE, name_problem
from ..artifacts import Artifact, ExperimentInput
from ..pipeline import DataSource
from ._build import StudyFiles, _wrap, build_datasource
from ._errors import describe
from ._schema import Field

OUTPUT_KEYS = ("file_name", "loader", "writer")
_FORMS = (
    "a datasource name, {name: {arguments}}, or an alias mapping {alias: datasource name or "
    "'experiment#artifact'} (also as a list of one-key mappings)"
)


class ArtifactReference(Artifact):
    """The artifact ``output`` of the experiment in folder ``experiment``, named in a config's
    ``datasource:`` as ``"experiment#output"``; :meth:`ExperimentGraph.from_yaml` replaces it
    with that experiment's own output artifact."""

    def __init__(self, experiment: str, output: str, field: Field):
        super().__init__(output)
        self.experiment = experiment
        self.output = output
        self.field = field

    def fetch(self, ctx: Any) -> Any:
        raise RuntimeError(
            f"{self.field.source}: {self.field.path}: {self.experiment}#{self.output} is a reference to another "
            "experiment's output: load the experiments with ExperimentGraph.from_yaml(...) to read it"
        )

    def fingerprint(self) -> str:
        return f"reference:{self.experiment}#{self.output}"


def build_datasource_section(field: Field, files: StudyFiles) -> DataSource:
    """The ``datasource:`` section in any of its forms (see the package documentation).

    ``name`` and ``{name: {arguments}}`` (a one-key mapping whose value is a mapping or null)
    build one datasource; a mapping of aliases to strings (or a list of one-key such mappings)
    is crystallize-ml's form: one plain alias gives that datasource, several aliases or any
    ``"experiment#artifact"`` reference an :class:`ExperimentInput`.
    """
    value = field.value
    if isinstance(value, str):
        return build_datasource(field, files)
    if isinstance(value, list):
        return _aliases(field, _merged(field), files)
    if not isinstance(value, dict) or not value:
        raise field.error(f"expected {_FORMS}, got {describe(value)}")
    if len(value) == 1 and (
        next(iter(value.values())) is None or isinstance(next(iter(value.values())), dict)
    ):
        return build_datasource(field, files)
    return _aliases(field, field.items(), files)


def _merged(field: Field) -> list[tuple[str, Field]]:
    items: list[tuple[str, Field]] = []
    for entry in field.sequence():
        if not isinstance(entry.value, dict) or len(entry.value) != 1:
            raise entry.error(
                f"expected a mapping with one key {{alias: datasource}}, got {describe(entry.value)}"
            )
        alias, target = entry.single_key("datasource alias")
        if any(alias == known for known, _ in items):
            raise target.error(f"repeats alias {alias!r}; give each alias once")
        items.append((alias, target))
    if not items:
        raise field.error(f"expected {_FORMS}, got an empty list")
    return items


def _aliases(field: Field, items: list[tuple[str, Field]], files: StudyFiles) -> DataSource:
    inputs: dict[str, DataSource] = {}
    references = False
    for alias, target in items:
        if not isinstance(target.value, str) or not target.value:
            raise target.error(
                f"expected a datasource name or 'experiment#artifact', got {describe(target.value)}"
            )
        if "#" in target.value:
            inputs[alias] = _reference(target)
            references = True
        else:
            inputs[alias] = build_datasource(target, files)
    if len(inputs) == 1 and not references:
        return next(iter(inputs.values()))
    return _wrap(field, partial(ExperimentInput, **inputs))


def _reference(target: Field) -> ArtifactReference:
    experiment, _, output = str(target.value).partition("#")
    for part, what in ((experiment, "experiment"), (output, "artifact")):
        problem = name_problem(part) if part else "is empty"
        if problem is not None or "#" in part:
            raise target.error(
                f"expected 'experiment#artifact' (one '#', each part {NAME_RULE}), "
                f"got {describe(target.value)}: the {what} {problem or 'contains #'}"
            )
    return ArtifactReference(experiment, output, target)


def build_output_mapping(field: Field, files: StudyFiles) -> list[Artifact]:
    """``outputs: {alias: {file_name, loader, writer}}`` (each optional; null: all defaults):
    an Artifact named ``file_name`` (default: the alias), which steps also receive as a
    parameter named like the alias; ``loader`` and ``writer`` are functions in ``outputs.py``."""
    outputs: list[Artifact] = []
    for alias, entry in field.items():
        entry.mapping(OUTPUT_KEYS)
        name_field = entry.child("file_name")
        file_name = alias if name_field is None else name_field.file_name()
        functions: dict[str, Any] = {}
        for key in ("loader", "writer"):
            key_field = entry.child(key)
            if key_field is None:
                continue
            function_name = key_field.string()
            function = files.lookup("outputs", function_name, key_field, f"{key} function")
            if not callable(function):
                raise key_field.error(
                    f"{function_name!r} in {files.display('outputs')} is {describe(function)}, not a function"
                )
            functions[key] = function
        if any(a.name == file_name for a in outputs):
            raise entry.error(f"repeats output file {file_name!r}; give each output once")
        artifact = _wrap(name_field or entry, partial(Artifact, file_name, **functions))
        artifact.aliases = (alias,)
        outputs.append(artifact)
    return outputs
