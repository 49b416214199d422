"""Racing and intensification: how many replicates each trial runs, and when it stops early."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._pool import Entry, Pool
from ._settings import BudgetPlan, NoiseHandling

#: Up to this many pooled replicates (the reference budget of the defaults) the noise sd is
#: re-estimated after every trial; beyond it, once the pool has grown by
#: :data:`NOISE_REFIT_GROWTH` (5%) since the last estimate. The estimate reads every replicate, so
#: re-estimating after each trial would make a long search quadratic, and by then it moves little:
#: a search of ``N`` replicates re-estimates at most ``300 + log(N / 300) / log(1.05) + 1`` times
#: (373 at 10,000). Searches of at most 300 replicates re-estimate after every trial, as before.
NOISE_REFIT_ALWAYS = 300
NOISE_REFIT_GROWTH = 1.05


@dataclass(frozen=True)
class TrialPlan:
    """What one trial runs: replicate indices (each fixes a seed) and how many it aims at."""

    replicates: list[int]
    target: int
    races: bool


class NoisePolicy:
    """The state of a noise-aware search: pooled replicates, the incumbent and the noise level.

    Every decision is a function of the trials observed so far, taken in the order given to
    :meth:`observe`; a resumed study replays its stored trials in number order and ends in
    the state the interrupted run had.

    Args:
        settings: the user's :class:`NoiseHandling`.
        budget: pipeline executions in all (``num_trials * replicates_per_trial``).
        minimize: direction of the (single) objective; values are stored signed so that lower
            is better.
    """

    def __init__(self, settings: NoiseHandling, budget: int, minimize: bool):
        self.settings = settings
        self.full_plan = settings.plan(budget)
        self.sign = 1.0 if minimize else -1.0
        self.pool = Pool()
        self.incumbent: Entry | None = None
        self.noise_sd: float | None = None
        self._first_pair_sd: float | None = None
        self._noise_estimated_at = 0  # pooled replicates when noise_sd was last estimated
        # Thousandths of an execution: a pruned execution costs a share of one (see
        # ``records.executions_run``), and integers add up alike in any order, so a resume that
        # replays the trials reaches exactly the sum the interrupted run had.
        self._spent_thousandths = 0
        self.observed: set[int] = set()
        self.stopped = 0
        self.intensified = 0

    # -- state ---------------------------------------------------------------------------------

    @property
    def deterministic(self) -> bool | None:
        return self.pool.deterministic()

    @property
    def plan(self) -> BudgetPlan:
        """The budget plan: once the pipeline shows no noise, nothing is kept for confirmation."""
        return self.full_plan.deterministic() if self.deterministic else self.full_plan

    @property
    def spent(self) -> float:
        """Pipeline executions of every observed trial, failed ones included, by cost (an int
        when whole; see ``records.executions_run``)."""
        whole, part = divmod(self._spent_thousandths, 1000)
        return whole if part == 0 else self._spent_thousandths / 1000

    @property
    def search_left(self) -> float:
        return self.plan.search - self.spent

    def observe(
        self,
        trial_number: int,
        params: Mapping[str, Any],
        trial_params: Mapping[str, Any],
        values: Mapping[int, float] | None,
        executions: float,
        facts: Mapping[str, Any] | None,
    ) -> bool:
        """Take a finished trial into account; return True when the incumbent should get one
        more replicate (queue its parameters next).

        ``values`` maps replicate index -> objective value (None for a failed trial, which
        still spent ``executions``, by cost); ``facts`` is what :meth:`record` stored for the
        trial.
        """
        if trial_number in self.observed:
            return False
        self.observed.add(trial_number)
        self._spent_thousandths += round(1000 * executions)
        if not values:
            return False
        entry = self.pool.entry(params, trial_number, trial_params)
        known_before = entry.n > 0
        for replicate, value in values.items():
            self.pool.record(entry, replicate, self.sign * value)
        facts = facts or {}
        target = int(facts.get("target", len(values)))
        stopped = bool(facts.get("stopped", False))
        self.stopped += stopped
        if self.incumbent is None:
            self.incumbent = entry
            if entry.n >= 2:
                first, second = list(entry.values.values())[:2]
                self._first_pair_sd = abs(second - first)
            return self._wants_more(entry, kept_up=False)
        if self.deterministic:
            if entry.mean() < self.incumbent.mean():
                self.incumbent = entry
            return False
        if entry is self.incumbent or known_before:
            return False
        kept_up = not stopped and entry.n >= target
        if kept_up and self._paired_difference(entry) < 0:
            self.incumbent = entry
        replicates = self.pool.replicates
        if replicates <= NOISE_REFIT_ALWAYS or replicates >= NOISE_REFIT_GROWTH * self._noise_estimated_at:
            self.noise_sd = self.pool.residual_sd() or self.noise_sd
            self._noise_estimated_at = replicates
        return self._wants_more(entry, kept_up)

    def _wants_more(self, entry: Entry, kept_up: bool) -> bool:
        incumbent = self.incumbent
        if incumbent is None or not self.settings.intensify or self.deterministic or self.search_left <= 0:
            return False
        wanted = (kept_up or incumbent.n < 2) and incumbent.n < max(self.settings.max_replicates, 2)
        self.intensified += wanted
        return wanted

    def _paired_difference(self, entry: Entry) -> float:
        assert self.incumbent is not None
        shared = [r for r in entry.values if r in self.incumbent.values]
        if not shared:
            return math.inf
        return math.fsum(entry.values[r] - self.incumbent.values[r] for r in shared) / len(shared)

    # -- decisions -----------------------------------------------------------------------------

    def plan_trial(self, params: Mapping[str, Any]) -> TrialPlan:
        """The replicates a trial of ``params`` runs next (never more than the search budget left)."""
        entry = self.pool.get(params)
        left = max(1, math.ceil(self.search_left))
        if self.incumbent is None:  # the noise check: two replicates of the first parameters
            count, races = 2, False
        elif self.deterministic or (entry is not None and entry.n > 0):
            count, races = 1, False  # one more replicate of known parameters (or no noise at all)
        else:
            count = max(1, min(self.incumbent.n, self.settings.max_replicates))
            races = count > 1  # the racing rule (or a pruner) may stop it after each replicate
        # The target stays what the trial aims at: a trial cut short by the end of the budget
        # has not kept up with the incumbent.
        runs = min(count, left)
        start = entry.next_replicates(runs) if entry is not None else list(range(runs))
        return TrialPlan(start, count, races)

    def should_stop(self, params: Mapping[str, Any], values: Mapping[int, float]) -> bool:
        """The paired racing rule: stop when this trial's replicates so far are worse than the
        incumbent's on the same seeds by more than ``racing_z`` standard errors."""
        incumbent = self.incumbent
        z = self.settings.racing_z
        if incumbent is None or z is None or self.pool.get(params) is incumbent:
            return False
        shared = [r for r in values if r in incumbent.values]
        if not shared:
            return False
        difference = math.fsum(self.sign * values[r] - incumbent.values[r] for r in shared) / len(shared)
        pair_sd = math.sqrt(2.0) * self.noise_sd if self.noise_sd is not None else self._first_pair_sd
        if pair_sd is None or pair_sd == 0:
            return False
        return difference > z * pair_sd / math.sqrt(len(shared))

    def pooled_mean(self, params: Mapping[str, Any]) -> tuple[float, int]:
        """Mean objective value (in the objective's own sign) and replicate count of ``params``."""
        entry = self.pool.get(params)
        if entry is None or entry.n == 0:
            return math.nan, 0
        return self.sign * entry.mean(), entry.n

    @staticmethod
    def record(plan: TrialPlan, stopped: bool, pooled: tuple[float, int]) -> dict[str, Any]:
        """The racing facts stored with a trial (read back by :meth:`observe` on resume)."""
        return {"target": plan.target, "stopped": stopped, "pooled_mean": pooled[0], "pooled_n": pooled[1]}

    def entries(self) -> Iterable[Entry]:
        return [e for e in self.pool.entries.values() if e.n > 0]
