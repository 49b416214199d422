"""``python -m crystallize_opt`` runs the command line."""

from .cli import entry_point

entry_point()
