"""The registry of named datasources (``register_datasource``, ``get_datasource`` ...)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: the decorator in _datasource registers through here
    from ._datasource import DataSource

_LOCK = threading.Lock()
_REGISTRY: dict[str, DataSource] = {}


def _origin(source: DataSource) -> str:
    """Where ``source`` was made: the decorated function, or else the class (module.qualname)."""
    made_by = getattr(source, "_fn", None) or type(source)
    return f"{made_by.__module__}.{made_by.__qualname__}"


def register_datasource(name: str, source: DataSource, *, replace: bool = False) -> None:
    """Register ``source`` under ``name`` for :func:`get_datasource`.

    Registering a name again with a datasource made by the same function or class (same module
    and qualified name: what reloading the module that registered it does) replaces the entry;
    ``replace=True`` replaces whatever was there.

    Raises:
        TypeError: if ``name`` is not a non-empty string or ``source`` is not a DataSource.
        ValueError: if ``name`` is taken by a datasource made elsewhere and ``replace`` is False.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"datasource name must be a non-empty string, got {name!r}")
    if not callable(getattr(source, "fetch", None)):
        raise TypeError(
            f"register_datasource({name!r}, ...) needs a DataSource (with fetch), got {type(source).__name__}"
        )
    with _LOCK:
        existing = _REGISTRY.get(name)
        if existing is not None and not replace and _origin(existing) != _origin(source):
            raise ValueError(
                f"datasource name {name!r} is already registered (by {_origin(existing)}); "
                "unregister it first or pass replace=True"
            )
        _REGISTRY[name] = source


def get_datasource(name: str) -> DataSource:
    """Return the datasource registered under ``name``.

    Raises:
        KeyError: if nothing is registered under ``name``; the message lists the registered names.
    """
    with _LOCK:
        try:
            return _REGISTRY[name]
        except KeyError:
            raise KeyError(f"No datasource registered as {name!r}; registered: {sorted(_REGISTRY)}") from None


def unregister_datasource(name: str) -> None:
    """Remove the datasource registered under ``name``.

    Raises:
        KeyError: if nothing is registered under ``name`` (the message lists the registered names).
    """
    with _LOCK:
        if _REGISTRY.pop(name, None) is None:
            raise KeyError(f"No datasource registered as {name!r}; registered: {sorted(_REGISTRY)}")


def list_datasources() -> list[str]:
    """Return the registered names, sorted."""
    with _LOCK:
        return sorted(_REGISTRY)


def clear_registry() -> None:
    """Remove every registered datasource (tests start from an empty registry this way)."""
    with _LOCK:
        _REGISTRY.clear()
