"""The settings of noise-aware optimization and how they split a budget of pipeline executions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..._checks import boolean_expected, choice_expected, integer_expected, number_expected, refuse

#: Executions the per-seed defaults below are tuned for (``benchmarks/bench_noise.py``).
REFERENCE_BUDGET = 300
#: Confirmation and held-out evaluations together use at most this share of the budget.
MAX_RESERVED_SHARE = 0.3


@dataclass(frozen=True)
class NoiseHandling:
    """How :class:`OptunaOptimizer` deals with noisy pipelines (``noise=NoiseHandling()``).

    With noise handling on, ``num_trials * replicates_per_trial`` is a **budget of pipeline
    executions**, not a number of trials: every replicate counts, whichever phase runs it.

    1. *Noise check*: the first trial runs two replicates. When they are identical the
       pipeline is taken as deterministic: every trial then runs one replicate, there is no
       racing and no confirmation, and the best observed value wins. When no sampler is
       given and PyTorch is installed, the search uses Optuna's ``GPSampler(seed=<master
       seed>)`` (``TPESampler(seed=<master seed>)`` after 500 finished trials) when the space
       has a categorical parameter or the check found the pipeline deterministic, and
       for a noisy response over numbers only ``ResumableCmaEsSampler(seed=<master seed>)``
       (CMA-ES) from 5 numbers on and ``TPESampler(seed=<master seed>)`` below
       (``default_sampler``: chosen on the noise suite's tuning set, where the Gaussian process
       found combinations of interacting categorical choices that TPE mostly misses and refined
       noise-free responses far better, but did worse than TPE on noisy continuous ones, and
       CMA-ES returned better parameters than TPE on noisy responses over 5 to 8 numbers, worse
       ones over 2 to 4);
       without PyTorch, or for a conditional search space, TPE. A given sampler is used as given.
    2. *Search*: with the defaults each trial runs one replicate (replicate ``r`` of every
       parameter set uses the same seed) and tells Optuna its value; the winner is chosen
       afterwards from every replicate. Chosen on the noise suite's tuning set, where racing's
       extra executions cost the search more than their averaging bought.
    3. *Racing and intensification* (opt-in: ``max_replicates`` > 1, ``racing_z``,
       ``intensify``): a new trial aims at as many replicates as the incumbent (the best
       parameters so far) has, at most ``max_replicates``; after each replicate it is compared
       with the incumbent on the seeds both ran (a paired comparison) and stops early when its
       mean is worse by more than ``racing_z`` standard errors (the noise sd is estimated from
       every replicate so far, after removing what each seed does to every parameter set). Each
       replicate's value is also reported to Optuna as an intermediate value (step = replicate
       index). With ``intensify``, when a trial keeps up with the incumbent, the incumbent earns
       one more replicate (its parameters are queued as the next trial), up to
       ``max_replicates``. Replicates of the same parameters are pooled, whichever trial ran
       them.
    4. *Choosing the winner*: a Gaussian-process model of the response over every replicate
       (Matern-5/2 kernel, a random effect per seed) ranks the evaluated parameter sets and
       local minima of its mean near the best of them (those it expects to beat their evaluated
       neighbour by ``minima_z`` posterior sds); the ``confirm_candidates`` best are
       re-evaluated on ``confirm_seeds`` fresh seeds the search never used, the model is
       refit with those, and the candidate with the best refitted model estimate wins. The
       refit is also done with an effect per parameter set (what its neighbours do not
       predict, told apart from the noise by the confirmations), and that model ranks when a
       likelihood-ratio test at 5% supports the effect: on a rough response (many local
       minima) a candidate's estimate then rests on its own replicates, where the smooth model
       would rank neighbourhoods. For conditional (callable) search spaces, the pooled mean
       replaces the model.
    5. *Held-out estimate and baseline test*: the winner and the baseline (the run without a
       treatment) run on ``holdout_seeds`` further fresh seeds. Their paired difference gives
       an unbiased estimate of the winner and a paired t-test against the baseline (effect,
       ``confidence`` interval, p-value), stored with the study and shown by the command line
       and the report. A baseline that fails is reported, not fatal.

    *With a pruner* (``OptunaOptimizer(pruner=...)``): the pruner replaces the racing rule in
    the search. When the steps report learning curves (``ctx.report(value, step)``), a search
    trial can stop in the middle of a replicate's training (``curve_pruning``). That execution
    counts against the budget by what it cost, the share of the replicate's steps it ran (to
    0.001 of an execution; a whole one while the study does not know yet how many steps a
    replicate has), so the budget counts epochs and the reserve for confirmation and held-out
    runs stays a share of the training done (the search's last trial, started with a share of
    an execution left, may train a whole one: a run can end less than one execution past its
    budget). Its unfinished replicate gives no value: the trial is stored as PRUNED unless an
    earlier replicate of its parameters finished (then ``stopped_trials`` applies). The model,
    the confirmation round and the held-out runs use finished replicates only; the noise
    check's second replicate, confirmation and held-out runs are never pruned. So a pruner
    spends the search's executions on more parameter sets, and the winner is still chosen on
    complete trainings.

    The same seed gives the same search and the same winner on machines with the same CPU
    features and library builds. The model's hyperparameters are rounded to 1% and the minima of
    its mean to a grid of 0.1% of each parameter's range (of its logarithm for a log-scale
    parameter), so that the last-digit rounding of the BLAS library, whose kernels differ between
    CPUs, does not change the choice. Where numpy itself runs other vector loops (another CPU
    family), Optuna's samplers already propose other points and results agree only statistically.

    Long searches stay bounded: the model conditions on at most 2,000 observations of at most
    1,000 parameter sets (the confirmations, then the parameter sets with the best pooled means;
    a confirmation round of more than 1,000 keeps the same first seeds of every candidate) and
    ranks only those parameter sets; its hyperparameters are fitted on the first 300. The noise
    sd is re-estimated after every trial up to 300 pooled replicates, then each time the pool
    has grown by 5%. BLAS runs on one thread while the model is fitted and asked. The
    selection's memory (about 100 MB) and model time therefore do not grow with the budget
    (``benchmarks/bench_noise_scale.py``). Searches below these sizes choose as an uncapped model
    would; above them, the parameter sets left out and a noise estimate up to 5% older can
    change the ranking.

    The defaults were chosen by ``benchmarks/bench_noise.py`` (see ``benchmarks/README.md``).
    ``confirm_seeds`` and ``holdout_seeds`` default to 8 per 300 executions of budget (at least
    3); confirmation and held-out runs together take at most 30% of the budget: when they do not
    fit, the round confirms fewer candidates (down to two), then none, then held-out seeds shrink
    (to 2 at least).

    Args:
        max_replicates: most search replicates one parameter set can earn (default 1: one per
            trial; racing needs more).
        racing_z: stop a trial once its paired mean is this many standard errors worse than
            the incumbent's; ``None`` (the default) turns racing off (every trial runs its target).
        intensify: give the incumbent more replicates as challengers keep up with it (default
            False).
        stopped_trials: what a trial stopped by racing tells Optuna: ``"partial"`` (COMPLETE
            with the mean of the replicates it ran; the benchmark found this as good as
            pruning, and the study keeps a value for every trial) or ``"pruned"``. A trial a
            pruner stopped inside its learning curve with no finished replicate is PRUNED either
            way.
        select: ``"model"`` (the Gaussian-process ranking above) or ``"mean"`` (pooled means).
        model_candidates: also consider local minima of the model's mean within ``radius``
            (in units of each parameter's range) of the best evaluated parameter sets.
        radius: see ``model_candidates``.
        minima_z: a minimum of the model's mean is a candidate only when the model expects it
            to beat the evaluated parameter set it was found from by at least this many
            posterior standard deviations of their difference (0: always). Under heavy noise
            the mean's dips near good points are mostly noise, and a winner placed on one is
            the winner's curse again, on the model.
        confirm_candidates: how many top candidates the confirmation round re-evaluates
            (0: no confirmation round).
        confirm_seeds: fresh seeds per confirmed candidate (None: scaled with the budget).
        holdout_seeds: held-out seeds for the winner and the baseline (None: scaled).
        confidence: level of the confidence interval of the baseline comparison.

    Raises:
        ConfigurationError: for a value out of its range (the message names the setting).
    """

    # One replicate per search trial, no racing, no intensification: chosen on the noise suite's
    # tuning set (benchmarks/README.md, "One replicate per trial"), where racing's trials cost
    # the search more than their averaging bought.
    max_replicates: int = 1
    racing_z: float | None = None
    intensify: bool = False
    stopped_trials: Literal["partial", "pruned"] = "partial"
    select: Literal["model", "mean"] = "model"
    model_candidates: bool = True
    radius: float = 0.05
    minima_z: float = 0.5
    confirm_candidates: int = 5
    confirm_seeds: int | None = None
    holdout_seeds: int | None = None
    confidence: float = 0.95

    def __post_init__(self) -> None:
        # The one check of these settings: a study config passes its values here as they are
        # and relabels a SettingError with its file and key path.
        for name, expected in (
            ("max_replicates", integer_expected(self.max_replicates, 1)),
            ("racing_z", None if self.racing_z is None else number_expected(self.racing_z)),
            ("intensify", boolean_expected(self.intensify)),
            ("stopped_trials", choice_expected(self.stopped_trials, ("partial", "pruned"))),
            ("select", choice_expected(self.select, ("model", "mean"))),
            ("model_candidates", boolean_expected(self.model_candidates)),
            ("radius", number_expected(self.radius, "(0, 1]")),
            ("minima_z", number_expected(self.minima_z, "non-negative")),
            ("confirm_candidates", integer_expected(self.confirm_candidates, 0)),
            (
                "confirm_seeds",
                None if self.confirm_seeds is None else integer_expected(self.confirm_seeds, 2),
            ),
            (
                "holdout_seeds",
                None if self.holdout_seeds is None else integer_expected(self.holdout_seeds, 2),
            ),
            ("confidence", number_expected(self.confidence, "(0, 1)")),
        ):
            refuse(f"noise.{name}", expected, getattr(self, name))
        for name in ("racing_z", "radius", "minima_z", "confidence"):  # 1 and 1.0 are one setting
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    def plan(self, budget: int) -> BudgetPlan:
        """Split ``budget`` executions into search, confirmation and held-out evaluation."""
        scaled = max(3, round(8 * budget / REFERENCE_BUDGET))
        per_candidate = self.confirm_seeds if self.confirm_seeds is not None else scaled
        holdout = self.holdout_seeds if self.holdout_seeds is not None else scaled
        allowed = math.floor(MAX_RESERVED_SHARE * budget)
        candidates = self.confirm_candidates
        if candidates * per_candidate + 2 * holdout > allowed:
            # Fewer candidates first: a round of two still tells the winner's curse apart from a
            # real lead, where no round leaves the choice to single search replicates.
            fitting = (allowed - 2 * holdout) // per_candidate
            candidates = fitting if fitting >= 2 else 0
        if 2 * holdout > allowed:
            holdout = max(2, allowed // 2) if budget >= 8 else 0
        return BudgetPlan(
            budget=budget,
            confirm_candidates=candidates,
            confirm_seeds=per_candidate if candidates else 0,
            holdout_seeds=holdout,
        )


@dataclass(frozen=True)
class BudgetPlan:
    """How a budget of executions is spent: the search gets what confirmation and held-out
    evaluation of the winner and the baseline do not reserve."""

    budget: int
    confirm_candidates: int
    confirm_seeds: int
    holdout_seeds: int

    @property
    def reserved(self) -> int:
        return self.confirm_candidates * self.confirm_seeds + 2 * self.holdout_seeds

    @property
    def search(self) -> int:
        return self.budget - self.reserved

    def deterministic(self) -> BudgetPlan:
        """The plan once the pipeline is known to be deterministic: one held-out seed each."""
        holdout = 1 if self.budget >= 4 else 0
        return BudgetPlan(self.budget, 0, 0, holdout)
