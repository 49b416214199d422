"""How the winner of a noise-aware optimization was chosen: the record stored with the study."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..treatment import Treatment
from ..verifiers import ci_text
from ._base import CHECKS, SCHEMA_KEY, SCHEMA_VERSION, RecordError, check_version, fail, is_number

if TYPE_CHECKING:
    import optuna


@dataclass
class WinnerSelection:
    """How the winner of a noise-aware optimization was chosen, and how it compares.

    Stored as JSON in the study's user attribute ``"crystallize_selection"``.

    Attributes:
        winner: the chosen treatment (``trial-<n>`` for evaluated parameters, where ``n`` is
            the first trial that ran them; ``model-<i>`` for a minimum of the model's mean).
        rule: how it was chosen (``"model"``, ``"mean"`` or ``"best observed"``).
        search_estimate: the winner's objective value as estimated from the seeds used to
            choose it (model mean or pooled mean): optimistic under noise.
        holdout_estimate: the winner's mean over held-out seeds that played no part in
            choosing it (unbiased); None without held-out seeds.
        holdout: winner's and baseline's values and the seeds (``{"seeds", "winner", "baseline"}``).
        comparison: the paired t-test of winner vs baseline on the held-out seeds (keys of
            :func:`~crystallize_opt.paired_t_test`'s result; ``effect`` = winner - baseline), or
            None when it could not be made (``comparison_note`` says why).
        candidates: the confirmed candidates (name, params, model or pooled estimate,
            confirmation mean, search replicates).
        confirmation_seeds: the fresh seeds of the confirmation round (empty without one).
        comparison_note: why there is no comparison (e.g. the baseline failed), if so.
        noise: ``{"deterministic", "noise_sd", "stopped_trials", "intensified", "model"}``
            (what the search saw; model hyperparameters when it was fitted).
        executions: pipeline executions by phase (search, confirmation, holdout) and the budget.
    """

    winner: Treatment
    rule: str
    search_estimate: float
    holdout_estimate: float | None = None
    holdout: dict[str, Any] = field(default_factory=dict)
    comparison: dict[str, Any] | None = None
    comparison_note: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    confirmation_seeds: list[int] = field(default_factory=list)
    noise: dict[str, Any] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)

    #: The study user attribute it is stored under.
    ATTR: ClassVar[str] = "crystallize_selection"

    def to_json(self) -> dict[str, Any]:
        """:meth:`to_dict` with :data:`SCHEMA_KEY`: what the study stores."""
        return {**self.to_dict(), SCHEMA_KEY: SCHEMA_VERSION}

    @classmethod
    def from_json(cls, data: object, where: str | None = None) -> WinnerSelection:
        """Read a stored selection (any schema version up to :data:`SCHEMA_VERSION`).

        Raises:
            RecordError: if the winner, rule or search estimate are missing or of the wrong
                type, or the record is of a newer schema version.
        """
        where = where or f"study user attribute {cls.ATTR!r}"
        if not isinstance(data, Mapping):
            raise RecordError(f"{where} is {type(data).__name__} {data!r:.80}, expected a JSON object")
        check_version(where, data)
        winner = data.get("winner")
        if not (
            isinstance(winner, Mapping)
            and isinstance(winner.get("name"), str)
            and isinstance(winner.get("params"), Mapping)
        ):
            raise fail(where, "winner", winner, 'a {"name": string, "params": object}')
        if not isinstance(data.get("rule"), str):
            raise fail(where, "rule", data.get("rule"), "a string")
        if not is_number(data.get("search_estimate")):
            raise fail(where, "search_estimate", data.get("search_estimate"), "a number")
        for key, kind in (
            ("holdout", "dict"),
            ("comparison", "dict"),
            ("candidates", "list"),
            ("noise", "dict"),
            ("executions", "dict"),
            ("confirmation_seeds", "int_list"),
        ):
            value = data.get(key)
            ok = isinstance(value, list) if kind == "list" else CHECKS[kind][0](value)
            if value is not None and not ok:
                raise fail(where, key, value, "a list" if kind == "list" else CHECKS[kind][1])
        return cls.from_dict(data)

    @classmethod
    def from_study(cls, study: optuna.Study) -> WinnerSelection | None:
        """The stored selection, or None. Raises :class:`RecordError` as :meth:`from_json`."""
        stored = study.user_attrs.get(cls.ATTR)
        return None if stored is None else cls.from_json(stored)

    def store(self, study: optuna.Study) -> None:
        study.set_user_attr(self.ATTR, self.to_json())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible copy (what the study stores)."""
        return {
            "winner": {"name": self.winner.name, "params": dict(self.winner.params)},
            "rule": self.rule,
            "search_estimate": self.search_estimate,
            "holdout_estimate": self.holdout_estimate,
            "holdout": self.holdout,
            "comparison": self.comparison,
            "comparison_note": self.comparison_note,
            "candidates": self.candidates,
            "confirmation_seeds": self.confirmation_seeds,
            "noise": self.noise,
            "executions": self.executions,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WinnerSelection:
        """Read back what :meth:`to_dict` wrote."""
        winner = data["winner"]
        return cls(
            winner=Treatment(winner["name"], dict(winner["params"])),
            rule=data["rule"],
            search_estimate=data["search_estimate"],
            holdout_estimate=data.get("holdout_estimate"),
            holdout=dict(data.get("holdout") or {}),
            comparison=data.get("comparison"),
            comparison_note=data.get("comparison_note"),
            candidates=list(data.get("candidates") or []),
            confirmation_seeds=list(data.get("confirmation_seeds") or []),
            noise=dict(data.get("noise") or {}),
            executions=dict(data.get("executions") or {}),
        )

    def summary(self, metric: str) -> str:
        """Two or three lines for people: the winner, its estimates, and the baseline test."""
        lines = [f"winner {self.winner.name} {dict(self.winner.params)} (chosen by {self.rule})"]
        estimate = f"{metric}: search estimate {self.search_estimate:.6g}"
        if self.holdout_estimate is not None:
            estimate += f", held-out estimate {self.holdout_estimate:.6g} on {len(self.holdout.get('seeds', []))} fresh seed(s)"
        lines.append(estimate)
        c = self.comparison
        if c is not None:
            lines.append(
                f"vs baseline: effect {c['effect']:+.6g} (winner - baseline), {ci_text(c)}, "
                f"paired t-test p = {c['p_value']:.3g}"
            )
        elif self.comparison_note:
            lines.append(f"vs baseline: not compared ({self.comparison_note})")
        return "\n".join(lines)
