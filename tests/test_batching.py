"""batches(): coalescing, order, timer flush, and cancellation of the source."""

from __future__ import annotations

import asyncio

from streaming.batching import batches
from streaming.events import Done, Handoff, ReasoningDelta, TextDelta, ToolCall, ToolOutput

INTERVAL = 0.05


def _flatten(collected):
    return [event for batch in collected for event in batch]


def _text(events) -> str:
    return "".join(e.content for e in events if isinstance(e, TextDelta))


async def _fast_source(count: int):
    for index in range(count):
        yield TextDelta(f"w{index} ")
        if index % 50 == 0:
            await asyncio.sleep(0)  # a fast model still yields to the loop now and then
    yield Done(final="", last_agent="Triage Agent")


async def test_a_fast_source_is_coalesced_into_far_fewer_batches():
    collected = [batch async for batch in batches(_fast_source(2000), INTERVAL)]
    events = _flatten(collected)
    assert len(collected) < 50  # 2000 deltas
    assert _text(events) == "".join(f"w{i} " for i in range(2000))
    assert isinstance(events[-1], Done)


async def test_non_text_events_keep_their_order_and_are_never_merged():
    script = [
        ReasoningDelta("let me "), ReasoningDelta("check"),
        ToolCall("lookup_invoice", "c1", "{}"), ToolOutput("c1", "ok"),
        TextDelta("a"), TextDelta("b"),
        Handoff("Triage Agent", "Billing Agent"),
        TextDelta("c"), ToolCall("request_refund", "c2", "{}"), ToolCall("request_refund", "c3", "{}"),
        Done(final="c", last_agent="Billing Agent"),
    ]

    async def source():
        for event in script:
            yield event

    events = _flatten([batch async for batch in batches(source(), INTERVAL)])
    assert events == [
        ReasoningDelta("let me check"),
        ToolCall("lookup_invoice", "c1", "{}"), ToolOutput("c1", "ok"),
        TextDelta("ab"),
        Handoff("Triage Agent", "Billing Agent"),
        TextDelta("c"), ToolCall("request_refund", "c2", "{}"), ToolCall("request_refund", "c3", "{}"),
        Done(final="c", last_agent="Billing Agent"),
    ]


DEADLINE = 30.0  # seconds: only a hang reaches it, on however busy a machine
FOREVER = 3600.0  # an interval no test waits out: what arrives within DEADLINE did not wait for it


async def test_the_first_and_the_last_batch_do_not_wait_for_the_interval():
    end = asyncio.Event()

    # Notes, not text: the answer's first text has a fast lane of its own (the test after the next).
    async def source():
        yield ToolCall("lookup_invoice", "c1", "{}")
        await end.wait()
        yield Done(final="", last_agent="Billing Agent")

    stream = batches(source(), FOREVER)
    assert await asyncio.wait_for(anext(stream), DEADLINE) == [ToolCall("lookup_invoice", "c1", "{}")]
    end.set()  # the source ends: its last event goes out at once, not a whole interval after the first
    rest = await asyncio.wait_for(_collect(stream), DEADLINE)
    assert _flatten(rest) == [Done(final="", last_agent="Billing Agent")]


async def _collect(stream):
    return [batch async for batch in stream]


async def test_text_is_flushed_by_the_timer_during_a_pause():
    interval = 0.5
    loop = asyncio.get_running_loop()
    resume = asyncio.Event()
    first_shown = asyncio.Event()

    async def source():
        yield TextDelta("first")
        await first_shown.wait()  # the next delta comes just after the first batch went out
        yield TextDelta(" second")
        await resume.wait()  # then the model pauses (thinking, a slow tool) until the test lets it go on
        yield TextDelta(" third")

    stream = batches(source(), interval)
    first = await asyncio.wait_for(anext(stream), DEADLINE)
    shown_at = loop.time()
    assert _text(first) == "first"
    first_shown.set()
    second = await asyncio.wait_for(anext(stream), DEADLINE)
    assert _text(second) == " second"
    assert not resume.is_set()  # shown by the timer, without waiting for the next delta
    assert loop.time() - shown_at >= interval * 0.9  # but not before the interval was up (timers never fire early)
    resume.set()
    rest = await asyncio.wait_for(_collect(stream), DEADLINE)
    assert _text(_flatten(rest)) == " third"


async def test_at_most_one_batch_per_interval():
    async def source():
        for index in range(60):
            yield TextDelta(str(index))
            await asyncio.sleep(0.005)  # a model at 200 tokens/s

    loop = asyncio.get_running_loop()
    times = []
    async for _ in batches(source(), INTERVAL):
        times.append(loop.time())
    gaps = [later - earlier for earlier, later in zip(times, times[1:-1])]  # the final flush may be early
    assert all(gap >= INTERVAL * 0.9 for gap in gaps), gaps


async def test_source_error_is_raised_after_the_events_before_it():
    async def source():
        yield ToolCall("lookup_invoice", "c1", "{}")
        raise RuntimeError("boom")

    seen = []
    try:
        async for batch in batches(source(), INTERVAL):
            seen.extend(batch)
    except RuntimeError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the source's error was swallowed")
    assert seen == [ToolCall("lookup_invoice", "c1", "{}")]


async def test_closing_the_consumer_cancels_the_source():
    started, cancelled, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def source():
        try:
            yield TextDelta("working")
            started.set()
            await asyncio.Event().wait()  # a run that would go on forever
            yield TextDelta("never")
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finally:
            finished.set()

    stream = batches(source(), INTERVAL)
    assert _text(await stream.__anext__()) == "working"
    await asyncio.wait_for(started.wait(), DEADLINE)
    await asyncio.wait_for(stream.aclose(), DEADLINE)
    assert cancelled.is_set() and finished.is_set()


async def test_cancelling_the_consumer_task_cancels_the_source():
    delivered, finished = asyncio.Event(), asyncio.Event()

    async def source():
        try:
            while True:
                yield TextDelta("x")
                await asyncio.sleep(0.001)
        finally:
            finished.set()

    async def consumer():
        async for _ in batches(source(), INTERVAL):
            delivered.set()

    task = asyncio.create_task(consumer())
    await asyncio.wait_for(delivered.wait(), DEADLINE)
    task.cancel()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), DEADLINE)
    await asyncio.wait_for(finished.wait(), DEADLINE)


async def test_the_first_text_is_not_held_behind_a_batch_of_notes():
    """Right after notes went out, the answer's first text is still sent at once (time to first text)."""
    release = asyncio.Event()

    async def source():
        yield Handoff("Triage Agent", "Billing Agent")
        await release.wait()
        yield TextDelta("Hello")
        await asyncio.Event().wait()  # the model keeps thinking; only the first text matters here

    stream = batches(source(), FOREVER)
    try:
        first = await asyncio.wait_for(anext(stream), DEADLINE)
        assert isinstance(first[0], Handoff)
        release.set()
        second = await asyncio.wait_for(anext(stream), DEADLINE)  # held for the interval, it would never come
        assert [e.content for e in second] == ["Hello"]
    finally:
        await stream.aclose()


async def test_done_goes_out_at_once_without_waiting_for_the_sources_clean_up():
    """The final text and `Done` are not held behind the source's clean-up (writing a recording) or the interval."""
    interval = 0.5
    release = asyncio.Event()
    cleanup = asyncio.Event()

    async def source():
        yield TextDelta("Hello")
        await release.wait()
        yield TextDelta(" world")
        yield Done(final="Hello world", last_agent="Triage Agent")
        await cleanup.wait()  # the recording is being written; the turn has ended for the person

    loop = asyncio.get_running_loop()
    stream = batches(source(), interval)
    try:
        first = await anext(stream)
        assert [e.content for e in first] == ["Hello"]
        release.set()
        released_at = loop.time()
        second = await anext(stream)
        assert [type(e) for e in second] == [TextDelta, Done] and second[0].content == " world"
        assert loop.time() - released_at < interval / 2
    finally:
        cleanup.set()
        await stream.aclose()


async def test_a_callable_interval_is_asked_before_each_batch():
    """A pace that follows the load: the function is asked anew for every list, not once per stream."""
    pace, asked = {"now": FOREVER}, []

    def interval() -> float:
        asked.append(pace["now"])
        return pace["now"]

    step, held, end = asyncio.Event(), asyncio.Event(), asyncio.Event()

    # Notes, not text: the answer's first text and the end have fast lanes of their own.
    async def source():
        yield ToolCall("lookup_invoice", "c1", "{}")
        await step.wait()
        step.clear()
        yield ToolOutput("c1", "ok")
        await step.wait()
        yield ToolCall("request_refund", "c2", "{}")
        held.set()
        await end.wait()
        yield Done(final="", last_agent="Billing Agent")

    stream = batches(source(), interval)
    try:
        assert await asyncio.wait_for(anext(stream), DEADLINE) == [ToolCall("lookup_invoice", "c1", "{}")]
        # The interval drops to 0: the next note goes out at once (asked once, FOREVER would hold it for good).
        pace["now"] = 0.0
        step.set()
        assert await asyncio.wait_for(anext(stream), DEADLINE) == [ToolOutput("c1", "ok")]
        # Back to FOREVER: the next note waits, and goes out only with the end of the turn.
        pace["now"] = FOREVER
        next_batch = asyncio.ensure_future(anext(stream))
        step.set()
        await asyncio.wait_for(held.wait(), DEADLINE)
        end.set()
        assert await asyncio.wait_for(next_batch, DEADLINE) == [
            ToolCall("request_refund", "c2", "{}"), Done(final="", last_agent="Billing Agent")]
    finally:
        end.set()
        await stream.aclose()
    assert 0.0 in asked and asked[-1] == FOREVER and len(asked) >= 3
