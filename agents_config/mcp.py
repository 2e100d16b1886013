"""MCP servers: read `MCP_CONFIG`, and keep the team's servers connected while the app runs.

The SDK's MCP clients must be closed by the task that connected them (openai-agents #2005: cleanup
from another task fails with "cancel scope in a different task" and can leave the server process
running). So one long-lived task connects them all, reports ready, waits for shutdown, and closes
them itself; `start()` and `aclose()` only talk to that task.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agents import Agent
from agents.logger import logger as sdk_logger
from agents.mcp import MCPServer, MCPServerManager, MCPServerSse, MCPServerStdio, MCPServerStreamableHttp

from .settings import ConfigError

CONNECT_TIMEOUT = 30.0  # seconds for one server to start and answer (npx / uvx may download first)
CLEANUP_TIMEOUT = 10.0


class McpStartError(ConfigError):
    """An MCP server could not be started or reached; the message names it, in one line."""


def _first_line(exc: BaseException) -> str:
    # Connection failures often arrive wrapped in an exception group: name the innermost cause.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _server(name: str, entry: Any, where: str) -> MCPServer:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: server {name!r} must be an object with 'command' or 'url'.")
    if isinstance(entry.get("command"), str) and entry["command"].strip():
        args, env = entry.get("args", []), entry.get("env")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f"{where}: server {name!r} 'args' must be a list of strings.")
        if env is not None and not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
            raise ConfigError(f"{where}: server {name!r} 'env' must map names to strings.")
        params: dict[str, Any] = {"command": entry["command"], "args": args}
        if env:
            params["env"] = env
        if isinstance(entry.get("cwd"), str):
            params["cwd"] = entry["cwd"]
        return MCPServerStdio(params, name=name, cache_tools_list=True)  # type: ignore[arg-type]
    if isinstance(entry.get("url"), str) and entry["url"].startswith(("http://", "https://")):
        headers = entry.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ConfigError(f"{where}: server {name!r} 'headers' must map names to strings.")
        params = {"url": entry["url"], "headers": headers}
        kind = MCPServerSse if str(entry.get("type", "")).lower() == "sse" else MCPServerStreamableHttp
        return kind(params, name=name, cache_tools_list=True)  # type: ignore[arg-type]
    raise ConfigError(f"{where}: server {name!r} needs a 'command' (stdio) or an http(s) 'url' (Streamable HTTP).")


def servers_from_config(path: str) -> list[MCPServer]:
    """The servers of an `{"mcpServers": {name: {...}}}` file (the format Claude Desktop and Cursor use)."""
    where = f"MCP_CONFIG {path}"
    try:
        data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be read ({type(exc).__name__}).") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(f"{where}: expected an object with an \"mcpServers\" object in it.")
    return [_server(name, entry, where) for name, entry in servers.items()]


def team_servers(agents: Iterable[Agent]) -> list[MCPServer]:
    """Every MCP server any of the agents uses, each once."""
    found: dict[int, MCPServer] = {}
    for agent in agents:
        for server in agent.mcp_servers:
            found.setdefault(id(server), server)
    return list(found.values())


class _WithoutConnectFailures(logging.Filter):
    """McpStartError says which server failed and why, in one line: the SDK's own log line would repeat it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to connect MCP server")


class McpConnections:
    """Holds the team's MCP servers connected, from `start()` until `aclose()`, in one task of its own."""

    def __init__(self, servers: list[MCPServer]):
        self.servers = servers
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Connect every server (once); raises `McpStartError` naming the first that fails."""
        if not self.servers:
            return
        quiet = _WithoutConnectFailures()
        sdk_logger.addFilter(quiet)
        try:
            await self._start()
        finally:
            sdk_logger.removeFilter(quiet)

    async def _start(self) -> None:
        async with self._lock:
            if self._task is None:
                self._task = asyncio.create_task(self._hold(), name="mcp-servers")
            ready = asyncio.ensure_future(self._ready.wait())
            try:
                await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
            if self._task.done():
                self._task.result()  # raises the start-up error
                raise McpStartError("The MCP servers stopped right after they started.")

    async def _hold(self) -> None:
        manager = MCPServerManager(self.servers, strict=True, connect_timeout_seconds=CONNECT_TIMEOUT,
                                   cleanup_timeout_seconds=CLEANUP_TIMEOUT)
        try:
            async with manager:  # connects here, and closes here: the same task
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:
            if self._ready.is_set():
                return  # a failure while closing: the servers are being discarded anyway
            failed = next(iter(manager.errors.items()), None)
            name, cause = (failed[0].name, failed[1]) if failed else ("?", exc)
            raise McpStartError(f"MCP server {name!r} could not be started: {_first_line(cause)}") from None

    async def aclose(self) -> None:
        """Close every server in the task that opened them, and wait until they are gone."""
        self._stop.set()
        if self._task is not None and not self._task.done():
            try:
                await self._task
            except Exception:  # noqa: BLE001 - shutting down; nothing left to tell anyone
                pass
