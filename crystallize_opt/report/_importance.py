"""Parameter importances with Optuna's default evaluator (PED-ANOVA), degenerate cases as notes."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import optuna


@dataclass(frozen=True)
class Importances:
    """Normalized importances, most important first (empty when not computed), and a note that
    says why they are missing or what Optuna warned about."""

    values: dict[str, float] = field(default_factory=dict)
    note: str | None = None


def compute_importances(study: optuna.Study, *, n_complete: int, param_names: Sequence[str]) -> Importances:
    """``optuna.importance.get_param_importances(study)``, never raising.

    For a multi-objective study, PED-ANOVA's default target is used: the importance of a
    parameter for reaching the Pareto front. Fewer than two completed trials, fewer than two
    parameters, or an evaluator error give empty values and a note; evaluator warnings (e.g.
    "importances will be equal") are kept as the note.
    """
    if n_complete < 2:
        return Importances(
            note=f"Parameter importances need at least 2 completed trials; this study has {n_complete}."
        )
    if not param_names:
        return Importances(note="No parameter was searched, so there is no importance to show.")
    if len(param_names) == 1:
        return Importances(
            note=f"Only one parameter ({param_names[0]}) was searched: there is nothing to compare it with."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            values = optuna.importance.get_param_importances(study)
        except Exception as exc:  # any evaluator failure becomes a note, never a crashed report
            return Importances(
                note=f"Parameter importances could not be computed: {type(exc).__name__}: {exc}"
            )
    messages = list(
        dict.fromkeys(
            str(w.message).strip() for w in caught if not issubclass(w.category, DeprecationWarning)
        )
    )
    values = {str(k): float(v) for k, v in sorted(values.items(), key=lambda kv: -kv[1])}
    note = "Optuna warned: " + " ".join(messages) if messages else None
    return Importances(values=values, note=note)
