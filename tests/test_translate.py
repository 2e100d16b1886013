"""translate(): real SDK stream event objects in, the app's view events out."""

from __future__ import annotations

from agents import (
    Agent,
    AgentUpdatedStreamEvent,
    HandoffCallItem,
    HandoffOutputItem,
    MessageOutputItem,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
    ToolCallItem,
    ToolCallOutputItem,
)
from agents.testing import assistant_message, function_call
from openai.types.responses import (
    Response,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)

from streaming.events import AgentUpdated, Handoff, ReasoningDelta, TextDelta, ToolCall, ToolOutput
from streaming.translate import translate

BILLING = Agent(name="Billing Agent")
TRIAGE = Agent(name="Triage Agent")


def _text_delta(delta: str) -> RawResponsesStreamEvent:
    return RawResponsesStreamEvent(
        data=ResponseTextDeltaEvent(
            type="response.output_text.delta", delta=delta, item_id="msg_1", output_index=0, content_index=0,
            logprobs=[], sequence_number=3,
        )
    )


def _reasoning_delta(delta: str) -> RawResponsesStreamEvent:
    return RawResponsesStreamEvent(
        data=ResponseReasoningSummaryTextDeltaEvent(
            type="response.reasoning_summary_text.delta", delta=delta, item_id="rs_1", output_index=0,
            summary_index=0, sequence_number=2,
        )
    )


def test_text_delta_becomes_text_event_with_the_string_delta():
    assert translate(_text_delta("Hello")) == [TextDelta("Hello")]


def test_reasoning_summary_delta_becomes_reasoning_event():
    assert translate(_reasoning_delta("Looking it up")) == [ReasoningDelta("Looking it up")]


def test_empty_deltas_produce_nothing():
    assert translate(_text_delta("")) == []
    assert translate(_reasoning_delta("")) == []


def test_tool_call_item_gives_name_call_id_and_arguments():
    raw = function_call("lookup_invoice", {"invoice_id": "INV-1001"}, call_id="call_42")
    event = RunItemStreamEvent(name="tool_called", item=ToolCallItem(agent=BILLING, raw_item=raw))
    assert translate(event) == [ToolCall(name="lookup_invoice", call_id="call_42", arguments='{"invoice_id":"INV-1001"}')]


def test_tool_output_item_gives_call_id_and_output():
    raw = {"type": "function_call_output", "call_id": "call_42", "output": "Invoice INV-1001 ..."}
    item = ToolCallOutputItem(agent=BILLING, raw_item=raw, output="Invoice INV-1001 ...")
    event = RunItemStreamEvent(name="tool_output", item=item)
    assert translate(event) == [ToolOutput(call_id="call_42", output="Invoice INV-1001 ...")]


def test_handoff_output_item_names_source_and_target():
    raw = {"type": "function_call_output", "call_id": "call_h", "output": '{"assistant": "Billing Agent"}'}
    item = HandoffOutputItem(agent=TRIAGE, raw_item=raw, source_agent=TRIAGE, target_agent=BILLING)
    event = RunItemStreamEvent(name="handoff_occured", item=item)
    assert translate(event) == [Handoff(source="Triage Agent", target="Billing Agent")]


def test_agent_updated_names_the_new_agent():
    assert translate(AgentUpdatedStreamEvent(new_agent=BILLING)) == [AgentUpdated(agent="Billing Agent")]


def test_events_without_a_view_produce_nothing():
    response = Response(
        id="resp_1", created_at=0, model="m", object="response", output=[], tool_choice="auto", tools=[],
        parallel_tool_calls=False, status="in_progress",
    )
    handoff_call = function_call("transfer_to_billing_agent", {}, call_id="call_h")
    silent = [
        RawResponsesStreamEvent(data=ResponseCreatedEvent(type="response.created", response=response, sequence_number=0)),
        RawResponsesStreamEvent(
            data=ResponseTextDoneEvent(
                type="response.output_text.done", text="Hello", item_id="msg_1", output_index=0, content_index=0,
                logprobs=[], sequence_number=4,
            )
        ),
        RawResponsesStreamEvent(
            data=ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta", delta="{}", item_id="fc_1", output_index=0,
                sequence_number=1,
            )
        ),
        # The full message arrives as text deltas already; repeating it would double the answer.
        RunItemStreamEvent(
            name="message_output_created", item=MessageOutputItem(agent=BILLING, raw_item=assistant_message("Hello"))
        ),
        # The handoff shows once, when it happened (HandoffOutputItem), not also when requested.
        RunItemStreamEvent(name="handoff_requested", item=HandoffCallItem(agent=TRIAGE, raw_item=handoff_call)),
    ]
    for event in silent:
        assert translate(event) == [], event
