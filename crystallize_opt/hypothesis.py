"""A :class:`Hypothesis`: a verifier applied to chosen metrics of the baseline and every treatment."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

from ._logging import get_logger
from .exceptions import ConfigurationError, MissingMetricError
from .result import ConditionMetrics, HypothesisResult

__all__ = ["Hypothesis", "Ranker", "Verifier", "hypothesis", "p_value_ranker", "rank_by_p_value"]

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


#: crystallize-ml's name for the default ranker (the same function: a missing p-value scores
#: +inf here, 1.0 there).
rank_by_p_value = p_value_ranker


def _callable_name(obj: object) -> str:
    name = getattr(obj, "name", None) or getattr(obj, "__name__", None)
    return name if isinstance(name, str) and name else type(obj).__name__


def _replicate_values(condition: ConditionMetrics, metric: str) -> dict[int, Any]:
    """Complete replicate index -> its value of ``metric`` for a verifier: the mean of the
    replicate's values as a float, except that a replicate that recorded the metric once as
    something ``float`` does not take (a NumPy array of samples, say) gives that value as
    recorded, as crystallize-ml passes recorded values on.

    Raises:
        TypeError, ValueError: if a replicate recorded several values that are not numbers.
    """
    out: dict[int, Any] = {}
    for rep, values in sorted(condition.by_replicate.items()):
        recorded = values.get(metric)
        if rep in condition.partial or not recorded:
            continue
        if len(recorded) > 1:
            out[rep] = float(sum(float(v) for v in recorded) / len(recorded))
            continue
        try:
            out[rep] = float(recorded[0])
        except (TypeError, ValueError):
            out[rep] = recorded[0]
    return out


def _recorded(condition: ConditionMetrics) -> set[str]:
    """Metrics for which some replicate of ``condition`` holds at least one value."""
    return {m for values in condition.by_replicate.values() for m, v in values.items() if v}


class Hypothesis:
    """A statistical claim: ``verifier`` compares ``metrics`` of each treatment with the baseline.

    Args:
        verifier: ``verifier(baseline_metrics, treatment_metrics) -> mapping``, each argument
            mapping metric -> one value per replicate (the replicate means; a value that is no
            number, recorded once in a replicate, as recorded). If the verifier has
            a true ``paired`` attribute, both sides hold the same replicates in the same order.
        metrics: one metric name, a sequence of distinct names (one verifier call gets them
            all), a sequence of such sequences (groups: one verifier call per group, the
            result a list of outputs), or None: every metric the baseline recorded.
        ranker: ``ranker(result) -> float``, lower is better; defaults to :func:`p_value_ranker`.
        name: defaults to the ranker's ``__name__`` when a ranker is given (``"hypothesis"``
            when it has none), as in crystallize-ml; without a ranker, to
            ``"<verifier name>:<metric>+<metric>..."`` (``"<verifier name>:*"`` for every metric).

    Raises:
        ConfigurationError: naming the argument, if ``verifier`` or ``ranker`` is not callable,
            ``metrics`` (or a group) is empty, not strings, or repeats a name, or ``name`` is not
            a non-empty string.
    """

    def __init__(
        self,
        verifier: Verifier,
        metrics: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        ranker: Ranker | None = None,
        name: str | None = None,
    ) -> None:
        if not callable(verifier):
            raise ConfigurationError(f"Hypothesis: verifier={verifier!r} is not callable")
        groups = None if metrics is None else _metric_groups(metrics)
        if ranker is not None and not callable(ranker):
            raise ConfigurationError(f"Hypothesis: ranker={ranker!r} is not callable (or None)")
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigurationError(
                f"Hypothesis: name={name!r} is invalid; expected a non-empty string or None"
            )
        self.verifier = verifier
        #: The metric groups when ``metrics`` was a list of lists; None otherwise.
        self.groups: list[list[str]] | None = groups if groups is not None and _is_grouped(metrics) else None
        #: Every metric tested, in order, each once; empty when ``metrics`` was None (every metric).
        self.metrics: list[str] = list(dict.fromkeys(m for g in groups or () for m in g))
        self.ranker: Ranker = p_value_ranker if ranker is None else ranker
        if name is None and ranker is not None:
            ranker_name = getattr(ranker, "__name__", None)
            name = ranker_name if isinstance(ranker_name, str) and ranker_name else "hypothesis"
        self.name: str = name or f"{_callable_name(verifier)}:{'+'.join(self.metrics) or '*'}"

    def __repr__(self) -> str:
        return f"Hypothesis(name={self.name!r}, verifier={self.verifier!r}, metrics={self.metrics!r})"

    @property
    def paired(self) -> bool:
        """Whether the verifier wants values paired by replicate index."""
        return bool(getattr(self.verifier, "paired", False))

    @overload
    def verify(
        self, baseline: ConditionMetrics, treatments: Mapping[str, ConditionMetrics]
    ) -> HypothesisResult: ...
    @overload
    def verify(
        self, baseline: Mapping[str, Sequence[Any]], treatments: Mapping[str, Sequence[Any]]
    ) -> Any: ...
    def verify(self, baseline: Any, treatments: Any) -> Any:
        """Test the treatments against the baseline; two forms, told apart by ``baseline``'s type.

        **A condition** (crystallize-opt's form, what a run calls): ``verify(baseline:
        ConditionMetrics, treatments: {name: ConditionMetrics})`` runs the verifier for every
        treatment and ranks them. Each metric contributes one value per complete replicate (the
        replicate's mean, or the value itself when the replicate recorded it once and it is not
        a number, e.g. an array of samples); for a paired verifier only replicates complete on both sides are
        used, in replicate order. Returns a :class:`HypothesisResult` whose
        ``results[treatment]`` is the verifier's output as a dict (a list of them for grouped
        metrics), ``errors[treatment]`` why a treatment could not be tested (a metric missing on
        a side or everywhere, a verifier exception), and ``ranking`` is ``{"best": name or None,
        "ranked": [(name, score), ...] best first, "scores": {name: score}}``. Never raises for
        missing metrics, verifier errors or ranker errors; those are reported in ``errors`` and
        logged. A treatment whose ranker call failed keeps its result, gets an ``errors`` entry
        too, and is ranked last with score +inf (as is a NaN score). Each message in a result's
        ``warnings`` list is logged as a warning.

        **Two dicts** (crystallize-ml's form): ``verify(baseline_metrics, treatment_metrics)``,
        each metric -> values, calls the verifier on the chosen metrics of each side (every
        baseline metric when ``metrics`` is None) and returns its output, or a list of outputs,
        one per group, for grouped metrics.

        Raises:
            MissingMetricError: (two-dict form) naming the metric and the side lacking it.
            Exception: (two-dict form) whatever the verifier raises.
        """
        if isinstance(baseline, ConditionMetrics):
            return self._verify_conditions(baseline, treatments)
        groups = self._groups_for(list(baseline))
        outputs = []
        for group in groups:
            subsets = []
            for side, values in (("baseline", baseline), ("treatment", treatments)):
                missing = [m for m in group if m not in values]
                if missing:
                    raise MissingMetricError(
                        f"hypothesis {self.name!r}: the {side} has no metric {missing[0]!r}; it has {sorted(values)}"
                    )
                subsets.append({m: values[m] for m in group})
            outputs.append(self.verifier(subsets[0], subsets[1]))
        return outputs if self.groups is not None else outputs[0]

    def _groups_for(self, recorded: Sequence[str]) -> list[list[str]]:
        """The metric groups to test; with ``metrics=None`` one group of ``recorded``."""
        if self.groups is not None:
            return self.groups
        return [list(self.metrics) if self.metrics else list(recorded)]

    def _verify_conditions(
        self, baseline: ConditionMetrics, treatments: Mapping[str, ConditionMetrics]
    ) -> HypothesisResult:
        groups = self._groups_for([m for m, values in baseline.metrics.items() if values])
        tested = list(dict.fromkeys(m for g in groups for m in g))
        result = HypothesisResult(name=self.name, metrics=tested)
        if not tested:  # metrics=None and a baseline that recorded nothing
            message = f"hypothesis {self.name!r}: the baseline recorded no metric to test"
            logger.error("%s", message)
            result.errors = dict.fromkeys(treatments, message)
            return result
        problems = self._missing_metrics(baseline, treatments, tested)
        for treatment_name, treatment in treatments.items():
            if treatment_name in problems:
                result.errors[treatment_name] = problems[treatment_name]
                continue
            outputs: list[dict[str, Any]] = []
            for group in groups:
                out = self._run_group(result, group, baseline, treatment, treatment_name)
                if out is None:
                    break
                outputs.append(out)
            else:
                result.results[treatment_name] = outputs if self.groups is not None else outputs[0]
        result.ranking = self._rank(result)
        return result

    def _run_group(
        self,
        result: HypothesisResult,
        group: list[str],
        baseline: ConditionMetrics,
        treatment: ConditionMetrics,
        treatment_name: str,
    ) -> dict[str, Any] | None:
        """The verifier's output for one group, or None after recording why there is none."""
        try:
            base_in, treat_in = self._inputs(group, baseline, treatment, treatment_name)
        except (TypeError, ValueError) as exc:  # a recorded value that is not a number
            message = f"cannot average the replicate values: {type(exc).__name__}: {exc}"
            result.errors[treatment_name] = message
            logger.warning("hypothesis %r, treatment %r: %s", self.name, treatment_name, message)
            return None
        try:
            out = self.verifier(base_in, treat_in)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            result.errors[treatment_name] = message
            logger.warning(
                "hypothesis %r: verifier failed for treatment %r: %s", self.name, treatment_name, message
            )
            return None
        if not isinstance(out, Mapping):
            message = f"verifier returned {type(out).__name__}, expected a mapping"
            result.errors[treatment_name] = message
            logger.warning("hypothesis %r, treatment %r: %s", self.name, treatment_name, message)
            return None
        for note in out.get("warnings") or ():  # e.g. a test that cannot reach its alpha
            logger.warning("hypothesis %r, treatment %r: %s", self.name, treatment_name, note)
        return dict(out)

    def _missing_metrics(
        self, baseline: ConditionMetrics, treatments: Mapping[str, ConditionMetrics], metrics: list[str]
    ) -> dict[str, str]:
        """Treatment -> message, for treatments that lack a metric on either side."""
        base_recorded = _recorded(baseline)
        treat_recorded = {name: _recorded(t) for name, t in treatments.items()}
        everywhere = base_recorded.union(*treat_recorded.values())
        nowhere = [m for m in metrics if m not in everywhere]
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
            for metric in metrics:
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
        self, metrics: list[str], baseline: ConditionMetrics, treatment: ConditionMetrics, treatment_name: str
    ) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        base_in: dict[str, list[Any]] = {}
        treat_in: dict[str, list[Any]] = {}
        for metric in metrics:
            base = _replicate_values(baseline, metric)
            treat = _replicate_values(treatment, metric)
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
        ranked = sorted(scores.items(), key=lambda item: item[1])  # stable: ties keep treatment order
        return {"best": ranked[0][0] if ranked else None, "ranked": ranked, "scores": scores}


def _is_grouped(metrics: object) -> bool:
    """Whether ``metrics`` is a list of lists (groups), not a name or a list of names."""
    return (
        isinstance(metrics, Sequence)
        and not isinstance(metrics, str)
        and not all(isinstance(m, str) for m in metrics)
    )


def _metric_groups(metrics: object) -> list[list[str]]:
    """``metrics`` as a list of groups (one group unless it is a list of lists), checked.

    Raises:
        ConfigurationError: naming what is wrong.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, Sequence) or not metrics:
        raise ConfigurationError(
            f"Hypothesis: metrics={metrics!r} is invalid; expected a metric name, a non-empty "
            "sequence of metric names, a sequence of such sequences, or None"
        )
    if all(not isinstance(m, Sequence) or isinstance(m, str) for m in metrics):
        groups = [list(metrics)]
    elif all(isinstance(m, Sequence) and not isinstance(m, str) and m for m in metrics):
        groups = [list(m) for m in metrics]
    else:
        raise ConfigurationError(
            f"Hypothesis: metrics={metrics!r} mixes names and groups (or has an empty group); "
            "give names, or non-empty lists of names"
        )
    for group in groups:
        bad = [m for m in group if not isinstance(m, str) or not m]
        if bad:
            raise ConfigurationError(
                f"Hypothesis: metrics contains {bad!r}; every metric must be a non-empty string"
            )
        repeated = sorted({m for m in group if group.count(m) > 1})
        if repeated:
            raise ConfigurationError(f"Hypothesis: metrics repeats {repeated}; give each metric once")
    return groups


def hypothesis(
    *,
    verifier: Verifier,
    metrics: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
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
