"""An :class:`Artifact`: a file a step writes, and the data another experiment reads from it."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._constants import BASELINE_CONDITION, CONDITION_KEY, REPLICATE_KEY
from .._logging import get_logger
from .._paths import check_name
from ..context import FrozenContext, current_context
from ..pipeline import DataSource
from ..plugins import ArtifactPlugin
from ._stored import locate_stored, stored_replicates

if TYPE_CHECKING:
    from ..experiment import Experiment

_log = get_logger("artifacts")


def default_writer(data: Any) -> bytes:
    """Turn what a step passes to :meth:`Artifact.write` into the bytes stored: bytes as they
    are, a string as UTF-8.

    Raises:
        TypeError: for any other type, naming it (give the Artifact a ``writer``).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    raise TypeError(
        f"the default artifact writer takes bytes or str, got {type(data).__name__}; "
        "pass Artifact(name, writer=...) turning it into bytes"
    )


def default_loader(path: Path) -> bytes:
    """Read a stored artifact back: its bytes."""
    return path.read_bytes()


class _ByValue:
    """A callable pickled by value with cloudpickle; unpickles as the callable itself."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        return (pickle.loads, (self.payload,))


def _portable(fn: Any, artifact: str, role: str) -> Any:
    """``fn`` when pickle stores it by reference; otherwise a :class:`_ByValue` of it."""
    try:
        pickle.dumps(fn)
        return fn
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        try:
            import cloudpickle
        except ImportError:
            raise TypeError(
                f"Artifact {artifact!r}: its {role} {fn!r} cannot be pickled ({error}), which process "
                "execution needs; define it at module level, or install cloudpickle "
                "(pip install 'crystallize-opt[cloudpickle]') to pickle it by value"
            ) from error
        return _ByValue(cloudpickle.dumps(fn))


class Artifact(DataSource):
    """A named output file that steps write; declare it in ``Experiment(outputs=[...])``.

    A step receives the artifact bound to its run as a parameter named like the artifact (its
    file name, or the file name without extension: ``Artifact("model.json")`` is injected as
    ``model`` or ``model.json``), and calls ``write(data)``. The
    :class:`~crystallize_opt.ArtifactPlugin` stores it under the run's replicate, condition and
    step, and lists the path in ``Result.artifacts``.

    An artifact is also a :class:`DataSource`: an experiment whose ``datasource`` is another
    experiment's output artifact (or an :class:`ExperimentInput` holding it) reads what that
    experiment stored (see :meth:`fetch`), and :class:`ExperimentGraph` runs the producer first.

    Args:
        name: the file name: 1 to 255 bytes, without ``/``, ``\\``, control characters or a
            leading ``.``.
        loader: how :meth:`load` and :meth:`fetch` turn a stored path into data (default: the
            raw bytes).
        writer: how :meth:`write` turns a step's value into bytes (default:
            :func:`default_writer`, bytes or str).
    """

    def __init__(
        self,
        name: str,
        loader: Callable[[Path], Any] | None = None,
        writer: Callable[[Any], bytes] | None = None,
    ):
        self._name = check_name(name, "Artifact name")
        self.loader: Callable[[Path], Any] = loader if loader is not None else default_loader
        self.writer: Callable[[Any], bytes] = writer if writer is not None else default_writer
        #: Extra parameter names steps receive it under (a config's output alias).
        self.aliases: tuple[str, ...] = ()
        self._ctx: FrozenContext | None = None
        #: The experiment declaring it in ``outputs`` (set by :class:`Experiment`).
        self._producer: Experiment | None = None
        self._replicates: int | None = None

    @property
    def name(self) -> str:
        """The artifact's file name."""
        return self._name

    @property
    def injection_names(self) -> tuple[str, ...]:
        """The parameter names under which steps receive this artifact."""
        stem = Path(self.name).stem
        names = (self.name,) if stem == self.name else (self.name, stem)
        return names + tuple(a for a in self.aliases if a not in names)

    def bind(self, ctx: FrozenContext) -> Artifact:
        """Return a copy of this artifact that writes into ``ctx``'s run."""
        bound = Artifact(self.name, self.loader, self.writer)
        bound.aliases = self.aliases
        bound._producer = self._producer
        bound._ctx = ctx
        return bound

    def write(self, data: Any) -> None:
        """Queue ``writer(data)`` to be stored as this artifact for the current step.

        The artifact a step receives as a parameter is bound to its run; one the step object
        holds (``MyStep(out=artifact)``, as crystallize-ml's step classes do) writes into the
        run of the step being executed in this thread or task.

        Raises:
            RuntimeError: if the artifact is not bound to a run and no step is running.
            TypeError: if the writer does not return bytes (the default writer takes bytes or str).
            ContextMutationError: if the step already wrote this artifact.
        """
        ctx = self._ctx if self._ctx is not None else current_context()
        if ctx is None:
            raise RuntimeError(
                f"Artifact {self.name!r} is not bound to a run: declare it in Experiment(outputs=[...]) "
                "and write it from a step (as a step parameter, or held by the step object)"
            )
        ctx.artifacts.add(self.name, self.writer(data))

    def __getstate__(self) -> dict[str, Any]:
        """The pickled state, for process execution: a ``loader`` or ``writer`` pickle cannot
        store by reference (a lambda, a local function) is stored by value with cloudpickle
        (crystallize-ml uses dill), when it is installed.

        Raises:
            TypeError: naming the artifact and the callable, when it cannot be pickled and
                cloudpickle is not installed.
        """
        state = dict(self.__dict__)
        for key in ("loader", "writer"):
            state[key] = _portable(state[key], self.name, key)
        return state

    def __deepcopy__(self, memo: dict[int, Any]) -> Artifact:
        # A handle on a run's output, not a value: a copy (e.g. of a context value holding it)
        # must still write into the run it is bound to.
        return self

    def load(self, path: Path) -> Any:
        """Read a stored copy of this artifact with the loader (bytes by default)."""
        return self.loader(path)

    # -- reading what the producer stored --------------------------------------------------

    def _version_dir(self) -> Path:
        producer = self._producer
        if producer is None:
            raise RuntimeError(
                f"Artifact {self.name!r} has no producing experiment: declare it in the outputs of the "
                "experiment that writes it (Experiment(outputs=[...])) before reading it"
            )
        plugin = producer.get_plugin(ArtifactPlugin)
        if plugin is None:
            raise RuntimeError(
                f"Artifact {self.name!r}: experiment {producer.name!r} has no ArtifactPlugin, "
                "so it stores no artifacts to read"
            )
        versions = plugin.existing_versions(producer)
        return plugin.version_dir(producer, versions[-1] if versions else None)

    @property
    def replicates(self) -> int | None:
        """The producer's replicate count in its latest stored run (``metadata.json``), or
        None when it has no producer or has not run yet; a count assigned to it wins."""
        if self._replicates is not None:
            return self._replicates
        if self._producer is None or self._producer.get_plugin(ArtifactPlugin) is None:
            return None
        return stored_replicates(self._version_dir())

    @replicates.setter
    def replicates(self, count: int | None) -> None:
        self._replicates = count

    def fetch(self, ctx: FrozenContext) -> Any:
        """Load the producer's stored copy for ``ctx``'s replicate and condition.

        Reads the producer's latest version: replicate ``replicate % producer's replicates``
        (so a consumer with more replicates cycles through the producer's), condition
        ``ctx["condition"]``; when the producer has no file for that condition, the baseline's
        file is read and a warning logged. The file goes through the loader.

        Raises:
            RuntimeError: if the artifact has no producer, or the producer no ArtifactPlugin.
            FileNotFoundError: naming the folder searched, if the producer stored no such file.
        """
        version_dir = self._version_dir()
        count = stored_replicates(version_dir) or (self._producer.replicates if self._producer else 1)
        replicate = int(ctx.get(REPLICATE_KEY, 0)) % max(1, count)
        condition = str(ctx.get(CONDITION_KEY, BASELINE_CONDITION))
        path = locate_stored(version_dir, replicate, condition, self.name)
        if path is None and condition != BASELINE_CONDITION:
            path = locate_stored(version_dir, replicate, BASELINE_CONDITION, self.name)
            if path is not None:
                # The reference's wording ("... missing ..., falling back to baseline"), which
                # its users match on; the path is where the condition's file would have been.
                missing = path.parent.parent.parent / condition / path.parent.name / path.name
                _log.warning(
                    "artifact %r: %s missing for condition %r, falling back to baseline (%s)",
                    self.name,
                    missing,
                    condition,
                    path,
                )
        if path is None:
            raise FileNotFoundError(
                f"artifact {self.name!r} of condition {condition!r}, replicate {replicate} not found "
                f"below {version_dir} (has experiment "
                f"{self._producer.name if self._producer else '?'!r} run and written it?)"
            )
        return self.load(path)

    def fingerprint(self) -> str:
        producer = self._producer.name if self._producer is not None else ""
        return f"artifact:{producer}:{self.name}"

    def __repr__(self) -> str:
        return f"Artifact({self.name!r})"
