"""Per-turn figures a reviewer asks for: how fast, how many tokens, which agents, what it cost."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from conversations.chat_state import TurnFigures

from .events import AgentUpdated, TextDelta, ToolCall, ToolOutput, ViewEvent


@dataclass
class TurnStats:
    """Fed every view event of a turn as it is produced (not as it is shown), so times are exact."""

    clock: Any = time.monotonic
    started: float = field(default=0.0)
    first_text: float | None = None
    ended: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    tool_seconds: float = 0.0
    agent_path: list[str] = field(default_factory=list)
    cost_usd: float | None = None
    _tool_started: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def observe(self, event: ViewEvent) -> None:
        now = self.clock()
        if isinstance(event, TextDelta) and self.first_text is None:
            self.first_text = now
        elif isinstance(event, AgentUpdated) and (not self.agent_path or self.agent_path[-1] != event.agent):
            self.agent_path.append(event.agent)
        elif isinstance(event, ToolCall):
            self.tool_calls += 1
            self._tool_started[event.call_id] = now
        elif isinstance(event, ToolOutput) and event.call_id in self._tool_started:
            self.tool_seconds += now - self._tool_started.pop(event.call_id)

    @property
    def tools_running(self) -> bool:
        """A tool was called and has not answered yet (the stream is quiet by design meanwhile)."""
        return bool(self._tool_started)

    def finish(self, input_tokens: int, output_tokens: int, model_calls: int, cost_usd: float | None) -> None:
        self.ended = self.clock()
        self.input_tokens, self.output_tokens, self.model_calls = input_tokens, output_tokens, model_calls
        self.cost_usd = cost_usd

    def figures(self) -> TurnFigures:
        """The figures so far (all of them once `finish` was called): what `Done.stats` carries."""
        return TurnFigures(**self.to_json())

    def to_json(self) -> dict[str, Any]:
        total = (self.ended or self.clock()) - self.started
        first = None if self.first_text is None else self.first_text - self.started
        streaming = total - first if first is not None else 0.0
        return {
            "time_to_first_token_s": None if first is None else round(first, 3),
            "total_s": round(total, 3),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_per_second": round(self.output_tokens / streaming, 1) if streaming > 0 else None,
            "model_calls": self.model_calls,
            "tool_calls": self.tool_calls,
            "tool_seconds": round(self.tool_seconds, 3),
            "agent_path": list(self.agent_path),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }
