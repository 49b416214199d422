"""The Optuna adapter: any sampler, pruner and storage behind the :class:`BaseOptimizer` contract."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import cached_property
from typing import Any

import optuna
from optuna.pruners import BasePruner, NopPruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from ..exceptions import ConfigurationError, OptimizationError
from ..ranking import rank_study
from ..storage import DEFAULT_OUTAGE_TIMEOUT
from ..treatment import Treatment
from ._arguments import check_arguments, check_curve_pruning, check_pruner, check_warm_start
from ._base import BaseOptimizer, OptimizationRun
from ._collaborators import LoopCollaborators
from ._dependencies import check_sampler_dependencies
from ._noise import NoiseHandling, WinnerSelection
from ._objective import Objective
from ._optuna_collaborators import StudyCollaborators, study_collaborators
from ._optuna_session import StudySession
from ._space import SearchSpace, SearchSpaceSpec
from ._study import best_of, treatment_of


class OptunaOptimizer(BaseOptimizer):
    """Optimize treatments with an Optuna study.

    Each trial is one treatment named ``trial-<number>``; its replicates' results go back to
    Optuna as the aggregated objective, and everything else is stored in the trial's user
    attribute ``"crystallize"`` (params, per-replicate values of every metric, seeds, mean,
    std, SEM and n, failures, duration, pipeline signature, package version), readable with
    plain ``optuna.load_study``. The study's settings are in its user attribute
    ``"crystallize"``.

    A study that already exists in ``storage`` is continued: ``num_trials`` is its target of
    finished (complete or pruned) trials, so a rerun after a crash runs only the missing ones,
    and with a seeded sampler it runs the trials an uninterrupted run would have (see
    ``sampler``). Continuing a study whose objective or search space differs is refused.

    Args:
        search_space: a dict of parameter name -> Optuna distribution (or a constant), or a
            callable ``space(trial) -> dict`` for conditional spaces.
        objective: the metric(s) to optimize.
        sampler: any Optuna sampler; default ``TPESampler(seed=<experiment master seed>)``;
            with noise handling, a fixed search space and PyTorch installed, Optuna's
            ``GPSampler`` (then TPE after 500 finished trials) where the space has a
            categorical parameter or the pipeline is deterministic (see ``NoiseHandling`` and
            ``default_sampler``). A seeded sampler (the default, or an Optuna sampler
            made with ``seed=``) is reseeded before each trial it proposes from its seed and the
            number of trials it proposed that the study holds as run, so a study interrupted
            at any point and continued proposes the same trials as one run straight through
            (a sampler made without a seed stays random; one whose generators are not found,
            such as another package's, is used as it is). In each process of several workers
            the sampler, default or given, is reseeded from the system's entropy instead:
            workers seeded alike would propose the same parameters.
        pruner: any Optuna pruner; when given, the trial stops early when the pruner says so
            (it is then stored as PRUNED, its record saying where and why: the trial record's
            ``pruned``). What the pruner sees: the learning curves the steps report
            (``ctx.report(value, step)``, see ``curve_pruning``), so a trial can stop in the
            middle of a replicate's training; for a pipeline that reports none, each replicate's
            objective value (step = replicate index), so it stops between replicates.
        curve_pruning: how replicates and learning-curve steps combine for the pruner (with a
            pruner; default ``"pooled"``). Replicate ``r``'s step
            ``e`` is Optuna step ``r * E + e``, ``E`` the steps per replicate (learned from the
            first replicate, stored with the study), so the pruner compares trials at the same
            replicate and step, and successive-halving and Hyperband budgets count the steps
            (epochs) a trial trained. ``"paired"``: the value reported there is the replicate's
            own (with common random numbers, replicate ``r`` of every trial runs on one seed);
            ``"pooled"``: the trial's mean at step ``e`` over its replicates so far. ``"off"``:
            the curves are only recorded; the pruner sees one value per replicate. Refused
            without a pruner. With noise handling, the search trials are pruned on their
            curves and the winner is still chosen from complete replicates only, confirmed on
            fresh seeds that run to the end (see :class:`NoiseHandling`). Goes beyond the
            reference API.
        storage: an Optuna storage URL or object; default ``"sqlite:///crystallize-studies.db"``
            in the working directory; ``":memory:"`` for an in-memory study.
        study_name: default: the experiment's name.
        warm_start: treatments to evaluate first (enqueued once; skipped if already in the study).
        run_baseline: also evaluate the baseline once per study, on the same seeds, as reference.
        common_random_numbers: replicate ``r`` of every trial uses the same seed (default); when
            False, seeds are independent per trial.
        heartbeat_interval: seconds between heartbeats of a running trial (shared storages only).
        grace_period: a RUNNING trial without heartbeat for this long is failed as stale (its
            worker died) by whichever worker notices, and its parameters are queued again. A
            trial whose process is certainly gone from this host (killed, crashed) is failed
            and retried at once, by the next process that looks (another worker, or a rerun),
            and so is the study's winner-selection lease of such a process taken over. Default
            (None): 60 s, or two heartbeat intervals when that is longer; it must be longer
            than ``heartbeat_interval``.
        max_retries: how many times the parameters of a stale trial (or of one that the parent
            of ``workers=N`` failed as interrupted) are queued again.
        poll_interval: seconds a worker waits before looking again when the target is only
            reachable through other workers' running trials.
        outage_timeout: seconds to wait, from the first failure, for a SQLite or server
            database that stops answering (a restart, a failover, a network cut) or stays
            locked; the run goes on when it is back, and raises :class:`StorageError` after
            that. A full disk or a damaged database file raises at once. A server that cannot
            be reached when the run starts is reported after 15 s, or after this when shorter.
            Goes beyond the reference API.
        noise: noise-aware optimization (``True`` or a :class:`NoiseHandling` with settings):
            ``num_trials * replicates_per_trial`` becomes a budget of pipeline executions;
            search trials run on shared seeds (one replicate each by default; racing and
            intensification are opt-in), and the winner is chosen by a model of the response, confirmed on
            fresh seeds and tested against the baseline on held-out seeds (see
            :class:`NoiseHandling`; the result is :attr:`selection`). With a pruner, the pruner
            decides when a search trial stops instead of the racing rule: on the learning
            curves the steps report (``curve_pruning``), else between replicates. Goes beyond
            the reference API.

    Raises:
        ConfigurationError: for an invalid search space, sampler, pruner or storage, a sampler
            whose optional package is not installed (``torch`` for ``GPSampler``, ``cmaes`` for
            ``CmaEsSampler``), or noise handling with an objective it does not support (several
            metrics, constraints, an aggregate other than the mean, independent seeds), a
            single-objective sampler (``CmaEsSampler``) or any pruner with several objectives, an
            empty ``study_name``, intervals and timeouts that are not positive, finite numbers of
            seconds, or a grace period not longer than the heartbeat interval (see
            ``optimize._arguments.check_arguments``, the one check of these settings).
    """

    def __init__(
        self,
        search_space: SearchSpaceSpec,
        objective: Objective,
        sampler: BaseSampler | None = None,
        pruner: BasePruner | None = None,
        storage: str | BaseStorage | None = None,
        study_name: str | None = None,
        *,
        warm_start: Iterable[Treatment] = (),
        run_baseline: bool = False,
        common_random_numbers: bool = True,
        heartbeat_interval: float = 10.0,
        grace_period: float | None = None,
        max_retries: int = 1,
        poll_interval: float = 0.5,
        outage_timeout: float = DEFAULT_OUTAGE_TIMEOUT,
        noise: NoiseHandling | bool | None = None,
        curve_pruning: str | None = None,
    ):
        super().__init__(objective)
        checked = check_arguments(
            objective,
            sampler=sampler,
            pruner=pruner,
            study_name=study_name,
            run_baseline=run_baseline,
            common_random_numbers=common_random_numbers,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            max_retries=max_retries,
            poll_interval=poll_interval,
            outage_timeout=outage_timeout,
            noise=noise,
            curve_pruning=curve_pruning,
        )
        # Not a setting but this machine: a study config loads (for ``best``, ``report``)
        # without the sampler's optional package, and only an optimizer needs it.
        check_sampler_dependencies(sampler)
        self.heartbeat_interval = checked.heartbeat_interval
        self.grace_period = checked.grace_period
        self.max_retries = checked.max_retries
        self.poll_interval = checked.poll_interval
        self.outage_timeout = checked.outage_timeout
        self.space = SearchSpace(search_space)
        self.pruner = pruner
        self._constructor_pruner = pruner
        self.run_baseline = checked.run_baseline
        self.common_random_numbers = checked.common_random_numbers
        self.noise = checked.noise
        # The study and the state of the run it serves (storage, sampler, pending trials, noise
        # search, selection, target) live in the session, which the collaborators are given.
        self._session = StudySession(
            storage, checked, sampler=sampler, pruner=pruner, objective=objective, space=self.space
        )
        self._arguments = checked  # the collaborators' settings (built again in a worker)
        self.enqueue(warm_start)

    # -- the study ---------------------------------------------------------------------------

    @property
    def storage(self) -> BaseStorage:
        """The Optuna storage the study is kept in."""
        return self._session.storage

    @property
    def storage_url(self) -> str | None:
        """The storage's URL (None for a storage object): worker processes reopen it from there."""
        return self._session.storage_url

    @property
    def study_name(self) -> str | None:
        """The study's name (None until :meth:`prepare` names it after the experiment)."""
        return self._session.study_name

    @study_name.setter
    def study_name(self, name: str | None) -> None:
        self._session.study_name = name

    @property
    def sampler(self) -> BaseSampler | None:
        """The study's sampler (None until :meth:`prepare` builds the default one)."""
        return self._session.sampler

    @sampler.setter
    def sampler(self, sampler: BaseSampler | None) -> None:
        self._session.sampler = sampler

    @property
    def study(self) -> optuna.Study:
        """The :class:`optuna.Study` (created or loaded on first use).

        Its sampler is set by :meth:`prepare` when none was given (the default is seeded with the
        experiment's master seed), so reading the study earlier changes nothing the search does.
        """
        return self._session.study

    def prepare(self, run: OptimizationRun) -> None:
        """Create or continue the study and check that a continued study is compatible.

        Raises:
            ConfigurationError: if the stored study's objective or search space differs (the
                message lists each difference), or the study was not made by crystallize-opt
                and already has trials.
        """
        self._session.open(run)

    def enqueue(self, treatments: Treatment | Iterable[Treatment]) -> None:
        """Evaluate these treatments first (warm start); each is enqueued once per study.

        Raises:
            ConfigurationError: if a treatment is callable or sets a parameter outside a dict
                search space.
        """
        self._session.enqueue(check_warm_start(treatments, self.space.names))

    def finished_trials(self) -> int:
        """Number of complete or pruned trials in the study."""
        return self._parts.schedule.finished_count()

    def execution_progress(self) -> tuple[float, int] | None:
        """With noise handling, ``(spent, budget)`` pipeline executions of the study: every
        worker's search executions and, once a winner is chosen for them, its confirmation and
        held-out runs (see :meth:`NoiseSearch.progress`); None without noise handling (or before
        :meth:`prepare`). Reads the study's trials (the progress bar of ``workers=N`` polls it)."""
        search = self._session.noise_search
        if search is None:
            return None
        search.sync(self.study)
        return search.progress(self.study)

    def __getstate__(self) -> dict[str, Any]:
        """Worker processes rebuild the storage from its URL and open the study themselves (see
        :class:`StudySession`); the collaborators, which hold the storage, are built again."""
        return {key: value for key, value in self.__dict__.items() if key != "_parts"}

    @cached_property
    def _parts(self) -> StudyCollaborators:
        """The loop's collaborators, built on the session and its storage on first use."""
        return study_collaborators(
            self._session,
            self.objective,
            self._arguments,
            reports_to_pruner=self.reports_to_pruner,
            pruner=self.pruner,
        )

    def loop_collaborators(self) -> LoopCollaborators:
        """What the optimization loop uses beside ask/tell (see ``_collaborators``): the study's
        target of finished trials (:class:`StudySchedule`), replicates reported to the pruner or
        the racing rule (:class:`StudyReplicatePlan`), trials and the baseline stored in the study
        (:class:`StudyRecorder`, :class:`StudyBaseline`), and the winner of a noise-aware search
        chosen once per study (:class:`StudyFinalizer`); each is given the optimizer's
        :class:`StudySession` and the settings it needs."""
        return self._parts

    def end_run(self) -> None:
        """Checkpoint a SQLite storage's write-ahead log into its database file (see
        :meth:`StudyFinalizer.end_run`; ``Experiment.optimize`` calls it however it ends)."""
        self._parts.finalizer.end_run()

    @property
    def curve_pruning(self) -> str | None:
        """The curve-pruning mode in effect: ``"paired"``, ``"pooled"`` or ``"off"`` with a
        pruner, else None (see ``curve_pruning`` in the class docstring)."""
        return self._arguments.curve_pruning

    def use_pruner(self, pruner: BasePruner | None, curve_pruning: str | None = None) -> None:
        """Set the pruner and the curve-pruning mode (what ``Experiment.optimize(pruner=...,
        curve_pruning=...)`` does), as if given to the constructor. Beyond the reference API.

        A pruner set this way replaces the one an earlier call set (a loop calling
        ``optimize(optimizer, ..., pruner=SomePruner())`` to extend a study is fine).

        Raises:
            ConfigurationError: as the constructor, for a pruner that is not an Optuna pruner or
                with several objectives, and for ``curve_pruning``; for a pruner other than the
                one given to the constructor.
        """
        checked = check_pruner(self.objective, pruner)
        given = self._constructor_pruner
        if given is not None and checked is not None and checked is not given:
            raise ConfigurationError(
                f"a pruner was given twice: {type(checked).__name__} to optimize() and "
                f"{type(given).__name__} to OptunaOptimizer; give it in one place"
            )
        mode = check_curve_pruning(curve_pruning, checked)
        self.pruner = checked
        self._arguments = replace(self._arguments, curve_pruning=mode)
        self._session.use_pruner(checked, mode)
        self.__dict__.pop("_parts", None)  # built again with the new pruner

    # -- ask and tell ------------------------------------------------------------------------

    def ask(self) -> list[Treatment]:
        """Create one trial and return its treatment ``trial-<number>``.

        Near the target of a shared study, two workers may ask at the same moment for the last
        missing trial; the one whose trial got the higher number gives it up (stored as FAIL,
        "not needed"), so the study ends with exactly its target of finished trials. With noise
        handling on a shared study, a trial whose worker finds, once the trial is in the study,
        that other workers' trials have spent the search budget is given up the same way (see
        :meth:`StudySchedule.give_up_if_surplus`). Returns an empty list then.
        """
        if self.sampler is None:
            raise OptimizationError(
                "the default sampler is seeded from the experiment in prepare(): run Experiment.optimize, "
                "or pass sampler= to OptunaOptimizer to ask before"
            )
        trial, params = self._session.ask(self.space)
        if self._parts.schedule.give_up_if_surplus(trial):
            self._session.given_up(trial)
            return []
        treatment = Treatment(f"trial-{trial.number}", params)
        self._session.pending[treatment.name] = trial
        return [treatment]

    @property
    def reports_to_pruner(self) -> bool:
        """True when a pruner (other than Optuna's NopPruner) decides whether a trial stops early."""
        return self.pruner is not None and not isinstance(self.pruner, NopPruner)

    def tell(self, objective_values: dict[str, float]) -> None:
        """Finish the oldest pending trial with these aggregated values (for manual ask/tell use)."""
        pending = self._session.pending
        if not pending:
            raise OptimizationError("tell() called without a pending trial; call ask() first")
        self._parts.recorder.finish(next(iter(pending)), objective_values, {}, failure=None, pruned=False)

    # -- results -----------------------------------------------------------------------------

    def treatment_for_trial(self, trial: FrozenTrial | int) -> Treatment:
        """Return the Treatment a stored trial evaluated (named ``trial-<number>``)."""
        return treatment_of(trial if isinstance(trial, FrozenTrial) else self.study.trials[trial])

    @property
    def selection(self) -> WinnerSelection | None:
        """How a noise-aware optimization chose its winner (None without noise handling, or
        before the search ended); read from the study when it was made by an earlier run."""
        return self._session.selection

    def get_best_treatment(self) -> Treatment:
        """The study's best treatment, as every surface shows it
        (:func:`crystallize_opt.ranking.study_best`): with noise handling, the selected winner
        (see :attr:`selection`); else the best trial's.

        Single objective: the best feasible trial. Multi-objective: among the feasible
        Pareto-optimal trials, each objective is scaled to [0, 1] over the Pareto set (0 best)
        and the trial closest to the ideal point (all zeros) wins; ties go to the earlier trial.
        This is the first trial of the ranking that ``crystallize-opt trials --top`` and the
        report's top-trials table show (``crystallize_opt.ranking``), and what
        ``crystallize-opt best`` prints.

        Raises:
            OptimizationError: quoting the first failures, when no trial completed feasibly.
        """
        return best_of(self.study, self.selection).treatment

    def pareto_treatments(self) -> list[Treatment]:
        """Every feasible Pareto-optimal trial's treatment, by trial number."""
        front = [r.trial for r in rank_study(self.study) if r.feasible and r.front == 0]
        return [self.treatment_for_trial(t) for t in sorted(front, key=lambda t: t.number)]
