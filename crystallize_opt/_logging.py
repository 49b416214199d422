"""The package logger. The library logs; it never prints and never configures handlers."""

from __future__ import annotations

import logging

LOGGER_NAME = "crystallize_opt"


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the package logger, or a child of it named ``crystallize_opt.<name>``."""
    return logging.getLogger(LOGGER_NAME if name is None else f"{LOGGER_NAME}.{name}")


# Python's advice for libraries: without this, records at WARNING and above would reach
# stderr through logging's last-resort handler when the application configured nothing.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
