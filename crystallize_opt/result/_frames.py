"""The optional table packages (pandas, pyarrow) behind ``to_df`` and ``to_parquet``."""

from __future__ import annotations

import importlib
from typing import Any

#: What to install for the table methods (the ``dataframes`` extra of pyproject.toml).
INSTALL_HINT = "pip install 'crystallize-opt[dataframes]'"


def require_module(module: str, caller: str) -> Any:
    """Import ``module`` for ``caller``.

    Raises:
        ImportError: naming ``caller``, the missing package and the ``dataframes`` extra.
    """
    package = module.split(".")[0]
    try:
        __import__(module)  # the import statement's hook (builtins.__import__), then the module
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{package} is required for {caller} but is not installed; install it with {INSTALL_HINT}"
        ) from exc


def require_pandas(caller: str) -> Any:
    """Return the pandas module for ``caller`` (see :func:`require_module`)."""
    return require_module("pandas", caller)
