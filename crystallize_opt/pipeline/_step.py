"""Pipeline steps: the :class:`PipelineStep` interface and the :func:`pipeline_step` decorator."""

from __future__ import annotations

import functools
import hashlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .._fingerprint import source_fingerprint
from ..context import FrozenContext
from ._injection import DECORATORS, InjectedCallable, InjectedSignature

F = TypeVar("F", bound=Callable[..., Any])


class PipelineStep(ABC):
    """One stage of a :class:`~crystallize_opt.Pipeline`.

    Subclasses implement :meth:`__call__` (which may be ``async def``), and may override
    :meth:`setup` and :meth:`teardown`, called once around each run of the experiment in the
    process that executes the replicates. A step whose ``setup`` returned is always torn down,
    whatever fails after it; one whose ``setup`` raised is not. ``params`` lists the step's explicit parameters; they
    enter the pipeline signature, so changing them invalidates stored results on resume.

    A subclass setting ``cacheable = True`` has its results cached (see :func:`pipeline_step`);
    its ``params`` must then name everything besides its input and the context that changes
    its output, since the cache key is made of them.
    """

    #: Whether the step's results are cached (keyed by :attr:`step_hash`, the input and the
    #: context values the step reads). False by default, as in crystallize-ml.
    cacheable: bool = False

    @abstractmethod
    def __call__(self, data: Any, ctx: FrozenContext) -> Any:
        """Transform ``data`` and return the new data; record metrics on ``ctx.metrics``."""

    def setup(self, ctx: FrozenContext) -> None:  # noqa: B027 - optional hook
        """Prepare resources before the replicates of a run. The default does nothing."""

    def teardown(self, ctx: FrozenContext) -> None:  # noqa: B027 - optional hook
        """Release resources after the replicates of a run. The default does nothing."""

    @property
    def params(self) -> dict[str, Any]:
        """The step's explicit parameters (empty by default)."""
        return {}

    @property
    def name(self) -> str:
        """The step's name, used in provenance and errors (artifact folders use the class name)."""
        return type(self).__name__

    @property
    def is_async(self) -> bool:
        """True when calling the step returns an awaitable."""
        return inspect.iscoroutinefunction(type(self).__call__)

    def fingerprint(self) -> str:
        """Identify the step's code and parameters; part of the pipeline signature."""
        return f"{self.name}:{source_fingerprint(type(self))}:{sorted(self.params.items())!r}"

    def _code(self) -> Any:
        """The code whose source identifies the step (its class; the function for decorated steps)."""
        return type(self)

    @property
    def step_hash(self) -> str:
        """The sha256 hex digest of the step's identity: the module and qualified name of its
        code, a digest of the code's source (a class step's and its ``__call__``'s), and its
        explicit ``params`` (by content, see
        :func:`~crystallize_opt.compute_hash`; by ``repr`` when they cannot be pickled). Two
        steps named alike in different modules have different hashes (in crystallize-ml they
        share artifact folders and signatures)."""
        from ._hashing import compute_hash

        code = self._code()
        try:
            params = compute_hash(self.params)
        except TypeError:
            params = repr(sorted(self.params.items()))
        source = source_fingerprint(code)
        if isinstance(code, type):
            # Also the __call__ itself, found by its line: a class's source is found by name, so
            # two classes of one name in a file (redefined in a test, a notebook) share it.
            source += source_fingerprint(code.__call__)
        identity = f"{code.__module__}.{code.__qualname__}\0{source}\0{params}"
        return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()


class _FunctionStep(InjectedCallable, PipelineStep):
    """A step made by :func:`pipeline_step` from a plain (or async) function."""

    def __call__(self, data: Any, ctx: FrozenContext) -> Any:
        if not self._signature.takes_ctx:
            return self._fn(data, **self._kwargs(ctx))
        return self._fn(data, ctx, **self._kwargs(ctx))

    async def __acall__(self, data: Any, ctx: FrozenContext) -> Any:
        """Run the step and await its result when the function is async (crystallize-ml's
        entry point for awaiting a step; the pipeline itself needs no such call)."""
        result = self(data, ctx)
        return await result if inspect.isawaitable(result) else result

    def _code(self) -> Any:
        return self._fn

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through the factory (see InjectedCallable), which does not know whether the
        # step was made cacheable when the module holds the plain function: carry the flag.
        rebuild, args = super().__reduce__()
        return (_rebuild_step, (rebuild, args, self.cacheable))


def _rebuild_step(rebuild: Callable[..., Any], args: tuple[Any, ...], cacheable: bool) -> PipelineStep:
    step: PipelineStep = rebuild(*args)
    step.cacheable = cacheable
    return step


@overload
def pipeline_step(fn: F, *, cacheable: bool = False) -> Callable[..., PipelineStep]: ...
@overload
def pipeline_step(
    fn: None = None, *, cacheable: bool = False
) -> Callable[[F], Callable[..., PipelineStep]]: ...


def pipeline_step(fn: Callable[..., Any] | None = None, *, cacheable: bool = False) -> Any:
    """Turn ``fn(data, ctx, **params)`` into a factory of :class:`PipelineStep` objects.

    Calling the factory with keyword arguments fixes those parameters explicitly; every other
    parameter is looked up at run time, first among the experiment's output artifacts, then in
    the context (so a treatment sets it by name), and last the function's default. ``fn`` may be
    ``async def``. Works with and without parentheses: ``@pipeline_step`` or ``@pipeline_step()``.

    With ``cacheable=True`` the step's results are cached (the process's
    :class:`~crystallize_opt.StepCache`: memory, and ``$CRYSTALLIZE_CACHE_DIR`` on disk). The key
    is the step's code and explicit parameters (:attr:`PipelineStep.step_hash`), its input, and
    the values of the context keys it read when it last ran on that input (injected
    parameters, so a treatment's parameters and the seed count), and the state of ``ctx.rng``
    when it draws from it. A hit adds the context keys, metrics and artifacts the step added
    and advances ``ctx.rng`` as the step did. The step must compute its output from these
    alone: NumPy's or Python's global random state, files it reads and the clock are not part
    of the key. Non-cacheable steps pay nothing for this.

    Raises:
        TypeError: at decoration if ``fn`` does not take ``data, ctx`` first; at factory call for
            an argument ``fn`` does not accept.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., PipelineStep]:
        signature = InjectedSignature(func, ("data", "ctx"), "pipeline step")
        # crystallize-ml's class name for the step (``add_one`` -> ``Add_OneStep``), which also
        # names its artifact folder; the step's ``name`` (provenance, errors) stays the
        # function's name.
        step_class: type[_FunctionStep] = type(
            f"{func.__name__.title()}Step", (_FunctionStep,), {"__module__": func.__module__}
        )

        @functools.wraps(func)
        def factory(**explicit: Any) -> PipelineStep:
            signature.check_explicit(explicit)
            step = step_class(func, signature, explicit)
            if cacheable:
                step.cacheable = True
            return step

        return factory

    return decorate(fn) if fn is not None else decorate


DECORATORS["pipeline step"] = pipeline_step
