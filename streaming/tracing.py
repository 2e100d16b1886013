"""The SDK's own tracing spans, kept locally per turn for the trace timeline.

A `TracingProcessor` sees every span the Runner, the models and the tools open. The collector keeps
the finished spans of the most recent traces in memory (bounded), and `run_turn` takes its turn's
spans by trace id when it ends. Uploading to the OpenAI dashboard stays a separate choice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from agents import set_trace_processors, set_tracing_disabled
from agents.tracing import Span, Trace, TracingProcessor
from agents.tracing.processors import default_processor

_LABELS = {
    "agent": lambda d: f"agent · {d.name}",
    "function": lambda d: f"tool · {d.name}",
    "generation": lambda d: f"model call · {d.model or 'model'}",
    "response": lambda d: "model call",
    "handoff": lambda d: f"handoff · {d.from_agent} → {d.to_agent}",
    "guardrail": lambda d: f"guardrail · {d.name}" + (" (tripped)" if d.triggered else ""),
}
SHOWN_KINDS = frozenset(_LABELS)


@dataclass(frozen=True)
class SpanRecord:
    span_id: str
    parent_id: str | None
    kind: str
    label: str
    started: datetime
    ended: datetime
    failed: bool = False

    @property
    def seconds(self) -> float:
        return (self.ended - self.started).total_seconds()


@dataclass(frozen=True)
class TraceSpan:
    """One bar of a turn's timeline (`Done.trace`): offsets from the turn's first span, in seconds."""

    span_id: str
    parent_id: str | None
    kind: str  # "agent", "function", "generation", "response", "handoff", "guardrail"
    label: str
    start_s: float
    duration_s: float
    failed: bool = False


class TurnTraceCollector(TracingProcessor):
    def __init__(self, max_traces: int = 512):
        self.max_traces = max_traces
        self._spans: OrderedDict[str, list[SpanRecord]] = OrderedDict()
        self._lock = threading.Lock()  # the SDK may end spans from worker threads

    def on_span_end(self, span: Span) -> None:
        data = span.span_data
        if data.type not in SHOWN_KINDS or not span.started_at or not span.ended_at:
            return
        record = SpanRecord(
            span_id=span.span_id,
            parent_id=span.parent_id,
            kind=data.type,
            label=_LABELS[data.type](data),
            started=datetime.fromisoformat(span.started_at),
            ended=datetime.fromisoformat(span.ended_at),
            failed=span.error is not None,
        )
        with self._lock:
            self._spans.setdefault(span.trace_id, []).append(record)
            self._spans.move_to_end(span.trace_id)
            while len(self._spans) > self.max_traces:
                self._spans.popitem(last=False)

    def take(self, trace_id: str | None) -> list[SpanRecord]:
        """The turn's spans in start order; they are forgotten here once taken."""
        with self._lock:
            spans = self._spans.pop(trace_id, []) if trace_id else []
        return sorted(spans, key=lambda s: s.started)

    def on_trace_start(self, trace: Trace) -> None:
        pass

    def on_trace_end(self, trace: Trace) -> None:
        pass

    def on_span_start(self, span: Span) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


_collector: TurnTraceCollector | None = None


def install_collector(upload: bool) -> TurnTraceCollector:
    """Collect spans locally; keep the SDK's upload to the OpenAI dashboard only when `upload`.

    Tracing is process-wide in the SDK, so there is one collector per process.
    """
    global _collector
    if _collector is None:
        _collector = TurnTraceCollector()
    # Replacing the processors (rather than disabling tracing) keeps spans local and uploads nothing.
    set_trace_processors([default_processor(), _collector] if upload else [_collector])
    set_tracing_disabled(False)
    return _collector


def turn_spans(trace_id: str | None) -> list[SpanRecord]:
    """The finished spans of one trace, when the collector is installed."""
    return _collector.take(trace_id) if _collector is not None else []


def timeline(spans: list[SpanRecord]) -> list[TraceSpan]:
    """Spans as offsets from the first one, in seconds: the timeline's data."""
    if not spans:
        return []
    origin = spans[0].started
    return [
        TraceSpan(
            span_id=span.span_id,
            parent_id=span.parent_id,
            kind=span.kind,
            label=span.label,
            start_s=round((span.started - origin).total_seconds(), 4),
            duration_s=round(span.seconds, 4),
            failed=span.failed,
        )
        for span in spans
    ]
