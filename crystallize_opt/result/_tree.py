"""The text tree of ``Result.print_tree``: what each step did, grouped by the levels asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_LEVELS = ("treatment", "replicate", "step")
_ACTION = "action"


def parse_format(fmt: str) -> list[str]:
    """Return the levels of ``fmt`` (``"treatment > replicate > step[ > action]"`` in any order).

    Raises:
        ValueError: "Invalid format spec" for an unknown, missing or repeated level;
            "'action' must be the final element" when ``action`` is not last.
    """
    tokens = [t.strip().lower() for t in str(fmt).split(">")]
    unknown = [t for t in tokens if t not in (*_LEVELS, _ACTION)]
    if unknown:
        raise ValueError(
            f"Invalid format spec: {fmt!r}; unknown level(s) {unknown}, expected "
            "'treatment', 'replicate' and 'step' in any order, optionally then 'action'"
        )
    if _ACTION in tokens and tokens.index(_ACTION) != len(tokens) - 1:
        raise ValueError(f"Invalid format spec: {fmt!r}: 'action' must be the final element if present")
    levels = [t for t in tokens if t != _ACTION]
    if sorted(levels) != sorted(_LEVELS):
        raise ValueError(
            f"Invalid format spec: {fmt!r}; name 'treatment', 'replicate' and 'step' once each "
            "(in any order), optionally followed by 'action'"
        )
    return tokens


def _actions(record: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, lines) for what a step record says the step did; empty when it did nothing."""
    found: list[tuple[str, list[str]]] = []
    changes = record.get("ctx_changes")
    if isinstance(changes, Mapping):  # crystallize-ml's record
        reads = changes.get("reads") or {}
        if reads:
            found.append(("Reads", [f"{k}={v}" for k, v in reads.items()]))
        for key, label in (("wrote", "Writes"), ("metrics", "Metrics")):
            details = changes.get(key) or {}
            if details:
                found.append(
                    (label, [f"{k}: {_get(c, 'before')} -> {_get(c, 'after')}" for k, c in details.items()])
                )
        return found
    added = record.get("ctx_added") or {}
    if added:
        found.append(("Writes", [f"{k}={v}" for k, v in added.items()]))
    metrics = record.get("metrics_added") or {}
    if metrics:
        found.append(("Metrics", [f"{k}: {v}" for k, v in metrics.items()]))
    return found


def _get(change: Any, key: str) -> Any:
    return change.get(key) if isinstance(change, Mapping) else change


def _label(level: str, value: Any) -> str:
    return {"treatment": f"Treatment '{value}'", "replicate": f"Replicate {value}"}.get(
        level, f"Step {value}"
    )


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))


def render_tree(ctx_changes: Mapping[str, Any], fmt: str) -> str:
    """Return the tree of ``ctx_changes`` (condition -> replicate -> step records) as text.

    Raises:
        ValueError: as :func:`parse_format`.
    """
    tokens = parse_format(fmt)
    levels = [t for t in tokens if t != _ACTION]
    rows = []
    for condition, replicates in ctx_changes.items():
        if not isinstance(replicates, Mapping):
            continue
        for replicate, records in replicates.items():
            for record in records or ():
                acts = _actions(record) if isinstance(record, Mapping) else []
                if acts:
                    values = {"treatment": condition, "replicate": replicate, "step": record.get("step", "")}
                    rows.append((values, acts))
    lines = ["Experiment Summary"]

    def build(subset: list[tuple[dict[str, Any], Any]], depth: int) -> None:
        if depth == len(levels):  # the step's actions, with or without a final 'action'
            for _, acts in subset:
                for label, details in acts:
                    lines.append("  " * (depth + 1) + label)
                    lines.extend("  " * (depth + 2) + d for d in details)
            return
        level = levels[depth]
        groups: dict[Any, list[tuple[dict[str, Any], Any]]] = {}
        for row in subset:
            groups.setdefault(row[0][level], []).append(row)
        for key in sorted(groups, key=_sort_key):
            lines.append("  " * (depth + 1) + _label(level, key))
            build(groups[key], depth + 1)

    build(rows, 0)
    return "\n".join(lines)
