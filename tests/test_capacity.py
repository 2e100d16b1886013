"""app.py's capacity settings (issue 16): Gradio's job slots follow AGENT_CONCURRENCY, the idle queue polls
every 10 ms, and the objects alive at startup are frozen out of the garbage collector's full collections.
"""

from __future__ import annotations

import asyncio
import gc
import json
import secrets
import time
from types import SimpleNamespace

import gradio.queueing
import httpx
import pytest

from agents_config import Backend, build_team
from agents_config.demo_model import DemoModel, DemoModelProvider
from bench.client import gradio_endpoint
from conversations import open_store
from devtools.server import offline_settings, serve
from runtime import Runtime

CHATS = 45  # above Gradio's 40 job slots
GATE_CAP = 120.0  # a held model call goes on by itself after this, so a broken test cannot hang the suite


class HeldModel(DemoModel):
    """The demo model, each streamed call held until the test releases it; counts the calls held now."""

    def __init__(self):
        super().__init__(tokens_per_second=0)
        self.held = 0
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's
        self.gate = asyncio.Event()  # bound to the server's loop on first wait

    async def stream_response(self, *args, **kwargs):
        self.loop = asyncio.get_running_loop()
        self.held += 1
        try:
            await asyncio.wait_for(self.gate.wait(), GATE_CAP)
        except TimeoutError:
            pass
        finally:
            self.held -= 1
        async for event in super().stream_response(*args, **kwargs):
            yield event

    def release(self) -> None:
        """From the test's thread: let every held call (and every later one) go on."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.gate.set)


class HeldProvider(DemoModelProvider):
    def __init__(self):
        self.model = HeldModel()


async def gradio_chat(client: httpx.AsyncClient, base: str, endpoint: tuple[int, int], message: str) -> dict:
    """One chat through Gradio's queue protocol (bench/client.py): join, then read queue/data's SSE to the end."""
    fn_index, inputs = endpoint
    session = secrets.token_hex(8)
    joined = await client.post(base + "gradio_api/queue/join", json={
        "data": [message, [], None][:inputs], "fn_index": fn_index, "session_hash": session})
    joined.raise_for_status()
    async with client.stream("GET", base + "gradio_api/queue/data", params={"session_hash": session}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the queue's stream ended without process_completed")


async def until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)  # polling the server's count with a deadline
    return True


async def test_as_many_ui_chats_reach_the_model_at_once_as_agent_concurrency_allows():
    # The input guardrail's own model call is not what is counted here: only the agents' streamed calls.
    settings = offline_settings(concurrency_limit=CHATS, guardrail=False)
    provider = HeldProvider()
    backend = Backend(label="held offline model", provider=provider, offline=True)
    runtime = Runtime(settings, team=build_team(settings, backend=backend), store=open_store(":memory:", 3600))
    model = provider.model
    with serve(runtime) as base:
        limits = httpx.Limits(max_connections=4 * CHATS, max_keepalive_connections=4 * CHATS)
        async with httpx.AsyncClient(timeout=GATE_CAP + 60, limits=limits) as client:
            with httpx.Client() as plain:
                endpoint = gradio_endpoint(plain, base)
            chats = [asyncio.create_task(gradio_chat(client, base, endpoint, f"Hello, I am chat {n}"))
                     for n in range(CHATS)]
            try:
                # Generous: on a loaded machine 45 joins and 45 turns' starts can take a while.
                await until(lambda: model.held >= CHATS, timeout=60)
                held, finished_early = model.held, sum(task.done() for task in chats)
            finally:
                # Every chat ends before the server stops, whatever happened above.
                model.release()
                done = await asyncio.wait_for(asyncio.gather(*chats, return_exceptions=True), GATE_CAP)
    assert held == CHATS, f"only {held} of {CHATS} chats reached the model while none had finished"
    assert finished_early == 0
    assert all(isinstance(message, dict) and message.get("success") for message in done), done[:2]
    assert model.held == 0


async def test_startup_objects_are_frozen_once_the_app_serves(runtime):
    gc.unfreeze()  # whatever an earlier test's server froze in this process
    assert gc.get_freeze_count() == 0
    try:
        with serve(runtime):
            frozen = gc.get_freeze_count()
        # Gradio's app, the agents and the modules: far more than a handful of objects.
        assert frozen > 10_000, frozen
    finally:
        gc.unfreeze()


async def test_the_idle_gradio_queue_waits_sleep_when_free_between_looks(runtime, monkeypatch):
    # app.py sets a private Gradio attribute; this proves Gradio 6.31 still has it and idles on it.
    from app import build_demo

    queue = build_demo(runtime)._queue
    assert queue.sleep_when_free == 0.01
    waits: list[float] = []

    async def one_idle_wait(delay, *args, **kwargs):
        waits.append(delay)
        queue.stopped = True  # one look is enough

    # Only the queue module's view of asyncio, so nothing else on this loop is affected.
    monkeypatch.setattr(gradio.queueing, "asyncio", SimpleNamespace(sleep=one_idle_wait))
    await asyncio.wait_for(queue.start_processing(), 5)
    assert waits == [0.01]


def test_gradio_queue_still_defaults_to_a_busy_poll():
    # Why app.py changes it: if Gradio's own default changes, app.py's line (and this test) can go.
    queue = gradio.queueing.Queue(live_updates=False, concurrency_count=1, update_intervals=1, max_size=None,
                                  blocks=None)
    assert queue.sleep_when_free < 0.01


@pytest.mark.parametrize("limit, slots", [(8, 40), (45, 45), (64, 64)])
async def test_gradio_job_slots_follow_agent_concurrency(limit, slots):
    from app import build_demo

    runtime = Runtime.from_settings(offline_settings(concurrency_limit=limit))
    try:
        demo = build_demo(runtime)
        assert demo.max_threads == slots and demo._queue.max_thread_count == slots
    finally:
        await runtime.aclose()
