"""The run-insight graph shows every agent reachable from the start agent, their tools and MCP servers."""

from __future__ import annotations

from agents import Agent, WebSearchTool, function_tool, handoff
from agents.mcp import MCPServerStdio

from agents_config import AgentTeam, Backend
from ui.insights import agent_graph


@function_tool
def roll(sides: int) -> int:
    """Roll a die.

    Args:
        sides: How many sides.
    """
    return sides


def test_the_graph_walks_handoffs_agents_as_tools_and_nested_ones():
    deep = Agent(name="Deep Agent", tools=[roll])
    helper = Agent(name="Helper Agent", tools=[deep.as_tool(tool_name="go_deep", tool_description="Deeper.")])
    closer = Agent(name="Closer Agent", tools=[WebSearchTool()])
    server = MCPServerStdio({"command": "python", "args": ["-c", "pass"]}, name="dice server")
    lead = Agent(name="Lead Agent", handoffs=[handoff(closer)], mcp_servers=[server],
                 tools=[helper.as_tool(tool_name="ask_helper", tool_description="Ask.")])
    closer.handoffs.append(lead)  # a cycle: walked once
    team = AgentTeam.around(lead, Backend(label="test", provider=None))  # type: ignore[arg-type]
    assert list(team.by_name) == ["Lead Agent", "Closer Agent", "Helper Agent", "Deep Agent"]
    assert team.agent("Deep Agent") is deep and team.agent("nobody") is lead

    graph = agent_graph(team, active="Helper Agent")
    for line in (
        'lead_agent["Lead Agent"]', 'deep_agent["Deep Agent"]',
        "lead_agent -->|handoff| closer_agent", "closer_agent -->|handoff| lead_agent",
        'lead_agent -->|"as tool: ask_helper"| helper_agent', 'helper_agent -->|"as tool: go_deep"| deep_agent',
        'tool_roll(["🛠️ roll"])', "deep_agent -.- tool_roll", 'tool_web_search(["🛠️ web_search"])',
        'tool_mcp_dice_server[("🔌 MCP: dice server")]', "lead_agent -.- tool_mcp_dice_server",
        "class helper_agent active",
    ):
        assert line in graph, line
    # An agent used as a tool is drawn as an agent, not as a tool node.
    assert "tool_ask_helper" not in graph
