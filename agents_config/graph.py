"""Which agents a team holds: every agent reachable from the first one, and how they are linked.

A team is whatever the start agent leads to: its handoffs, the agents it uses as tools, and theirs in
turn. The conversation continues with whichever of them answered last, and the run-insight graph draws
them all, so both read the team from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from agents import Agent, FunctionTool, Handoff, Tool


@dataclass(frozen=True)
class Link:
    """One edge of the team: `source` hands off to, or calls as a tool, `target`."""

    source: Agent
    target: Agent
    kind: str  # "handoff" or "tool"
    label: str  # the handoff's or the tool's name


def handoff_target(handoff: Agent | Handoff) -> Agent | None:
    """The agent a handoff leads to (a `Handoff` keeps only a weak reference to it)."""
    if isinstance(handoff, Agent):
        return handoff
    ref = getattr(handoff, "_agent_ref", None)
    target = ref() if ref is not None else None
    return target if isinstance(target, Agent) else None


def agent_behind_tool(tool: Tool) -> Agent | None:
    """The agent an `Agent.as_tool(...)` tool runs, or None for any other tool."""
    if isinstance(tool, FunctionTool) and getattr(tool, "_is_agent_tool", False):
        agent = getattr(tool, "_agent_instance", None)
        return agent if isinstance(agent, Agent) else None
    return None


def links(agent: Agent) -> Iterator[Link]:
    for handoff in agent.handoffs:
        target = handoff_target(handoff)
        if target is not None:
            name = handoff.tool_name if isinstance(handoff, Handoff) else target.name
            yield Link(agent, target, "handoff", name)
    for tool in agent.tools:
        target = agent_behind_tool(tool)
        if target is not None:
            yield Link(agent, target, "tool", tool.name)


def reachable_agents(start: Agent) -> dict[str, Agent]:
    """Every agent reachable from `start` by name, `start` first, breadth first.

    Two different agents with one name would make "continue with the agent named X" ambiguous;
    the first one found wins, as the graph shows it.
    """
    found: dict[str, Agent] = {start.name: start}
    queue = [start]
    while queue:
        agent = queue.pop(0)
        for link in links(agent):
            if link.target.name not in found:
                found[link.target.name] = link.target
                queue.append(link.target)
    return found


def plain_tools(agent: Agent) -> list[Tool]:
    """The agent's own tools, without the agents it calls as tools (those are drawn as agents)."""
    return [tool for tool in agent.tools if agent_behind_tool(tool) is None]


def tool_label(tool: Tool) -> str:
    """A function tool's name; a hosted tool's kind ("web_search", "file_search", "hosted_mcp", ...)."""
    return str(getattr(tool, "name", None) or type(tool).__name__)
