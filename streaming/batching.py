"""Coalescing a fast event stream into batches of at most one per interval (~50 ms).

A pump task drains the turn as fast as it produces, so the run never waits on a slow reader;
text and reasoning deltas merge into the last buffered event of their kind, so the buffer holds at
most the non-text events of the turn plus the text not yet shown: it cannot grow per token, and no
tool, handoff, error or done event is ever dropped. A timer flushes buffered text during pauses, so
nothing waits unshown for longer than the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from .events import Done, ReasoningDelta, TextDelta, ViewEvent

_MERGEABLE = (TextDelta, ReasoningDelta)


def _append(buffer: list[ViewEvent], event: ViewEvent) -> None:
    if buffer and isinstance(event, _MERGEABLE) and type(buffer[-1]) is type(event):
        buffer[-1] = replace(event, content=buffer[-1].content + event.content)  # type: ignore[union-attr]
    else:
        buffer.append(event)


async def batches(
    source: AsyncIterator[ViewEvent], interval: float | Callable[[], float] = 0.05
) -> AsyncIterator[list[ViewEvent]]:
    """Yield the source's events in order, in lists, at most one list per `interval` seconds.

    `interval` may be a function, asked before each list (a pace that follows the load).
    The first list is yielded as soon as there is an event; the last one as soon as the source ends.
    Closing this generator cancels the pump, which cancels the source (and so the agent run).
    """
    pace = interval if callable(interval) else lambda: interval
    loop = asyncio.get_running_loop()
    buffer: list[ViewEvent] = []
    arrived = asyncio.Event()
    finished = asyncio.Event()
    failure: list[BaseException] = []

    async def pump() -> None:
        try:
            async for event in source:
                _append(buffer, event)
                arrived.set()
        except Exception as exc:  # handed to the consumer, raised there
            failure.append(exc)
        finally:
            finished.set()
            arrived.set()

    task = asyncio.create_task(pump())
    last_flush = float("-inf")
    text_shown = False
    try:
        while True:
            await arrived.wait()
            wait = last_flush + pace() - loop.time()
            # The first text of the answer goes out at once, even right after a batch of notes:
            # time to first visible text is what a person feels most.
            first_text = not text_shown and any(isinstance(e, TextDelta) for e in buffer)
            # `Done` ends a turn: what comes after it is the source's own clean-up (writing a recording),
            # which the final text and the figures must not wait for.
            ended = bool(buffer) and isinstance(buffer[-1], Done)
            if wait > 0 and not finished.is_set() and not first_text and not ended:
                # Hold the batch until the interval is up, unless the source ends first.
                # (asyncio.timeout, not wait_for: wait_for can swallow a Stop on 3.11.)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await finished.wait()
            arrived.clear()
            batch = buffer[:]
            buffer.clear()
            if batch:
                last_flush = loop.time()
                text_shown = text_shown or any(isinstance(e, TextDelta) for e in batch)
                yield batch
            if finished.is_set() and not buffer:
                break
        if failure:
            raise failure[0]
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
