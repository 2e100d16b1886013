"""SDK stream event → view events. A pure function: no state, no I/O, no UI.

Every kind of tool call the SDK streams becomes a `ToolCall` with a readable name and JSON arguments:
function tools (their own name), agents used as tools ("tool → Agent"), tools of MCP servers
("tool (MCP server)", local or hosted), and the hosted tools (web search, file search, code
interpreter, image generation, computer, shell, apply patch, tool search). A hosted tool's result
arrives inside its call item, so its `ToolOutput` follows at once; the others' come as their own items.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agents import (
    AgentUpdatedStreamEvent,
    HandoffOutputItem,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
    StreamEvent,
    ToolCallItem,
    ToolCallOutputItem,
)
from agents.items import ToolSearchCallItem, ToolSearchOutputItem
from agents.tool import ToolOriginType
from openai.types.responses import ResponseReasoningSummaryTextDeltaEvent, ResponseTextDeltaEvent
from pydantic import BaseModel

from .events import AgentUpdated, Handoff, ReasoningDelta, TextDelta, ToolCall, ToolOutput, ViewEvent

MAX_OUTPUT_CHARS = 20_000  # a tool result longer than this is cut here (the UI shows less still)


def translate(event: StreamEvent) -> list[ViewEvent]:
    if isinstance(event, RawResponsesStreamEvent):
        return _on_raw(event)
    if isinstance(event, RunItemStreamEvent):
        return _on_item(event)
    if isinstance(event, AgentUpdatedStreamEvent):
        return [AgentUpdated(agent=event.new_agent.name)]
    return []


def _on_raw(event: RawResponsesStreamEvent) -> list[ViewEvent]:
    data = event.data
    # `delta` is a str on both kinds (the popular `delta.text` check never matches).
    if isinstance(data, ResponseTextDeltaEvent) and data.delta:
        return [TextDelta(data.delta)]
    if isinstance(data, ResponseReasoningSummaryTextDeltaEvent) and data.delta:
        return [ReasoningDelta(data.delta)]
    return []


def _on_item(event: RunItemStreamEvent) -> list[ViewEvent]:
    item = event.item
    if isinstance(item, ToolCallItem):
        return _on_tool_call(item)
    if isinstance(item, ToolCallOutputItem):
        return [ToolOutput(call_id=item.call_id or "", output=_output_text(item.output))]
    if isinstance(item, ToolSearchCallItem):
        raw = item.raw_item
        return [ToolCall(name="tool search", call_id=_get(raw, "call_id") or _get(raw, "id") or "",
                         arguments=_json(_get(raw, "arguments")))]
    if isinstance(item, ToolSearchOutputItem):
        raw = item.raw_item
        names = [_get(tool, "name") or _get(tool, "type") for tool in _get(raw, "tools") or []]
        return [ToolOutput(call_id=_get(raw, "call_id") or _get(raw, "id") or "",
                           output="Found: " + (", ".join(str(n) for n in names) or "no tools"))]
    if isinstance(item, HandoffOutputItem):
        return [Handoff(source=item.source_agent.name, target=item.target_agent.name)]
    # MCPListToolsItem (a hosted MCP server listing its tools) is not a call; approval requests have
    # their own path (result.interruptions); messages and reasoning stream as raw deltas above.
    return []


# --- tool calls ------------------------------------------------------------------------------------


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else getattr(raw, key, None)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True, mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    return value


def _json(value: Any) -> str:
    """Arguments as JSON text (already-JSON strings pass as they are)."""
    if isinstance(value, str):
        return value
    return json.dumps(_plain(value) if value is not None else {}, ensure_ascii=False, default=str)


def _fields(raw: Any, *keys: str) -> dict[str, Any]:
    return {key: _plain(_get(raw, key)) for key in keys if _get(raw, key) not in (None, [], "")}


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        text = output
    elif isinstance(output, (dict, list, BaseModel)):
        text = json.dumps(_plain(output), ensure_ascii=False, default=str)
    else:
        text = str(output)
    if text.startswith("data:image/"):  # a computer tool's screenshot: say so, do not paste base64
        return f"[screenshot, {len(text) * 3 // 4 // 1024} KB]"
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + " …"


def _function_name(item: ToolCallItem) -> str:
    name = item.tool_name or "tool"
    origin = item.tool_origin
    if origin is not None and origin.type == ToolOriginType.AGENT_AS_TOOL and origin.agent_name:
        return f"{name} → {origin.agent_name}"
    if origin is not None and origin.type == ToolOriginType.MCP and origin.mcp_server_name:
        return f"{name} (MCP {origin.mcp_server_name})"
    return name


def _web_search(raw: Any) -> tuple[str, dict, str | None]:
    action = _plain(_get(raw, "action")) or {}
    sources = [s.get("url") for s in action.pop("sources", None) or [] if isinstance(s, dict) and s.get("url")]
    result = f"{_get(raw, 'status') or 'done'}" + (": " + ", ".join(sources) if sources else "")
    return "web search", action, result


def _file_search(raw: Any) -> tuple[str, dict, str | None]:
    results = _get(raw, "results") or []
    found = [f"{_get(r, 'filename') or _get(r, 'file_id')} ({(_get(r, 'score') or 0):.2f}): {(_get(r, 'text') or '')[:300]}"
             for r in results]
    return "file search", _fields(raw, "queries"), "\n".join(found) or f"{_get(raw, 'status') or 'done'}: no results shown"


def _code_interpreter(raw: Any) -> tuple[str, dict, str | None]:
    shown = []
    for output in _get(raw, "outputs") or []:
        shown.append(_get(output, "logs") if _get(output, "type") == "logs" else f"[{_get(output, 'type') or 'output'}]")
    return "code interpreter", _fields(raw, "code"), "\n".join(str(s) for s in shown) or str(_get(raw, "status") or "done")


def _image_generation(raw: Any) -> tuple[str, dict, str | None]:
    arguments = {"prompt": _get(raw, "revised_prompt")} if _get(raw, "revised_prompt") else {}
    if _get(raw, "error"):
        return "image generation", arguments, f"Failed: {_get(raw, 'error')}"
    image = _get(raw, "result") or ""
    return "image generation", arguments, f"[image, {len(image) * 3 // 4 // 1024} KB]" if image else str(_get(raw, "status"))


def _hosted_mcp(raw: Any) -> tuple[str, dict | str, str | None]:
    error = _get(raw, "error")
    return (f"{_get(raw, 'name')} (MCP {_get(raw, 'server_label')})", _get(raw, "arguments") or "{}",
            f"Error: {error}" if error else str(_get(raw, "output") or ""))


# type of the raw call item -> (name, arguments, result inside the item, or None when it comes later)
_HOSTED: dict[str, Callable[[Any], tuple[str, Any, str | None]]] = {
    "web_search_call": _web_search,
    "file_search_call": _file_search,
    "code_interpreter_call": _code_interpreter,
    "image_generation_call": _image_generation,
    "mcp_call": _hosted_mcp,
    "computer_call": lambda raw: ("computer", _fields(raw, "action", "actions"), None),
    "local_shell_call": lambda raw: ("local shell", _fields(raw, "action"), None),
    "shell_call": lambda raw: ("shell", _fields(raw, "action"), None),
    "apply_patch_call": lambda raw: ("apply patch", _fields(raw, "operation"), None),
    "custom_tool_call": lambda raw: (str(_get(raw, "name") or "custom tool"), _fields(raw, "input"), None),
    "program": lambda raw: ("program", _fields(raw, "code"), None),
}


def _on_tool_call(item: ToolCallItem) -> list[ViewEvent]:
    raw = item.raw_item
    kind = _get(raw, "type")
    call_id = item.call_id or ""
    if kind == "function_call":
        return [ToolCall(name=_function_name(item), call_id=call_id, arguments=_get(raw, "arguments") or "")]
    describe = _HOSTED.get(kind)
    if describe is None:  # a kind newer than this translator: still a note, named by its type
        return [ToolCall(name=str(kind or "tool").replace("_", " "), call_id=call_id, arguments=_json(_plain(raw)))]
    name, arguments, result = describe(raw)
    call = ToolCall(name=name, call_id=call_id, arguments=_json(arguments))
    return [call] if result is None else [call, ToolOutput(call_id=call_id, output=_output_text(result))]
