"""Trial seeds: a seeded sampler draws each trial's randomness from what the study holds, so a
resumed study proposes what an uninterrupted one would have.

A sampler's random generator advances with every draw of the process that holds it: rebuilt
with the same seed by a rerun, it starts over while the study already holds trials, and its
proposals after the resume differ from those of a run that went straight through. Here, before
each trial it proposes, every generator of the sampler is reseeded from its seed and the number
of trials the sampler proposed that the study holds as run (see :func:`proposed_trials`). That
number is the same at the same point of the search however often the run was interrupted.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from .._logging import get_logger
from .._optuna_compat import SamplerGenerators, sampler_generators
from ..records import RetryRecord, TrialRecord

_log = get_logger("optimize")

#: Last word of the key hashed into a generator's seed before a trial (see :func:`trial_seed`),
#: as the noise-aware search's seed streams 1 to 3 are of its seeds.
TRIAL_SEED_STREAM = 4

_MASK64 = (1 << 64) - 1
_ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def trial_seed(base: int, proposed: int, generator: int) -> int:
    """The 32-bit seed of generator ``generator`` of a sampler whose generator state gave
    ``base``, for the trial after ``proposed`` proposed trials: the key ``(base, proposed,
    generator, TRIAL_SEED_STREAM)`` hashed by SplitMix64's mixing, word by word.

    Not :func:`~crystallize_opt.derive_seed`: its ``SeedSequence`` costs about 20 µs, paid before
    every trial; this costs about 1 µs, is the same on every platform and Python version, and
    distinct keys give unrelated seeds (collisions are as rare as for any 32-bit seed).
    """
    h = 0
    for word in (base, proposed, generator, TRIAL_SEED_STREAM):
        h = (h ^ word) + 0x9E3779B97F4A7C15 & _MASK64
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & _MASK64
        h ^= h >> 31
    return h >> 32


#: Sampler classes already reported as not reseeded (logged once per class and process).
_REPORTED: set[str] = set()


class TrialSeeding:
    """Reseeds the random generators of one seeded sampler before each trial it proposes.

    Generator ``k`` of an Optuna sampler (in the order
    :func:`~crystallize_opt._optuna_compat.sampler_generators` finds them) is seeded with
    :func:`trial_seed` ``(base_k, proposed, k)``, where ``base_k`` is fixed by the
    generator's state when the sampler was given (a function of the sampler's seed) and
    ``proposed`` is the number of trials the sampler proposed before.

    Build it with :meth:`of`.
    """

    def __init__(self, generators: SamplerGenerators):
        self._generators = generators
        self._bases = generators.fingerprints()

    @classmethod
    def of(cls, sampler: optuna.samplers.BaseSampler) -> TrialSeeding | None:
        """The seeding of ``sampler``, taken from its generators' present state (call it before
        the sampler draws anything: on a fresh sampler).

        None, leaving the sampler as it is, for a sampler made without a seed (it stays random,
        as asked) and for one whose generators are not found (a sampler of another package, or
        a later Optuna: logged once per class).
        """
        generators = sampler_generators(sampler)
        if generators is None:
            name = type(sampler).__name__
            if name not in _REPORTED:
                _REPORTED.add(name)
                _log.info(
                    "sampler %s keeps no random generator crystallize-opt can reseed per trial: a resumed "
                    "study may propose other trials than one run straight through",
                    name,
                )
            return None
        return cls(generators) if generators.seeded else None

    def reseed(self, proposed: int) -> None:
        """Seed every generator for the trial that follows ``proposed`` proposed trials."""
        self._generators.seed([trial_seed(base, proposed, k) for k, base in enumerate(self._bases)])


def proposed_trials(study: optuna.Study) -> int:
    """The trials of ``study`` that its sampler proposed and whose proposal ran: finished
    (complete, pruned, or failed after running its replicates), or failed before that and
    queued again as a retry (a trial whose process died: the retry runs the proposal).

    Left out: queued trials (a warm start, a retry, an intensification: their parameters were
    fixed), trials still running or waiting, and failed trials that never ran to an end and were
    not retried (one interrupted by Ctrl+C, one given up as not needed): the next trial the
    sampler proposes proposes such a trial's parameters again, as the run would have without
    the interruption.

    Raises:
        RecordError: if a failed trial's record or a retry mark is malformed.
    """
    trials = study.get_trials(deepcopy=False)
    retried = set()
    for trial in trials:
        retry = RetryRecord.from_trial(trial)
        if retry is not None and retry.of is not None:
            retried.add(retry.of)
    count = 0
    for trial in trials:
        if trial.state not in _ENDED or trial.system_attrs.get("fixed_params"):
            continue
        if trial.state == TrialState.FAIL and trial.number not in retried:
            record = TrialRecord.from_trial(trial)
            if record is None or record.replicates is None:
                continue
        count += 1
    return count
