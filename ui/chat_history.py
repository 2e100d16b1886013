"""A stored chat drawn again, for a reloaded tab or a pasted chat id (see streaming/transcript.py).

Drawn on the server from the conversation store: the turns' view events go through the same
`TurnView` as a live turn (so answers carry their agent's heading), each call decided since shows its
decision, calls still waiting show their Approve / Reject buttons, and a stopped turn ends with the
same "stopped" marker as the tab showed.
"""

from __future__ import annotations

from typing import Any

from conversations.chat_state import ChatState
from fileformats.recording import RecordingError, from_json
from streaming import approvals

from .chat_view import DECIDED_TITLES, STOPPED_MARKER, TurnView, close_pending_notes

DECISION_WORDS = {"approve": "approve", "reject": "reject"}  # what the buttons send, lower-cased
_DECISION_MARKS = tuple(title[0] for title in DECIDED_TITLES.values()) + ("✋",)


def render_history(state: ChatState) -> list[dict[str, Any]]:
    """The chat's messages, as a live tab showed them."""
    turns = state.transcript
    decisions: dict[str, str] = {}
    for turn in turns:
        decisions.update(turn.decisions)
    waiting = approvals.waiting_in(state)
    messages: list[dict[str, Any]] = []
    for index, turn in enumerate(turns):
        if turn.user is not None:
            messages.append({"role": "user", "content": turn.user})
        elif turn.decisions:  # a run resumed by the buttons: show the button pressed, as live
            words = sorted({decision.capitalize() for decision in turn.decisions.values()})
            messages.append({"role": "user", "content": ", ".join(words)})
        view = TurnView()
        for data in turn.events:
            try:
                view.apply(from_json(data))
            except RecordingError:
                continue  # an event this version does not know: draw the rest
        if index == len(turns) - 1:
            for call in waiting:  # the run waiting for them is always the newest turn
                view.apply(call)
        for call_id, decision in decisions.items():
            view.decided(call_id, decision)
        messages.extend(_ended(view.messages(), stopped=turn.stopped))
    return messages


def _ended(shown: list[dict[str, Any]], stopped: bool) -> list[dict[str, Any]]:
    """A stored turn as the tab showed it at its end: a stopped one closed with the Stop's marker, as live;
    in others no note spins (the turn's `Done`, which settles them live, is not stored)."""
    if stopped:  # (a turn stopped before it showed anything still says so)
        return close_pending_notes(shown)[0] if shown else [{"role": "assistant", "content": STOPPED_MARKER}]
    for message in shown:
        metadata = message.get("metadata")
        if isinstance(metadata, dict) and metadata.get("status") == "pending":
            metadata["status"] = "done"
    return shown


def asked_turns(history: list) -> int:
    """User messages on screen that were messages to the model: Approve / Reject under an approval
    note only resumed a run (they are not in the model's history, so undo must not count them)."""
    count, previous = 0, None
    for message in history or []:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            title = str(((previous or {}).get("metadata") or {}).get("title", ""))
            is_decision = str(message.get("content", "")).strip().lower() in DECISION_WORDS and title.startswith(_DECISION_MARKS)
            count += not is_decision
        previous = message
    return count
