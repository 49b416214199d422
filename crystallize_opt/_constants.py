"""Names shared by the engine, the plugins and the optimizer.

They live in their own module so that every layer can import them without importing
:class:`~crystallize_opt.Experiment` (which would make an import cycle).
"""

from __future__ import annotations

REPLICATE_KEY = "replicate"
CONDITION_KEY = "condition"
SEED_USED_KEY = "seed_used"
BASELINE_CONDITION = "baseline"
METADATA_FILENAME = "metadata.json"
VALID_EXECUTOR_TYPES = frozenset({"thread", "process"})

#: Context keys the engine writes itself; a treatment or ``initial_ctx`` may not set them.
RESERVED_CONTEXT_KEYS = frozenset({REPLICATE_KEY, CONDITION_KEY, SEED_USED_KEY})

#: Master seed used when the user gives none. Fixed, so two runs of one experiment agree.
DEFAULT_MASTER_SEED = 0

#: How a report gets plotly.js: ``inline`` (inside the HTML file, which opens offline on its own)
#: or ``shared`` (one ``plotly.min.js`` beside the report). Here so that the report, the study
#: config's ``report.plotlyjs`` and the command line's ``--plotlyjs`` accept the same values
#: (``config`` and ``report`` are independent layers).
PLOTLYJS_MODES = ("inline", "shared")
