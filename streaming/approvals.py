"""Tool calls waiting for a person's decision, kept with the conversation between two requests.

When a run stops on tools that need approval (the SDK's interruptions), the SDK's run state (JSON)
is parked in `conversation.state.approval` (the conversation store: SQLite, Redis or Postgres), never sent
to a client: the SDK warns against loading run state a client supplied. A decision names call ids
only; it is checked against the parked calls, and the parked state is taken out of the store
before the run resumes, under the conversation's turn lease (which is cross-process), so a call
decided twice, or by two replicas at once, runs at most once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents import RunResultStreaming, RunState

from agents_config import AgentTeam
from conversations import Conversation, ConversationStore
from conversations.chat_state import CallFields, ChatState

from .events import ApprovalRequired

DECISIONS = ("approve", "reject")
REJECTION_MESSAGE = "A person refused this call, so it did not run."
MAX_CALL_ID = 200

WAITING = "This chat waits for a decision on a tool call ({names}): approve or reject it first."
NOTHING_WAITING = "Nothing in this chat waits for a decision (it may have been decided already)."
UNKNOWN_CALL = "No call {call_id!r} waits for a decision in this chat (unknown, or decided already)."
BAD_DECISION = 'Each decision must be "approve" or "reject".'
BOTH = "Send either a message or approvals, not both."


def waiting(conversation: Conversation) -> list[ApprovalRequired]:
    """The calls this conversation waits on, oldest first; empty when none."""
    return waiting_in(conversation.state)


def waiting_in(state: ChatState) -> list[ApprovalRequired]:
    return [ApprovalRequired(**call.model_dump()) for call in state.waiting_calls()]


def problem(conversation: Conversation, message: str | None, approvals: dict[str, str] | None) -> str | None:
    """Why this turn may not start (the HTTP API's 409 detail), or None. See `Runtime.turn_problem`."""
    calls = waiting(conversation)
    if approvals is None:
        if calls:
            return WAITING.format(names=", ".join(sorted({call.name for call in calls})))
        return None
    if message is not None:
        return BOTH
    if not calls:
        return NOTHING_WAITING
    ids = {call.call_id for call in calls}
    for call_id, decision in approvals.items():
        if not isinstance(call_id, str) or call_id not in ids:
            return UNKNOWN_CALL.format(call_id=str(call_id)[:MAX_CALL_ID])
        if decision not in DECISIONS:
            return BAD_DECISION
    return None if approvals else NOTHING_WAITING


async def refresh(store: ConversationStore, conversation: Conversation) -> None:
    """Re-read agent and state from the store: under the turn lease this is the truth, while the copy
    the caller loaded before taking the lease may predate another process's decision."""
    fresh = await store.get(conversation.id)
    if fresh is not None:
        conversation.agent, conversation.state = fresh.agent, fresh.state


def park(conversation: Conversation, result: RunResultStreaming) -> list[ApprovalRequired]:
    """After a run that stopped on approvals: keep its state with the conversation; the calls to show."""
    calls = [
        ApprovalRequired(call_id=item.call_id or "", name=item.name or "tool", arguments=item.arguments or "{}",
                         agent=item.agent.name)
        for item in result.interruptions
    ]
    if calls:
        # The chat context is the conversation's own state (see ChatContext); the run state needs none of it.
        run_state = result.to_state().to_json(context_serializer=lambda _context: {})
        conversation.state.park(run_state, [CallFields(**_fields(call)) for call in calls])
    return calls


async def claim(
    team: AgentTeam, store: ConversationStore, conversation: Conversation, approvals: dict[str, str], context: Any
) -> RunState:
    """Take the parked run out of the store (so no other decision can run it again) and apply the decisions.

    Calls not decided stay pending: the resumed run stops on them again. Call under the turn lease,
    after `refresh` and a `problem` check.
    """
    parked = conversation.state.take_waiting(approvals)
    # Shielded: once the tool may run, the claim must be on record even if the consumer is cancelled now.
    await asyncio.shield(store.save(conversation))
    state = await RunState.from_json(team.agent(None), parked.run_state, context_override=context)
    for item in state.get_interruptions():
        decision = approvals.get(item.call_id or "")
        if decision == "approve":
            state.approve(item)
        elif decision == "reject":
            state.reject(item, rejection_message=REJECTION_MESSAGE)
    return state


def requests_and_decisions(state: ChatState) -> list[dict[str, str]]:
    """Every call that asked for a decision in this chat, with the decision ("waiting" while none):
    what exports show. Never the run state itself."""
    decided = [entry.model_dump() for entry in state.approval_log]
    return decided + [{**call.model_dump(), "decision": "waiting"} for call in state.waiting_calls()]


def summary(approvals: dict[str, str] | None) -> str:
    """A resumed turn's decisions in words, where a message would go (recordings, exports)."""
    return "; ".join(f"{decision} {call_id}" for call_id, decision in (approvals or {}).items())


def _fields(call: ApprovalRequired) -> dict[str, str]:
    return {"call_id": call.call_id, "name": call.name, "arguments": call.arguments, "agent": call.agent}
