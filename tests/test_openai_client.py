"""agents_config/openai_client.py: Responses stream events parsed as the type they name give what openai gives.

`ProviderClient` skips openai's smart-union validation of every streamed event (issue 16). These tests hold
it to openai's own result: the same class and the same fields for every event the loopback fake streams and
for hand-made events of other kinds, openai's own answer for anything the fast path declines, and the fast
path really taken when the app's backend streams a turn (so a renamed hook cannot silently turn it off).
"""

from __future__ import annotations

import json
from typing import Any, get_args

import httpx2
import openai._models
import pytest
from agents import Agent, OpenAIProvider, RunConfig, Runner
from openai import AsyncOpenAI
from openai._models import construct_type, validate_type
from openai.types.responses import ResponseStreamEvent

from agents_config import Settings, build_backend
from agents_config.openai_client import EVENT_TYPES, ProviderClient, parse_stream_event
from tests.fake_openai import FakeOpenAI, Step, call, responses_events, serve_fake, text

KEY = "sk-test-SECRET123"
STREAM_EVENT_UNION = get_args(ResponseStreamEvent)[0]  # ResponseStreamEvent is Annotated[Union[...], ...]


def openai_parse(data: object) -> Any:
    """What openai's own client makes of one streamed event's data."""
    return construct_type(type_=ResponseStreamEvent, value=data)


def openai_validates(data: object) -> bool:
    """Whether openai's strict union validation accepts `data` (otherwise openai builds an unchecked object)."""
    try:
        validate_type(type_=STREAM_EVENT_UNION, value=data)
    except Exception:  # noqa: BLE001 - any failure sends openai to its loose construction
        return False
    return True


def assert_same_as_openai(data: dict) -> None:
    assert openai_validates(data), "a test payload openai itself rejects proves nothing here"
    ours, theirs = parse_stream_event(data), openai_parse(data)
    assert ours is not None, f"the fast path declined a valid {data['type']} event"
    assert type(ours) is type(theirs)
    assert ours.model_dump() == theirs.model_dump()
    assert ours.model_dump(exclude_unset=True) == theirs.model_dump(exclude_unset=True)
    assert repr(ours) == repr(theirs)  # nested values are the same model classes too, not plain dicts


# --- a. the same objects as openai's own parse ---------------------------------------------------------


def fake_stream_events() -> list[dict]:
    """Every event the loopback fake streams: a text answer, a function call, both in one answer."""
    fake, body = FakeOpenAI(), {"model": "fake-model", "instructions": "Be brief."}
    steps = [text("Invoices are emailed on the first day of each month."),
             call("lookup_invoice", invoice_id="INV-1001"),
             Step(text="Let me look.", call=("lookup_invoice", '{"invoice_id": "INV-7"}'))]
    return [event for step in steps for event in responses_events(fake, step, body)]


def test_fake_server_events_cover_text_and_function_calls():
    kinds = {event["type"] for event in fake_stream_events()}
    assert {"response.created", "response.output_text.delta", "response.function_call_arguments.delta",
            "response.output_item.done", "response.completed"} <= kinds


@pytest.mark.parametrize("data", fake_stream_events(), ids=lambda d: f"{d['sequence_number']}-{d['type']}")
def test_fake_server_event_parses_as_openai_parses_it(data):
    assert_same_as_openai(data)


WHERE = {"item_id": "rs_1", "output_index": 0, "sequence_number": 7}
HAND_MADE = [
    {"type": "response.reasoning_summary_part.added", **WHERE, "summary_index": 0,
     "part": {"type": "summary_text", "text": ""}},
    {"type": "response.reasoning_summary_text.delta", **WHERE, "summary_index": 0, "delta": "Checking the "},
    {"type": "response.reasoning_summary_text.done", **WHERE, "summary_index": 0, "text": "Checking the invoice."},
    {"type": "response.reasoning_text.delta", **WHERE, "content_index": 0, "delta": "step 1"},
    {"type": "response.output_item.added", "output_index": 0, "sequence_number": 1,
     "item": {"id": "rs_1", "type": "reasoning", "summary": [], "status": "in_progress"}},
    {"type": "response.refusal.delta", **WHERE, "content_index": 0, "delta": "I can't"},
    {"type": "response.output_text.annotation.added", **WHERE, "content_index": 0, "annotation_index": 0,
     "annotation": {"type": "url_citation", "url": "https://example.invalid/", "title": "x",
                    "start_index": 0, "end_index": 3}},
    {"type": "error", "code": "server_error", "message": "The server had an error.", "param": None,
     "sequence_number": 3},
    {"type": "response.web_search_call.searching", **WHERE},
    # Extra fields a newer server may send are kept, as openai keeps them.
    {"type": "response.output_text.delta", **WHERE, "content_index": 0, "delta": "Hi", "logprobs": [],
     "obfuscation": "abc", "something_new": {"nested": [1, 2]}},
    # Nothing optional given: the defaults openai fills in must match.
    {"type": "response.output_text.delta", **WHERE, "content_index": 0, "delta": "Hi", "logprobs": []},
]


@pytest.mark.parametrize("data", HAND_MADE, ids=lambda d: d["type"])
def test_hand_made_event_parses_as_openai_parses_it(data):
    assert_same_as_openai(data)


def test_every_event_type_openai_knows_is_on_the_fast_path():
    # EVENT_TYPES is derived from openai's union: a new event type in openai must not fall off it.
    union_members = set(get_args(STREAM_EVENT_UNION))
    assert set(EVENT_TYPES.values()) == union_members
    assert EVENT_TYPES["response.output_text.delta"].__name__ == "ResponseTextDeltaEvent"


# --- b. anything else takes openai's path ----------------------------------------------------------------

DECLINED = {
    "unknown type": {"type": "response.something_new", "delta": "x"},
    "no type": {"delta": "x"},
    "invalid data": {"type": "response.output_text.delta", "delta": 5},  # wrong type, required fields missing
    "a string": "just text",
    "a list": [1, 2],
    "a number": 3,
}
# An unhashable "type" (a list, an object) is declined too: a dict lookup with it would raise TypeError.
UNHASHABLE_TYPE = {"list as type": {"type": ["x"], "delta": "x"}, "dict as type": {"type": {"a": 1}}}
FALLBACK_CASES = [pytest.param(data, id=name) for name, data in {**DECLINED, **UNHASHABLE_TYPE}.items()]


@pytest.mark.parametrize("data", FALLBACK_CASES)
def test_fast_path_declines_what_it_cannot_name(data):
    assert not openai_validates(data)  # openai builds these unchecked: only its own path may do that
    assert parse_stream_event(data) is None


def sse_client(client_class: type[AsyncOpenAI], events: list[object]) -> AsyncOpenAI:
    """A client whose every request is answered with `events` as a Responses SSE stream (real bytes, no socket)."""
    body = "".join(f"event: {e['type'] if isinstance(e, dict) and isinstance(e.get('type'), str) else 'x'}\n"
                   f"data: {json.dumps(e)}\n\n" for e in events)

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})

    transport = httpx2.MockTransport(answer)
    return client_class(api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=0,
                        http_client=httpx2.AsyncClient(transport=transport))


async def stream_through(client_class: type[AsyncOpenAI], events: list[object]) -> list[Any]:
    client = sse_client(client_class, events)
    try:
        stream = await client.responses.create(model="fake-model", input="hi", stream=True)
        return [event async for event in stream]
    finally:
        await client.close()


def described(value: Any) -> tuple[str, Any]:
    return type(value).__name__, value.model_dump(warnings=False) if hasattr(value, "model_dump") else value


@pytest.mark.parametrize("data", FALLBACK_CASES)
async def test_provider_client_streams_what_openai_streams(data):
    # A valid event around the odd one, so the stream goes on after it as openai's does.
    delta = {"type": "response.output_text.delta", **WHERE, "content_index": 0, "delta": "ok", "logprobs": []}
    events = [delta, data, delta]
    theirs = await stream_through(AsyncOpenAI, events)
    ours = await stream_through(ProviderClient, events)
    assert [described(e) for e in ours] == [described(e) for e in theirs]
    assert len(ours) == 3


# --- c. the app's backend really takes the fast path ------------------------------------------------------


class ParseCounter:
    """Counts openai's union validations of Responses stream events (the slow parse), then delegates."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        original = openai._models._validate_non_model_type

        def counting(*, type_, value):
            if type_ in (ResponseStreamEvent, STREAM_EVENT_UNION):  # construct_type strips the Annotated
                self.calls += 1
            return original(type_=type_, value=value)

        monkeypatch.setattr(openai._models, "_validate_non_model_type", counting)


async def raw_events_of_a_run(run_config: RunConfig) -> int:
    agent = Agent(name="Support", instructions="Be brief.", model="fake-model")
    result = Runner.run_streamed(agent, "When are invoices sent?", run_config=run_config)
    raw = 0
    async for event in result.stream_events():
        raw += event.type == "raw_response_event"
    assert result.final_output == "Invoices are emailed on the first day of each month."
    return raw


@pytest.fixture
def fake():
    with serve_fake() as server:
        yield server


async def test_app_backend_parses_stream_events_without_openai_union_validation(fake, monkeypatch):
    settings = Settings(openai_api_key=KEY, openai_base_url=fake.base_url, model="fake-model", max_retries=0,
                        request_timeout=10, session_db_url=":memory:", api="responses", transport="http")
    counter = ParseCounter(monkeypatch)

    # The probe works: openai's own client, same run, validates every streamed event through the union.
    plain = AsyncOpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0, timeout=10)
    fake.script(text("Invoices are emailed on the first day of each month."))
    try:
        raw = await raw_events_of_a_run(RunConfig(model_provider=OpenAIProvider(openai_client=plain,
                                                                                use_responses=True)))
    finally:
        await plain.close()
    assert raw >= 5 and counter.calls >= raw

    # The app's backend: the same answer, not one event through the union.
    counter.calls = 0
    backend = build_backend(settings)
    fake.script(text("Invoices are emailed on the first day of each month."))
    try:
        async with backend.run_config() as run_config:
            raw = await raw_events_of_a_run(run_config)
    finally:
        await backend.aclose()
    assert raw >= 5
    assert counter.calls == 0, f"{counter.calls} streamed events took openai's slow union validation"
