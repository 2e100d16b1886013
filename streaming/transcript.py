"""What each turn showed, kept with the conversation so a reloaded tab (or a pasted chat id) redraws it.

`conversation.state.transcript` is a bounded list of `ShownTurn`s (conversations/chat_state.py): the message
(None for a run resumed after a decision), the decisions, the view events' JSON, and `stopped` when Stop
(or a lost client) cut the turn short. Text deltas are merged and long tool results cut, so a turn stays small. The UI
renders it on the server (ui/chat_history.py): nothing a browser sends is drawn back as it came.

Events are added to the conversation's state as they pass, before `run_turn` saves the chat (its
last save comes after the run's last stream event, also after a Stop), so no extra write is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from conversations import Conversation
from conversations.chat_state import MAX_SHOWN_EVENTS, ShownTurn

from .events import Done, ReasoningDelta, SessionStarted, TextDelta, ToolOutput, ViewEvent, to_json

MAX_OUTPUT = 4000  # characters of a tool result kept (what a tool note shows)
MERGED = (TextDelta, ReasoningDelta)


async def keep_transcript(
    events: AsyncIterator[ViewEvent], conversation: Conversation, message: str | None, approvals: dict[str, str] | None
) -> AsyncIterator[ViewEvent]:
    turn: ShownTurn | None = None
    async for event in events:
        if turn is None:
            # Added on the first event, not before: run_turn re-reads the chat's state before it starts.
            turn = conversation.state.start_shown_turn(message, approvals or {})
        _add(turn.events, event)
        yield event


def _add(kept: list[dict[str, Any]], event: ViewEvent) -> None:
    if isinstance(event, (Done, SessionStarted)) or len(kept) >= MAX_SHOWN_EVENTS:
        return
    if isinstance(event, MERGED) and kept and kept[-1]["type"] == event.type:
        kept[-1]["content"] += event.content  # a delta joins the text before it (no JSON made per delta)
        return
    data = to_json(event)
    if isinstance(event, ToolOutput) and len(event.output) > MAX_OUTPUT:
        data["output"] = event.output[:MAX_OUTPUT] + " …"
    kept.append(data)
