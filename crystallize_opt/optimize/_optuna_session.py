"""The Optuna adapter's study session: the study one optimizer opens on its storage, and the
state of the run it serves (pending trials, noise search, winner selection, target)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage

from .._optuna_compat import trial_is_enqueued
from ..exceptions import ConfigurationError, OptimizationError
from ..plugins import SEED_SCHEME
from ..storage import DEFAULT_STORAGE, resolve_storage
from ..treatment import Treatment
from ._arguments import CheckedArguments
from ._base import OptimizationRun
from ._composite_samplers import NoiseCheckSampler
from ._noise import NoiseSearch, WinnerSelection, stored_selection
from ._objective import Objective
from ._sampler import default_sampler
from ._space import SearchSpace
from ._study import open_study, store_or_check_settings, study_settings
from ._target import TrialTarget
from ._tell import TrialEnd
from ._trial_seeds import TrialSeeding, proposed_trials


class StudySession:
    """The :class:`optuna.Study` of one :class:`OptunaOptimizer` and the state of the run it serves.

    It owns the storage (opened from ``storage``; a worker process that unpickles the session
    opens it again from its URL), the study (opened on first use, so it is readable before
    :meth:`open` when its name is known), the sampler (the default one is built by :meth:`open`
    from the run's master seed), the warm-start treatments not enqueued yet, the trials asked
    and not told yet (:attr:`pending`), the run and this process's worker tag, the noise search
    and its winner selection, and the target of finished trials. The loop's collaborators are
    given the session and change its state only through its public attributes and methods.

    Args:
        storage: an Optuna storage URL or object; None for the default SQLite file.
        settings: the optimizer's checked settings; the session uses the study name (None until
            :meth:`open` names the study after the experiment), the storage's outage timeout,
            the noise handling and common random numbers (study settings), and the target's
            poll interval, grace period and retries.
        sampler: the study's sampler; None for the default, built by :meth:`open`.
        pruner: the study's pruner, or None.
        objective: the objective (its directions create the study; it is part of its settings).
        space: the search space (part of the study's settings).
    """

    def __init__(
        self,
        storage: str | BaseStorage | None,
        settings: CheckedArguments,
        *,
        sampler: BaseSampler | None,
        pruner: BasePruner | None,
        objective: Objective,
        space: SearchSpace,
    ):
        # Worker processes reopen the storage from its URL: the default is a URL too.
        self.storage_url = (
            DEFAULT_STORAGE if storage is None else storage if isinstance(storage, str) else None
        )
        self._outage_timeout = settings.outage_timeout
        self.storage: BaseStorage = resolve_storage(storage, outage_timeout=self._outage_timeout)
        self.study_name = settings.study_name
        self._sampler: BaseSampler | None = None
        self._seeding: TrialSeeding | None = None
        self.sampler = sampler
        self._pruner = pruner
        self._objective = objective
        self._space = space
        self._noise = settings.noise
        self._common_random_numbers = settings.common_random_numbers
        self._curve_pruning = settings.curve_pruning
        self.target = TrialTarget(settings.poll_interval, settings.grace_period, settings.max_retries)
        #: Treatments to enqueue once the study is open for a run.
        self.warm_start: list[Treatment] = []
        #: Trials asked and not told yet, by treatment name, oldest first.
        self.pending: dict[str, optuna.Trial] = {}
        #: True once a grid or brute-force sampler has proposed its whole space.
        self.exhausted = False
        self._study: optuna.Study | None = None
        self._run: OptimizationRun | None = None
        self._noise_search: NoiseSearch | None = None
        self._selection: WinnerSelection | None = None
        #: Trials the sampler proposed that the study holds as run (None: not counted yet).
        self._proposed: int | None = None
        #: Numbers of this process's pending trials that the sampler proposed.
        self._sampled: set[int] = set()
        #: How the study's replicate seeds follow from the master seed (read or recorded by
        #: :meth:`open`: a study of an earlier release keeps the scheme its trials ran on).
        self.seed_scheme = SEED_SCHEME

    @property
    def sampler(self) -> BaseSampler | None:
        """The study's sampler (None until :meth:`open` builds the default one)."""
        return self._sampler

    @sampler.setter
    def sampler(self, sampler: BaseSampler | None) -> None:
        # Its trial seeding is read now, before it draws anything (see TrialSeeding.of).
        self._sampler = sampler
        self._seeding = None if sampler is None else TrialSeeding.of(sampler)

    def use_pruner(self, pruner: BasePruner | None, curve_pruning: str | None) -> None:
        """Make ``pruner`` the study's pruner (also of a study already open), with the
        curve-pruning mode in effect (as checked by ``check_curve_pruning``)."""
        self._pruner = pruner
        self._curve_pruning = curve_pruning
        if self._study is not None:
            self._study.pruner = pruner if pruner is not None else optuna.pruners.NopPruner()

    @property
    def study(self) -> optuna.Study:
        """The study, created or loaded on first use.

        Raises:
            OptimizationError: when it has no name yet (:meth:`open` names it after the experiment).
        """
        if self._study is None:
            if self.study_name is None:
                raise OptimizationError(
                    "the study is opened by Experiment.optimize (it is named after the experiment); "
                    "pass study_name= to OptunaOptimizer to open it before"
                )
            # Before open() the default sampler is not built yet (it is seeded from the
            # experiment, see _configure_sampler): the study is open for reading, with Optuna's
            # sampler until then, and the optimizer's ask() refuses to propose.
            self._study = open_study(
                self.study_name, self.storage, self.sampler, self._pruner, self._objective.directions
            )
        return self._study

    @property
    def run(self) -> OptimizationRun | None:
        """The run being served (None before :meth:`open`)."""
        return self._run

    @property
    def worker_tag(self) -> str | None:
        """The tag naming this process's trials when it is one of several workers, else None."""
        return None if self._run is None or self._run.worker is None else self._run.worker.tag

    @property
    def noise_search(self) -> NoiseSearch | None:
        """The noise-aware search (None without noise handling, or before :meth:`open`)."""
        return self._noise_search

    @property
    def selection(self) -> WinnerSelection | None:
        """The winner of a noise-aware search (None without noise handling, or before the search
        ended); read from the study when an earlier run chose it."""
        if self._selection is None and self._noise is not None and self.study_name is not None:
            self._selection = stored_selection(self.study)
        return self._selection

    @selection.setter
    def selection(self, selection: WinnerSelection | None) -> None:
        self._selection = selection

    def open(self, run: OptimizationRun) -> None:
        """Create or continue the study for ``run``: name it after the experiment when it has no
        name, configure its sampler, store or check its settings (and learn its replicate-seed
        scheme, :attr:`seed_scheme`), enqueue the warm start, and start the noise search
        (replaying the study's trials into it).

        Raises:
            ConfigurationError: if the stored study's objective or search space differs, the
                study was not made by crystallize-opt and already has trials, or it records a
                replicate-seed scheme this release does not know.
        """
        self._run = run
        self._proposed = None  # counted again from the study at the first ask
        if self.study_name is None:
            self.study_name = run.experiment_name
        study = self.study
        self._configure_sampler(study, run)
        settings = study_settings(
            run,
            self._objective,
            self._space,
            self.sampler,
            self._pruner,
            common_random_numbers=self._common_random_numbers,
            noise=None if self._noise is None else asdict(self._noise),
            curve_pruning=self._curve_pruning,
        )
        self.seed_scheme = store_or_check_settings(study, self.storage, settings)
        for treatment in self.warm_start:
            study.enqueue_trial(treatment.params, skip_if_exists=True)
        self.warm_start.clear()
        if self._noise is not None:
            self._noise_search = NoiseSearch(
                self._noise, self._objective, self._space, run.num_trials * run.replicates_per_trial
            )
            self._noise_search.sync(study)
            if isinstance(self.sampler, NoiseCheckSampler):
                search = self._noise_search
                self.sampler.attach(lambda: search.deterministic)

    def _configure_sampler(self, study: optuna.Study, run: OptimizationRun) -> None:
        """Build the default sampler from the run's master seed (once: a later run of the same
        optimizer goes on with it) and give the sampler to the study.

        One of several workers reseeds its sampler from the system's entropy: workers seeded
        alike would propose the same points.
        """
        if self.sampler is None:
            self.sampler = default_sampler(
                run.master_seed,
                noise_aware=self._noise is not None,
                space=None if self._space.is_conditional else self._space.distributions,
            )
        if run.worker is not None:
            self.sampler.reseed_rng()
        study.sampler = self.sampler

    def ask(self, space: SearchSpace) -> tuple[optuna.Trial, dict[str, Any]]:
        """Create the next trial in the study (see :meth:`SearchSpace.ask`), with a seeded
        sampler reseeded first from its seed and the trials it proposed so far (see
        :class:`TrialSeeding`): what a trial proposes then depends only on what the study holds,
        so a resumed study goes on as an uninterrupted one would have. Not in one of several
        workers, whose samplers draw from the system's entropy.

        Raises:
            ConfigurationError: if a callable space returns something other than a mapping.
        """
        seeding = self._seeding if self._run is None or self._run.worker is None else None
        if seeding is None:
            return space.ask(self.study)
        if self._proposed is None:
            self._proposed = proposed_trials(self.study)
        # This process's own pending proposals count too (several asks before a tell).
        seeding.reseed(self._proposed + len(self._sampled))
        trial, params = space.ask(self.study)
        if not trial_is_enqueued(trial):
            self._sampled.add(trial.number)
        return trial, params

    def given_up(self, trial: optuna.Trial) -> None:
        """Forget ``trial``, asked and then given up before it ran (it proposed nothing that ran)."""
        self._sampled.discard(trial.number)

    def enqueue(self, treatments: list[Treatment]) -> None:
        """Enqueue checked treatments once per study: now when the study is open for a run, else
        when :meth:`open` opens it."""
        self.warm_start.extend(treatments)
        if self._study is not None and self._run is not None:
            for treatment in treatments:
                self._study.enqueue_trial(treatment.params, skip_if_exists=True)
            self.warm_start.clear()

    def ended(self, name: str, end: TrialEnd | None, *, ran: bool = False) -> None:
        """Stop tracking the pending trial ``name``; count it towards the target when ``end`` is
        ``"finished"`` or ``"exhausted"`` (the sampler has then proposed its whole space), and
        among the sampler's proposals (see :func:`proposed_trials`) when it was one and it
        finished, or failed after it ``ran`` its replicates (read again from the study when
        another process failed it, or how it ended is unknown)."""
        trial = self.pending.pop(name, None)
        if trial is not None and trial.number in self._sampled:
            self._sampled.discard(trial.number)
            if end == "stale" or end is None:  # failed by another process (and maybe retried), or unknown
                self._proposed = None  # counted again from the study
            elif self._proposed is not None and (
                end in ("finished", "exhausted") or (end == "failed" and ran)
            ):
                self._proposed += 1
        if end in ("finished", "exhausted"):
            self.target.trial_finished()
        if end == "exhausted":
            self.exhausted = True

    def __getstate__(self) -> dict[str, Any]:
        """A worker process opens the storage and the study itself, with nothing pending and its
        own counts (the storage object is never pickled: only its URL).

        Raises:
            ConfigurationError: for an in-memory storage or a storage object (no URL).
        """
        if self.storage_url is None or self.storage_url == ":memory:":
            raise ConfigurationError(
                "parallel workers share the study through its storage: give OptunaOptimizer a storage URL "
                "(e.g. sqlite:///study.db or postgresql+psycopg://...), not an in-memory storage or object"
            )
        state = dict(self.__dict__)
        target = self.target
        state.update(
            storage=None,
            _study=None,
            pending={},
            target=TrialTarget(target.poll_interval, target.grace_period, target.max_retries),
            _noise_search=None,
            _selection=None,
            _proposed=None,
            _sampled=set(),
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.storage = resolve_storage(self.storage_url, outage_timeout=self._outage_timeout)
        if self.sampler is not None:
            self.sampler.reseed_rng()  # workers sharing a seeded sampler would propose the same points
