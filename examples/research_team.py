"""A small team: a lead that reads notes over MCP, uses an agent as a tool, and hands off to a writer.

    OPENAI_API_KEY=sk-... python app.py --agents examples/research_team.py

The notes come from an MCP server (examples/notes_mcp_server.py) that the app starts with the team and
stops at shutdown. The page shows every agent in the graph, each tool call (MCP ones included) as a note,
and the handoff to the writer.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents import Agent
from agents.mcp import MCPServerStdio

TITLE = "Research team"
DESCRIPTION = (
    "A **Research Lead** reads the team's notes from an MCP server, has a **Fact Checker** agent (used as a "
    "tool) check the numbers, then hands off to a **Writer** for the answer."
)
EXAMPLES = {
    "🗒️ From the notes": "What did the customer interviews say about exports?",
    "✅ Checked": "Summarise the pricing review and check the discount arithmetic for a 10-seat team.",
}

notes = MCPServerStdio(
    {"command": sys.executable, "args": [str(Path(__file__).resolve().parent / "notes_mcp_server.py")]},
    name="notes",
    cache_tools_list=True,  # the server's tools never change: list them once
)

fact_checker = Agent(
    name="Fact Checker Agent",
    instructions="Check the arithmetic and the claims you are given, step by step, and say what is right or wrong.",
)
writer = Agent(
    name="Writer Agent",
    handoff_description="Writes the final answer for the user from the research gathered so far.",
    instructions="Write the answer for the user in a few short sentences, citing note ids in brackets.",
)
agent = Agent(
    name="Research Lead",
    instructions=(
        "You lead a small research team. Find what the team's notes say with search_notes and read_note "
        "(never invent a note), ask the fact checker to check any numbers, then hand off to the Writer Agent "
        "with the facts and note ids you found."
    ),
    # The SDK streams the calls of the agent that runs, not those made inside an agent used as a tool,
    # so the tools you want to see as notes belong to the lead (the fact checker's answer is one note).
    mcp_servers=[notes],
    tools=[fact_checker.as_tool(tool_name="check_facts", tool_description="Have claims or arithmetic checked.")],
    handoffs=[writer],
)
