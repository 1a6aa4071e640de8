"""Tasks a service starts and does not wait for (an Originate that returns
when answered, a listen-in until the supervisor hangs up), kept so that the
service's ``close`` ends them and waits for them: a task cancelled and left
may still hold a pooled database connection, which the garbage collector
then finds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Coroutine
from typing import Any


class TaskSet:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self, *, cancel: bool = True) -> None:
        """Cancel them (``cancel=False``: let them finish), then wait for each."""
        tasks = list(self._tasks)
        if cancel:
            for task in tasks:
                task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def uncancelled(coro: Awaitable[Any]) -> Any:
    """Run ``coro`` to its end even if the caller is cancelled meanwhile (then
    re-raise the cancellation). For a step that talks to the database: a query
    cancelled half-way leaves its pooled connection to the garbage collector
    instead of going back to the pool."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise
