"""Values and messages made safe to show: bounded in size and on one line.

Standard library only: the command line uses it before it imports anything heavy.
"""

from __future__ import annotations

import reprlib
from typing import Any

#: The longest rendering of a value inside a message.
MAX_REPR = 80


class _BoundedRepr(reprlib.Repr):
    """``repr`` that looks at a bounded part of a value: at most 3 levels deep and 6 items a
    level, so a value that aliases expand to billions of items costs a few hundred steps."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxtuple = self.maxlist = self.maxset = self.maxfrozenset = self.maxdeque = 6
        self.maxarray = 6
        self.maxdict = 4
        self.maxstring = MAX_REPR
        self.maxlong = MAX_REPR
        self.maxother = MAX_REPR

    def repr_int(self, x: int, level: int) -> str:
        # repr() of an int of thousands of digits is slow, and refused past 4300 digits.
        if x.bit_length() > 256:
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            return super().repr_instance(x, level)
        except Exception:  # a user object whose __repr__ fails must not hide the error being shown
            return f"<{type(x).__name__} object>"


_REPR = _BoundedRepr()


def short_repr(value: Any, limit: int = MAX_REPR) -> str:
    """``repr(value)`` cut to ``limit`` characters (``...`` marks a cut), on one line.

    The work is bounded too: only the first items of the first levels of a container are looked
    at, whatever its size, and a string or a huge integer is cut before it is rendered.
    """
    try:
        text = _REPR.repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} object>"
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (newlines, tabs, other control
    characters, line and paragraph separators, zero-width and unassigned characters) written
    as its escape (``\\n``, ``\\x07``, ``\\u2028``), so that a message stays one visible line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
