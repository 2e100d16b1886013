"""A parallel input guardrail: the answer starts at once, but nothing shows and no tool runs before it passes.

The model answers first (its first answer is a tool call) while the guardrail is still deciding; a
tripping guardrail must leave no trace (no text, no tool note, the tool never ran), a passing one
releases everything after its verdict. Any agent's tools are covered: the tool here is a plain test tool.
"""

from __future__ import annotations

import asyncio

from agents import Agent, AgentHooks, GuardrailFunctionOutput, function_tool, input_guardrail
from agents.testing import ScriptedModel, assistant_message, function_call

from agents_config import AgentTeam, Backend
from conversations import open_store
from streaming.events import AgentUpdated, Done, GuardrailTripped, TextDelta, ToolCall, ToolOutput
from streaming.turn import run_turn
from tests.test_turn import OneModelProvider

NOT_RUN_WITHIN = 0.5  # how long a slow guardrail gives an ungated tool to run (it runs at once if it can)


class Probe(AgentHooks):
    """Marks when the agent's first model answer is complete (the SDK calls this before running its tools)."""

    def __init__(self) -> None:
        self.answered = asyncio.Event()

    async def on_llm_end(self, context, agent, response) -> None:
        self.answered.set()


def build(trips: bool):
    probe = Probe()
    tool_ran = asyncio.Event()
    verdict_given = asyncio.Event()

    @function_tool
    def note_it(text: str) -> str:
        """Write a note down.

        Args:
            text: The note.
        """
        tool_ran.set()
        return f"noted while the verdict was {'in' if verdict_given.is_set() else 'pending'}"

    @input_guardrail(run_in_parallel=True)
    async def slow_guard(ctx, agent, input) -> GuardrailFunctionOutput:
        # Decide only after the model's first answer (a tool call) is complete, and give an ungated
        # run time to run the tool: it would do so at once.
        await probe.answered.wait()
        try:
            async with asyncio.timeout(NOT_RUN_WITHIN):
                await tool_ran.wait()
        except TimeoutError:
            pass
        verdict_given.set()
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=trips)

    model = ScriptedModel([
        [function_call("note_it", {"text": "x"}, call_id="call_1")],
        [assistant_message("Done, noted.")],
    ])
    agent = Agent(name="Solo Agent", instructions="Answer.", tools=[note_it], input_guardrails=[slow_guard], hooks=probe)
    team = AgentTeam.around(agent, Backend(label="test", provider=OneModelProvider(model)))
    return team, tool_ran, verdict_given


async def turn(team):
    store = open_store(":memory:", 3600)
    try:
        conversation = await store.create()
        events = []
        async for event in run_turn(team, store, conversation, "please note x"):
            events.append(event)
        return events, await store.items(conversation)
    finally:
        await store.close()


async def test_a_tripping_guardrail_leaves_no_trace_and_the_tool_never_runs():
    team, tool_ran, _ = build(trips=True)
    events, items = await turn(team)
    assert not tool_ran.is_set()
    assert not [e for e in events if isinstance(e, (TextDelta, ToolCall, ToolOutput))]
    assert [type(e) for e in events] == [AgentUpdated, GuardrailTripped, Done]  # the run's start, as before
    assert events[-1].final == ""
    # Nothing the held-back answer did reaches the model's history.
    assert not [i for i in items if isinstance(i, dict) and i.get("type") in ("function_call", "function_call_output")]


async def test_a_passing_guardrail_releases_everything_after_its_verdict():
    team, tool_ran, verdict_given = build(trips=False)
    seen_before_verdict = []
    store = open_store(":memory:", 3600)
    try:
        conversation = await store.create()
        events = []
        async for event in run_turn(team, store, conversation, "please note x"):
            if not verdict_given.is_set():
                seen_before_verdict.append(event)
            events.append(event)
    finally:
        await store.close()
    assert [type(e) for e in seen_before_verdict] == [AgentUpdated]  # only the run's start
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    (output,) = [e for e in events if isinstance(e, ToolOutput)]
    assert call.name == "note_it" and "verdict was in" in output.output
    assert tool_ran.is_set()
    assert isinstance(events[-1], Done) and events[-1].final == "Done, noted."


class EndlessAnswer(ScriptedModel):
    """Streams the scripted answer's first text delta, then keeps the stream open (a long answer)."""

    def __init__(self) -> None:
        super().__init__([[assistant_message("The first words of a long answer")]])
        self.first_delta = asyncio.Event()
        self.closed = asyncio.Event()

    async def stream_response(self, *args, **kwargs):
        try:
            async for event in super().stream_response(*args, **kwargs):
                yield event
                if getattr(event, "type", "") == "response.output_text.delta":
                    self.first_delta.set()
                    await asyncio.Event().wait()  # the rest of the answer never comes
        finally:
            self.closed.set()


async def test_a_trip_during_a_long_answer_ends_the_turn_at_once_and_closes_the_model_call():
    model = EndlessAnswer()

    @input_guardrail(run_in_parallel=True)
    async def guard(ctx, agent, input) -> GuardrailFunctionOutput:
        await model.first_delta.wait()
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)

    agent = Agent(name="Solo Agent", instructions="Answer.", input_guardrails=[guard])
    team = AgentTeam.around(agent, Backend(label="test", provider=OneModelProvider(model)))
    async with asyncio.timeout(20):  # a hold-back that waited for the answer's end would hang here
        events, _ = await turn(team)
    assert [type(e) for e in events] == [AgentUpdated, GuardrailTripped, Done]
    async with asyncio.timeout(5):
        await model.closed.wait()
