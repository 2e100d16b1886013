"""What each turn showed, kept with the conversation so a reloaded tab (or a pasted chat id) redraws it.

`conversation.state["transcript"]` is a bounded list of turns, `{"user": message | None,
"decisions": {call_id: decision}, "events": [view event JSON]}` (`user` is None for a run resumed
after a decision), with `"stopped": true` when Stop (or a lost client) cut the turn short. Text deltas are merged and long tool results cut, so a turn stays small. The UI
renders it on the server (ui/chat_history.py): nothing a browser sends is drawn back as it came.

Events are added to the conversation's state as they pass, before `run_turn` saves the chat (its
last save comes after the run's last stream event, also after a Stop), so no extra write is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from conversations import Conversation

from .events import Done, ReasoningDelta, SessionStarted, TextDelta, ToolOutput, ViewEvent, to_json

KEY = "transcript"
MAX_TURNS = 50  # turns kept; older ones are not redrawn (the model's history is the session's)
MAX_EVENTS = 400  # events kept per turn
MAX_OUTPUT = 4000  # characters of a tool result kept (what a tool note shows)
MERGED = (TextDelta, ReasoningDelta)


async def keep_transcript(
    events: AsyncIterator[ViewEvent], conversation: Conversation, message: str | None, approvals: dict[str, str] | None
) -> AsyncIterator[ViewEvent]:
    turn: dict[str, Any] | None = None
    async for event in events:
        if turn is None:
            # Added on the first event, not before: run_turn re-reads the chat's state before it starts.
            turn = {"user": message, "decisions": dict(approvals or {}), "events": []}
            turns = conversation.state.setdefault(KEY, [])
            turns.append(turn)
            del turns[:-MAX_TURNS]
        _add(turn["events"], event)
        yield event


def mark_stopped(state: dict[str, Any]) -> None:
    """The newest turn was cut short (run_turn calls this before its last save, only once the turn has shown
    an event, so the newest turn is that one): a redrawn chat ends it with the same "stopped" marker as the tab."""
    turns = state.get(KEY)
    if isinstance(turns, list) and turns and isinstance(turns[-1], dict):
        turns[-1]["stopped"] = True


def last_stopped(state: dict[str, Any]) -> bool:
    turns = state.get(KEY)
    return isinstance(turns, list) and bool(turns) and isinstance(turns[-1], dict) and bool(turns[-1].get("stopped"))


def _add(kept: list[dict[str, Any]], event: ViewEvent) -> None:
    if isinstance(event, (Done, SessionStarted)) or len(kept) >= MAX_EVENTS:
        return
    data = to_json(event)
    if isinstance(event, MERGED) and kept and kept[-1]["type"] == data["type"]:
        kept[-1]["content"] += data["content"]
        return
    if isinstance(event, ToolOutput) and len(event.output) > MAX_OUTPUT:
        data["output"] = event.output[:MAX_OUTPUT] + " …"
    kept.append(data)
