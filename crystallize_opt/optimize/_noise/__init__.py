"""Noise-aware optimization: racing and pooled replicates during the search, a model-based
choice of the winner confirmed on fresh seeds, and a held-out test against the baseline."""

from ...records import WinnerSelection
from ._search import NoiseSearch, check_noise_settings, stored_selection
from ._settings import NoiseHandling

__all__ = [
    "NoiseHandling",
    "NoiseSearch",
    "WinnerSelection",
    "check_noise_settings",
    "stored_selection",
]
