"""Reading ``config.yaml``: safe YAML, syntax errors with their line, duplicate keys and alias
bombs refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..exceptions import ConfigurationError
from ._errors import config_error, describe, join

_MERGE_TAG = "tag:yaml.org,2002:merge"
#: The most values (mappings, lists and scalars) a config may hold once its aliases are
#: expanded. Python shares an aliased value, so loading costs only the file's own nodes, but
#: anything that walks the values (a message describing one, a copy, a fingerprint) pays for
#: every expanded one: 9 nested lists of 9 aliases are ~400 million values from under 1 KB.
#: A config describes a study; a million values is far beyond any written by hand.
MAX_EXPANDED_NODES = 1_000_000


def read_yaml(path: Path, source: str) -> Any:
    """Parse the YAML file ``path`` (``source``: how errors name it).

    Raises:
        ConfigurationError: when the file cannot be read, is not valid YAML (the message gives
            the line and column), repeats a key within one mapping (PyYAML would keep the last
            one silently), or has aliases that expand it beyond :data:`MAX_EXPANDED_NODES`
            values (naming the outermost key whose value alone is that large); checked on the
            parsed nodes, before any value is built.
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
        walk = _Walk(source)
        if walk.size(node, "") > MAX_EXPANDED_NODES:
            raise config_error(
                source,
                walk.largest_path(node),
                f"YAML aliases expand this value to more than {MAX_EXPANDED_NODES:,} values "
                "(an alias bomb?); use fewer aliases (*name) or write the values out",
            )
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


class _Walk:
    """One walk of the node graph, each node visited once: it refuses repeated keys and aliases
    that contain themselves, and counts the values each node stands for with aliases expanded
    (capped just above the budget, so the count stays a small number)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sizes: dict[int, int] = {}
        self.first_path: dict[int, str] = {}  # where a node first appears: its anchor, not an alias
        self.open: set[int] = set()

    def size(self, node: Node, path: str) -> int:
        """The number of values ``node`` expands to (at most ``MAX_EXPANDED_NODES + 1``).

        Raises:
            ConfigurationError: for a repeated key or a recursive alias below ``node``.
        """
        if id(node) in self.open:
            line = node.start_mark.line + 1
            raise config_error(
                self.source, path, f"recursive alias (the value on line {line} contains itself)"
            )
        if id(node) in self.sizes:  # an alias of a value already counted
            return self.sizes[id(node)]
        self.open.add(id(node))
        self.first_path[id(node)] = path
        total = 1
        for child_path, child in self._children(node, path):
            total = min(total + self.size(child, child_path), MAX_EXPANDED_NODES + 1)
        self.open.discard(id(node))
        self.sizes[id(node)] = total
        return total

    def _children(self, node: Node, path: str) -> list[tuple[str, Node]]:
        if isinstance(node, SequenceNode):
            return [(join(path, index), item) for index, item in enumerate(node.value)]
        if not isinstance(node, MappingNode):
            return []
        children: list[tuple[str, Node]] = []
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = None if key_node.tag == _MERGE_TAG else _key(key_node)
            line = key_node.start_mark.line + 1
            if key is not None and key in lines:
                raise config_error(
                    self.source,
                    path,
                    f"duplicate key {describe(key[-1])} (lines {lines[key]} and {line}); give each key once",
                )
            if key is not None:
                lines[key] = line
            child = join(path, str(key[-1]) if key is not None else "<<")
            children += [(child, key_node), (child, value_node)]
        return children

    def largest_path(self, node: Node) -> str:
        """The key path of the outermost value written at its place (not an alias) that alone
        expands beyond the budget, found by following the largest such value down from
        ``node``."""
        path = ""
        while True:
            own = [
                (self.sizes[id(child)], child_path, child)
                for child_path, child in self._children(node, path)
                if self.first_path.get(id(child)) == child_path
            ]
            if not own:
                return path
            size, child_path, child = max(own, key=lambda found: found[0])
            if size <= MAX_EXPANDED_NODES:
                return path
            node, path = child, child_path
