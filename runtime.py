"""What the UI and the HTTP API share: settings, the agent team, the conversation store.

Building a Runtime touches no disk and connects to nothing: the store is opened on first use, and
`start()` (the FastAPI lifespan calls it) connects the agents' MCP servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents_config import AgentsModule, AgentTeam, Settings, build_team
from agents_config.mcp import McpConnections, team_servers
from conversations import Conversation, ConversationStore, open_store
from streaming.events import ViewEvent
from fileformats.recording import record_turn
from streaming.tracing import install_collector
from streaming.approvals import problem as approvals_problem, summary as approval_summary
from streaming.transcript import keep_transcript
from streaming.turn import TurnLimits, run_turn


class LazyStore:
    """The conversation store, opened on its first use: building the app (importing it, for a Space or
    `gradio app.py`) must not create the SQLite file's folder or connect to a database.

    Everything the UI and API call on a store is passed through to the opened one.
    """

    def __init__(self, settings: Settings):
        self._settings = settings
        self.opened: ConversationStore | None = None

    def open(self) -> ConversationStore:
        """The store, opened now if it was not yet (`StoreConfigError` when SESSION_DB_URL is unusable)."""
        if self.opened is None:
            self.opened = open_store(self._settings.session_db_url, self._settings.conversation_ttl)
        return self.opened

    def __getattr__(self, name: str) -> Any:
        return getattr(self.open(), name)

    async def close(self) -> None:
        if self.opened is not None:
            await self.opened.close()


class Runtime:
    def __init__(self, settings: Settings, team: AgentTeam, store: ConversationStore | None = None):
        self.settings = settings
        self.team = team
        self.store: ConversationStore = store if store is not None else LazyStore(settings)  # type: ignore[assignment]
        self.mcp = McpConnections(team_servers(team.by_name.values()))
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, agents: AgentsModule | None = None) -> Runtime:
        """The runtime for these settings: the demo team, `agents`, or the agents `settings.agents` names.

        Raises `ConfigError` (a one-line message) when the agents cannot be served.
        """
        runtime = cls(settings=settings, team=build_team(settings, agents=agents))
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
        self, conversation: Conversation, message: str | None = None, *, approvals: dict[str, str] | None = None,
        read_under_lease: bool = False,
    ) -> AsyncIterator[ViewEvent]:
        """One turn's view events, recorded when recording is on: what both the UI and the API show.

        With `approvals` ({call_id: "approve" | "reject"}) and no message, the run waiting for those
        decisions resumes (see streaming/approvals.py). `read_under_lease`: the caller has read `conversation`
        again since it took the turn's lease (`approvals.refresh`), so the turn need not read it a third time.
        """
        text = message.strip() if message is not None else None
        run = run_turn(self.team, self.store, conversation, text, self.limits, approvals, read_under_lease)
        events = keep_transcript(run, conversation, text, approvals)
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
        if not message.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == message:
            return "That message holds characters that are not text (a lone surrogate), so it was not sent."
        if len(message) > self.settings.max_message_chars:
            return (
                f"That message is {len(message):,} characters long; the limit is "
                f"{self.settings.max_message_chars:,}. Shorten it and send again."
            )
        return None

    async def start(self) -> None:
        """Connect what the agents need before the first turn: their MCP servers (`McpStartError` if one
        cannot start), and the store (`StoreConfigError` when SESSION_DB_URL is unusable), so that a
        server never starts listening only to fail on every message. Call it, and `aclose()`, from the
        event loop that serves the turns."""
        if isinstance(self.store, LazyStore):
            self.store.open()
        await self.mcp.start()

    async def aclose(self) -> None:
        """Close everything once (the FastAPI lifespan and `python app.py` may both ask)."""
        if self._closed:
            return
        self._closed = True
        await self.mcp.aclose()
        await self.store.close()
        await self.team.backend.aclose()
