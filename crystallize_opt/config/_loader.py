"""``load_study``: a study folder's ``config.yaml`` -> an Experiment and its optimization settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._checks import boolean_expected, replicates_expected, seed_expected
from .._constants import DEFAULT_MASTER_SEED
from ..exceptions import ConfigFileNotFoundError, ConfigurationError
from ..pipeline import Pipeline
from ..plugins import BasePlugin, SeedPlugin
from ._artifact_args import check_outputs_taken
from ._build import (
    StudyFiles,
    build_execution,
    build_hypotheses,
    build_outputs,
    build_steps,
    build_treatments,
    context_values,
)
from ._errors import config_error, describe
from ._inputs import build_datasource_section, build_output_mapping
from ._optimize_section import OptimizeConfig, parse_optimize
from ._report_section import ReportConfig, parse_report
from ._schema import Field
from ._yaml import read_yaml

if TYPE_CHECKING:
    from ..experiment import Experiment

CONFIG_FILENAME = "config.yaml"
TOP_LEVEL_KEYS = (
    "name",
    "description",
    "replicates",
    "seed",
    "deterministic",
    "datasource",
    "steps",
    "treatments",
    "hypotheses",
    "outputs",
    "initial_ctx",
    "execution",
    "optimize",
    "report",
    "cli",
)
#: crystallize-ml's ``cli:`` section (its terminal UI's display settings): checked, not used.
CLI_KEYS = ("group", "priority", "icon", "color", "hidden")


@dataclass(frozen=True)
class StudyConfig:
    """A loaded study.

    Attributes:
        path: the absolute path of the config file.
        folder: the absolute path of the study folder (the config file's folder).
        experiment: the Experiment the config describes.
        optimize: the ``optimize:`` section, or None when the config has none.
        report: the ``report:`` section (its defaults when the config has none).
    """

    path: Path
    folder: Path
    experiment: Experiment
    optimize: OptimizeConfig | None
    report: ReportConfig = dataclasses.field(default_factory=ReportConfig)


def _config_file(path: str | Path) -> tuple[Path, str]:
    """The config file for ``path`` (a folder or a file) and how messages name it."""
    given = Path(path)
    if given.is_dir():
        config = given / CONFIG_FILENAME
        if not config.is_file():
            others = sorted(p.name for p in given.iterdir() if p.suffix in (".yaml", ".yml"))
            found = f"; it has {', '.join(others)}" if others else ""
            raise ConfigFileNotFoundError(f"{given}: no {CONFIG_FILENAME} in this study folder{found}")
        return config, str(config)
    if not given.is_file():
        raise ConfigFileNotFoundError(f"{given}: no such study folder or config file")
    return given, str(given)


def load_study(path: str | Path, experiment_cls: type[Experiment] | None = None) -> StudyConfig:
    """Load the study in folder ``path`` (or from the config file ``path``).

    The study's ``datasources.py``, ``steps.py``, ``verifiers.py`` and ``outputs.py`` are
    imported from the folder when the config refers to them. See the package documentation
    for the config schema.

    Args:
        path: the study folder (holding ``config.yaml``) or a YAML config file.
        experiment_cls: the class to build (default :class:`~crystallize_opt.Experiment`); it is
            called with the Experiment constructor's keyword arguments.

    Raises:
        ConfigurationError: one per problem, naming the file, the key path, what was found and
            what is allowed; wrapping (as its cause) an exception raised while a study file was
            imported or a user factory was called.
    """
    config, source = _config_file(path)
    folder = config.resolve().parent
    raw = read_yaml(config, source)
    root = Field(raw, "", source)
    if raw is None:
        raise root.error("is empty; a study config needs at least 'datasource' and 'steps'")
    values = root.mapping(TOP_LEVEL_KEYS, required=("datasource", "steps"))
    files = StudyFiles(folder, Path(source).parent)
    get = root.child
    seed_field = get("seed")
    seed = DEFAULT_MASTER_SEED if seed_field is None else seed_field.check(seed_expected)
    name_field, description_field, replicates_field = get("name"), get("description"), get("replicates")
    treatments_field, hypotheses_field, outputs_field = get("treatments"), get("hypotheses"), get("outputs")
    context_field, execution_field = get("initial_ctx"), get("execution")
    kwargs: dict[str, Any] = {
        "name": folder.name if name_field is None else name_field.file_name(),
        "description": None if description_field is None else _text(description_field),
        "replicates": 1 if replicates_field is None else replicates_field.check(replicates_expected),
        "initial_ctx": {} if context_field is None else context_values(context_field, "initial_ctx"),
        "treatments": [] if treatments_field is None else build_treatments(treatments_field),
    }
    cli_field = get("cli")
    if cli_field is not None:
        cli_field.mapping(CLI_KEYS)
    deterministic_field = get("deterministic")
    deterministic = deterministic_field is not None and deterministic_field.check(boolean_expected)
    plugins: list[BasePlugin] = (
        []
        if seed_field is None and not deterministic
        else [SeedPlugin(seed=seed, deterministic=deterministic)]
    )
    if execution_field is not None:
        plugins += build_execution(execution_field)
    kwargs["datasource"] = build_datasource_section(root.at("datasource", values["datasource"]), files)
    kwargs["outputs"] = (
        []
        if outputs_field is None
        else build_output_mapping(outputs_field, files)
        if isinstance(outputs_field.value, dict)
        else build_outputs(outputs_field, files)
    )
    used: set[int] = set()
    steps = build_steps(root.at("steps", values["steps"]), files, kwargs["outputs"], used)
    if outputs_field is not None:
        check_outputs_taken(outputs_field, kwargs["outputs"], used)
    kwargs["pipeline"] = Pipeline(steps)
    kwargs["hypotheses"] = [] if hypotheses_field is None else build_hypotheses(hypotheses_field, files)
    optimize_field = get("optimize")
    optimize = None
    if optimize_field is not None:
        treatments = {t.name: t for t in kwargs["treatments"]}
        optimize = parse_optimize(optimize_field, folder, seed, treatments)
    report_field = get("report")
    report = ReportConfig() if report_field is None else parse_report(report_field)
    if experiment_cls is None:
        from ..experiment import Experiment

        experiment_cls = Experiment
    try:
        experiment = experiment_cls(plugins=plugins, **kwargs)
    except ConfigurationError as exc:
        raise config_error(source, "", str(exc)) from exc
    return StudyConfig(
        path=config.resolve(), folder=folder, experiment=experiment, optimize=optimize, report=report
    )


def _text(field: Field) -> str:
    if not isinstance(field.value, str):
        raise field.error(f"expected a string, got {describe(field.value)}")
    return field.value
