"""Loading an :class:`~crystallize_opt.ExperimentGraph` from experiment folders that refer to each
other's outputs as ``"experiment#artifact"``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .._logging import get_logger
from .._paths import find_experiments_root
from ..artifacts import Artifact, ExperimentInput
from ..exceptions import ConfigFileNotFoundError, ConfigurationError
from ._errors import names_list
from ._inputs import ArtifactReference
from ._loader import CONFIG_FILENAME, load_study

if TYPE_CHECKING:
    from ..experiment import Experiment, ExperimentGraph

_log = get_logger("config")
GraphT = TypeVar("GraphT", bound="ExperimentGraph")


def load_experiment_graph(config: str | Path, graph_cls: type[GraphT]) -> GraphT:
    """The graph of the experiment ``config`` (its ``config.yaml`` or folder) and, recursively,
    of the experiments its references name, or of every experiment folder below ``config``
    when that folder has no ``config.yaml`` itself.

    A reference ``"other#out"`` is looked up in ``<root>/other/config.yaml``, ``root`` being
    :func:`find_experiments_root` of the config, or the folder holding the experiment's folder
    when there is no ``experiments`` folder above it; ``out`` names an output of ``other`` by
    its alias or file name.

    Raises:
        ConfigurationError: naming the config file and key of a reference to a folder without
            ``config.yaml`` or to an output the experiment does not declare; what
            :func:`load_study` or the graph refuses.
    """
    path = Path(config)
    if path.is_dir() and not (path / CONFIG_FILENAME).is_file():
        folders = sorted(p for p in path.iterdir() if (p / CONFIG_FILENAME).is_file())
        if not folders:
            raise ConfigurationError(f"{path}: no experiment folder with a {CONFIG_FILENAME} in this folder")
        loaded = {folder.name: load_study(folder).experiment for folder in folders}
        root = path
    else:
        first = path if path.is_dir() else path.parent
        try:
            root = find_experiments_root(first)
        except FileNotFoundError:
            root = first.resolve().parent
            _log.debug("no experiments folder above %s; looking for references in %s", first, root)
        loaded = {}
        _load(path, first.resolve().name, root, loaded)
    for experiment in loaded.values():
        _bind(experiment, loaded, root)
    return graph_cls(*loaded.values())


def _load(config: Path, key: str, root: Path, loaded: dict[str, Experiment]) -> None:
    experiment = load_study(config).experiment
    loaded[key] = experiment
    for reference in _references(experiment):
        if reference.experiment in loaded:
            continue
        upstream = root / reference.experiment
        if not (upstream / CONFIG_FILENAME).is_file():
            raise reference.field.error(
                f"refers to experiment {reference.experiment!r}, but {upstream} has no {CONFIG_FILENAME}",
                ConfigFileNotFoundError,
            )
        _load(upstream, reference.experiment, root, loaded)


def _references(experiment: Experiment) -> list[ArtifactReference]:
    source = experiment.datasource
    inputs = source.inputs if isinstance(source, ExperimentInput) else {"": source}
    return [value for value in inputs.values() if isinstance(value, ArtifactReference)]


def _bind(experiment: Experiment, loaded: dict[str, Experiment], root: Path) -> None:
    """Replace the references of ``experiment``'s datasource by the referred outputs."""
    source = experiment.datasource
    if not isinstance(source, ExperimentInput) or not _references(experiment):
        return
    inputs = source.inputs
    for alias, value in inputs.items():
        if not isinstance(value, ArtifactReference):
            continue
        upstream = loaded.get(value.experiment)
        if upstream is None:  # a folder loaded as a sibling, referred to by its experiment name
            upstream = next((e for e in loaded.values() if e.name == value.experiment), None)
        if upstream is None:
            raise value.field.error(f"refers to experiment {value.experiment!r}, which is not among {root}'s")
        inputs[alias] = _output(upstream, value)
    experiment.datasource = ExperimentInput(**inputs)


def _output(upstream: Experiment, reference: ArtifactReference) -> Artifact:
    for artifact in upstream.outputs:
        if reference.output in (*artifact.aliases, artifact.name):
            return artifact
    for artifact in upstream.outputs:
        if reference.output in artifact.injection_names:
            return artifact
    declared = [n for a in upstream.outputs for n in (*a.aliases, a.name)]
    raise reference.field.error(
        f"experiment {reference.experiment!r} declares no output {reference.output!r}; "
        f"its outputs: {names_list(declared) if declared else 'none'}"
    )
