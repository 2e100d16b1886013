"""Request and response models of the HTTP API (they document it in /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    message: str = Field(description="The user's message (1 to 8,000 characters).", examples=["How do I rotate an API key?"])
    session_id: str | None = Field(
        default=None, description="Continue this conversation; omit or null to start a new one."
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


class ErrorDetail(BaseModel):
    detail: str
