"""A stored chat drawn again, for a reloaded tab or a pasted chat id (see streaming/transcript.py).

Drawn on the server from the conversation store: the turns' view events go through the same
`TurnView` as a live turn, each call decided since shows its decision, and calls still waiting
show their Approve / Reject buttons.
"""

from __future__ import annotations

from typing import Any

from streaming import approvals, transcript
from streaming.recording import RecordingError, from_json

from .chat_view import TurnView


def render_history(state: dict[str, Any], deciding: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The chat's messages. `deciding`: decisions just taken, shown so before their run resumes."""
    turns = [turn for turn in state.get(transcript.KEY) or [] if isinstance(turn, dict)]
    decisions: dict[str, str] = {}
    for turn in turns:
        decisions.update(turn.get("decisions") or {})
    decisions.update(deciding or {})
    waiting = approvals.waiting_in(state)
    messages: list[dict[str, Any]] = []
    for index, turn in enumerate(turns):
        if isinstance(turn.get("user"), str):
            messages.append({"role": "user", "content": turn["user"]})
        view = TurnView()
        for data in turn.get("events") or []:
            try:
                view.apply(from_json(data))
            except RecordingError:
                continue  # an event this version does not know: draw the rest
        if index == len(turns) - 1:
            for call in waiting:  # the run waiting for them is always the newest turn
                view.apply(call)
        for call_id, decision in decisions.items():
            view.decided(call_id, decision)
        messages.extend(view.messages())
    return messages
