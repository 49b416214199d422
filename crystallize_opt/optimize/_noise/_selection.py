"""Choosing the winner of a noisy search, and testing it against the baseline on held-out seeds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..._logging import get_logger
from ...plugins import SEED_SCHEME, derive_seed, replicate_of_seed
from ...records import WinnerSelection
from ...treatment import Treatment
from ...verifiers import paired_t_test
from .._base import EvaluateReplicates
from ._encoding import UnitCube
from ._gp import SeedEffectGP, single_threaded_blas, snap_to_grid
from ._policy import NoisePolicy
from ._pool import Entry

_log = get_logger("optimize")

#: Seed streams of the phases after the search: ``derive_seed(master, j, 0, stream)`` (see
#: :func:`phase_seeds`).
CONFIRMATION_STREAM = 1
HOLDOUT_STREAM = 2
#: Replicate indices a noise-aware search could have used, at most: a fresh seed that is
#: :func:`~crystallize_opt.replicate_seed` of a smaller index is drawn again (see
#: :func:`phase_seeds`). Far above any search (each index is one more pipeline execution of one
#: parameter set; the baseline runs at most ``MAX_REPLICATES``, 10,000), and rare enough to hit
#: (one fresh seed in 4,096) that the fresh seeds are nearly always the stream's first draws.
SEARCH_REPLICATE_BOUND = 2**20
#: Evaluated parameter sets whose neighbourhood is searched for minima of the model's mean.
_MODEL_STARTS = 5
#: Observations below which the model is not fitted (the pooled mean ranks instead).
_MIN_MODEL_POINTS = 4
#: Minima of the model's mean are rounded to this step of each parameter's range (unit-cube
#: units) before they become candidates (see :func:`~._gp.snap_to_grid`).
_MINIMUM_STEP = 1e-3
#: Twice the log-posterior gain the refitted model's effect per parameter set must bring to be
#: used (chi-square with one degree of freedom at 5%): see :func:`_rank_confirmed`.
POINT_EFFECT_EVIDENCE = 3.84
#: Parameter sets (best pooled means first) the model conditions on: bounds its cost on long searches.
MAX_MODEL_ENTRIES = 1000
#: Observations the model conditions on, at most: its memory grows with their square (~8 bytes x
#: 3 x their square: 100 MB at 2000) and its time with their cube, whatever the budget. Taken in
#: the order of :func:`_fit` (confirmations, then parameter sets by pooled mean), so the ones cut
#: are replicates of the parameter sets with the worst pooled means.
MAX_MODEL_OBSERVATIONS = 2000


def phase_seeds(master_seed: int, stream: int, count: int, seed_scheme: str = SEED_SCHEME) -> dict[int, int]:
    """Seeds of replicates ``0..count-1`` of a post-search phase, fresh: the search never used them.

    Seed ``j`` is ``derive_seed(master, j, 0, stream)``. A noise-aware search runs on common
    random numbers only (it refuses ``common_random_numbers=False``), so its seeds are those of
    replicates ``r`` under the study's ``seed_scheme``. Under this release's scheme,
    ``(master + r*31337) mod 2**32``, a seed names its replicate index exactly
    (:func:`~crystallize_opt.plugins.replicate_of_seed`), so a draw that is the seed of an index
    below :data:`SEARCH_REPLICATE_BOUND` is replaced by the next draw of the same key
    (``derive_seed(master, j, 0, stream, attempt)``): a held-out seed never repeats a search
    seed, which would bias the estimate the held-out phase exists to make. The draws themselves
    are SeedSequence hashes, unrelated to the linear search seeds, so the loop rarely turns.
    Under ``"seedsequence"`` (a study of an earlier release) the first draws are kept, as that
    release did: both sides are then 32-bit hashes of different keys, equal only by chance
    (about one pair in 4 billion), and the study continues exactly as it began.
    """
    seeds: dict[int, int] = {}
    for j in range(count):
        seed, attempt = derive_seed(master_seed, j, 0, stream), 0
        while seed_scheme == SEED_SCHEME and replicate_of_seed(master_seed, seed) < SEARCH_REPLICATE_BOUND:
            attempt += 1
            seed = derive_seed(master_seed, j, 0, stream, attempt)
        seeds[j] = seed
    return seeds


class _Candidate:
    def __init__(self, name: str, params: dict[str, Any], entry: Entry | None, estimate: float):
        self.name = name
        self.params = params
        self.entry = entry
        self.estimate = estimate  # signed: lower is better
        self.confirmed: list[float] = []


async def select_winner(
    policy: NoisePolicy,
    unit_cube: UnitCube | None,
    metric: str,
    master_seed: int,
    evaluate: EvaluateReplicates,
    seed_scheme: str = SEED_SCHEME,
) -> WinnerSelection:
    """Choose the winner from ``policy``'s pooled replicates (confirming the top candidates on
    fresh seeds), then evaluate it and the baseline on held-out seeds and compare them.

    ``unit_cube`` encodes the search space for the model; None (a conditional space) ranks by
    pooled means. ``seed_scheme``: the study's replicate-seed scheme (see :func:`phase_seeds`).

    Raises:
        OptimizationError: via the caller, when no parameter set has a successful replicate.
    """
    plan = policy.plan
    sign = policy.sign
    entries = list(policy.entries())
    noise: dict[str, Any] = {
        "deterministic": bool(policy.deterministic),
        "noise_sd": policy.noise_sd,
        "stopped_trials": policy.stopped,
        "intensified": policy.intensified,
    }
    if policy.deterministic or len(entries) == 1:
        best = min(entries, key=lambda e: (e.mean(), e.first_trial))
        candidates = [_Candidate(f"trial-{best.first_trial}", best.params, best, best.mean())]
        rule = "best observed"
        estimate_is = "the mean of its replicates"
    else:
        with single_threaded_blas():
            candidates, model = _rank(policy, entries, unit_cube)
        rule = "model" if model is not None else "mean"
        estimate_is = "the response model's posterior mean" if model is not None else "its pooled mean"
        if model is not None:
            noise["model"] = model.hyperparameters
    confirmation = 0
    confirmation_seeds: dict[int, int] = {}
    if plan.confirm_candidates and len(candidates) > 1:
        top = candidates[: plan.confirm_candidates]
        seeds = confirmation_seeds = phase_seeds(
            master_seed, CONFIRMATION_STREAM, plan.confirm_seeds, seed_scheme
        )
        for candidate in top:
            values = await _values(
                evaluate, Treatment(candidate.name, candidate.params), seeds, metric, "confirmation"
            )
            confirmation += len(seeds)
            candidate.confirmed = [] if values is None else [sign * v for v in values]
        top = [c for c in top if c.confirmed] or top[:1]
        with single_threaded_blas():
            candidates, by_model = _rank_confirmed(policy, top, unit_cube, noise)
        if by_model:
            estimate_is = "the response model's posterior mean, refitted with the confirmation replicates"
        elif candidates[0].confirmed:
            estimate_is = "its mean on the confirmation seeds"
    winner = candidates[0]
    selection = WinnerSelection(
        winner=Treatment(winner.name, winner.params),
        rule=rule,
        search_estimate=sign * winner.estimate,
        search_estimate_kind=estimate_is,
        candidates=[_describe(c, sign) for c in candidates],
        confirmation_seeds=list(confirmation_seeds.values()),
        noise=noise,
    )
    alpha = round(1.0 - policy.settings.confidence, 12)  # 0.05, not 0.050000000000000044
    holdout = await _holdout(selection, plan.holdout_seeds, metric, master_seed, evaluate, alpha, seed_scheme)
    selection.executions = {
        "search": policy.spent,
        "confirmation": confirmation,
        "holdout": holdout,
        "budget": plan.budget,
    }
    return selection


def _rank(
    policy: NoisePolicy, entries: Sequence[Entry], unit_cube: UnitCube | None
) -> tuple[list[_Candidate], SeedEffectGP | None]:
    """Candidates best first: by the model's mean (plus local minima of it) or by pooled mean.

    The model ranks the parameter sets it conditions on (see :func:`_model_data`): on a long
    search, those with the best pooled means; the others are no candidates.
    """
    observations = sum(e.n for e in entries)
    if (
        policy.settings.select == "model"
        and unit_cube is not None
        and unit_cube.dimension
        and observations >= _MIN_MODEL_POINTS
    ):
        try:
            model = _fit(unit_cube, entries, [])
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            _log.warning("the response model could not be fitted (%s); ranking by pooled means", exc)
        else:
            modelled = set(map(id, _model_entries(entries, MAX_MODEL_OBSERVATIONS)))
            known = [e for e in entries if id(e) in modelled]  # in the pool's order, as before
            means = model.mean(np.array([unit_cube.encode(e.params) for e in known]))
            ranked = [
                _Candidate(f"trial-{e.first_trial}", e.params, e, float(m))
                for e, m in zip(known, means, strict=True)
            ]
            if policy.settings.model_candidates:
                ranked += _model_minima(
                    model,
                    unit_cube,
                    ranked,
                    policy.settings.radius,
                    policy.settings.minima_z,
                    evaluated=[unit_cube.encode(e.params) for e in entries],
                )
            ranked.sort(key=lambda c: (c.estimate, c.name))
            return ranked, model
    ranked = [_Candidate(f"trial-{e.first_trial}", e.params, e, e.mean()) for e in entries]
    ranked.sort(key=lambda c: (c.estimate, -(c.entry.n if c.entry else 0), c.name))
    return ranked, None


def _fit(
    unit_cube: UnitCube,
    entries: Sequence[Entry],
    confirmed: Sequence[_Candidate],
    start: np.ndarray | None = None,
    point_effect: bool = False,
) -> SeedEffectGP:
    """The model of the observations, most relevant first (confirmations, then parameter sets
    by pooled mean): large searches fit hyperparameters on the first ones only. See
    :func:`_model_data` for which observations a long search leaves out, and
    :class:`~._gp.SeedEffectGP` for ``point_effect``."""
    inputs, values, groups = _model_data(unit_cube, entries, confirmed)
    return SeedEffectGP(inputs, values, groups, point_effect).fit(start)


def _model_data(
    unit_cube: UnitCube, entries: Sequence[Entry], confirmed: Sequence[_Candidate]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, values and seed labels the model conditions on, at most
    :data:`MAX_MODEL_OBSERVATIONS`: every candidate's confirmations (when they alone would
    exceed half the cap, each candidate's first seeds, the same ones for all), then the
    replicates of the :data:`MAX_MODEL_ENTRIES` parameter sets with the best pooled means, best
    first, up to the cap (the last one taken may keep only its first replicates). Searches with
    fewer observations and parameter sets condition on all of them."""
    inputs, values, groups = [], [], []
    with_values = [c for c in confirmed if c.confirmed]
    per_candidate = max((len(c.confirmed) for c in with_values), default=0)
    if len(with_values) * per_candidate > MAX_MODEL_OBSERVATIONS // 2:
        per_candidate = max(1, MAX_MODEL_OBSERVATIONS // 2 // max(1, len(with_values)))
    for candidate in confirmed:
        point = unit_cube.encode(candidate.params)
        for j, value in enumerate(candidate.confirmed[:per_candidate]):
            inputs.append(point)
            values.append(value)
            groups.append(-1 - j)  # confirmation seeds: their own seed effects
    left = MAX_MODEL_OBSERVATIONS - len(values)
    for entry in _model_entries(entries, left):
        point = unit_cube.encode(entry.params)
        for replicate, value in list(entry.values.items())[:left]:
            inputs.append(point)
            values.append(value)
            groups.append(replicate)
            left -= 1
    return np.array(inputs), np.array(values), np.array(groups)


def _model_entries(entries: Sequence[Entry], observations: int) -> list[Entry]:
    """The parameter sets the model conditions on (best pooled mean first), when
    ``observations`` search replicates at most are left for it."""
    chosen: list[Entry] = []
    for entry in sorted(entries, key=lambda e: (e.mean(), e.first_trial))[:MAX_MODEL_ENTRIES]:
        if observations <= 0:
            break
        chosen.append(entry)
        observations -= entry.n
    return chosen


def _model_minima(
    model: SeedEffectGP,
    unit_cube: UnitCube,
    ranked: Sequence[_Candidate],
    radius: float,
    z: float = 0.0,
    evaluated: Sequence[np.ndarray] = (),
) -> list[_Candidate]:
    """Minima of the model's mean within ``radius`` of the best evaluated parameter sets, each
    kept only when the model expects it to beat its starting point by ``z`` posterior sds and
    it is none of the ``ranked`` or ``evaluated`` points (nor another minimum)."""
    import scipy.optimize  # here: importing the package's API does not pay for it (see _gp)

    def mean_at(point: np.ndarray) -> float:
        return float(model.mean(point[None, :])[0])

    known = [unit_cube.encode(c.params) for c in ranked]
    known += list(evaluated)
    found: list[_Candidate] = []
    for start in sorted(ranked, key=lambda c: c.estimate)[:_MODEL_STARTS]:
        origin = unit_cube.encode(start.params)
        bounds = unit_cube.bounds_near(origin, radius)
        result = scipy.optimize.minimize(
            mean_at, origin, method="L-BFGS-B", bounds=bounds, options={"maxiter": 50}
        )
        low, high = np.array(bounds).T
        params = unit_cube.decode(snap_to_grid(result.x, _MINIMUM_STEP, low, high), start.params)
        point = unit_cube.encode(params)  # after rounding to integers and steps
        if z > 0:
            gain, gain_sd = model.difference(origin, point)
            if gain < z * gain_sd:
                continue
        if np.all(np.max(np.abs(np.asarray(known) - point), axis=1) > 1e-3):
            known.append(point)
            found.append(_Candidate(f"model-{len(found) + 1}", params, None, mean_at(point)))
    return found


def _rank_confirmed(
    policy: NoisePolicy, top: list[_Candidate], unit_cube: UnitCube | None, noise: dict[str, Any]
) -> tuple[list[_Candidate], bool]:
    """Confirmed candidates best first: by the model refitted with the confirmation data, or by
    their confirmation means; and whether the model ranked them.

    The refit is done twice, with and without an effect per parameter set (``point_effect``:
    the confirmations are the replicates that tell it apart from the noise), and the model with
    the effect ranks only when the data support it: twice its log posterior exceeds the smooth
    model's by more than :data:`POINT_EFFECT_EVIDENCE` (a likelihood-ratio test of one more
    parameter at the 5% level). On a rough response it keeps the smooth model from ranking
    neighbourhoods instead of the candidates themselves; elsewhere the smooth model ranks, as
    before (chosen on the noise suite's tuning set, ``benchmarks/README.md``)."""
    if "model" in noise and unit_cube is not None:
        try:
            entries = list(policy.entries())
            model = _fit(unit_cube, entries, top)
            rough = _fit(unit_cube, entries, top, point_effect=True)
            if 2.0 * (rough.log_posterior - model.log_posterior) > POINT_EFFECT_EVIDENCE:
                model = rough
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            _log.warning("the response model could not be refitted (%s); ranking by confirmation means", exc)
        else:
            noise["model"] = model.hyperparameters
            means = model.mean(np.array([unit_cube.encode(c.params) for c in top]))
            for candidate, mean in zip(top, means, strict=True):
                candidate.estimate = float(mean)
            return sorted(top, key=lambda c: (c.estimate, c.name)), True
    for candidate in top:
        if candidate.confirmed:
            candidate.estimate = math.fsum(candidate.confirmed) / len(candidate.confirmed)
    return sorted(top, key=lambda c: (c.estimate, c.name)), False


def _describe(candidate: _Candidate, sign: float) -> dict[str, Any]:
    confirmed = candidate.confirmed
    return {
        "name": candidate.name,
        "params": candidate.params,
        "estimate": sign * candidate.estimate,
        "confirmation_mean": sign * math.fsum(confirmed) / len(confirmed) if confirmed else None,
        "search_replicates": candidate.entry.n if candidate.entry is not None else 0,
    }


async def _values(
    evaluate: EvaluateReplicates,
    treatment: Treatment | None,
    seeds: Mapping[int, int],
    metric: str,
    phase: str,
) -> list[float] | None:
    """The metric's value per seed, or None (logged) when a replicate failed or gave no finite value."""
    label = "the baseline" if treatment is None else treatment.name
    evaluation = await evaluate(treatment, seeds, f"selection/{phase}/{label if treatment else 'baseline'}")
    if evaluation.failed:
        _log.warning("%s failed in the %s round: %s", label, phase, evaluation.failure_reason())
        return None
    values = evaluation.values.get(metric, [])
    if len(values) != len(seeds) or any(v is None or not math.isfinite(v) for v in values):
        _log.warning("%s gave no finite %r on every %s seed", label, metric, phase)
        return None
    return [float(v) for v in values if v is not None]


async def _holdout(
    selection: WinnerSelection,
    count: int,
    metric: str,
    master_seed: int,
    evaluate: EvaluateReplicates,
    alpha: float,
    seed_scheme: str,
) -> int:
    """Evaluate winner and baseline on ``count`` held-out seeds; store the estimate and the test."""
    if count <= 0:
        selection.comparison_note = "no budget left for held-out seeds"
        return 0
    seeds = phase_seeds(master_seed, HOLDOUT_STREAM, count, seed_scheme)
    winner = await _values(evaluate, selection.winner, seeds, metric, "holdout")
    baseline = await _values(evaluate, None, seeds, metric, "holdout")
    selection.holdout = {"seeds": list(seeds.values()), "winner": winner, "baseline": baseline}
    if winner is not None:
        selection.holdout_estimate = math.fsum(winner) / len(winner)
    if winner is None or baseline is None:
        selection.comparison_note = (
            "the " + ("winner" if winner is None else "baseline") + " failed on a held-out seed"
        )
    elif count < 2:
        difference = winner[0] - baseline[0]
        selection.comparison_note = (
            f"one held-out seed (deterministic pipeline): difference {difference:+.6g}"
        )
    else:
        selection.comparison = paired_t_test(alpha)({metric: baseline}, {metric: winner})
    return 2 * count
