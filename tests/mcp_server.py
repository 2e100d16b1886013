"""A real MCP server over stdio, for the tests: `python tests/mcp_server.py`.

Written with the `mcp` package's high-level server (FastMCP, called `MCPServer` since mcp 2.0).
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("test tools")


@server.tool()
def process_id() -> str:
    """The id of this server's process (the tests check it is gone after shutdown)."""
    return str(os.getpid())


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


if __name__ == "__main__":
    server.run("stdio")
