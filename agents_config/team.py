"""A team of agents as the app serves it: the agent that answers first, every agent it can reach,
the page text that introduces them, and what a chat keeps between turns for their tools.

Nothing here knows the demo: the demo team (agents_config/demo.py) is one team among others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents import Agent

from .graph import reachable_agents
from .models import Backend

DEFAULT_TITLE = "Agent run, live"


@dataclass(frozen=True)
class Page:
    """How the chat page introduces the team: its title, a Markdown description, example prompts."""

    title: str = DEFAULT_TITLE
    description: str = ""
    examples: Mapping[str, str] = field(default_factory=dict)  # label -> the message it sends
    placeholder: str | None = None  # shown in the empty chat


class ChatContextHooks(Protocol):
    """How a team keeps its tools' per-chat state (the SDK's run context) between turns.

    `tool_state` is a JSON object stored with the conversation (and exported with it); the team alone
    knows what is in it. An import hands it back as the file had it, so `new_context` must check it.
    """

    def new_context(self, tool_state: Mapping[str, Any], tool_latency: float) -> Any: ...

    def keep_context(self, context: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AgentTeam:
    start: Agent
    by_name: dict[str, Agent]
    backend: Backend
    page: Page = field(default_factory=Page)
    hooks: ChatContextHooks | None = None  # None: the agents' tools get no run context

    @classmethod
    def around(cls, start: Agent, backend: Backend, page: Page | None = None,
               hooks: ChatContextHooks | None = None) -> AgentTeam:
        """The team of every agent reachable from `start`."""
        return cls(start=start, by_name=reachable_agents(start), backend=backend, page=page or Page(), hooks=hooks)

    def agent(self, name: str | None) -> Agent:
        """The agent a conversation continues with; the start agent for a new or unknown name."""
        return self.by_name.get(name or "", self.start)

    def model_name(self, agent_name: str) -> str | None:
        """The name of the model an agent calls (its own, else the configured default); None if unnamed."""
        agent = self.by_name.get(agent_name)
        model = agent.model if agent is not None else None
        if model is None:
            return self.backend.default_model
        return model if isinstance(model, str) else getattr(model, "model", None)

    def new_context(self, tool_state: Mapping[str, Any], tool_latency: float = 0.0) -> Any:
        """The run context for this chat's next turn, from the tool state the chat kept."""
        if self.hooks is None:
            return None
        return self.hooks.new_context(tool_state, tool_latency)

    def keep_context(self, context: Any, tool_state: dict[str, Any]) -> dict[str, Any]:
        """The tool state to keep after a turn (`tool_state`, the one before it, when the team keeps none),
        so the chat's next turn (and its export) has what the turn's tools changed."""
        return tool_state if self.hooks is None else self.hooks.keep_context(context)
