"""A chat export file: one pydantic model for what it holds, and its parsing with readable errors.

The JSON holds what the conversation needs to go on (the SDK input list and the agent it continues
with), what was displayed (messages and notes), per-turn stats, feedback and decided tool calls.
Imports come from anyone: the model checks every field, and each problem becomes one
`ChatImportError` that says which field is wrong.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from conversations.chat_state import MAX_KEPT_STATS, ChatState, FeedbackEntry, TurnFigures
from conversations.history import PROBLEM as HISTORY_PROBLEM
from conversations.history import check_history

EXPORT_KIND = "agent-chat-export"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_MESSAGES = 2000

NOT_AN_EXPORT = "This JSON is not a chat export of this app."
# What each field must be, in the order a file is checked (the first wrong field is reported).
FIELD_PROBLEMS = {
    "agent": "'agent' must be the name of an agent.",
    "input_list": HISTORY_PROBLEM,
    "messages": "'messages' must be a list of {role: user|assistant, content, metadata} messages.",
    "tool_state": "'tool_state' must be an object.",
    "stats": "'stats' must be a list of objects with each turn's figures",
    "feedback": "'feedback' must be a list of objects with a rating, a comment and an excerpt",
    "approvals": "'approvals' must be a list of objects naming a tool call and its decision",
}


class ChatImportError(ValueError):
    """An import file cannot be used; the message says why and is safe to show."""


class ExportedMessage(BaseModel):
    """A displayed message as `ui.export.plain_messages` writes it."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: str | list[Any] = ""
    metadata: dict[str, Any] | None = None


class ExportedDecision(BaseModel):
    """A tool call that waited for a person, and the decision ("approve", "reject" or "waiting")."""

    model_config = ConfigDict(extra="ignore")
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    agent: str = ""
    decision: str = ""


class ChatExport(BaseModel):
    """The export file. Its field order is the file's key order."""

    model_config = ConfigDict(extra="ignore")
    kind: Literal["agent-chat-export"] = EXPORT_KIND
    version: int = EXPORT_VERSION
    exported_at: str = ""
    agent: str | None = None
    input_list: list[dict[str, Any]]
    tool_state: dict[str, Any] = Field(default_factory=dict)  # the agents' per-chat tool state (agents_config.team)
    messages: list[ExportedMessage] = Field(max_length=MAX_MESSAGES)
    stats: list[TurnFigures] = Field(default_factory=list)
    feedback: list[FeedbackEntry] = Field(default_factory=list)
    approvals: list[ExportedDecision] = Field(default_factory=list)  # never the run state itself

    @field_validator("input_list", mode="before")
    @classmethod
    def _history_rule(cls, items: Any) -> Any:
        problem = check_history(items)  # the same rule for every file's history: conversations/history.py
        if problem:
            raise ValueError(problem)
        return items

    def chat_state(self) -> ChatState:
        """What an import keeps of the chat's state (decided calls and shown turns are the old chat's)."""
        return ChatState(tool_state=self.tool_state, turn_stats=self.stats[-MAX_KEPT_STATS:], feedback=self.feedback)


def parse_export(data: bytes | str, max_bytes: int = MAX_IMPORT_BYTES) -> ChatExport:
    """A validated export from JSON text; any problem is a `ChatImportError`."""
    if len(data) > max_bytes:
        raise ChatImportError(f"The file is too large ({len(data):,} bytes; the limit is {max_bytes:,}).")
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ChatImportError("The file is not valid JSON, so it is not a chat export.") from None
    except RecursionError:  # thousands of nested brackets: no export of this app looks like that
        raise ChatImportError("The file nests too deeply to be a chat export.") from None
    if not isinstance(raw, dict) or raw.get("kind") != EXPORT_KIND:
        raise ChatImportError(NOT_AN_EXPORT)
    if raw.get("version") != EXPORT_VERSION:
        raise ChatImportError(
            f"Unsupported export version {str(raw.get('version'))[:20]!r}; this app reads version {EXPORT_VERSION}."
        )
    try:
        return ChatExport.model_validate(raw)
    except ValidationError as exc:
        raise ChatImportError(_first_problem(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    """The message for the first wrong field, in the order of FIELD_PROBLEMS (never the value itself)."""
    wrong = {error["loc"][0]: error for error in reversed(exc.errors()) if error["loc"]}
    for key, problem in FIELD_PROBLEMS.items():
        if key in wrong:
            loc = wrong[key]["loc"]
            if key in ("stats", "feedback", "approvals") and len(loc) > 1:  # say which entry and field
                where = ".".join(map(str, loc))
                return f"{problem} ({where}: {wrong[key]['msg'].lower()})."
            return problem if problem.endswith(".") else problem + "."
    return NOT_AN_EXPORT
