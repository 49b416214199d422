"""Fill a user function's parameters from explicit arguments, declared outputs and the context.

Shared by :func:`~crystallize_opt.pipeline_step` and :func:`~crystallize_opt.data_source`, so both
resolve parameters by the same rule: explicit argument, then a declared output artifact of that
name, then the context key of that name, then the function's default.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .._fingerprint import source_fingerprint
from ..context import FrozenContext, isolated
from ._resources import ResourceFactory

_MISSING = inspect.Parameter.empty


class InjectedSignature:
    """The parameters of ``fn`` after the leading positional ones (``data``/``ctx``)."""

    def __init__(self, fn: Callable[..., Any], leading: tuple[str, ...], kind: str):
        self.fn = fn
        self.kind = kind
        self.name: str = getattr(fn, "__name__", type(fn).__name__)
        params = list(inspect.signature(fn).parameters.values())
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        #: False for a step written ``fn(data, *, params)`` (no ``ctx`` parameter), which
        #: crystallize-ml also takes: it is called without the context.
        self.takes_ctx = not (
            leading == ("data", "ctx") and len(positional) < 2 and all(p.name != "ctx" for p in params)
        )
        if not self.takes_ctx:
            leading = ("data",)
        if len(params) < len(leading):
            raise TypeError(f"{kind} {self.name!r} must accept {', '.join(leading)} as its first parameters")
        self.injected: dict[str, inspect.Parameter] = {
            p.name: p
            for p in params[len(leading) :]
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        }
        self.accepts_var_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)

    def check_explicit(self, explicit: Mapping[str, Any]) -> None:
        """Raise TypeError naming any explicit argument the function does not take."""
        if self.accepts_var_kwargs:
            return
        unknown = sorted(set(explicit) - set(self.injected))
        if unknown:
            raise TypeError(
                f"{self.kind} {self.name!r} got unexpected argument(s) {unknown}; "
                f"it accepts {sorted(self.injected)}"
            )

    def required(self) -> list[str]:
        """Names that have no default and so must come from somewhere at run time."""
        return [n for n, p in self.injected.items() if p.default is _MISSING]

    def resolve(self, explicit: Mapping[str, Any], ctx: FrozenContext) -> dict[str, Any]:
        """Return the keyword arguments for one call.

        Explicit arguments are handed out as the context hands out its values: a mutable one as a
        copy of its own per call (:func:`~crystallize_opt.context.isolated`), so what one
        replicate does to it reaches neither the user's object nor another replicate.

        Raises:
            TypeError: when a parameter without default is found nowhere; the message says where
                it was looked for.
        """
        kwargs: dict[str, Any] = (
            {name: isolated(value) for name, value in explicit.items()} if explicit else {}
        )
        for name, param in self.injected.items():
            if name in kwargs:
                continue
            found, value = lookup(ctx, name)
            if found:
                kwargs[name] = value
            elif param.default is _MISSING:
                raise TypeError(
                    f"{self.kind} {self.name!r} needs parameter {name!r}: pass it explicitly "
                    f"({self.name}({name}=...)), or set context key {name!r} through initial_ctx or a treatment"
                )
        return kwargs


def lookup(ctx: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """Find parameter ``name``: ``(True, value)`` from the context's outputs or keys, else
    ``(False, None)``. A :func:`~crystallize_opt.resource_factory` found in the context gives
    its resource for this context."""
    outputs = getattr(ctx, "outputs", None)
    if outputs and name in outputs:
        return True, outputs[name]
    if name not in ctx:
        return False, None
    value = ctx[name]
    if isinstance(value, ResourceFactory):
        value = value(ctx if isinstance(ctx, FrozenContext) else FrozenContext(ctx))
    return True, value


def inject_from_ctx(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``fn`` so that parameters not passed explicitly are filled from its ``ctx``.

    Each call must pass ``ctx`` (by position or name; to a function without a ``ctx``
    parameter, second or as ``ctx=``, and it is not passed on). Every other parameter not passed (except
    ``data``) is looked up by name, by the rule steps use: an output artifact of the context,
    then the context key (a :func:`~crystallize_opt.resource_factory` gives its resource), then
    the function's default. :func:`~crystallize_opt.pipeline_step` and
    :func:`~crystallize_opt.data_source` already do this; use it for helpers called from steps.

    Raises:
        TypeError: at the call, when ``ctx`` is not passed or is not a FrozenContext, or a parameter
            without default is not in the context (naming it).
    """
    signature = inspect.signature(fn)
    name_of = getattr(fn, "__name__", type(fn).__name__)

    takes_ctx = "ctx" in signature.parameters

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx: Any = None
        if not takes_ctx:
            # ``fn(data, *, params)`` without a ctx parameter, as crystallize-ml takes: the
            # context comes second (or as ``ctx=``) and is not passed on.
            if "ctx" in kwargs:
                ctx = kwargs.pop("ctx")
            elif len(args) >= 2:
                ctx, args = args[1], args[:1] + args[2:]
        bound = signature.bind_partial(*args, **kwargs)
        if takes_ctx:
            ctx = bound.arguments.get("ctx")
        if not isinstance(ctx, FrozenContext):  # as crystallize-ml: a plain dict is refused too
            raise TypeError(
                f"{name_of!r} decorated with inject_from_ctx must be called with ctx (a FrozenContext), "
                f"got {type(ctx).__name__}"
            )
        for name, param in signature.parameters.items():
            if name in bound.arguments or name in ("ctx", "data"):
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            found, value = lookup(ctx, name)
            if found:
                bound.arguments[name] = value
            elif param.default is _MISSING:
                raise TypeError(f"{name_of!r} needs parameter {name!r}: pass it, or set context key {name!r}")
        return fn(*bound.args, **bound.kwargs)

    return wrapper


class InjectedCallable:
    """State and behaviour shared by function-backed steps and datasources.

    Mixed in before :class:`PipelineStep` / :class:`DataSource` so its members take precedence.
    """

    def __init__(self, fn: Callable[..., Any], signature: InjectedSignature, explicit: Mapping[str, Any]):
        self._fn = fn
        self._signature = signature
        self._explicit = dict(explicit)

    def __reduce__(self) -> tuple[Any, ...]:
        if "<locals>" in self._fn.__qualname__:
            # Defined inside a function, so no name reaches it: the function itself, which
            # cloudpickle (Dask) sends by value and plain pickle refuses, saying so, at once.
            return (_rebuild_from_function, (self._signature.kind, self._fn, self._explicit))
        # The decorated name in the module is the factory, not ``fn``: rebuild through it so
        # steps and datasources travel to worker processes.
        return (
            _rebuild_injected,
            (self._signature.kind, self._fn.__module__, self._fn.__qualname__, self._explicit),
        )

    def _kwargs(self, ctx: FrozenContext) -> dict[str, Any]:
        return self._signature.resolve(self._explicit, ctx)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._explicit)

    @property
    def name(self) -> str:
        return self._signature.name

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self._fn)

    @property
    def required_params(self) -> list[str]:
        """Parameters with no default and no explicit value: they must come from the context."""
        return [n for n in self._signature.required() if n not in self._explicit]

    def fingerprint(self) -> str:
        return f"{self.name}:{source_fingerprint(self._fn)}:{sorted(self._explicit.items())!r}"

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self._explicit.items())})"


#: The decorator that makes each kind of injected callable (``"pipeline step"``, ``"data
#: source"``), to rebuild one from a plain function when unpickling. ``_step`` and ``_datasource``
#: register theirs as they are imported (importing this package imports both), so this module
#: needs neither of them.
DECORATORS: dict[str, Callable[[Callable[..., Any]], Any]] = {}


def _rebuild_injected(kind: str, module: str, qualname: str, explicit: dict[str, Any]) -> Any:
    import importlib

    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not hasattr(target, "__wrapped__"):  # the module holds the plain function
        target = DECORATORS[kind](target)
    return target(**explicit)


def _rebuild_from_function(kind: str, fn: Callable[..., Any], explicit: dict[str, Any]) -> Any:
    return DECORATORS[kind](fn)(**explicit)
