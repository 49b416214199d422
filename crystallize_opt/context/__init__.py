"""The per-run context: the add-only mapping steps read and write (:class:`FrozenContext`), the
metrics a run records, the artifacts a step writes, the learning curves steps report
(:meth:`FrozenContext.report`, :class:`TrialPruned`), how values are isolated, and the contexts
for looking inside a step (:class:`LoggingContext`, :func:`standalone_context`)."""

from ._artifact_log import ArtifactLog, ArtifactRecord
from ._current import current_context, running_in
from ._curve import CurveReporter, TrialPruned, curve_as_json, is_pruned_signal
from ._frozen import FrozenContext
from ._isolation import is_immutable, isolated
from ._metrics import ContextMetrics
from ._reads import LoggingContext, standalone_context

__all__ = [
    "ArtifactLog",
    "ArtifactRecord",
    "ContextMetrics",
    "CurveReporter",
    "FrozenContext",
    "LoggingContext",
    "TrialPruned",
    "current_context",
    "curve_as_json",
    "is_immutable",
    "is_pruned_signal",
    "isolated",
    "running_in",
    "standalone_context",
]
