"""A small MCP server over stdio with a team's notes: the research team example starts it.

Written with the `mcp` package's high-level server (FastMCP; `MCPServer` since mcp 2.0).
Try it alone with `python examples/notes_mcp_server.py` (it speaks MCP on stdin/stdout).
"""

from __future__ import annotations

import re

from mcp.server.mcpserver import MCPServer

NOTES = {
    "N1": ("Launch checklist", "Freeze the release branch on Monday; the demo build goes to staging on Wednesday."),
    "N2": ("Customer interviews", "Five of eight teams export notebooks weekly; two asked for scheduled exports."),
    "N3": ("Pricing review", "The team plan stays at $12 per seat; annual billing gets a 15% discount."),
}

server = MCPServer("notes")


@server.tool()
def search_notes(query: str) -> str:
    """Find the team's notes whose title or text mention any of the query's words.

    Args:
        query: A few words to look for.
    """
    words = {w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 2}
    hits = [f"{key}: {title}" for key, (title, text) in NOTES.items()
            if words & set(re.findall(r"[a-z0-9]+", f"{title} {text}".lower()))]
    return "\n".join(hits) or "No note matches."


@server.tool()
def read_note(note_id: str) -> str:
    """The full text of one note.

    Args:
        note_id: The note's id, for example "N1".
    """
    note = NOTES.get(note_id.strip().upper())
    return f"{note[0]}: {note[1]}" if note else f"There is no note {note_id!r}."


if __name__ == "__main__":
    server.run("stdio")
