""":class:`ExperimentGraph`: experiments that read each other's artifacts, run in dependency order."""

from __future__ import annotations

import asyncio
import glob
import importlib
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .._logging import get_logger
from ..artifacts import Artifact, ArtifactDataSource
from ..exceptions import ConfigurationError
from ..plugins import ArtifactPlugin
from ..result import Result
from ..treatment import Treatment
from ._experiment import Experiment
from ._graph_links import needed_outputs, ran_anew, sources
from ._lifecycle import stated_replicates
from ._sync import ensure_no_running_loop, run_sync
from ._validation import treatment_list

_log = get_logger("graph")
ProgressCallback = Callable[[str, str], Awaitable[None]]
DEFAULT_GRAPH_NAME = "ExperimentGraph"


class ExperimentGraph:
    """A directed acyclic graph of named experiments, where an experiment reading another's
    output :class:`Artifact` runs after it.

    ``ExperimentGraph(producer, consumer)`` (or :meth:`from_experiments`) infers the edges: an
    experiment whose ``datasource`` is an Artifact, an :class:`ExperimentInput` holding
    Artifacts (its ``required_outputs``), or an ``artifact_datasource`` of another experiment of
    the graph, depends on the experiment declaring that Artifact in its ``outputs`` (the same
    object). :meth:`add_experiment` and :meth:`add_dependency` wire a graph by hand. Independent
    experiments may share a graph (crystallize-ml refuses graphs of several components).

    Args:
        experiments: the experiments, each with a name of its own.
        name: the graph's name (default: the name of its only final experiment, the one no other
            reads from, or ``"ExperimentGraph"``).

    Raises:
        ConfigurationError: (a ``ValueError``) for an experiment without name, two experiments
            of one name, an artifact two experiments declare, an artifact read but produced by
            no experiment of the graph, or a cycle.
    """

    def __init__(self, *experiments: Experiment, name: str | None = None) -> None:
        self._nodes: dict[str, Experiment] = {}
        self._manual: dict[str, list[str]] = {}
        self.name = name
        for experiment in experiments:
            self.add_experiment(experiment)
        if experiments:
            self.order()  # refuses missing producers and cycles now
            if name is None:
                sinks = self.final_experiments()
                self.name = sinks[0] if len(sinks) == 1 else DEFAULT_GRAPH_NAME

    @classmethod
    def from_experiments(cls, experiments: Iterable[Experiment]) -> ExperimentGraph:
        """Return the graph of ``experiments`` with the edges their artifacts imply (see the class)."""
        return cls(*experiments)

    @classmethod
    def from_yaml(cls, config: str | Path) -> ExperimentGraph:
        """Load the graph of a folder experiment and the experiments it reads from.

        ``config`` is an experiment's ``config.yaml`` (or its folder): its ``datasource:``
        references ``"other#artifact"`` are loaded from ``<experiments root>/other/config.yaml``
        (see :func:`find_experiments_root`), recursively, and bound to those experiments' output
        artifacts. A folder without ``config.yaml`` loads every sub-folder holding one.

        Raises:
            ConfigurationError: naming the config file and key, for a config the loader
                refuses, a reference to a missing experiment or to an output it does not
                declare, or a graph this class refuses.
        """
        from ..config import load_experiment_graph

        graph: ExperimentGraph = load_experiment_graph(config, cls)
        return graph

    @classmethod
    def visualize_from_yaml(cls, config: str | Path) -> str:
        """Return (and log at INFO) the edges and the run order of :meth:`from_yaml`'s graph, as text."""
        graph = cls.from_yaml(config)
        lines = ["Dependencies:", *(f"{up} -> {down}" for up, down in graph.edges())]
        lines.append("Execution order: " + " -> ".join(graph.order()))
        text = "\n".join(lines)
        _log.info("%s", text)
        return text

    # -- building --------------------------------------------------------------------------

    def add_experiment(self, experiment: Experiment) -> None:
        """Add ``experiment`` as a node (again adding the same object does nothing).

        Raises:
            ConfigurationError: if it is not an Experiment, has no name, or another experiment
                of the graph has its name.
        """
        if not isinstance(experiment, Experiment):
            raise ConfigurationError(f"ExperimentGraph takes Experiments, got {type(experiment).__name__}")
        if not getattr(experiment, "_named", True):
            raise ConfigurationError(
                "an experiment of an ExperimentGraph needs a name: Experiment(..., name='...')"
            )
        known = self._nodes.get(experiment.name)
        if known is experiment:
            return
        if known is not None:
            raise ConfigurationError(f"ExperimentGraph: two experiments are named {experiment.name!r}")
        self._nodes[experiment.name] = experiment
        self._manual[experiment.name] = []

    def add_dependency(self, downstream: Experiment, upstream: Experiment) -> None:
        """Make ``downstream`` run after ``upstream``.

        Raises:
            ConfigurationError: if either experiment is not in the graph (add it first).
        """
        for experiment in (downstream, upstream):
            if self._nodes.get(getattr(experiment, "name", None) or "") is not experiment:
                raise ConfigurationError(
                    f"experiment {getattr(experiment, 'name', None)!r} is not in the graph: "
                    "call add_experiment() first"
                )
        if upstream.name not in self._manual[downstream.name]:
            self._manual[downstream.name].append(upstream.name)

    # -- structure -------------------------------------------------------------------------

    @property
    def experiments(self) -> dict[str, Experiment]:
        """Name -> experiment, in the order they were added."""
        return dict(self._nodes)

    def parents(self, name: str) -> list[str]:
        """The experiments ``name`` reads from or was made to depend on.

        Raises:
            ConfigurationError: as the class, for an artifact without producer in the graph.
            KeyError: if no experiment of the graph is called ``name``.
        """
        if name not in self._nodes:
            raise KeyError(f"no experiment {name!r} in the graph; it has {sorted(self._nodes)}")
        parents = list(self._manual[name])
        for parent in self._inferred_parents(name):
            if parent not in parents:
                parents.append(parent)
        return parents

    def edges(self) -> list[tuple[str, str]]:
        """The (upstream, downstream) pairs, downstream in the order experiments were added."""
        return [(parent, name) for name in self._nodes for parent in self.parents(name)]

    @property
    def _graph(self) -> Any:
        """The graph as a networkx ``DiGraph`` of names (crystallize-ml's attribute; the graph
        does not use networkx itself, which this needs installed)."""
        graph = importlib.import_module("networkx").DiGraph()
        # One node and one edge at a time: the calls every DiGraph look-alike has (crystallize-ml's
        # own tests replace networkx by a stub that lacks the bulk calls).
        for name in self._nodes:
            graph.add_node(name)
        for parent, child in self.edges():
            graph.add_edge(parent, child)
        return graph

    def final_experiments(self) -> list[str]:
        """The experiments no other experiment of the graph depends on."""
        upstream = {parent for parent, _ in self.edges()}
        return [name for name in self._nodes if name not in upstream]

    def order(self) -> list[str]:
        """The experiments' names in an order where each comes after those it depends on
        (otherwise in the order they were added).

        Raises:
            ConfigurationError: (a ``ValueError``) "Experiment graph contains cycles", naming
                the experiments on or behind a cycle; or as :meth:`parents`.
        """
        self._producers()  # refuses an artifact declared twice
        parents = {name: self.parents(name) for name in self._nodes}
        done: list[str] = []
        placed: set[str] = set()
        while len(done) < len(parents):
            ready = [n for n in parents if n not in placed and all(p in placed for p in parents[n])]
            if not ready:
                stuck = [n for n in parents if n not in placed]
                raise ConfigurationError(f"Experiment graph contains cycles among {stuck}")
            done.extend(ready)
            placed.update(ready)
        return done

    def _producers(self) -> dict[int, str]:
        """id(artifact) -> name of the experiment declaring it."""
        producers: dict[int, str] = {}
        for name, experiment in self._nodes.items():
            for artifact in experiment.outputs:
                other = producers.get(id(artifact))
                if other is not None and other != name:
                    raise ConfigurationError(
                        f"Artifact {artifact.name!r} is produced by multiple experiments: {other!r} and {name!r}"
                    )
                producers[id(artifact)] = name
        return producers

    def _inferred_parents(self, name: str) -> list[str]:
        producers = self._producers()
        parents: list[str] = []
        for source in sources(self._nodes[name].datasource):
            if isinstance(source, Artifact):
                parent = producers.get(id(source))
                if parent is None:
                    raise ConfigurationError(
                        f"Artifact {source.name!r} read by experiment {name!r} has no producing experiment "
                        "in the graph: add the experiment declaring it in outputs=[...]"
                    )
            elif isinstance(source, ArtifactDataSource):
                producer = source.producer
                parent = producer.name if self._nodes.get(producer.name) is producer else None
            else:
                parent = None
            if parent is not None and parent != name and parent not in parents:
                parents.append(parent)
        return parents

    def treatments_for(self, name: str, treatments: list[Treatment] | None = None) -> list[Treatment]:
        """The treatments experiment ``name`` runs in :meth:`run`.

        ``treatments`` given: exactly those. Otherwise every treatment of the experiments it
        depends on (recursively, by name; a later parent's replaces an earlier one's) and its
        own, its own replacing an inherited one of the same name, so a consumer runs on each
        upstream condition's artifacts.
        """
        if treatments is not None:
            return list(treatments)
        merged: dict[str, Treatment] = {}
        for parent in self.parents(name):
            for treatment in self.treatments_for(parent):
                merged[treatment.name] = treatment
        for treatment in self._nodes[name].treatments:
            merged[treatment.name] = treatment
        return list(merged.values())

    # -- running ---------------------------------------------------------------------------

    def run(
        self,
        treatments: list[Treatment] | None = None,
        replicates: int | None = None,
        strategy: str | None = None,
        *,
        max_workers: int = 1,
    ) -> dict[str, Result]:
        """Synchronous wrapper of :meth:`arun` (same arguments and result).

        Raises:
            EventLoopError: inside a running event loop (use ``await graph.arun()``).
        """
        ensure_no_running_loop("run", "arun", "ExperimentGraph", "graph")
        return run_sync(self.arun(treatments, replicates, strategy, max_workers=max_workers))

    async def arun(
        self,
        treatments: list[Treatment] | None = None,
        replicates: int | None = None,
        strategy: str | None = None,
        progress_callback: ProgressCallback | None = None,
        *,
        max_workers: int = 1,
    ) -> dict[str, Result]:
        """Run every experiment after those it depends on; return ``{name: Result}`` in run order.

        Each experiment runs with :meth:`treatments_for` (``treatments`` for all when given)
        and its own hypotheses, and ``replicates`` replicates when given, otherwise the count
        its datasource states (an artifact's producer's, as crystallize-ml's ``Experiment.run``
        does) or its own. ``strategy`` (default: each experiment's ``strategy``) ``"resume"``
        continues each experiment from its stored records (see :meth:`Experiment.arun`), but
        reruns an experiment afresh when an artifact a later experiment reads from it is not
        stored, or when an experiment it depends on ran anything anew. ``progress_callback(status, name)`` is awaited with ``"running"`` before and
        ``"completed"`` after each experiment.

        Args:
            max_workers: experiments of independent branches run at once in this many threads
                (beyond the reference API; default 1, one after the other); experiments sharing a
                plugin object never run at once. Runs are as
                reproducible as serial ones when steps draw from ``ctx.rng``; the global
                ``random``/``numpy.random`` state the default seed function sets is shared
                by the threads.

        Raises:
            ConfigurationError: for a graph the class refuses, ``max_workers`` below 1, or what
                an experiment's run refuses; the first error an experiment's run raised (the
                experiments already running finish first, no further one starts).
        """
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ConfigurationError(f"max_workers must be a positive integer, got {max_workers!r}")
        global_treatments = None if treatments is None else treatment_list(treatments)
        order = self.order()
        plan = {name: self.treatments_for(name, global_treatments) for name in order}
        results: dict[str, Result] = {}
        if max_workers == 1:
            for name in order:
                chosen = self._strategy_for(name, strategy, results)
                results[name] = await self._run_node(name, plan[name], replicates, chosen, progress_callback)
            return results
        loop = asyncio.get_running_loop()
        parents = {name: set(self.parents(name)) for name in order}
        running: dict[asyncio.Future[Result], str] = {}
        failure: BaseException | None = None
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="crystallize-graph") as pool:
            while len(results) < len(order) and (running or failure is None):
                if failure is None:
                    for name in order:
                        started = name in results or name in running.values()
                        # Plugins hold a run's state (the ArtifactPlugin its version): an experiment
                        # sharing a plugin object with a running one waits for it.
                        busy = {id(p) for n in running.values() for p in self._nodes[n].plugins}
                        shares = any(id(p) in busy for p in self._nodes[name].plugins)
                        if not started and not shares and parents[name].issubset(results):
                            if progress_callback is not None:
                                await progress_callback("running", name)
                            chosen = self._strategy_for(name, strategy, results)
                            job = self._node_job(name, plan[name], replicates, chosen)
                            running[loop.run_in_executor(pool, job)] = name
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    if future.exception() is not None:
                        failure = failure or future.exception()
                        continue
                    results[name] = future.result()
                    if progress_callback is not None:
                        await progress_callback("completed", name)
        if failure is not None:
            raise failure
        return {name: results[name] for name in order}

    async def _run_node(
        self,
        name: str,
        treatments: list[Treatment],
        replicates: int | None,
        strategy: str,
        progress_callback: ProgressCallback | None,
    ) -> Result:
        if progress_callback is not None:
            await progress_callback("running", name)
        experiment = self._nodes[name]
        result = await experiment.arun(treatments, None, self._replicates_for(name, replicates), strategy)
        if progress_callback is not None:
            await progress_callback("completed", name)
        return result

    def _node_job(
        self, name: str, treatments: list[Treatment], replicates: int | None, strategy: str
    ) -> Callable[[], Result]:
        experiment = self._nodes[name]
        count = self._replicates_for(name, replicates)
        return lambda: run_sync(experiment.arun(treatments, None, count, strategy))

    def _replicates_for(self, name: str, replicates: int | None) -> int | None:
        if replicates is not None:
            return replicates
        return stated_replicates(self._nodes[name].datasource)

    def _strategy_for(self, name: str, strategy: str | None, done: dict[str, Result]) -> str:
        """``"resume"`` only when asked for, stored, no parent ran anything anew (its artifacts
        may differ from those the stored results read) and every artifact a later experiment
        reads from this one is stored; else ``"rerun"``."""
        experiment = self._nodes[name]
        chosen = strategy or getattr(experiment, "strategy", None) or "rerun"
        if chosen != "resume":
            return chosen
        changed = [p for p in self.parents(name) if p in done and ran_anew(done[p])]
        if changed:
            _log.info("resume: rerunning %s: %s ran anew", name, ", ".join(changed))
            return "rerun"
        plugin = experiment.get_plugin(ArtifactPlugin)
        if plugin is None or not plugin.existing_versions(experiment):
            return "rerun"
        versions = plugin.existing_versions(experiment)
        stored = plugin.version_dir(experiment, versions[-1])
        for needed in needed_outputs(experiment, self._nodes.values()):
            if not any(stored.glob(f"replicate_*/*/*/{glob.escape(needed)}")):
                _log.info(
                    "resume: rerunning %s: %r, which a later experiment reads, is not stored", name, needed
                )
                return "rerun"
        return "resume"

    def __repr__(self) -> str:
        return f"ExperimentGraph(name={self.name!r}, experiments={list(self._nodes)})"
