"""Every kind of tool call the SDK streams becomes a tool note: a ToolCall with a readable name and
JSON arguments, and its ToolOutput (at once for hosted tools, whose result is inside the call item)."""

from __future__ import annotations

import json

from agents import Agent, RunItemStreamEvent, ToolCallItem, ToolCallOutputItem, WebSearchTool
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from openai.types.responses import (
    Response,
    ResponseCodeInterpreterToolCall,
    ResponseCompletedEvent,
    ResponseComputerToolCall,
    ResponseFileSearchToolCall,
    ResponseFunctionWebSearch,
)
from openai.types.responses.response_output_item import ImageGenerationCall, LocalShellCall, McpCall

from agents_config import AgentTeam, Backend
from streaming.events import Done, ToolCall, ToolOutput
from streaming.translate import translate
from tests.test_turn import OneModelProvider, run

AGENT = Agent(name="Any Agent")


def _item(raw) -> RunItemStreamEvent:
    return RunItemStreamEvent(name="tool_called", item=ToolCallItem(agent=AGENT, raw_item=raw))


def _output(raw, output) -> RunItemStreamEvent:
    return RunItemStreamEvent(name="tool_output", item=ToolCallOutputItem(agent=AGENT, raw_item=raw, output=output))


def test_web_search_is_a_note_with_its_query_and_result():
    raw = ResponseFunctionWebSearch.model_validate(
        {"id": "ws_1", "type": "web_search_call", "status": "completed",
         "action": {"type": "search", "query": "weather paris", "sources": [{"type": "url", "url": "https://example.org/w"}]}})
    call, output = translate(_item(raw))
    assert (call.name, call.call_id) == ("web search", "ws_1")
    assert json.loads(call.arguments) == {"type": "search", "query": "weather paris"}
    assert output == ToolOutput(call_id="ws_1", output="completed: https://example.org/w")


def test_file_search_shows_queries_and_results():
    raw = ResponseFileSearchToolCall.model_validate(
        {"id": "fs_1", "type": "file_search_call", "status": "completed", "queries": ["refund policy"],
         "results": [{"filename": "policy.md", "score": 0.91, "text": "Refunds within 30 days."}]})
    call, output = translate(_item(raw))
    assert call.name == "file search" and json.loads(call.arguments) == {"queries": ["refund policy"]}
    assert output.output == "policy.md (0.91): Refunds within 30 days."


def test_code_interpreter_shows_code_and_logs():
    raw = ResponseCodeInterpreterToolCall.model_validate(
        {"id": "ci_1", "type": "code_interpreter_call", "status": "completed", "container_id": "c",
         "code": "print(6*7)", "outputs": [{"type": "logs", "logs": "42"}]})
    call, output = translate(_item(raw))
    assert call.name == "code interpreter" and json.loads(call.arguments) == {"code": "print(6*7)"}
    assert output.output == "42"


def test_hosted_mcp_call_names_tool_and_server():
    raw = McpCall.model_validate({"id": "mcp_1", "type": "mcp_call", "name": "roll", "server_label": "dice",
                                  "arguments": '{"sides": 6}', "output": "4"})
    call, output = translate(_item(raw))
    assert (call.name, call.arguments, output.output) == ("roll (MCP dice)", '{"sides": 6}', "4")


def test_image_generation_does_not_paste_the_image():
    raw = ImageGenerationCall.model_validate({"id": "ig_1", "type": "image_generation_call", "status": "completed",
                                              "result": "A" * 4096, "revised_prompt": "a red fox"})
    call, output = translate(_item(raw))
    assert call.name == "image generation" and json.loads(call.arguments) == {"prompt": "a red fox"}
    assert output.output == "[image, 3 KB]"


def test_computer_call_and_its_screenshot_output():
    raw = ResponseComputerToolCall.model_validate(
        {"id": "cu_1", "call_id": "call_cu", "type": "computer_call", "status": "completed", "pending_safety_checks": [],
         "action": {"type": "click", "x": 10, "y": 20, "button": "left"}})
    (call,) = translate(_item(raw))  # its result comes later, as its own item
    assert call.name == "computer" and call.call_id == "call_cu"
    assert json.loads(call.arguments)["action"] == {"type": "click", "x": 10, "y": 20, "button": "left"}
    screenshot = "data:image/png;base64," + "A" * 8000
    (output,) = translate(_output({"type": "computer_call_output", "call_id": "call_cu", "output": {}}, screenshot))
    assert output.call_id == "call_cu" and output.output.startswith("[screenshot")


def test_local_shell_call_shows_the_command():
    raw = LocalShellCall.model_validate(
        {"id": "ls_1", "call_id": "call_ls", "type": "local_shell_call", "status": "completed",
         "action": {"type": "exec", "command": ["ls", "-l"], "env": {}}})
    (call,) = translate(_item(raw))
    assert call.name == "local shell" and json.loads(call.arguments)["action"]["command"] == ["ls", "-l"]


def test_an_unknown_kind_still_makes_a_note():
    (call,) = translate(_item({"type": "brand_new_call", "call_id": "call_x", "what": 1}))
    assert call.name == "brand new call" and call.call_id == "call_x" and json.loads(call.arguments)["what"] == 1


# --- through the real Runner ---------------------------------------------------------------------------


def _team(start: Agent, model) -> AgentTeam:
    return AgentTeam.around(start, Backend(label="test", provider=OneModelProvider(model)))


async def test_a_hosted_tool_call_from_the_model_is_a_finished_note(store):
    web_search = ResponseFunctionWebSearch.model_validate(
        {"id": "ws_9", "type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "news"}})
    answer = assistant_message("Here is the news.")
    # The scripted model cannot stream hosted calls by itself: give it the exact events the API sends.
    completed = ResponseCompletedEvent(type="response.completed", sequence_number=0, response=Response(
        id="resp_1", created_at=0, model="m", object="response", output=[web_search, answer],
        parallel_tool_calls=True, tool_choice="auto", tools=[]))
    model = ScriptedModel([ModelStep.stream([completed], output=[web_search, answer])])
    events = await run(_team(Agent(name="Searcher", tools=[WebSearchTool()]), model), store, "news?")
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    (output,) = [e for e in events if isinstance(e, ToolOutput)]
    assert call.name == "web search" and output.call_id == "ws_9"
    assert isinstance(events[-1], Done) and events[-1].final == "Here is the news."


async def test_an_agent_used_as_a_tool_is_a_note_naming_the_agent(store):
    helper = Agent(name="Helper Agent", instructions="Help.")
    lead = Agent(name="Lead Agent", tools=[helper.as_tool(tool_name="ask_helper", tool_description="Ask the helper.")])
    model = ScriptedModel([
        [function_call("ask_helper", {"input": "what is 6*7?"}, call_id="call_h")],
        [assistant_message("42")],  # the helper's own run
        [assistant_message("The helper says 42.")],
    ])
    team = _team(lead, model)
    assert list(team.by_name) == ["Lead Agent", "Helper Agent"]
    events = await run(team, store, "ask the helper")
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    (output,) = [e for e in events if isinstance(e, ToolOutput)]
    assert (call.name, call.call_id, output.output) == ("ask_helper → Helper Agent", "call_h", "42")
    assert events[-1].final == "The helper says 42."
