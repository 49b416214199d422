"""Several named datasources and artifacts as one datasource (:class:`ExperimentInput`)."""

from __future__ import annotations

import inspect
from typing import Any

from ..context import FrozenContext
from ..exceptions import ConfigurationError
from ..pipeline import DataSource
from ._artifact import Artifact


class ExperimentInput(DataSource):
    """Several named datasources and artifacts as one datasource (alias ``MultiArtifactDataSource``).

    ``ExperimentInput(train=producer_artifact, labels=labels_source())``: :meth:`fetch` returns
    ``{"train": ..., "labels": ...}``, each input fetched with the run's context. The
    :class:`Artifact` inputs are the experiment's :attr:`required_outputs`, from which
    :class:`ExperimentGraph` infers which experiments must run first.

    Raises:
        ConfigurationError: (a ``ValueError``) if no input is given, an input is not a
            DataSource or Artifact (naming its alias), or the inputs' replicate counts differ.
    """

    def __init__(self, **inputs: DataSource) -> None:
        if not inputs:
            raise ConfigurationError(
                "ExperimentInput needs at least one input: ExperimentInput(alias=source, ...)"
            )
        for alias, source in inputs.items():
            if not isinstance(source, DataSource):
                raise ConfigurationError(
                    f"ExperimentInput input {alias!r} must be a DataSource or an Artifact, "
                    f"got {type(source).__name__}"
                )
        self._inputs: dict[str, DataSource] = dict(inputs)
        #: The Artifact inputs: outputs of other experiments this one reads.
        self.required_outputs: list[Artifact] = [s for s in inputs.values() if isinstance(s, Artifact)]
        _ = self.replicates  # refuse conflicting counts now

    @property
    def inputs(self) -> dict[str, DataSource]:
        """Alias -> input (a copy of the mapping)."""
        return dict(self._inputs)

    @property
    def replicates(self) -> int | None:
        """The replicate count the inputs agree on (those that state one, e.g. an artifact whose
        producer has run), or None when none states one.

        Raises:
            ConfigurationError: (a ``ValueError``) naming each input's count when they differ.
        """
        counts: dict[str, int] = {}
        for alias, source in self._inputs.items():
            count = getattr(source, "replicates", None)
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                counts[alias] = count
        if len(set(counts.values())) > 1:
            found = ", ".join(f"{alias}={count}" for alias, count in counts.items())
            # "Conflicting replicates": crystallize-ml's wording, which its users match on.
            raise ConfigurationError(
                f"ExperimentInput: Conflicting replicates across inputs: the inputs' replicate counts differ ({found})"
            )
        return next(iter(counts.values()), None)

    @property
    def is_async(self) -> bool:
        """True when an input's ``fetch`` is asynchronous."""
        return any(source.is_async for source in self._inputs.values())

    def fetch(self, ctx: FrozenContext) -> Any:
        """Return ``{alias: input.fetch(ctx)}`` in the order the inputs were given (an awaitable
        of it when an input's ``fetch`` returned an awaitable)."""
        values = {alias: source.fetch(ctx) for alias, source in self._inputs.items()}
        if any(inspect.isawaitable(value) for value in values.values()):
            return _awaited(values)
        return values

    def fingerprint(self) -> str:
        return "input(" + ",".join(f"{a}={s.fingerprint()}" for a, s in self._inputs.items()) + ")"

    def __repr__(self) -> str:
        return f"ExperimentInput({', '.join(f'{a}={s!r}' for a, s in self._inputs.items())})"


async def _awaited(values: dict[str, Any]) -> dict[str, Any]:
    return {alias: await value if inspect.isawaitable(value) else value for alias, value in values.items()}


#: crystallize-ml's earlier name of :class:`ExperimentInput`.
MultiArtifactDataSource = ExperimentInput
