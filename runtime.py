"""What the UI and the HTTP API share: settings, the agent team, the conversation store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from agents_config import AgentTeam, Settings, build_team
from conversations import Conversation, ConversationStore, open_store
from streaming.events import ViewEvent
from streaming.recording import record_turn
from streaming.tracing import install_collector
from streaming.approvals import problem as approvals_problem, summary as approval_summary
from streaming.transcript import keep_transcript
from streaming.turn import TurnLimits, run_turn


@dataclass
class Runtime:
    settings: Settings
    team: AgentTeam
    store: ConversationStore

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        runtime = cls(settings=settings, team=build_team(settings), store=open_store(settings.session_db_url, settings.conversation_ttl))
        install_collector(upload=runtime.uploads_traces)
        return runtime

    @property
    def uploads_traces(self) -> bool:
        """Spans are always collected locally for the timeline; they go to the OpenAI dashboard only
        for a real OpenAI key (never offline, where there is no key, and never with another server's
        key, which OpenAI would reject or, worse, receive)."""
        return not self.team.backend.offline and not self.settings.openai_base_url

    @property
    def limits(self) -> TurnLimits:
        return TurnLimits(
            stall_timeout=self.settings.stall_timeout,
            max_turns=self.settings.max_turns,
            tool_latency=self.settings.demo_tool_latency if self.team.backend.offline else 0.0,
        )

    def turn(
        self, conversation: Conversation, message: str | None = None, *, approvals: dict[str, str] | None = None
    ) -> AsyncIterator[ViewEvent]:
        """One turn's view events, recorded when recording is on: what both the UI and the API show.

        With `approvals` ({call_id: "approve" | "reject"}) and no message, the run waiting for those
        decisions resumes (see streaming/approvals.py).
        """
        text = message.strip() if message is not None else None
        events = keep_transcript(run_turn(self.team, self.store, conversation, text, self.limits, approvals), conversation, text, approvals)
        return record_turn(events, self.settings, self.team.backend.label, conversation, text or approval_summary(approvals))

    def turn_problem(
        self, conversation: Conversation, message: str | None, approvals: dict[str, str] | None
    ) -> str | None:
        """None when this turn may start, else why not (the API's 409 detail): a message to a chat that
        waits for a decision, an unknown or already decided call_id, approvals with nothing waiting.
        Call it while holding `store.turn(conversation.id)`, on a copy read after taking it."""
        return approvals_problem(conversation, message, approvals)

    def check_message(self, message: object) -> str | None:
        """Why a message cannot be sent, or None when it can."""
        if not isinstance(message, str) or not message.strip():
            return "Type a message first: an empty message is not sent."
        if len(message) > self.settings.max_message_chars:
            return (
                f"That message is {len(message):,} characters long; the limit is "
                f"{self.settings.max_message_chars:,}. Shorten it and send again."
            )
        return None

    async def aclose(self) -> None:
        await self.store.close()
        await self.team.backend.aclose()
