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
        search_estimate_kind: what ``search_estimate`` is, in words, as the selection stored it
            (None in selections of earlier releases: :attr:`search_estimate_is` derives it).
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
        executions: pipeline executions by phase (search, confirmation, holdout) and the budget;
            the search's count by cost (a pruned execution counts the share of its learning
            curve it ran, so it can be fractional).
    """

    winner: Treatment
    rule: str
    search_estimate: float
    search_estimate_kind: str | None = None
    holdout_estimate: float | None = None
    holdout: dict[str, Any] = field(default_factory=dict)
    comparison: dict[str, Any] | None = None
    comparison_note: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    confirmation_seeds: list[int] = field(default_factory=list)
    noise: dict[str, Any] = field(default_factory=dict)
    executions: dict[str, float] = field(default_factory=dict)

    #: The study user attribute it is stored under.
    ATTR: ClassVar[str] = "crystallize_selection"
    #: The study user attribute naming the winner for Optuna's own tools (see :meth:`winner_label`).
    WINNER_ATTR: ClassVar[str] = "crystallize_winner"

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
            ("search_estimate_kind", "str"),
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
        """Store the selection (:attr:`ATTR`) and the winner's label for Optuna's own tools
        (:attr:`WINNER_ATTR`, see :meth:`winner_label`) with ``study``."""
        study.set_user_attr(self.ATTR, self.to_json())
        study.set_user_attr(self.WINNER_ATTR, self.winner_label())

    @property
    def winner_trial(self) -> int | None:
        """The number of the trial the winner names (``trial-<n>``: the first trial that ran its
        parameters); None for a minimum of the model's mean (``model-<i>``), which no trial ran."""
        return _trial_number(self.winner.name)

    @property
    def candidate_trials(self) -> list[int]:
        """The trial numbers of the candidates that are trials, in the selection's order (the
        winner first when it is a trial); each number once."""
        numbers = [_trial_number(self.winner.name)]
        numbers += [_trial_number(str(c.get("name", ""))) for c in self.candidates if isinstance(c, Mapping)]
        return list(dict.fromkeys(n for n in numbers if n is not None))

    @property
    def search_estimate_is(self) -> str:
        """What :attr:`search_estimate` is, in words: as stored (:attr:`search_estimate_kind`), else
        (a selection of an earlier release) derived from the rule."""
        if self.search_estimate_kind:
            return self.search_estimate_kind
        if self.rule == "model":
            return "the response model's posterior mean"
        if self.rule == "mean":
            return "its mean on the confirmation seeds" if self.confirmation_seeds else "its pooled mean"
        return "the mean of its replicates"

    @property
    def holdout_estimate_is(self) -> str:
        """What :attr:`holdout_estimate` is, in words."""
        return f"its mean on {len(self.holdout.get('seeds') or [])} held-out seed(s)"

    def winner_label(self) -> dict[str, Any]:
        """The winner as Optuna's own tools show it (JSON; optuna-dashboard lists it with the
        study's user attributes): its trial number (None for a ``model-<i>`` winner), name,
        parameters, both estimates with what they are, and a note that Optuna's ``best_trial``
        is the trial with the best value told to Optuna, which need not be the winner."""
        return {
            "trial": self.winner_trial,
            "name": self.winner.name,
            "params": dict(self.winner.params),
            "chosen_by": self.rule,
            "search_estimate": self.search_estimate,
            "search_estimate_is": self.search_estimate_is,
            "holdout_estimate": self.holdout_estimate,
            "holdout_estimate_is": self.holdout_estimate_is if self.holdout_estimate is not None else None,
            "note": (
                "crystallize-opt's best treatment is this winner, chosen after the search (confirmed on "
                "fresh seeds, tested on held-out seeds). Optuna's best_trial (optuna best-trial, the "
                "dashboard's Best Trial) is the trial with the best value told to Optuna, its parameters' "
                "pooled mean over the search's replicates: under noise often a lucky draw."
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible copy (what the study stores; ``search_estimate_kind`` only when set,
        so a selection of an earlier release is stored again as it was)."""
        kind = (
            {} if self.search_estimate_kind is None else {"search_estimate_kind": self.search_estimate_kind}
        )
        return {
            "winner": {"name": self.winner.name, "params": dict(self.winner.params)},
            "rule": self.rule,
            "search_estimate": self.search_estimate,
            **kind,
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
            search_estimate_kind=data.get("search_estimate_kind"),
            holdout_estimate=data.get("holdout_estimate"),
            holdout=dict(data.get("holdout") or {}),
            comparison=data.get("comparison"),
            comparison_note=data.get("comparison_note"),
            candidates=list(data.get("candidates") or []),
            confirmation_seeds=list(data.get("confirmation_seeds") or []),
            noise=dict(data.get("noise") or {}),
            executions=dict(data.get("executions") or {}),
        )

    def executions_text(self) -> str | None:
        """Where the executions went, one line for people (the command line and the report
        show this one); None when the record holds no counts. A fractional search count is the
        pruned executions' shares of their learning curves."""
        executions = self.executions
        if not executions:
            return None
        search = executions.get("search", 0)
        shares = " (pruned ones count the share of the curve they ran)" if search != int(search) else ""
        return (
            f"{search:g} search{shares}, {executions.get('confirmation', 0):g} confirmation, "
            f"{executions.get('holdout', 0):g} held-out (budget {executions.get('budget', 'n/a')})"
        )

    def summary(self, metric: str) -> str:
        """Two or three lines for people: the winner, its estimates, and the baseline test."""
        lines = [f"winner {self.winner.name} {dict(self.winner.params)} (chosen by {self.rule})"]
        estimate = f"{metric}: search estimate {self.search_estimate:.6g} ({self.search_estimate_is})"
        if self.holdout_estimate is not None:
            estimate += f", held-out estimate {self.holdout_estimate:.6g} ({self.holdout_estimate_is})"
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


def _trial_number(name: str) -> int | None:
    """``n`` of a treatment named ``trial-<n>``, else None."""
    prefix, _, number = name.partition("-")
    return int(number) if prefix == "trial" and number.isdigit() else None
