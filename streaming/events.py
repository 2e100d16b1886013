"""The app's own stream of "view events": what a person (or an API client) should see of a run.

The SDK's stream events are rich and low level; these are the few kinds the UI and the HTTP API
render. Each `to_json()` is exactly the event shape of the HTTP API (README.md, "The HTTP API"; and /docs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, with_config

from conversations.chat_state import TurnFigures

from .tracing import TraceSpan

# Read back from files (fileformats/recording.py parses them with pydantic): a field these classes do
# not have is a broken or hostile file, not something to drop silently.
_exact = with_config(ConfigDict(extra="forbid"))


@_exact
@dataclass(frozen=True)
class TextDelta:
    content: str
    type: Literal["text"] = "text"


@_exact
@dataclass(frozen=True)
class ToolCall:
    name: str
    call_id: str
    arguments: str
    type: Literal["tool_call"] = "tool_call"


@_exact
@dataclass(frozen=True)
class ToolOutput:
    call_id: str
    output: str
    type: Literal["tool_output"] = "tool_output"


@_exact
@dataclass(frozen=True)
class Handoff:
    source: str
    target: str
    type: Literal["handoff"] = "handoff"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "from": self.source, "to": self.target}


@_exact
@dataclass(frozen=True)
class AgentUpdated:
    agent: str
    type: Literal["agent_updated"] = "agent_updated"


@_exact
@dataclass(frozen=True)
class ReasoningDelta:
    content: str
    type: Literal["reasoning"] = "reasoning"


@_exact
@dataclass(frozen=True)
class GuardrailTripped:
    name: str
    message: str
    type: Literal["guardrail"] = "guardrail"


@_exact
@dataclass(frozen=True)
class Error:
    message: str
    type: Literal["error"] = "error"


@_exact
@dataclass(frozen=True)
class ApprovalRequired:
    """A tool call that waits for a person's decision (the SDK's interruption); nothing ran yet."""

    call_id: str
    name: str
    arguments: str  # JSON text, as ToolCall.arguments
    agent: str
    type: Literal["approval_required"] = "approval_required"


@_exact
@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0


@_exact
@dataclass(frozen=True)
class Done:
    final: str
    last_agent: str
    usage: Usage = field(default_factory=Usage)
    # The turn's figures (streaming.stats); None for a turn refused before it ran (`{}` in JSON).
    stats: Annotated[TurnFigures | None, BeforeValidator(lambda value: value or None)] = None
    trace: list[TraceSpan] = field(default_factory=list)  # the turn's spans, see streaming.tracing
    trace_id: str | None = None
    awaiting_approval: list[str] = field(default_factory=list)  # call_ids of ApprovalRequired events, if any
    type: Literal["done"] = "done"

    def to_json(self) -> dict[str, Any]:
        data = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        data["usage"] = asdict(self.usage)
        data["stats"] = self.stats.model_dump() if self.stats is not None else {}
        data["trace"] = [asdict(span) for span in self.trace]
        data["awaiting_approval"] = list(self.awaiting_approval)
        return {"type": data.pop("type"), **data}


@_exact
@dataclass(frozen=True)
class SessionStarted:
    session_id: str
    type: Literal["session"] = "session"


ViewEvent = (
    TextDelta | ToolCall | ToolOutput | Handoff | AgentUpdated | ReasoningDelta | GuardrailTripped | Error | Done
    | SessionStarted | ApprovalRequired
)


def to_json(event: ViewEvent) -> dict[str, Any]:
    """The HTTP API shape of an event: its fields, with `type` first."""
    custom = getattr(event, "to_json", None)
    if custom is not None:
        return custom()
    data = asdict(event)
    return {"type": data.pop("type"), **data}
