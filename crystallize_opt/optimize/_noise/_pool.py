"""Replicates pooled by parameter set, whichever trial ran them, and the noise they show."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def params_key(params: Mapping[str, Any]) -> str:
    """The pooling key of a parameter set: equal parameters give equal keys."""
    return json.dumps(dict(params), sort_keys=True, default=repr)


@dataclass
class Entry:
    """Every search replicate measured for one parameter set.

    ``values`` maps the replicate index (which fixes the seed) to the replicate's objective
    value, signed so that lower is better.
    """

    params: dict[str, Any]
    first_trial: int
    #: The Optuna parameters of its first trial (what re-queueing it needs).
    trial_params: dict[str, Any]
    values: dict[int, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.values)

    def mean(self) -> float:
        return math.fsum(self.values.values()) / len(self.values) if self.values else math.inf

    def next_replicates(self, count: int) -> list[int]:
        """The ``count`` lowest replicate indices this parameter set has not run yet."""
        out: list[int] = []
        index = 0
        while len(out) < count:
            if index not in self.values:
                out.append(index)
            index += 1
        return out


class Pool:
    """Entries by parameter set; what racing, intensification and the winner's choice read."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        #: Replicates recorded, all parameter sets together (kept incrementally).
        self.replicates = 0
        self._repeated = False  # some parameter set ran on several seeds
        self._varied = False  # and some gave different values on them

    def record(self, entry: Entry, replicate: int, value: float) -> None:
        """Store ``entry``'s value on ``replicate`` (kept incrementally: read every trial)."""
        if entry.values and not self._varied:
            self._repeated = True
            self._varied = any(v != value for v in entry.values.values())
        if replicate not in entry.values:
            self.replicates += 1
        entry.values[replicate] = value

    def entry(self, params: Mapping[str, Any], trial_number: int, trial_params: Mapping[str, Any]) -> Entry:
        """The entry of ``params`` (created, owned by ``trial_number``, if it is new)."""
        key = params_key(params)
        found = self.entries.get(key)
        if found is None:
            found = self.entries[key] = Entry(dict(params), trial_number, dict(trial_params))
        return found

    def get(self, params: Mapping[str, Any]) -> Entry | None:
        return self.entries.get(params_key(params))

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def deterministic(self) -> bool | None:
        """True when every parameter set run on several seeds gave identical values, False when
        one did not, None before any parameter set ran twice."""
        if not self._repeated:
            return None
        return not self._varied

    def residual_sd(self) -> float | None:
        """Per-replicate noise sd after removing each parameter set's mean and each seed's
        shared offset (a two-way additive fit over parameter sets run at least twice); None
        with fewer than 3 residual degrees of freedom."""
        rows = [e for e in self.entries.values() if e.n >= 2]
        cells = [(i, r, v) for i, e in enumerate(rows) for r, v in e.values.items()]
        seeds = sorted({r for _, r, _ in cells})
        dof = len(cells) - len(rows) - len(seeds) + 1
        if dof < 3:
            return None
        seed_index = {r: j for j, r in enumerate(seeds)}
        rows_of = np.array([i for i, _, _ in cells])
        seeds_of = np.array([seed_index[r] for _, r, _ in cells])
        values = np.array([v for _, _, v in cells])
        means = np.zeros(len(rows))
        offsets = np.zeros(len(seeds))
        row_counts = np.bincount(rows_of, minlength=len(rows))
        seed_counts = np.bincount(seeds_of, minlength=len(seeds))
        for _ in range(20):  # alternating least squares; converges in a few sweeps here
            means = np.bincount(rows_of, values - offsets[seeds_of], len(rows)) / row_counts
            offsets = np.bincount(seeds_of, values - means[rows_of], len(seeds)) / seed_counts
            offsets -= offsets.mean()
        residuals = values - means[rows_of] - offsets[seeds_of]
        return float(math.sqrt(float(np.sum(residuals**2)) / dof))
