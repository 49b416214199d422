"""Content digests of step inputs, parameters and context values, for the step cache."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import numpy as np

_SCALARS: frozenset[type] = frozenset({type(None), bool, int, float, complex})


def compute_hash(obj: Any) -> str:
    """Return the sha256 hex digest of ``obj``'s content.

    Equal values of the same types give equal digests in every process and run, so the digest
    can key a cache on disk. NumPy arrays are hashed from their dtype, shape and raw bytes (no
    pickle, no copy when contiguous), which keeps hashing a large array as cheap as reading it.
    ``None``, booleans, numbers, strings and bytes are hashed from their value; lists, tuples,
    dicts (whatever their order), sets and frozensets from their items. Anything else (a pandas
    DataFrame, a dataclass, an object) is hashed from its pickle: two objects with the same
    pickle are equal, but equal objects may pickle differently (a dict inside built in another
    order), which only costs a cache miss. Values of different types never share a digest
    (``1``, ``1.0`` and ``True`` differ).

    Raises:
        TypeError: when ``obj`` (or an item of it) cannot be pickled and is none of the types
            above (a lock, an open file, a generator); the message names its type.
    """
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()


def _feed(digest: Any, obj: Any) -> None:
    kind = type(obj)
    if kind in _SCALARS:
        _tagged(digest, kind.__name__, repr(obj).encode())
    elif kind is str:
        _tagged(digest, "str", obj.encode("utf-8", "surrogatepass"))
    elif kind is bytes or kind is bytearray:
        _tagged(digest, kind.__name__, bytes(obj))
    elif kind is list or kind is tuple:
        digest.update(f"{kind.__name__}[{len(obj)}]".encode())
        for item in obj:
            _feed(digest, item)
    elif kind is dict:
        pairs = sorted(compute_hash(key) + compute_hash(value) for key, value in obj.items())
        _tagged(digest, "dict", "".join(pairs).encode())
    elif kind is set or kind is frozenset:
        _tagged(digest, kind.__name__, "".join(sorted(compute_hash(item) for item in obj)).encode())
    elif isinstance(obj, np.ndarray) and not obj.dtype.hasobject:
        array = np.ascontiguousarray(obj)
        digest.update(f"ndarray[{array.dtype.str}{array.shape}{type(obj).__qualname__}]".encode())
        digest.update(array.reshape(-1).view(np.uint8))
    elif isinstance(obj, np.generic) and not isinstance(obj, np.void):
        _tagged(digest, f"np.{obj.dtype.str}", obj.tobytes())
    else:
        try:
            data = pickle.dumps(obj, protocol=5)
        except Exception as exc:  # pickling raises TypeError, PicklingError, AttributeError...
            raise TypeError(f"cannot hash a {kind.__qualname__} value: {type(exc).__name__}: {exc}") from exc
        _tagged(digest, f"pickle:{kind.__module__}.{kind.__qualname__}", data)


def _tagged(digest: Any, tag: str, data: bytes) -> None:
    digest.update(f"{tag}:{len(data)}:".encode())
    digest.update(data)
