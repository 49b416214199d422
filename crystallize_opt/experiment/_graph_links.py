"""What links the experiments of an :class:`ExperimentGraph`: the inputs a datasource reads,
the outputs later experiments read, and whether a run made anything anew."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..artifacts import Artifact, ArtifactDataSource
from ..result import Result
from ._experiment import Experiment


def sources(datasource: Any) -> list[Any]:
    """The datasource itself, or the inputs of an :class:`ExperimentInput`."""
    inputs = getattr(datasource, "_inputs", None)
    if isinstance(inputs, dict):
        return list(inputs.values())
    return [datasource]


def needed_outputs(experiment: Experiment, experiments: Iterable[Experiment]) -> set[str]:
    """File names of ``experiment``'s artifacts that any of ``experiments`` reads (as an
    Artifact input or through ``experiment.artifact_datasource``)."""
    own = {id(a) for a in experiment.outputs}
    needed: set[str] = set()
    for other in experiments:
        for source in sources(other.datasource):
            if isinstance(source, Artifact) and id(source) in own:
                needed.add(source.name)
            elif isinstance(source, ArtifactDataSource) and source.producer is experiment:
                needed.add(source.artifact_name)
    return needed


def ran_anew(result: Result) -> bool:
    """True unless every replicate of every condition of ``result`` was reused from storage."""
    provenance = result.provenance
    reused = provenance.get("reused") or {}
    conditions = 1 + len(result.metrics.treatments)
    expected = int(provenance.get("replicates") or 0) * conditions
    return provenance.get("strategy") != "resume" or sum(len(r) for r in reused.values()) < expected
