"""Running the engine's coroutines from synchronous code, and refusing to inside an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..exceptions import EventLoopError

ResultT = TypeVar("ResultT")


def ensure_no_running_loop(
    method: str, async_method: str, owner: str = "Experiment", variable: str = "experiment"
) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise EventLoopError(
        # "already running" is crystallize-ml's wording, which its users' code matches on.
        f"{owner}.{method}() cannot be called while an event loop is already running "
        "(for example in Jupyter); "
        f"use `await {variable}.{async_method}(...)` instead"
    )


def run_sync(coro: Coroutine[Any, Any, ResultT]) -> ResultT:
    """Run ``coro`` on a new event loop, like :func:`asyncio.run` but leaving Ctrl-C alone.

    Since Python 3.11 ``asyncio.run`` turns the first SIGINT into a cancellation of the main
    task, which only takes effect when the task next waits. A synchronous pipeline never
    waits, so Ctrl-C went unnoticed until the whole run had finished (and then threw the run
    away). Here Ctrl-C raises KeyboardInterrupt in the code that is running, as in plain
    Python, so an interrupted run stops at once and ``strategy="resume"`` can continue it.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
