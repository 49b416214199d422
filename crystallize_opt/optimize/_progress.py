"""A progress bar for optimizations (trials done of target, or executions of a budget; best so
far), off unless asked for."""

from __future__ import annotations

import math
from typing import Any


class TrialProgress:
    """Wraps :mod:`tqdm` when ``enabled``; otherwise every method does nothing."""

    def __init__(self, enabled: bool, total: int, initial: int, description: str, unit: str = "trial"):
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=description, unit=unit, dynamic_ncols=True)

    def advance(self, best: float | None, to: int | None = None) -> None:
        """One more trial done (or, with ``to``, that many units done in all)."""
        if self._bar is None:
            return
        self._bar.update(1 if to is None else max(0, to - self._bar.n))
        if best is not None and math.isfinite(best):
            self._bar.set_postfix_str(f"best={best:.6g}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
