"""run_turn through the real Runner on the offline DemoModel: routing, tools, memory, guardrail."""

from __future__ import annotations

import pytest

from agents_config import build_team
from conversations import open_store
from devtools.server import offline_settings
from streaming.events import (
    AgentUpdated,
    Done,
    Error,
    GuardrailTripped,
    Handoff,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolOutput,
)
from streaming.turn import TurnLimits, run_turn

BILLING_QUESTION = "I was charged twice on invoice INV-1001, can you refund me?"
DOCS_QUESTION = "How do I rotate an API key?"


@pytest.fixture
def team():
    # As fast as possible: these tests check what happens, not the pacing.
    return build_team(offline_settings(demo_tokens_per_second=0))


@pytest.fixture
async def store():
    store = open_store(":memory:", 3600)
    yield store
    await store.close()


async def run(team, store, conversation, message, limits=TurnLimits()):
    return [event async for event in run_turn(team, store, conversation, message, limits)]


def last_segment_text(events) -> str:
    """The text streamed after the last handoff or tool output: the final answer as it was shown."""
    text = ""
    for event in events:
        if isinstance(event, TextDelta):
            text += event.content
        elif not isinstance(event, ReasoningDelta):
            text = "" if not isinstance(event, Done) else text
    return text


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


async def test_billing_question_hands_off_calls_tools_and_answers_from_their_output(team, store):
    conversation = await store.create()
    events = await run(team, store, conversation, BILLING_QUESTION)
    assert [(h.source, h.target) for h in of(Handoff, events)] == [("Triage Agent", "Billing Agent")]
    calls = of(ToolCall, events)
    assert [c.name for c in calls] == ["lookup_invoice", "request_refund"]
    outputs = {o.call_id: o.output for o in of(ToolOutput, events)}
    assert set(outputs) == {c.call_id for c in calls}
    assert "RF-1001" in outputs[calls[1].call_id]
    assert of(ReasoningDelta, events)
    assert not of(Error, events)
    done = events[-1]
    assert isinstance(done, Done) and done.last_agent == "Billing Agent"
    assert done.final == last_segment_text(events)
    assert "RF-1001" in done.final  # the answer quotes the tool's refund id
    assert done.usage.output_tokens > 0 and done.usage.requests >= 3


async def test_docs_question_goes_to_support_and_searches_the_docs(team, store):
    events = await run(team, store, await store.create(), DOCS_QUESTION)
    assert [h.target for h in of(Handoff, events)] == ["Support Agent"]
    (call,) = of(ToolCall, events)
    assert call.name == "search_docs"
    done = events[-1]
    assert done.last_agent == "Support Agent"
    assert "api-keys" in done.final and done.final == last_segment_text(events)


async def test_guardrail_blocks_before_any_model_text(team, store):
    events = await run(team, store, await store.create(), "show me another customer's invoices")
    assert [type(e) for e in events if not isinstance(e, AgentUpdated)] == [GuardrailTripped, Done]
    assert not of(TextDelta, events) and not of(ToolCall, events)
    (tripped,) = of(GuardrailTripped, events)
    assert tripped.name == "Customer data guard" and tripped.message.startswith("Blocked:")
    assert isinstance(events[-1], Done) and events[-1].final == ""


async def test_second_turn_remembers_the_invoice_and_the_agent(team, store):
    conversation = await store.create()
    await run(team, store, conversation, BILLING_QUESTION)
    again = await store.get(conversation.id)  # as the next request would load it
    assert again.agent == "Billing Agent"
    events = await run(team, store, again, "What was the amount again?")
    assert not of(Handoff, events)  # Billing Agent answers directly: it is the current agent
    (call,) = of(ToolCall, events)
    assert call.name == "lookup_invoice" and "INV-1001" in call.arguments
    assert "$49.00" in events[-1].final and "already granted" in events[-1].final


async def test_a_fresh_conversation_does_not_know_the_invoice(team, store):
    await run(team, store, await store.create(), BILLING_QUESTION)
    # A billing question (it reaches Billing Agent), but without an invoice number.
    events = await run(team, store, await store.create(), "What was the amount on that invoice again?")
    assert events[-1].last_agent == "Billing Agent"
    assert "Which invoice" in events[-1].final
    # Nothing of the other chat leaks in: no invoice is looked up or named.
    assert "lookup_invoice" not in [c.name for c in of(ToolCall, events)]
    assert "INV-1001" not in "".join(c.arguments for c in of(ToolCall, events))
    assert "$49.00" not in events[-1].final and "RF-1001" not in events[-1].final

async def test_refund_is_not_granted_twice_in_one_conversation(team, store):
    conversation = await store.create()
    await run(team, store, conversation, BILLING_QUESTION)
    events = await run(team, store, await store.get(conversation.id), "Please refund INV-1001 again, I was charged twice")
    assert "request_refund" not in [c.name for c in of(ToolCall, events)]
    assert "already refunded" in events[-1].final
