"""SDK stream event → view events. A pure function: no state, no I/O, no UI."""

from __future__ import annotations

from agents import (
    AgentUpdatedStreamEvent,
    HandoffOutputItem,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
    StreamEvent,
    ToolCallItem,
    ToolCallOutputItem,
)
from openai.types.responses import ResponseReasoningSummaryTextDeltaEvent, ResponseTextDeltaEvent

from .events import AgentUpdated, Handoff, ReasoningDelta, TextDelta, ToolCall, ToolOutput, ViewEvent


def translate(event: StreamEvent) -> list[ViewEvent]:
    if isinstance(event, RawResponsesStreamEvent):
        return _on_raw(event)
    if isinstance(event, RunItemStreamEvent):
        return _on_item(event)
    if isinstance(event, AgentUpdatedStreamEvent):
        return [AgentUpdated(agent=event.new_agent.name)]
    return []


def _on_raw(event: RawResponsesStreamEvent) -> list[ViewEvent]:
    data = event.data
    # `delta` is a str on both kinds (the popular `delta.text` check never matches).
    if isinstance(data, ResponseTextDeltaEvent) and data.delta:
        return [TextDelta(data.delta)]
    if isinstance(data, ResponseReasoningSummaryTextDeltaEvent) and data.delta:
        return [ReasoningDelta(data.delta)]
    return []


def _on_item(event: RunItemStreamEvent) -> list[ViewEvent]:
    item = event.item
    if isinstance(item, ToolCallItem):
        raw = item.raw_item
        name = getattr(raw, "name", None) or getattr(raw, "type", "tool")
        call_id = getattr(raw, "call_id", None) or getattr(raw, "id", None) or ""
        return [ToolCall(name=name, call_id=call_id, arguments=getattr(raw, "arguments", "") or "")]
    if isinstance(item, ToolCallOutputItem):
        raw = item.raw_item
        call_id = raw.get("call_id", "") if isinstance(raw, dict) else getattr(raw, "call_id", "")
        return [ToolOutput(call_id=call_id or "", output=str(item.output))]
    if isinstance(item, HandoffOutputItem):
        return [Handoff(source=item.source_agent.name, target=item.target_agent.name)]
    return []
