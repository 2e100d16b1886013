"""ui/chat_handler.py's `_Pace`: the UI's update interval grows with the chats streaming in this process, and
a chat stops counting when its turn ends however it ends (the end, an error, a closed generator, a Stop).
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

import pytest

from devtools.server import offline_settings
from runtime import Runtime
from ui import chat_handler
from ui.chat_handler import CROWD, UI_INTERVAL, _Pace, make_handler

BILLING = "I was charged twice on invoice INV-1001, can you refund me?"


@pytest.mark.parametrize("streaming, times", [(0, 1), (1, 1), (5, 1), (10, 1), (15, 1.5), (20, 2), (50, 5)])
def test_the_interval_grows_with_the_chats_streaming_beyond_the_crowd(streaming, times):
    assert CROWD == 10  # the figures below (and the commit's "20 chats: 100 ms, 50: 250 ms") assume it
    pace = _Pace()
    pace.streaming = streaming
    assert pace.interval() == pytest.approx(UI_INTERVAL * times)


def test_each_stream_counts_while_inside_and_its_interval_follows_the_crowd():
    pace = _Pace()
    with ExitStack() as stack:
        intervals = [stack.enter_context(pace.stream()) for _ in range(20)]
        assert pace.streaming == 20
        assert intervals[0]() == pytest.approx(2 * UI_INTERVAL)  # the first chat slows down as others join
    assert pace.streaming == 0
    assert intervals[0]() == pytest.approx(UI_INTERVAL)


def test_a_stream_whose_body_raises_stops_counting():
    pace = _Pace()
    with pytest.raises(ValueError), pace.stream():
        assert pace.streaming == 1
        raise ValueError("the turn failed")
    assert pace.streaming == 0


@pytest.fixture
async def runtime():
    # A 30 s tool: the turn is still running whenever the test closes or cancels it.
    runtime = Runtime.from_settings(offline_settings(demo_tokens_per_second=0, demo_tool_latency=30))
    yield runtime
    await runtime.aclose()


@pytest.mark.parametrize("layer", ["the turn's stream", "the handler"])
async def test_a_chat_closed_after_its_first_update_stops_counting(runtime, layer):
    before = chat_handler._pace.streaming
    if layer == "the handler":
        updates = make_handler(runtime)(BILLING, [], None)
    else:
        updates = chat_handler._stream(runtime, await runtime.store.create(), [], BILLING, None)
    await asyncio.wait_for(anext(updates), 30)
    assert chat_handler._pace.streaming == before + 1
    await asyncio.wait_for(updates.aclose(), 30)
    assert chat_handler._pace.streaming == before


async def test_a_stopped_chat_stops_counting(runtime):
    # Gradio's Stop cancels the task running the handler, mostly while it waits for the next update.
    before = chat_handler._pace.streaming
    first = asyncio.Event()

    async def consume():
        async for _ in make_handler(runtime)(BILLING, [], None):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 30)
    assert chat_handler._pace.streaming == before + 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert chat_handler._pace.streaming == before


async def test_a_finished_chat_stops_counting():
    runtime = Runtime.from_settings(offline_settings(demo_tokens_per_second=0))
    try:
        before = chat_handler._pace.streaming
        async for _ in make_handler(runtime)(BILLING, [], None):
            assert chat_handler._pace.streaming == before + 1
        assert chat_handler._pace.streaming == before
    finally:
        await runtime.aclose()
