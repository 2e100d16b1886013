"""Playing a recorded turn back as a live stream of view events, with its original timing.

The replay is an ordinary async source of view events, so it goes through the same path as a live
turn (`batching.batches` → `ui.chat_view.TurnView`) and looks exactly like one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fileformats.recording import Recording

from .events import ViewEvent

MIN_SPEED, MAX_SPEED = 0.25, 20.0


def clamp_speed(speed: float | None) -> float:
    """A usable speed factor (a slider or a command line can send anything)."""
    try:
        value = float(speed) if speed is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
    if value != value:  # NaN
        return 1.0
    return min(MAX_SPEED, max(MIN_SPEED, value))


def replay_note(speed: float) -> str:
    return f"⏪ Replay of a recorded run (speed {clamp_speed(speed):g}×)"


async def replay_events(recording: Recording, speed: float = 1.0) -> AsyncIterator[ViewEvent]:
    """Yield the recorded events, each at its original offset divided by `speed`.

    Offsets are kept against one start time (not slept one after another), so the small lateness
    of each wake-up does not add up over a long run.
    """
    speed = clamp_speed(speed)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for timed in recording.events:
        delay = start + timed.t / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield timed.event
