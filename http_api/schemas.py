"""Request and response models of the HTTP API (they document it in /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    message: str | None = Field(
        default=None,
        description="The user's message (1 to 8,000 characters). Omit it when sending `approvals`.",
        examples=["How do I rotate an API key?"],
    )
    session_id: str | None = Field(
        default=None, description="Continue this conversation; omit or null to start a new one."
    )
    approvals: dict[str, Literal["approve", "reject"]] | None = Field(
        default=None,
        description=(
            "Decide tool calls the conversation waits on (the `call_id`s of its `approval_required` events): "
            "the same run resumes and streams. Needs `session_id` and no `message`."
        ),
        examples=[{"call_abc123": "approve"}],
    )


class TokenUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    requests: int = 0


class ChatResponse(BaseModel):
    session_id: str
    final: str = Field(description="The answer (partial if the turn ended early; see the events).")
    last_agent: str
    events: list[dict[str, Any]] = Field(description="The turn's events, as /chat/stream sends them.")
    usage: TokenUsage
    awaiting_approval: list[str] = Field(
        default_factory=list, description="call_ids waiting for a decision (see `approvals`); empty otherwise."
    )


class ErrorDetail(BaseModel):
    detail: str
