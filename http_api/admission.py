"""Admission for the HTTP API: at most AGENT_CONCURRENCY turns run, a bounded number wait, the rest are refused.

The Gradio UI is bounded by its queue (`concurrency_limit` running, `max_size` waiting, then "Queue is
full"). The API gets the same shape of bound, so a flood of requests cannot pile up unbounded runs:
a request over the bound is answered at once with 503, a JSON `detail` and `Retry-After`, before
any stream starts and before anything is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import HTTPException

RETRY_AFTER_SECONDS = 5
BUSY = "The server is busy: too many turns are running or waiting. Try again in a few seconds."


class Admission:
    """`running` turns at once, `waiting` more queued behind them (in arrival order), nothing beyond."""

    def __init__(self, running: int, waiting: int):
        self.running = running
        self.capacity = running + waiting
        self.admitted = 0  # running + waiting
        self._slots: asyncio.Semaphore | None = None  # made on first use, in the server's event loop

    @classmethod
    def like_the_ui(cls, concurrency_limit: int) -> Admission:
        """The Gradio queue's bound (app.py): `concurrency_limit` running, four times as many waiting."""
        return cls(running=concurrency_limit, waiting=concurrency_limit * 4)

    def admit(self) -> Callable[[], None]:
        """Count a request in, or raise the 503; returns the release to call once (when it ends)."""
        if self.admitted >= self.capacity:
            raise HTTPException(503, BUSY, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.admitted += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released, self.admitted = True, self.admitted - 1

        return release

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for one of the `running` places (an admitted request waits here) and hold it."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.running)
        async with self._slots:
            yield


async def bounded(admission: Admission, source: AsyncIterator) -> AsyncIterator:
    """`source` started only once a running place is free, and closed before the place is given back."""
    async with admission.slot():
        try:
            async for item in source:
                yield item
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
