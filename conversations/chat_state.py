"""What a chat keeps besides the model's history: one typed `ChatState`, saved with the conversation.

Field names are the keys the state had as a plain JSON object, so rows written before this model
load unchanged. Every list is bounded here, where it is kept, so a long chat cannot grow its row
without end. Nothing here knows the view events or the SDK: a shown turn keeps its events as the
JSON the view sent (streaming/transcript.py), a waiting run its SDK run state as the SDK wrote it.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

MAX_KEPT_STATS = 200  # per-turn stats kept with a conversation
MAX_FEEDBACK = 500  # feedback entries kept
MAX_SHOWN_TURNS = 50  # turns redrawn after a reload (older ones are in the model's history only)
MAX_SHOWN_EVENTS = 400  # events kept per shown turn
MAX_DECIDED = 100  # decided calls kept for exports


class _Part(BaseModel):
    # Unknown keys are dropped, not refused: a row written by a newer version still loads.
    model_config = ConfigDict(extra="ignore")


class TurnFigures(_Part):
    """One turn's figures as `streaming.stats.TurnStats.to_json` gives them (shown in exports)."""

    time_to_first_token_s: float | None = None
    total_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_per_second: float | None = None
    model_calls: int = 0
    tool_calls: int = 0
    tool_seconds: float = 0.0
    agent_path: list[str] = Field(default_factory=list)
    cost_usd: float | None = None


class FeedbackEntry(_Part):
    """A rating (or a comment) on one answer; `message_index` is Gradio's index of the rated bubble."""

    message_index: int | list[int] | None = None
    rating: str | None = None  # "up", "down", another option's text; None for a general comment
    comment: str = ""
    excerpt: str = ""
    at: str = ""


class CallFields(_Part):
    """A tool call that asked for a person's decision (streaming.events.ApprovalRequired's fields)."""

    call_id: str
    name: str
    arguments: str
    agent: str


class DecidedCall(CallFields):
    decision: str  # "approve" | "reject"


class WaitingApproval(_Part):
    """A run stopped on calls that need a decision: the SDK's run state (never sent to a client)."""

    run_state: dict[str, Any]
    calls: list[CallFields]


class ShownTurn(_Part):
    """What one turn showed: the message (None for a run resumed by decisions) and its view events' JSON."""

    user: str | None = None
    decisions: dict[str, str] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    stopped: bool = False  # cut short by Stop or a lost client


class ChatState(_Part):
    tool_state: dict[str, Any] = Field(default_factory=dict)  # the team's tools' own state (agents_config.team)
    turn_agents: list[str] = Field(default_factory=list)  # who answered each user turn (for undo)
    turn_stats: list[TurnFigures] = Field(default_factory=list)
    feedback: list[FeedbackEntry] = Field(default_factory=list)
    approval: WaitingApproval | None = None
    approval_log: list[DecidedCall] = Field(default_factory=list)
    transcript: list[ShownTurn] = Field(default_factory=list)

    @classmethod
    def load(cls, stored: str | bytes | dict[str, Any] | None, chat_id: str = "") -> ChatState:
        """The state a store row holds. A row that does not validate (tampered, or from a broken write)
        starts the chat's state afresh with a warning: refusing it would fail every message of the chat,
        while its model history (the SDK session) is kept either way."""
        if stored is None:
            return cls()
        try:
            if isinstance(stored, dict):
                return cls.model_validate(stored)
            return cls.model_validate_json(stored)
        except ValidationError as exc:
            where = sorted({".".join(map(str, error["loc"][:2])) for error in exc.errors()})[:5]
            log.warning("chat %s…: unreadable state (%s); starting it empty", chat_id[:6], ", ".join(where))
            return cls()

    # --- turns -----------------------------------------------------------------------------------

    def end_turn(self, agent: str, tool_state: dict[str, Any], *, resumed: bool, stopped: bool) -> None:
        """A run ended (answered, failed or cut short): who answered, what its tools keep, whether it was stopped."""
        self.tool_state = tool_state
        self.answered_by(agent, resumed=resumed)
        if stopped:
            self.mark_stopped()

    def answered_by(self, agent: str, *, resumed: bool) -> None:
        """Who answered this turn, so undoing turns can also restore who answers next. A resumed run
        finishes its turn; it is not a new one."""
        if resumed and self.turn_agents:
            self.turn_agents[-1] = agent
        else:
            self.turn_agents.append(agent)

    def keep_stats(self, figures: TurnFigures | dict[str, Any]) -> None:
        """A finished turn's figures (so an export can show every turn's)."""
        self.turn_stats.append(TurnFigures.model_validate(figures))
        del self.turn_stats[:-MAX_KEPT_STATS]

    def rewind(self, user_turns: int, dropped: int, agent: str | None) -> str | None:
        """Forget the newest `dropped` user turns, keeping `user_turns`; returns the agent the chat continues with
        (`agent` when this state cannot tell).

        A run waiting for a decision is always the newest turn, so it goes too. Side effects such as a
        granted refund stay: undo hides a turn, it does not reverse what its tools did.
        """
        self.approval = None
        while dropped > 0 and self.transcript:  # and the runs resumed after each dropped turn
            if self.transcript.pop().user is not None:
                dropped -= 1
        if len(self.turn_agents) >= user_turns:
            agent = self.turn_agents[user_turns - 1] if user_turns else None
            del self.turn_agents[user_turns:]
        return agent

    # --- what a turn showed ------------------------------------------------------------------------

    def start_shown_turn(self, user: str | None, decisions: dict[str, str]) -> ShownTurn:
        turn = ShownTurn(user=user, decisions=dict(decisions))
        self.transcript.append(turn)
        del self.transcript[:-MAX_SHOWN_TURNS]
        return turn

    def mark_stopped(self) -> None:
        """The newest shown turn was cut short."""
        if self.transcript:
            self.transcript[-1].stopped = True

    def last_stopped(self) -> bool:
        return bool(self.transcript) and self.transcript[-1].stopped

    # --- feedback ----------------------------------------------------------------------------------

    def rate(self, index: Any, rating: str | None, excerpt: str, at: str) -> FeedbackEntry | None:
        """Record (or clear, with None) the rating of the message at `index`; newest rating wins."""
        index = list(index) if isinstance(index, tuple) else index  # as it is stored (JSON has no tuples)
        self.feedback = [entry for entry in self.feedback if entry.message_index != index]
        entry = None
        if rating is not None:
            entry = FeedbackEntry(message_index=index, rating=rating, excerpt=excerpt, at=at)
            self.feedback.append(entry)
        del self.feedback[:-MAX_FEEDBACK]
        return entry

    def comment(self, text: str, at: str) -> FeedbackEntry:
        """Attach a comment to the most recently rated answer, or keep it as a general comment."""
        rated = [entry for entry in self.feedback if entry.rating]
        if rated:
            rated[-1].comment, rated[-1].at = text, at  # `rate` appends: the last rated entry is the newest
            return rated[-1]
        entry = FeedbackEntry(comment=text, at=at)
        self.feedback.append(entry)
        del self.feedback[:-MAX_FEEDBACK]
        return entry

    # --- approvals ---------------------------------------------------------------------------------

    def park(self, run_state: dict[str, Any], calls: list[CallFields]) -> None:
        self.approval = WaitingApproval(run_state=run_state, calls=calls)

    def take_waiting(self, decisions: dict[str, str]) -> WaitingApproval:
        """Take the waiting run out (so no other decision runs it again) and log the calls decided now."""
        parked, self.approval = self.approval, None
        if parked is None:
            raise LookupError("nothing waits for a decision")
        self.approval_log += [
            DecidedCall(**call.model_dump(), decision=decisions[call.call_id]) for call in parked.calls if call.call_id in decisions
        ]
        del self.approval_log[:-MAX_DECIDED]
        return parked

    def waiting_calls(self) -> list[CallFields]:
        return list(self.approval.calls) if self.approval is not None else []
