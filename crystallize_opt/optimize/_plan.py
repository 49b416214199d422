"""The replicate plan of a trial: which replicates it runs, and whether it stops early."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..plugins import SEED_SCHEME
from ..treatment import Treatment
from ._evaluation import TrialEvaluation

if TYPE_CHECKING:
    from ..context import CurveReporter


class ReplicatePlan:
    """Which replicate indices a trial runs (each index fixes its seed) and when it stops early.

    The default runs replicates ``0 .. replicates_per_trial - 1`` of every trial at once, on
    seeds shared by every trial (see :attr:`BaseOptimizer.common_random_numbers`).
    """

    @property
    def reports_replicates(self) -> bool:
        """When True, the loop runs a trial's replicates one at a time and calls
        :meth:`report_replicate` after each, so a poor trial can stop early (default False)."""
        return False

    @property
    def seed_scheme(self) -> str:
        """How replicate seeds follow from the master seed (``_loop.trial_replicate_seed`` applies it):
        this release's, crystallize-ml's formula (a stored study of an earlier release may keep
        its own)."""
        return SEED_SCHEME

    def replicate_indices(self, treatment: Treatment) -> Sequence[int] | None:
        """Replicate indices ``treatment``'s trial runs; None: ``0 .. replicates_per_trial - 1``."""
        return None

    def trial_key(self, treatment: Treatment) -> int | None:
        """The number identifying ``treatment``'s trial, used to derive independent seeds when
        trials do not share seeds; None: the seeds are those of every trial."""
        return None

    def report_replicate(self, treatment: Treatment, evaluation: TrialEvaluation) -> bool:
        """Receive the replicates of ``treatment`` finished so far; return True to stop it."""
        return False

    def curve_reporter(self, treatment: Treatment) -> CurveReporter | None:
        """What hears the learning curves ``treatment``'s replicates report (``ctx.report``) as
        they run, and may stop the trial inside a replicate; None (the default): the curves are
        only recorded. Asked once per trial, before its first replicate, when
        :attr:`reports_replicates` is True."""
        return None

    def stop_reason(self, treatment: Treatment) -> dict[str, Any] | None:
        """Where and why :meth:`report_replicate` stopped ``treatment``'s trial, for its record
        (the layout of :attr:`TrialPruned.decision`); None (the default): not said."""
        return None
