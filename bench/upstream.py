"""The benchmark upstream: an in-process SDK `Model` streaming a long answer at a set rate.

It plugs into the app exactly like the offline demo model (a `ModelProvider` in a `Backend`), so the
real `Runner`, guardrail, translation, batching, Gradio and SSE code all run. The answer is the words
`w0000 w0001 ...`, one word per text delta, so a client can spot the first and the last delta in any
wire format (full text, Gradio diffs, SSE events) with a substring search.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from agents import Model, ModelProvider, ModelResponse, ModelSettings, Usage
from openai.types.responses import Response, ResponseCompletedEvent, ResponseCreatedEvent, ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from agents_config import Backend, Settings, build_team
from agents_config.demo_model import DemoModel, _Pacer

ALLOWED = json.dumps({"blocked": False, "reason": "Benchmark traffic."})


def word(index: int) -> str:
    """The text of delta number `index` (without its leading space)."""
    return f"w{index:04d}"


def answer(deltas: int) -> str:
    return " ".join(word(i) for i in range(deltas))


@dataclass
class Upstream:
    """What the model streams now, and when each streamed answer's first and last delta left it.

    Times are `time.monotonic()`: CLOCK_MONOTONIC is system-wide on Linux, so they compare with
    the client's clock in another process.
    """

    rate: float = 1000.0  # deltas per second; <= 0 is as fast as possible
    deltas: int = 2000
    marks: list[dict[str, float]] = field(default_factory=list)


class BenchModel(Model):
    """Answers the guardrail check at once and every agent with `Upstream.deltas` paced text deltas.

    The message events come from the demo model's `_message_events`, so they are the same genuine
    Responses stream events the app sees offline.
    """

    def __init__(self, upstream: Upstream):
        self.upstream = upstream

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, **_):
        async for event in self._stream(output_schema, paced=False):
            if isinstance(event, ResponseCompletedEvent):
                final = event.response
        usage = final.usage
        return ModelResponse(
            output=list(final.output),
            usage=Usage(requests=1, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, total_tokens=usage.total_tokens),
            response_id=final.id,
        )

    async def stream_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, **_):
        async for event in self._stream(output_schema, paced=True):
            yield event

    async def _stream(self, schema: Any, *, paced: bool):
        upstream = self.upstream
        text = ALLOWED if schema is not None else answer(upstream.deltas)
        response_id = f"resp_{secrets.token_hex(6)}"
        seq = itertools.count()
        response = Response(
            id=response_id, created_at=time.time(), model="bench", object="response", output=[],
            tool_choice="auto", tools=[], parallel_tool_calls=False, status="in_progress",
        )
        started = time.monotonic()
        yield ResponseCreatedEvent(type="response.created", response=response, sequence_number=next(seq))
        clock = _Pacer(upstream.rate if paced else 0)
        await clock.first_token()
        output: list[Any] = []
        first = None
        for event, is_token in DemoModel._message_events(text, f"{response_id}_0", 0, seq, output):
            if is_token:
                await clock.tick()
                first = first or time.monotonic()
            yield event
        last = time.monotonic()
        tokens = upstream.deltas if schema is None else 1
        usage = ResponseUsage(
            input_tokens=10, output_tokens=tokens, total_tokens=10 + tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )
        completed = response.model_copy(update={"output": output, "status": "completed", "usage": usage})
        yield ResponseCompletedEvent(type="response.completed", response=completed, sequence_number=next(seq))
        if schema is None:
            upstream.marks.append({"start": started, "first": first or last, "last": last})


class BenchProvider(ModelProvider):
    def __init__(self, upstream: Upstream):
        self.model = BenchModel(upstream)

    def get_model(self, model_name: str | None):
        return self.model


def bench_team(settings: Settings, upstream: Upstream):
    """The app's real agent team (guardrail included) on the benchmark upstream."""
    backend = Backend(
        label="Benchmark upstream (in-process SDK Model)",
        provider=BenchProvider(upstream),
        model_settings=ModelSettings(include_usage=True),
        offline=True,
    )
    return build_team(settings, backend=backend)
