"""The Optuna adapter: any sampler, pruner and storage behind the :class:`BaseOptimizer` contract."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import optuna
from optuna.pruners import BasePruner, NopPruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from .._logging import get_logger
from ..exceptions import ConfigurationError, OptimizationError
from ..ranking import rank_study
from ..records import TrialRecord
from ..storage import DEFAULT_OUTAGE_TIMEOUT, DEFAULT_STORAGE, resolve_storage
from ..treatment import Treatment
from ._arguments import check_arguments, check_warm_start
from ._base import BaseOptimizer, OptimizationRun
from ._collaborators import LoopCollaborators
from ._dependencies import check_sampler_dependencies
from ._noise import (
    NoiseAwareTPE,
    NoiseHandling,
    NoiseSearch,
    WinnerSelection,
    default_sampler,
    stored_selection,
)
from ._objective import Objective
from ._optuna_finalize import StudyFinalizer
from ._optuna_plan import StudyReplicatePlan
from ._optuna_recorder import StudyBaseline, StudyRecorder
from ._optuna_schedule import StudySchedule
from ._space import SearchSpace, SearchSpaceSpec
from ._study import (
    best_trial,
    open_study,
    store_or_check_settings,
    study_settings,
    treatment_of,
)
from ._target import TrialTarget, count_finished

_log = get_logger("optimize")


class OptunaOptimizer(BaseOptimizer):
    """Optimize treatments with an Optuna study.

    Each trial is one treatment named ``trial-<number>``; its replicates' results go back to
    Optuna as the aggregated objective, and everything else is stored in the trial's user
    attribute ``"crystallize"`` (params, per-replicate values of every metric, seeds, mean,
    std, SEM and n, failures, duration, pipeline signature, package version), readable with
    plain ``optuna.load_study``. The study's settings are in its user attribute
    ``"crystallize"``.

    A study that already exists in ``storage`` is continued: ``num_trials`` is its target of
    finished (complete or pruned) trials, so a rerun after a crash runs only the missing ones.
    Continuing a study whose objective or search space differs is refused.

    Args:
        search_space: a dict of parameter name -> Optuna distribution (or a constant), or a
            callable ``space(trial) -> dict`` for conditional spaces.
        objective: the metric(s) to optimize.
        sampler: any Optuna sampler; default ``TPESampler(seed=<experiment master seed>)``,
            and with noise handling the same TPE until the pipeline shows noise, univariate TPE
            after (see ``NoiseHandling``). In each process of several workers the default is
            reseeded from the system's entropy, like a given sampler: workers seeded alike
            would propose the same parameters.
        pruner: any Optuna pruner; when given, each replicate's value is reported as an
            intermediate value (step = replicate index) and the trial stops early when the
            pruner says so (it is then stored as PRUNED).
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
            that. A full disk or a damaged database file raises at once. Goes beyond the
            reference API.
        noise: noise-aware optimization (``True`` or a :class:`NoiseHandling` with settings):
            ``num_trials * replicates_per_trial`` becomes a budget of pipeline executions;
            trials race on shared seeds and stop early when clearly worse, the incumbent earns
            more replicates, and the winner is chosen by a model of the response, confirmed on
            fresh seeds and tested against the baseline on held-out seeds (see
            :class:`NoiseHandling`; the result is :attr:`selection`). With a pruner, the pruner
            decides when a trial stops instead of the racing rule. Goes beyond the reference API.

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
        )
        # Not a setting but this machine: a study config loads (for ``best``, ``report``)
        # without the sampler's optional package, and only an optimizer needs it.
        check_sampler_dependencies(sampler)
        self.heartbeat_interval = checked.heartbeat_interval
        self.grace_period = checked.grace_period
        self.max_retries = checked.max_retries
        self.poll_interval = checked.poll_interval
        self.outage_timeout = checked.outage_timeout
        self._target = TrialTarget(self.poll_interval, self.grace_period, self.max_retries)
        self.space = SearchSpace(search_space)
        self.sampler = sampler
        self.pruner = pruner
        # Worker processes reopen the storage from its URL: the default is a URL too.
        self.storage_url = (
            DEFAULT_STORAGE if storage is None else storage if isinstance(storage, str) else None
        )
        self.storage = resolve_storage(storage, outage_timeout=self.outage_timeout)
        self.study_name = checked.study_name
        self.run_baseline = checked.run_baseline
        self.common_random_numbers = checked.common_random_numbers
        self.noise = checked.noise
        self._noise_search: NoiseSearch | None = None
        self._selection: WinnerSelection | None = None
        self._warm_start: list[Treatment] = []
        self._study: optuna.Study | None = None
        self._pending: dict[str, optuna.Trial] = {}
        self._run: OptimizationRun | None = None
        self._exhausted = False
        # The loop's collaborators, each one concept in its own module; they read this
        # optimizer's state (its study, pending trials, target, noise search) and hold none.
        self._recorder = StudyRecorder(self)
        self._schedule = StudySchedule(self)
        self._parts = LoopCollaborators(
            schedule=self._schedule,
            recorder=self._recorder,
            plan=StudyReplicatePlan(self),
            baseline=StudyBaseline(self),
            finalizer=StudyFinalizer(self),
        )
        self.enqueue(warm_start)

    # -- the study ---------------------------------------------------------------------------

    @property
    def study(self) -> optuna.Study:
        """The :class:`optuna.Study` (created or loaded on first use).

        Its sampler is set by :meth:`prepare` when none was given (the default is seeded with the
        experiment's master seed), so reading the study earlier changes nothing the search does.
        """
        if self._study is None:
            if self.study_name is None:
                raise OptimizationError(
                    "the study is opened by Experiment.optimize (it is named after the experiment); "
                    "pass study_name= to OptunaOptimizer to open it before"
                )
            # Before prepare() the default sampler is not built yet (it is seeded from the
            # experiment, see _configure_sampler): the study is open for reading, with Optuna's
            # sampler until then, and ask() refuses to propose.
            self._study = open_study(
                self.study_name, self.storage, self.sampler, self.pruner, self.objective.directions
            )
        return self._study

    def prepare(self, run: OptimizationRun) -> None:
        """Create or continue the study and check that a continued study is compatible.

        Raises:
            ConfigurationError: if the stored study's objective or search space differs (the
                message lists each difference), or the study was not made by crystallize-opt
                and already has trials.
        """
        self._run = run
        if self.study_name is None:
            self.study_name = run.experiment_name
        study = self.study
        self._configure_sampler(study, run)
        settings = study_settings(
            run,
            self.objective,
            self.space,
            self.sampler,
            self.pruner,
            common_random_numbers=self.common_random_numbers,
            noise=None if self.noise is None else asdict(self.noise),
        )
        store_or_check_settings(study, self.storage, settings)
        for treatment in self._warm_start:
            study.enqueue_trial(treatment.params, skip_if_exists=True)
        self._warm_start.clear()
        if self.noise is not None:
            self._noise_search = NoiseSearch(
                self.noise, self.objective, self.space, run.num_trials * run.replicates_per_trial
            )
            self._noise_search.sync(study)
            if isinstance(self.sampler, NoiseAwareTPE):
                search = self._noise_search
                self.sampler.follow(lambda: search.noisy)

    def _configure_sampler(self, study: optuna.Study, run: OptimizationRun) -> None:
        """Build the default sampler from the run's master seed (once: a later run of the same
        optimizer goes on with it), give it to the study, and, with noise handling, let the
        noise-aware TPE follow the search's finding whether the pipeline is noisy.

        One of several workers reseeds its sampler from the system's entropy: workers seeded
        alike would propose the same points.
        """
        if self.sampler is None:
            self.sampler = default_sampler(run.master_seed, noise=self.noise is not None)
        if run.worker is not None:
            self.sampler.reseed_rng()
        study.sampler = self.sampler

    def enqueue(self, treatments: Treatment | Iterable[Treatment]) -> None:
        """Evaluate these treatments first (warm start); each is enqueued once per study.

        Raises:
            ConfigurationError: if a treatment is callable or sets a parameter outside a dict
                search space.
        """
        items = check_warm_start(treatments, self.space.names)
        self._warm_start.extend(items)
        if self._study is not None and self._run is not None:
            for treatment in items:
                self._study.enqueue_trial(treatment.params, skip_if_exists=True)
            self._warm_start.clear()

    def finished_trials(self) -> int:
        """Number of complete or pruned trials in the study."""
        return count_finished(self.study, self.storage)

    def __getstate__(self) -> dict[str, Any]:
        """Worker processes rebuild the storage from its URL and open the study themselves."""
        if self.storage_url is None or self.storage_url == ":memory:":
            raise ConfigurationError(
                "parallel workers share the study through its storage: give OptunaOptimizer a storage URL "
                "(e.g. sqlite:///study.db or postgresql+psycopg://...), not an in-memory storage or object"
            )
        state = dict(self.__dict__)
        state.update(
            storage=None,
            _study=None,
            _pending={},
            _target=TrialTarget(self.poll_interval, self.grace_period, self.max_retries),
            _noise_search=None,
            _selection=None,
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.storage = resolve_storage(self.storage_url, outage_timeout=self.outage_timeout)
        if self.sampler is not None:
            self.sampler.reseed_rng()  # workers sharing a seeded sampler would propose the same points

    @property
    def _worker_tag(self) -> str | None:
        """The tag naming this process's trials when it is one of several workers, else None."""
        return None if self._run is None or self._run.worker is None else self._run.worker.tag

    def loop_collaborators(self) -> LoopCollaborators:
        """What the optimization loop uses beside ask/tell (see ``_collaborators``): the study's
        target of finished trials (:class:`StudySchedule`), replicates reported to the pruner or
        the racing rule (:class:`StudyReplicatePlan`), trials and the baseline stored in the study
        (:class:`StudyRecorder`, :class:`StudyBaseline`), and the winner of a noise-aware search
        chosen once per study (:class:`StudyFinalizer`)."""
        return self._parts

    def end_run(self) -> None:
        """Checkpoint a SQLite storage's write-ahead log into its database file (see
        :meth:`StudyFinalizer.end_run`; ``Experiment.optimize`` calls it however it ends)."""
        self._parts.finalizer.end_run()

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
        trial, params = self.space.ask(self.study)
        if self._schedule.give_up_if_surplus(trial):
            return []
        treatment = Treatment(f"trial-{trial.number}", params)
        self._pending[treatment.name] = trial
        return [treatment]

    @property
    def reports_to_pruner(self) -> bool:
        """True when a pruner (other than Optuna's NopPruner) decides whether a trial stops early."""
        return self.pruner is not None and not isinstance(self.pruner, NopPruner)

    def tell(self, objective_values: dict[str, float]) -> None:
        """Finish the oldest pending trial with these aggregated values (for manual ask/tell use)."""
        if not self._pending:
            raise OptimizationError("tell() called without a pending trial; call ask() first")
        name = next(iter(self._pending))
        self._recorder.finish(name, objective_values, TrialRecord(), failure=None, pruned=False)

    # -- results -----------------------------------------------------------------------------

    def treatment_for_trial(self, trial: FrozenTrial | int) -> Treatment:
        """Return the Treatment a stored trial evaluated (named ``trial-<number>``)."""
        return treatment_of(trial if isinstance(trial, FrozenTrial) else self.study.trials[trial])

    @property
    def selection(self) -> WinnerSelection | None:
        """How a noise-aware optimization chose its winner (None without noise handling, or
        before the search ended); read from the study when it was made by an earlier run."""
        if self._selection is None and self.noise is not None and self.study_name is not None:
            self._selection = stored_selection(self.study)
        return self._selection

    def get_best_treatment(self) -> Treatment:
        """The best trial's treatment (with noise handling: the selected winner, see :attr:`selection`).

        Single objective: the best feasible trial. Multi-objective: among the feasible
        Pareto-optimal trials, each objective is scaled to [0, 1] over the Pareto set (0 best)
        and the trial closest to the ideal point (all zeros) wins; ties go to the earlier trial.
        This is the first trial of the ranking that ``crystallize-opt trials --top`` and the
        report's top-trials table show (``crystallize_opt.ranking``).

        Raises:
            OptimizationError: quoting the first failures, when no trial completed feasibly.
        """
        selection = self.selection
        if selection is not None:
            return selection.winner
        return treatment_of(best_trial(self.study))

    def pareto_treatments(self) -> list[Treatment]:
        """Every feasible Pareto-optimal trial's treatment, by trial number."""
        front = [r.trial for r in rank_study(self.study) if r.feasible and r.front == 0]
        return [self.treatment_for_trial(t) for t in sorted(front, key=lambda t: t.number)]
