"""MCP servers: connected at start-up in one task, their tools shown as notes, closed at shutdown."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from agents import Agent
from agents.testing import ScriptedModel, assistant_message, function_call

from agents_config import AgentsModule, Backend, ConfigError, build_team
from agents_config.mcp import McpStartError, servers_from_config
from devtools.server import offline_settings
from runtime import Runtime
from streaming.events import ApprovalRequired, Done, ToolCall, ToolOutput
from tests.test_own_agents_loading import _run_app, _write
from tests.test_turn import OneModelProvider
from ui.insights import agent_graph

SERVER = str(Path(__file__).resolve().parent / "mcp_server.py")


def _config(tmp_path: Path, servers: dict) -> str:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


def _settings(**changes):
    return offline_settings(force_offline=False, openai_base_url="http://127.0.0.1:9/v1", **changes)


def _gone(pid: int, deadline: float = 15.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)  # polling with a deadline for the process to exit
    return False


async def test_an_mcp_tool_is_called_shown_as_a_note_and_its_server_is_gone_after_shutdown(tmp_path):
    settings = _settings(mcp_config=_config(tmp_path, {"test tools": {"command": sys.executable, "args": [SERVER]}}))
    model = ScriptedModel([[function_call("process_id", {}, call_id="call_pid")], [assistant_message("Got it.")]])
    team = build_team(settings, backend=Backend(label="scripted", provider=OneModelProvider(model)),
                      agents=AgentsModule(agent=Agent(name="Tool User", instructions="Use your tools.")))
    assert "🔌 MCP: test tools" in agent_graph(team)  # MCP_CONFIG gave the first agent the server
    runtime = Runtime(settings, team)
    await runtime.start()
    try:
        conversation = await runtime.store.create()
        events = [event async for event in runtime.turn(conversation, "Which process are you?")]
    finally:
        await runtime.aclose()
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    (output,) = [e for e in events if isinstance(e, ToolOutput)]
    assert call.name == "process_id (MCP test tools)" and output.call_id == "call_pid"
    pid = int("".join(ch for ch in output.output if ch.isdigit()))
    assert isinstance(events[-1], Done) and events[-1].final == "Got it."
    assert pid != os.getpid() and _gone(pid), "the MCP server process outlived the shutdown"


async def test_a_server_that_cannot_start_is_one_clear_error(tmp_path):
    servers = servers_from_config(_config(tmp_path, {
        "broken": {"command": sys.executable, "args": ["-c", "import sys; sys.exit(3)"]}}))
    runtime = Runtime(_settings(), build_team(
        _settings(), backend=Backend(label="scripted", provider=OneModelProvider(ScriptedModel([]))),
        agents=AgentsModule(agent=Agent(name="Tool User", mcp_servers=servers))))
    with pytest.raises(McpStartError, match="MCP server 'broken' could not be started"):
        await runtime.start()
    await runtime.aclose()


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ('{"servers": {}}', '"mcpServers" object'),
    ('{"mcpServers": {"x": {"args": []}}}', "needs a 'command'"),
    ('{"mcpServers": {"x": {"command": "y", "args": "z"}}}', "'args' must be a list"),
])
def test_a_bad_mcp_config_is_a_clear_error(tmp_path, content, problem):
    path = tmp_path / "mcp.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=problem):
        servers_from_config(str(path))
    with pytest.raises(ConfigError, match="no such file"):
        servers_from_config(str(tmp_path / "missing.json"))


def test_the_app_exits_2_when_an_mcp_server_cannot_start(tmp_path):
    _write(tmp_path, "desk.py", "from agents import Agent\nagent = Agent(name='Desk')\n")
    config = _config(tmp_path, {"broken": {"command": sys.executable, "args": ["-c", "import sys; sys.exit(3)"]}})
    result = _run_app("--agents", "desk.py", cwd=tmp_path, OPENAI_BASE_URL="http://127.0.0.1:9/v1",
                      MCP_CONFIG=config, GRADIO_SERVER_PORT="0")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MCP server 'broken' could not be started" in lines[0], result.stderr


async def test_an_mcp_tool_that_requires_approval_waits_for_it_and_runs_once_approved(tmp_path):
    # The SDK's MCP servers take `require_approval`: their calls wait for a person like a function
    # tool's `needs_approval`, through the same notes, store and resume.
    from agents.mcp import MCPServerStdio

    server = MCPServerStdio({"command": sys.executable, "args": [SERVER]}, name="test tools", require_approval="always")
    model = ScriptedModel([[function_call("add", {"a": 2, "b": 3}, call_id="call_add")], [assistant_message("It is 5.")]])
    settings = _settings()
    team = build_team(settings, backend=Backend(label="scripted", provider=OneModelProvider(model)),
                      agents=AgentsModule(agent=Agent(name="Adder", instructions="Add.", mcp_servers=[server])))
    runtime = Runtime(settings, team)
    await runtime.start()
    try:
        conversation = await runtime.store.create()
        asked = [event async for event in runtime.turn(conversation, "What is 2 + 3?")]
        (question,) = [e for e in asked if isinstance(e, ApprovalRequired)]
        assert question.call_id == "call_add" and question.name.startswith("add")
        assert json.loads(question.arguments) == {"a": 2, "b": 3}
        assert not any(isinstance(e, ToolOutput) for e in asked), "the MCP tool ran before anyone approved it"
        assert asked[-1].awaiting_approval == ["call_add"]

        resumed = [event async for event in runtime.turn(conversation, approvals={"call_add": "approve"})]
    finally:
        await runtime.aclose()
    (output,) = [e for e in resumed if isinstance(e, ToolOutput)]
    assert output.call_id == "call_add" and "5" in output.output
    assert isinstance(resumed[-1], Done) and resumed[-1].final == "It is 5." and not resumed[-1].awaiting_approval
