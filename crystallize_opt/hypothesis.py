"""A :class:`Hypothesis`: a verifier applied to chosen metrics of the baseline and every treatment."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._logging import get_logger
from .exceptions import ConfigurationError
from .result import ConditionMetrics, HypothesisResult

__all__ = ["Hypothesis", "Ranker", "Verifier", "hypothesis", "p_value_ranker"]

logger = get_logger("hypothesis")

Verifier = Callable[[Mapping[str, Sequence[float]], Mapping[str, Sequence[float]]], Mapping[str, Any]]
Ranker = Callable[[Mapping[str, Any]], float]


def p_value_ranker(result: Mapping[str, Any]) -> float:
    """Return the result's ``p_value`` as a float (lower ranks better); +inf when missing or NaN."""
    try:
        score = float(result["p_value"])
    except (KeyError, TypeError, ValueError):
        return math.inf
    return math.inf if math.isnan(score) else score


def _callable_name(obj: object) -> str:
    name = getattr(obj, "name", None) or getattr(obj, "__name__", None)
    return name if isinstance(name, str) and name else type(obj).__name__


def _recorded(condition: ConditionMetrics) -> set[str]:
    """Metrics for which some replicate of ``condition`` holds at least one value."""
    return {m for values in condition.by_replicate.values() for m, v in values.items() if v}


class Hypothesis:
    """A statistical claim: ``verifier`` compares ``metrics`` of each treatment with the baseline.

    Args:
        verifier: ``verifier(baseline_metrics, treatment_metrics) -> mapping``, each argument
            mapping metric -> one value per replicate (the replicate means). If the verifier has
            a true ``paired`` attribute, both sides hold the same replicates in the same order.
        metrics: one metric name or a sequence of distinct names.
        ranker: ``ranker(result) -> float``, lower is better; defaults to :func:`p_value_ranker`.
        name: defaults to ``"<verifier name>:<metric>+<metric>..."``.

    Raises:
        ConfigurationError: naming the argument, if ``verifier`` or ``ranker`` is not callable,
            ``metrics`` is empty, not strings, or repeats a name, or ``name`` is not a non-empty string.
    """

    def __init__(
        self,
        verifier: Verifier,
        metrics: str | Sequence[str],
        ranker: Ranker | None = None,
        name: str | None = None,
    ) -> None:
        if not callable(verifier):
            raise ConfigurationError(f"Hypothesis: verifier={verifier!r} is not callable")
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, Sequence) or not metrics:
            raise ConfigurationError(
                f"Hypothesis: metrics={metrics!r} is invalid; expected a metric name or a non-empty "
                "sequence of metric names"
            )
        bad = [m for m in metrics if not isinstance(m, str) or not m]
        if bad:
            raise ConfigurationError(
                f"Hypothesis: metrics contains {bad!r}; every metric must be a non-empty string"
            )
        repeated = sorted({m for m in metrics if list(metrics).count(m) > 1})
        if repeated:
            raise ConfigurationError(f"Hypothesis: metrics repeats {repeated}; give each metric once")
        if ranker is not None and not callable(ranker):
            raise ConfigurationError(f"Hypothesis: ranker={ranker!r} is not callable (or None)")
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigurationError(
                f"Hypothesis: name={name!r} is invalid; expected a non-empty string or None"
            )
        self.verifier = verifier
        self.metrics: list[str] = list(metrics)
        self.ranker: Ranker = p_value_ranker if ranker is None else ranker
        self.name: str = name or f"{_callable_name(verifier)}:{'+'.join(self.metrics)}"

    def __repr__(self) -> str:
        return f"Hypothesis(name={self.name!r}, verifier={self.verifier!r}, metrics={self.metrics!r})"

    @property
    def paired(self) -> bool:
        """Whether the verifier wants values paired by replicate index."""
        return bool(getattr(self.verifier, "paired", False))

    def verify(
        self, baseline: ConditionMetrics, treatments: Mapping[str, ConditionMetrics]
    ) -> HypothesisResult:
        """Run the verifier for every treatment against ``baseline`` and rank the treatments.

        Each metric contributes one value per complete replicate (the replicate's mean). For a
        paired verifier only replicates complete on both sides are used, in replicate order.

        Returns:
            A :class:`HypothesisResult` whose ``results[treatment]`` is the verifier's output as a
            dict, ``errors[treatment]`` why a treatment could not be tested (a metric missing on
            a side or everywhere, a verifier exception), and ``ranking`` is ``{"ranked": [names,
            best first], "best": name or None, "scores": {name: score}}``.

        Never raises for missing metrics, verifier errors or ranker errors; those are reported
        in ``errors`` and logged. A treatment whose ranker call failed keeps its result, gets an
        ``errors`` entry too, and is ranked last with score +inf (as is a NaN score). Each
        message in a result's ``warnings`` list (the ready verifiers' way to say, e.g., that the
        test cannot reach its ``alpha`` with these replicates) is logged as a warning.
        """
        result = HypothesisResult(name=self.name, metrics=list(self.metrics))
        problems = self._missing_metrics(baseline, treatments)
        for treatment_name, treatment in treatments.items():
            if treatment_name in problems:
                result.errors[treatment_name] = problems[treatment_name]
                continue
            try:
                base_in, treat_in = self._inputs(baseline, treatment, treatment_name)
            except (TypeError, ValueError) as exc:  # a recorded value that is not a number
                message = f"cannot average the replicate values: {type(exc).__name__}: {exc}"
                result.errors[treatment_name] = message
                logger.warning("hypothesis %r, treatment %r: %s", self.name, treatment_name, message)
                continue
            try:
                out = self.verifier(base_in, treat_in)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                result.errors[treatment_name] = message
                logger.warning(
                    "hypothesis %r: verifier failed for treatment %r: %s", self.name, treatment_name, message
                )
                continue
            if not isinstance(out, Mapping):
                message = f"verifier returned {type(out).__name__}, expected a mapping"
                result.errors[treatment_name] = message
                logger.warning("hypothesis %r, treatment %r: %s", self.name, treatment_name, message)
                continue
            result.results[treatment_name] = dict(out)
            for note in out.get("warnings") or ():  # e.g. a test that cannot reach its alpha
                logger.warning("hypothesis %r, treatment %r: %s", self.name, treatment_name, note)
        result.ranking = self._rank(result)
        return result

    def _missing_metrics(
        self, baseline: ConditionMetrics, treatments: Mapping[str, ConditionMetrics]
    ) -> dict[str, str]:
        """Treatment -> message, for treatments that lack a metric on either side."""
        base_recorded = _recorded(baseline)
        treat_recorded = {name: _recorded(t) for name, t in treatments.items()}
        everywhere = base_recorded.union(*treat_recorded.values())
        nowhere = [m for m in self.metrics if m not in everywhere]
        global_message = ""
        if nowhere:
            global_message = (
                f"hypothesis {self.name!r}: metric(s) {nowhere} were recorded by no condition; "
                f"recorded metrics: {sorted(everywhere)}"
            )
            logger.error("%s", global_message)
        problems: dict[str, str] = {}
        for name, recorded in treat_recorded.items():
            parts = [global_message] if global_message else []
            for metric in self.metrics:
                if metric in nowhere:
                    continue
                if metric not in base_recorded:
                    parts.append(f"hypothesis {self.name!r}: the baseline did not record metric {metric!r}")
                if metric not in recorded:
                    parts.append(
                        f"hypothesis {self.name!r}: treatment {name!r} did not record metric {metric!r}"
                    )
            if parts:
                problems[name] = "; ".join(parts)
                if not global_message:
                    logger.warning("%s", problems[name])
        return problems

    def _inputs(
        self, baseline: ConditionMetrics, treatment: ConditionMetrics, treatment_name: str
    ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        base_in: dict[str, list[float]] = {}
        treat_in: dict[str, list[float]] = {}
        for metric in self.metrics:
            base = baseline.per_replicate(metric)
            treat = treatment.per_replicate(metric)
            if self.paired:
                common = sorted(base.keys() & treat.keys())
                if len(common) < max(len(base), len(treat)):
                    logger.debug(
                        "hypothesis %r, treatment %r, metric %r: pairing replicates %s "
                        "(baseline had %s, treatment had %s)",
                        self.name,
                        treatment_name,
                        metric,
                        common,
                        sorted(base),
                        sorted(treat),
                    )
                base_in[metric] = [base[r] for r in common]
                treat_in[metric] = [treat[r] for r in common]
            else:
                base_in[metric] = list(base.values())
                treat_in[metric] = list(treat.values())
        return base_in, treat_in

    def rank_treatments(self, verifier_results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """Score each treatment's verifier output with the ranker and sort, lowest score first.

        Args:
            verifier_results: treatment name -> that treatment's verifier output.

        Returns:
            ``{"best": name or None, "ranked": [(name, score), ...]}``, best first, as in
            crystallize-ml; ties keep the order of ``verifier_results``. A ranker that raises or
            returns NaN scores that treatment +inf (ranked last; the failure is logged), so one bad
            output never hides the others' ranking.
        """
        scores = self._scores(verifier_results, {})
        ranked = sorted(scores.items(), key=lambda item: item[1])  # stable: ties keep order
        return {"best": ranked[0][0] if ranked else None, "ranked": ranked}

    def _scores(self, results: Mapping[str, Mapping[str, Any]], errors: dict[str, str]) -> dict[str, float]:
        """Treatment -> the ranker's score (+inf when it failed; the failure goes to ``errors``)."""
        scores: dict[str, float] = {}
        for name, out in results.items():
            try:
                score = float(self.ranker(out))
            except Exception as exc:
                message = f"ranker failed ({type(exc).__name__}: {exc}); ranked last"
                errors[name] = message
                logger.warning("hypothesis %r, treatment %r: %s", self.name, name, message)
                score = math.inf
            scores[name] = math.inf if math.isnan(score) else score
        return scores

    def _rank(self, result: HypothesisResult) -> dict[str, Any]:
        scores = self._scores(result.results, result.errors)
        ranked = sorted(scores, key=scores.__getitem__)  # stable: ties keep treatment order
        return {"ranked": ranked, "best": ranked[0] if ranked else None, "scores": scores}


def hypothesis(
    *,
    verifier: Verifier,
    metrics: str | Sequence[str],
    name: str | None = None,
) -> Callable[[Ranker], Hypothesis]:
    """Decorate a ranker ``fn(verifier_output) -> float`` (lower is better) into a :class:`Hypothesis`.

    ``@hypothesis(verifier=welch_t_test(), metrics="accuracy")`` over ``def by_p(result): ...``
    makes ``by_p`` the Hypothesis ``Hypothesis(verifier, metrics, ranker=by_p, name=name or
    "by_p")`` (an instance, not a factory), as in crystallize-ml.

    Raises:
        ConfigurationError: as :class:`Hypothesis` does, when the decorator is applied (e.g.
            ``metrics`` empty, or the verifier or the decorated object not callable).
    """

    def decorate(fn: Ranker) -> Hypothesis:
        return Hypothesis(verifier, metrics, ranker=fn, name=name or _callable_name(fn))

    return decorate
