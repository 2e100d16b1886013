"""The openai client the app reaches providers with: `AsyncOpenAI`, parsing Responses stream events by type.

openai's own parse of a streamed event (`construct_type` on the `ResponseStreamEvent` union, openai 3.57)
first validates the event against all 59 event types in pydantic's smart-union mode, and only then looks at
the `type` field that names the one it is. That costs about 100 µs per event here, half of what a bare
`Runner.run_streamed` consumer spends per text delta, and the largest single cost of twenty chats streaming
at once (docs/performance.md, issue 16). Validating against the one type the event names gives the same
object in about 2 µs. Anything else (another kind of answer, an unknown event type, data that does not
validate) takes openai's own path, unchanged.

The Responses WebSocket transport parses its frames in the Agents SDK with openai's `construct_type`
directly, so it keeps the slow parse.
"""

from __future__ import annotations

from typing import Any, get_args

import pydantic
from openai import AsyncOpenAI
from openai.types.responses import ResponseStreamEvent

# "response.output_text.delta" -> ResponseTextDeltaEvent, ... (each event type names its `type` as a Literal)
EVENT_TYPES: dict[str, type[pydantic.BaseModel]] = {
    name: event_type
    for event_type in get_args(get_args(ResponseStreamEvent)[0])
    for name in get_args(event_type.model_fields["type"].annotation)
}


def parse_stream_event(data: object) -> Any | None:
    """The Responses stream event `data` is, validated as the type it names; None if it names none or fails."""
    name = data.get("type") if isinstance(data, dict) else None
    event_type = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if event_type is None:
        return None
    try:
        return event_type.model_validate(data)
    except pydantic.ValidationError:
        return None


class ProviderClient(AsyncOpenAI):
    """`AsyncOpenAI` whose Responses streams parse each event as the type it names (see the module's note)."""

    def _process_response_data(self, *, data: object, cast_to: Any, response: Any) -> Any:
        if cast_to is ResponseStreamEvent and (event := parse_stream_event(data)) is not None:
            return event
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)
