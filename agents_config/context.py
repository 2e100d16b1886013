"""The per-conversation state the tools may read and change (the SDK's run context)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .data import CURRENT_CUSTOMER_ID


@dataclass
class ChatContext:
    """Handed to every tool of a run as `RunContextWrapper.context`.

    The demo's billing "database" is read-only; what a conversation changes (refunds granted, a cancelled subscription) lives
    here and is stored with the conversation, so every chat is its own sandbox and one visitor's
    refund never blocks the next visitor's demo.
    """

    customer_id: str = CURRENT_CUSTOMER_ID
    refunds: dict[str, str] = field(default_factory=dict)  # invoice id -> refund id
    cancellations: list[str] = field(default_factory=list)  # subscription cancellations, approved by a person
    tool_latency: float = 0.0  # seconds each demo tool takes, so tool notes show a real pending state
