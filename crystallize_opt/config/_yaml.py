"""Reading ``config.yaml``: safe YAML, syntax errors with their line, duplicate keys refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..exceptions import ConfigurationError
from ._errors import config_error, describe, join

_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_yaml(path: Path, source: str) -> Any:
    """Parse the YAML file ``path`` (``source``: how errors name it).

    Raises:
        ConfigurationError: when the file cannot be read, is not valid YAML (the message gives
            the line and column), or repeats a key within one mapping (PyYAML would keep the
            last one silently).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise config_error(source, "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise config_error(source, "", f"cannot be read: {exc.strerror or exc}") from exc
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_duplicates(node, "", source, set(), set())
        return loader.construct_document(node)
    except ConfigurationError:
        raise
    except yaml.MarkedYAMLError as exc:
        raise config_error(source, "", _syntax_message(exc)) from exc
    except yaml.YAMLError as exc:
        raise config_error(source, "", f"invalid YAML: {exc}") from exc
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. 2001-13-01 as a date
        raise config_error(source, "", f"invalid YAML value: {exc}") from exc
    finally:
        if loader is not None:
            loader.dispose()


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = "; ".join(p for p in (exc.context, exc.problem) if p)
    return f"{where}invalid YAML: {problem}"


def _key(node: Node) -> Any:
    """A mapping key as Python sees it, so ``1`` and ``0x1`` count as the same key."""
    if isinstance(node, ScalarNode):
        try:
            return ("key", SafeConstructor().construct_object(node))
        except Exception:  # an unconstructible scalar: construction reports it later
            return ("unconstructed", node.tag, node.value)
    return None  # a collection as key: unhashable, refused when the document is constructed


def _check_duplicates(node: Node, path: str, source: str, done: set[int], open_: set[int]) -> None:
    """Refuse repeated keys and aliases that contain themselves, walking the node graph once."""
    if id(node) in open_:
        line = node.start_mark.line + 1
        raise config_error(source, path, f"recursive alias (the value on line {line} contains itself)")
    if id(node) in done:  # an alias of a value already checked
        return
    open_.add(id(node))
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicates(item, join(path, index), source, done, open_)
    elif isinstance(node, MappingNode):
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = None if key_node.tag == _MERGE_TAG else _key(key_node)
            line = key_node.start_mark.line + 1
            if key is not None and key in lines:
                raise config_error(
                    source,
                    path,
                    f"duplicate key {describe(key[-1])} (lines {lines[key]} and {line}); give each key once",
                )
            if key is not None:
                lines[key] = line
            child = str(key[-1]) if key is not None else "<<"
            _check_duplicates(value_node, join(path, child), source, done, open_)
    open_.discard(id(node))
    done.add(id(node))
