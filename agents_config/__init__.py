"""The agents the app serves and the model they run on. No UI code lives here.

`build_team` makes the demo team (agents_config/demo.py) unless agents of your own are given, as an
`AgentsModule` or as `Settings.agents` (`--agents` / `AGENTS`, read by agents_config/loading.py).
"""

from __future__ import annotations

from .demo import build_demo_team
from .loading import AgentsLoadError, AgentsModule, load_agents, start_agent
from .mcp import servers_from_config
from .models import Backend, build_backend
from .settings import ConfigError, Settings
from .team import DEFAULT_TITLE, AgentTeam, ChatContextHooks, Page

__all__ = [
    "AgentTeam", "AgentsLoadError", "AgentsModule", "Backend", "ChatContextHooks", "ConfigError", "Page",
    "Settings", "build_team", "load_agents",
]


def no_model_message(settings: Settings) -> str:
    if settings.force_offline:
        return ("AGENT_OFFLINE=1 runs only the demo team; your agents need a real model: unset AGENT_OFFLINE "
                "and set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server).")
    return ("Your agents need a model: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server "
            "(the offline demo model drives only the demo team).")


def build_team(settings: Settings, backend: Backend | None = None, agents: AgentsModule | None = None) -> AgentTeam:
    """The team to serve. Raises `ConfigError` (one line) when your agents cannot be served."""
    if agents is None and settings.agents:
        agents = load_agents(settings.agents)
    # Read before anything runs, so a bad file is a start-up error, not a failed first turn.
    config_servers = servers_from_config(settings.mcp_config) if settings.mcp_config else []
    if agents is None:
        team = build_demo_team(settings, backend or build_backend(settings))
    else:
        backend = backend or build_backend(settings)
        if backend.offline:
            raise ConfigError(no_model_message(settings))
        start = start_agent(agents)
        page = Page(
            title=agents.title or DEFAULT_TITLE,
            description=agents.description
            or f"**{start.name}** and the agents it works with, every tool call and handoff shown live.",
            examples=agents.labelled_examples(),
        )
        team = AgentTeam.around(start, backend, page=page)
    if config_servers:  # MCP_CONFIG: its servers' tools go to the agent that answers first
        team.start.mcp_servers = [*team.start.mcp_servers, *config_servers]
    return team
