"""What SDK history may enter a conversation from outside (a chat import, a recording's replay).

Every way a file's `input_list` becomes model input goes through `check_history`, so a rule holds
for all of them. A file may carry the chat's own turns: user and assistant messages of text, tool
calls and their text results, reasoning. It may not carry instructions (system or developer
messages), nor parts that make the provider fetch something on the server's key (`input_file` and
`input_image` parts, `item_reference`s to items stored at the provider).
"""

from __future__ import annotations

from typing import Any

MAX_HISTORY_ITEMS = 5000
_ROLES = ("user", "assistant")
_TEXT_PARTS = ("input_text", "output_text", "text", "refusal", "summary_text", "reasoning_text")
# Output items the Agents SDK keeps in a session (tool calls of every kind and their results).
_ITEM_TYPES = frozenset(
    {
        "function_call", "function_call_output", "reasoning",
        "custom_tool_call", "custom_tool_call_output",
        "web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call",
        "computer_call", "computer_call_output",
        "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
        "apply_patch_call", "apply_patch_call_output",
        "mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response",
    }
)
PROBLEM = (
    "'input_list' must be a list of conversation items: user and assistant messages of text, "
    "tool calls and their results (no system or developer messages, no file or image parts)."
)


def _text_only(content: Any) -> bool:
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(isinstance(p, dict) and p.get("type") in _TEXT_PARTS for p in content)


def _valid_item(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    kind, role = item.get("type"), item.get("role")
    if role is not None or kind == "message":
        return role in _ROLES and kind in (None, "message") and _text_only(item.get("content"))
    if kind not in _ITEM_TYPES:
        return False
    if kind.endswith("_output") and "output" in item:
        return _text_only(item["output"])
    return True


def check_history(items: Any) -> str | None:
    """Why `items` cannot become a conversation's history (a message safe to show), or None."""
    if not isinstance(items, list) or len(items) > MAX_HISTORY_ITEMS or not all(map(_valid_item, items)):
        return PROBLEM
    return None
