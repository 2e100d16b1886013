"""run_turn on scripted and misbehaving models, and cancellation of a running turn.

The counting model and tool hooks here are reused by the end-to-end tests (tests/test_ui_e2e.py).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import openai
import pytest
from agents import Agent, AgentHooks, Model, ModelProvider
from agents.testing import ScriptedModel, assistant_message, function_call

from agents_config import AgentTeam, Backend, build_team
from agents_config.demo import DemoChatState
from agents_config.demo_model import DemoModel
from agents_config.tools import lookup_invoice
from devtools.server import offline_settings
from streaming.batching import batches
from streaming.events import Done, Error, TextDelta, ToolCall, ToolOutput
from streaming.turn import TurnLimits, run_turn

FAKE_KEY = "sk-test-SECRET123"

# --- fakes that speak the SDK's own protocols -------------------------------------------------------


class OneModelProvider(ModelProvider):
    """Answers every model name with one given model."""

    def __init__(self, model: Model):
        self.model = model

    def get_model(self, model_name: str | None) -> Model:
        return self.model


class Tally:
    """A thread-safe count with a signal, so a test in another thread or loop can wait on it."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self.bumped = threading.Event()

    def bump(self) -> None:
        with self._lock:
            self.count += 1
        self.bumped.set()

    def quiet_for(self, seconds: float) -> bool:
        """True when nothing was counted for `seconds` (a deadline-bounded wait, not a blind sleep)."""
        self.bumped.clear()
        return not self.bumped.wait(seconds)

    async def quiet_for_async(self, seconds: float) -> bool:
        return await asyncio.to_thread(self.quiet_for, seconds)


class CountingDemoModel(DemoModel):
    """The offline demo model, counting its calls and whether a streamed answer is still open."""

    def __init__(self, tokens_per_second: float):
        super().__init__(tokens_per_second)
        self.calls = Tally()
        self.open_streams = 0
        self.stream_closed = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None  # where the runs happen (a server's thread)

    async def get_response(self, *args: Any, **kwargs: Any):
        self.calls.bump()
        return await super().get_response(*args, **kwargs)

    async def stream_response(self, *args: Any, **kwargs: Any):
        self.loop = asyncio.get_running_loop()
        self.calls.bump()
        self.open_streams += 1
        try:
            async for event in super().stream_response(*args, **kwargs):
                yield event
        finally:
            self.open_streams -= 1
            self.stream_closed.set()


class ToolCounter(AgentHooks):
    def __init__(self) -> None:
        self.started = Tally()
        self.ended = Tally()

    async def on_tool_start(self, context, agent, tool) -> None:
        self.started.bump()

    async def on_tool_end(self, context, agent, tool, result) -> None:
        self.ended.bump()


def counting_team(tokens_per_second: float = 0) -> tuple[AgentTeam, CountingDemoModel, ToolCounter]:
    """The real agent team on a counting demo model, with every agent's tool calls counted."""
    model = CountingDemoModel(tokens_per_second)
    backend = Backend(label="counting demo", provider=OneModelProvider(model), offline=True)
    team = build_team(offline_settings(demo_tokens_per_second=tokens_per_second), backend=backend)
    tools = ToolCounter()
    for agent in team.by_name.values():
        agent.hooks = tools
    return team, model, tools


def solo_team(model: Model, **agent_options: Any) -> AgentTeam:
    agent = Agent(name="Solo Agent", instructions="Answer briefly.", **agent_options)
    # The demo's chat state, because these agents use the demo's tools (they read its run context).
    return AgentTeam(start=agent, by_name={agent.name: agent}, backend=Backend(label="test", provider=OneModelProvider(model)),
                     hooks=DemoChatState())


async def run(team, store, message, limits=TurnLimits()):
    conversation = await store.create()
    return [event async for event in run_turn(team, store, conversation, message, limits)]


# --- scripted models --------------------------------------------------------------------------------


async def test_scripted_text_streams_and_ends_with_done(store):
    model = ScriptedModel([[assistant_message("Hello from a scripted model.")]])
    events = await run(solo_team(model), store, "hi")
    text = "".join(e.content for e in events if isinstance(e, TextDelta))
    assert text == "Hello from a scripted model."
    assert isinstance(events[-1], Done)
    assert (events[-1].final, events[-1].last_agent) == (text, "Solo Agent")
    model.assert_complete()


async def test_scripted_tool_call_round_trip(store):
    model = ScriptedModel(
        [
            [function_call("lookup_invoice", {"invoice_id": "INV-1002"}, call_id="call_a")],
            [assistant_message("INV-1002 was $49.00.")],
        ]
    )
    events = await run(solo_team(model, tools=[lookup_invoice]), store, "what about INV-1002?")
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    (output,) = [e for e in events if isinstance(e, ToolOutput)]
    assert (call.name, call.call_id, output.call_id) == ("lookup_invoice", "call_a", "call_a")
    assert "INV-1002" in output.output and "$49.00" in output.output
    # The model's second call saw the real tool output.
    fed_back = [i for i in model.last_call.input if isinstance(i, dict) and i.get("type") == "function_call_output"]
    assert fed_back and "$49.00" in str(fed_back[0]["output"])
    assert events[-1].final == "INV-1002 was $49.00."


async def test_authentication_error_becomes_one_secret_free_error_then_done(store):
    request = httpx.Request("POST", "https://api.openai.com/v1/responses")
    response = httpx.Response(401, request=request)
    error = openai.AuthenticationError(f"Incorrect API key provided: {FAKE_KEY}.", response=response, body=None)
    events = await run(solo_team(ScriptedModel([error])), store, "hi")
    errors = [e for e in events if isinstance(e, Error)]
    assert len(errors) == 1 and isinstance(events[-1], Done)
    assert events.index(errors[0]) == len(events) - 2
    for fragment in ("sk-test", "SECRET", "123", FAKE_KEY[-6:]):
        assert fragment not in errors[0].message
    assert "401" in errors[0].message


async def test_max_turns_exceeded_becomes_an_error(store):
    call = [function_call("lookup_invoice", {"invoice_id": "INV-1001"}, call_id="call_loop")]
    model = ScriptedModel([call, call, call])
    events = await run(solo_team(model, tools=[lookup_invoice]), store, "loop", TurnLimits(max_turns=1))
    (error,) = [e for e in events if isinstance(e, Error)]
    assert "too many times" in error.message
    assert isinstance(events[-1], Done)


class StalledModel(Model):
    """Accepts the call, then never sends anything; records that it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def get_response(self, *args: Any, **kwargs: Any):
        raise NotImplementedError("the stall test only streams")

    async def stream_response(self, *args: Any, **kwargs: Any):
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        yield  # pragma: no cover - makes this an async generator


async def test_a_stalled_model_ends_the_turn_and_is_cancelled(store):
    model = StalledModel()
    loop = asyncio.get_running_loop()
    started = loop.time()
    # The model never answers: the turn can only end by the stall limit (30 s: a hang guard, not a speed limit).
    events = await asyncio.wait_for(run(solo_team(model), store, "hi", TurnLimits(stall_timeout=0.3)), 30)
    assert loop.time() - started >= 0.3 - 0.005
    (error,) = [e for e in events if isinstance(e, Error)]
    assert "stopped sending" in error.message and "0.3" in error.message
    assert isinstance(events[-1], Done)
    await asyncio.wait_for(model.cancelled.wait(), 10)


# --- cancellation: closing the consumer ends the run ---------------------------------------------


def _awaiting(coroutine) -> list[str]:
    """Names of the coroutines a suspended coroutine is awaiting, outermost first."""
    names = []
    while coroutine is not None and hasattr(coroutine, "cr_code"):
        names.append(coroutine.cr_code.co_name)
        coroutine = coroutine.cr_await
    return names


def _running_tool_io() -> list[asyncio.Task]:
    """Tasks of this loop currently inside a demo tool's pretend I/O."""
    return [t for t in asyncio.all_tasks() if not t.done() and "_pretend_io" in _awaiting(t.get_coro())]


def tool_io_in(loop: asyncio.AbstractEventLoop) -> int:
    """How many demo tools are running in `loop`, asked from another thread (e.g. a served app's)."""

    async def count() -> int:
        return len(_running_tool_io())

    return asyncio.run_coroutine_threadsafe(count(), loop).result(timeout=10)


async def _until(condition, timeout: float = 2.0) -> None:
    """Poll `condition` until it holds, failing after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def _through_batches(turn):
    return batches(turn, 0.05)


def _direct(turn):
    return _Single(turn)


class _Single:
    """run_turn's events one at a time, shaped like batches() so both consumers share one test."""

    def __init__(self, turn):
        self.turn = turn

    def __aiter__(self):
        return self

    async def __anext__(self):
        return [await self.turn.__anext__()]

    async def aclose(self):
        await self.turn.aclose()


CONSUMERS = pytest.mark.parametrize("consume", [_direct, _through_batches], ids=["run_turn", "batches"])


@CONSUMERS
async def test_closing_during_a_slow_tool_stops_the_tool_and_all_model_calls(store, consume):
    team, model, tools = counting_team()
    conversation = await store.create()
    turn = run_turn(team, store, conversation, "I was charged twice on INV-1001, refund me", TurnLimits(tool_latency=30))
    stream = consume(turn)
    async for batch in stream:
        if any(isinstance(e, ToolCall) for e in batch):
            break
    assert await asyncio.to_thread(tools.started.bumped.wait, 10)
    await _until(_running_tool_io)  # the slow tool is running now
    calls = model.calls.count
    await asyncio.wait_for(stream.aclose(), 10)  # the tool sleeps 30 s: closing must not wait for it
    assert await model.calls.quiet_for_async(0.6)
    assert await tools.ended.quiet_for_async(0.01)  # the slow tool never finished
    assert (model.calls.count, tools.started.count, tools.ended.count) == (calls, 1, 0)
    assert not _running_tool_io()


@CONSUMERS
async def test_closing_during_a_long_streamed_answer_stops_the_model(store, consume):
    team, model, tools = counting_team(tokens_per_second=40)
    conversation = await store.create()
    turn = run_turn(team, store, conversation, "How do I rotate an API key?")
    stream = consume(turn)
    seen_output = False
    async for batch in stream:
        seen_output = seen_output or any(isinstance(e, ToolOutput) for e in batch)
        if seen_output and any(isinstance(e, TextDelta) for e in batch):
            break  # the final answer has begun streaming (~60 words at 40 tokens/s: ~1.5 s more)
    assert model.open_streams == 1
    calls = model.calls.count
    model.stream_closed.clear()
    await asyncio.wait_for(stream.aclose(), 10)
    assert await asyncio.to_thread(model.stream_closed.wait, 10)
    assert model.open_streams == 0
    assert await model.calls.quiet_for_async(0.6)
    assert model.calls.count == calls and tools.started.count == 1
