"""The offline demo model: a deterministic `Model` that drives the real Runner with no network.

It reads the conversation and the tools and handoffs it is offered, decides like a small agent
would (route, call a tool, read the tool output back, answer), and streams the result as genuine
Responses API stream events at a configurable pace, so everything downstream (the Runner, tools,
handoffs, guardrails, the UI and the HTTP API) runs exactly as it does with a real model.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from agents import Handoff, Model, ModelProvider, ModelResponse, ModelSettings, Tool, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.models.interface import ModelTracing
from agents.tracing import generation_span
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_reasoning_item import Summary
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

MODEL_NAME = "offline-demo"

# --- what the model "understands" -----------------------------------------------------------

_INVOICE_ID = re.compile(r"\bINV-\d{3,6}\b", re.IGNORECASE)
_BILLING = re.compile(
    r"\b(invoice|inv-\d+|bill(ed|ing)?|charged?|charges|payment|paid|pay|refund\w*|receipt|"
    r"subscription|price|cost|money back|overcharged)\b",
    re.IGNORECASE,
)
_REFUND = re.compile(
    r"\b(refund\w*|charged twice|double[- ]charged?|duplicate|twice|money back|reimburse)\b", re.IGNORECASE
)
_DOCS = re.compile(
    r"\b(how|where|docs?|documentation|password|api|key|keys|rate|limit|webhooks?|export|sso|"
    r"sign[- ]?on|saml|oidc|delete|offline|sync|notebooks?|setup|set up|configure)\b",
    re.IGNORECASE,
)
_OFF_LIMITS = re.compile(
    r"(another|other|someone else'?s?|different) (customer|user|person|account)|all (customers|users)|"
    r"card numbers?|\bcvv\b|(their|his|her) (invoice|data|email|address|password)|"
    r"ignore (all |any |your |the |previous )+(instructions|rules)",
    re.IGNORECASE,
)
_CANCEL = re.compile(r"\b(cancel\w*|unsubscribe)\b.{0,40}\b(subscription|plan)\b", re.IGNORECASE)
_QUESTION_WORDS = frozenset("how what where when why who which can could does the and you your for with".split())
_GREETING = re.compile(r"^\s*(hi|hello|hey|thanks|thank you|good (morning|afternoon|evening))\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Reasoning:
    text: str


@dataclass(frozen=True)
class _Message:
    text: str


@dataclass(frozen=True)
class _Call:
    name: str
    arguments: dict[str, Any]


_Part = _Reasoning | _Message | _Call


def _text_of(item: Any) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


@dataclass
class _Conversation:
    """What the model sees, split into the last user message and what happened since."""

    items: list[dict[str, Any]]

    @classmethod
    def parse(cls, input: str | list[TResponseInputItem]) -> _Conversation:
        if isinstance(input, str):
            return cls([{"role": "user", "content": input}])
        return cls([dict(item) for item in input])

    @property
    def _last_user_index(self) -> int:
        for index in range(len(self.items) - 1, -1, -1):
            if self.items[index].get("role") == "user":
                return index
        return -1

    @property
    def user_text(self) -> str:
        index = self._last_user_index
        return _text_of(self.items[index]) if index >= 0 else ""

    def tool_results(self) -> dict[str, list[tuple[dict[str, Any], str]]]:
        """This turn's function calls by tool name, each with its arguments and output."""
        turn = self.items[self._last_user_index + 1 :]
        outputs = {i["call_id"]: str(i.get("output", "")) for i in turn if i.get("type") == "function_call_output"}
        results: dict[str, list[tuple[dict[str, Any], str]]] = {}
        for item in turn:
            if item.get("type") == "function_call" and item.get("call_id") in outputs:
                try:
                    arguments = json.loads(item.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
                results.setdefault(item["name"], []).append((arguments, outputs[item["call_id"]]))
        return results

    def recent_invoice_id(self) -> str | None:
        """The invoice the user means: named now, or the last one the conversation talked about."""
        for item in [self.items[self._last_user_index], *reversed(self.items)]:
            text = _text_of(item) if "content" in item else str(item.get("output", item.get("arguments", "")))
            found = _INVOICE_ID.findall(text)
            if found:
                return found[-1].upper()
        return None


# --- decisions, one small policy per agent -----------------------------------------------------


def _decide(conversation: _Conversation, tools: list[Tool], handoffs: list[Handoff], schema: Any) -> list[_Part]:
    tool_names = {getattr(tool, "name", "") for tool in tools}
    routes = {handoff.agent_name: handoff.tool_name for handoff in handoffs}
    if schema is not None:
        return [_Message(_guardrail_verdict(conversation.user_text))]
    if "lookup_invoice" in tool_names:
        if _CANCEL.search(conversation.user_text) and "cancel_subscription" in tool_names:
            return _cancel(conversation)
        return _billing(conversation, routes)
    if "search_docs" in tool_names:
        return _support(conversation, routes)
    return _triage(conversation, routes)


def _guardrail_verdict(text: str) -> str:
    match = _OFF_LIMITS.search(text)
    if match:
        reason = f"It asks for data that is not yours ('{match.group(0)}')."
        return json.dumps({"blocked": True, "reason": reason})
    return json.dumps({"blocked": False, "reason": "It is about your own account or the product."})


def _is_billing(text: str) -> bool:
    return bool(_BILLING.search(text) or _CANCEL.search(text))


def _triage(conversation: _Conversation, routes: dict[str, str]) -> list[_Part]:
    text = conversation.user_text
    if _is_billing(text) and "Billing Agent" in routes:
        return [_Call(routes["Billing Agent"], {})]
    if not _GREETING.search(text) and (_DOCS.search(text) or "?" in text) and "Support Agent" in routes:
        return [_Call(routes["Support Agent"], {})]
    return [
        _Message(
            "Hi! I'm the Triage Agent of Nimbus support. I can pass you to the **Billing Agent** for "
            "invoices, charges and refunds, or to the **Support Agent** for how-to questions about "
            "Nimbus. For example, ask: *I was charged twice on invoice INV-1001, can you refund me?*"
        )
    ]


def _billing(conversation: _Conversation, routes: dict[str, str]) -> list[_Part]:
    text = conversation.user_text
    if not _is_billing(text) and _DOCS.search(text) and "Triage Agent" in routes:
        return [_Call(routes["Triage Agent"], {})]
    invoice_id = conversation.recent_invoice_id()
    if invoice_id is None:
        return [
            _Message(
                "Happy to help with billing. Which invoice is it about? The number looks like "
                "INV-1001 and is listed under Settings → Billing."
            )
        ]
    results = conversation.tool_results()
    lookups = [out for args, out in results.get("lookup_invoice", []) if args.get("invoice_id", "").upper() == invoice_id]
    if not lookups:
        reasoning = [
            _Reasoning(
                f"The customer is asking about {invoice_id}. I should look the invoice up before saying "
                "anything about it"
                + (", and only file a refund if it confirms a duplicate or wrong charge." if _REFUND.search(text) else ".")
            )
        ]
        return [*reasoning, _Call("lookup_invoice", {"invoice_id": invoice_id})]
    lookup = lookups[-1]
    refunds = [out for _, out in results.get("request_refund", [])]
    refundable = "duplicate charge" in lookup and "already granted" not in lookup
    if _REFUND.search(text) and refundable and not refunds:
        return [_Call("request_refund", {"invoice_id": invoice_id, "reason": "Duplicate charge reported by the customer"})]
    answer = [f"Here's what I found for **{invoice_id}**: {lookup}"]
    already = re.search(r"Refund (RF-[\w-]+) was already granted", lookup)
    if refunds:
        answer.append(refunds[-1])
        if refunds[-1].startswith("Refund RF"):
            answer.append("You'll see it on your card statement as a credit from Nimbus. Anything else I can check?")
    elif _REFUND.search(text) and already:
        answer = [f"The duplicate charge on **{invoice_id}** was already refunded ({already.group(1)}), so I haven't "
                  "filed a second refund. It reaches the card 5 to 10 business days after it was granted."]
    elif _REFUND.search(text) and not refundable and "belongs to another" not in lookup:
        answer.append("I don't see a duplicate or wrong charge to refund on this invoice, so I haven't filed a refund.")
    return [_Message(" ".join(answer))]


def _cancel(conversation: _Conversation) -> list[_Part]:
    """Ask for `cancel_subscription` (a person approves it first), then say what happened."""
    results = conversation.tool_results().get("cancel_subscription", [])
    if not results:
        return [
            _Reasoning("The customer asks to cancel the subscription. Cancelling needs a person's approval, so I'll request it."),
            _Call("cancel_subscription", {"reason": "The customer asked to cancel."}),
        ]
    output = results[-1][1]
    if output.startswith("Subscription cancelled"):
        return [_Message(f"Done: {output} You keep full access until then. Anything else I can help with?")]
    if "already cancelled" in output:
        return [_Message(output)]
    return [_Message("The cancellation was not approved, so nothing was cancelled: your subscription stays active. "
                     "Anything else I can help with?")]


def _support(conversation: _Conversation, routes: dict[str, str]) -> list[_Part]:
    text = conversation.user_text
    if _is_billing(text) and not _DOCS.search(text) and "Triage Agent" in routes:
        return [_Call(routes["Triage Agent"], {})]
    searches = conversation.tool_results().get("search_docs", [])
    if not searches:
        words = [w for w in re.findall(r"[A-Za-z0-9-]+", text) if len(w) > 2 and w.lower() not in _QUESTION_WORDS]
        query = " ".join(words)[:120] or text[:120]
        return [
            _Reasoning(f"This is a how-to question. I'll search the docs for “{query}” and answer from the best match."),
            _Call("search_docs", {"query": query}),
        ]
    output = searches[-1][1]
    if output.startswith("No documentation article"):
        return [_Message("I couldn't find that in the Nimbus docs. Could you rephrase it, or tell me which feature you mean?")]
    first = output.split("\n\n")[0]
    header, _, body = first.partition("\n")
    slug, _, title = header.partition("] ")
    return [_Message(f"Here's what the docs say in **{title}**: {body} _(source: `{slug.lstrip('[')}`)_")]


# --- streaming the decision as Responses API events -----------------------------------------------

_TOKEN = re.compile(r"\s*\S+")


def _chunks(text: str) -> list[str]:
    """Word-sized deltas whose concatenation is exactly the text."""
    pieces = _TOKEN.findall(text)
    tail = text[len("".join(pieces)) :]
    if tail:
        pieces.append(tail)
    return pieces


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


@contextlib.contextmanager
def _model_call_span(tracing: ModelTracing) -> Iterator[None]:
    """A generation span, as real models open one, so the trace timeline shows each model call."""
    span = generation_span(model=MODEL_NAME, disabled=tracing.is_disabled())
    span.start(mark_as_current=False)
    try:
        yield
    finally:
        span.finish()


class DemoModel(Model):
    """See the module docstring. `tokens_per_second <= 0` streams as fast as possible."""

    def __init__(self, tokens_per_second: float = 40.0):
        self.tokens_per_second = tokens_per_second

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        final: Response | None = None
        with _model_call_span(tracing):
            async for event in self._stream(system_instructions, input, tools, handoffs, output_schema, paced=False):
                if isinstance(event, ResponseCompletedEvent):
                    final = event.response
        assert final is not None and final.usage is not None
        usage = Usage(
            requests=1,
            input_tokens=final.usage.input_tokens,
            output_tokens=final.usage.output_tokens,
            total_tokens=final.usage.total_tokens,
        )
        return ModelResponse(output=list(final.output), usage=usage, response_id=final.id)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        with _model_call_span(tracing):
            async for event in self._stream(system_instructions, input, tools, handoffs, output_schema, paced=True):
                yield event

    async def _stream(
        self,
        instructions: str | None,
        input: str | list[TResponseInputItem],
        tools: list[Tool],
        handoffs: list[Handoff],
        schema: Any,
        *,
        paced: bool,
    ) -> AsyncIterator[TResponseStreamEvent]:
        parts = _decide(_Conversation.parse(input), tools, handoffs, schema)
        # Random, not a counter: call ids must stay unique in chats that outlive this process.
        response_id = f"resp_{secrets.token_hex(6)}"
        clock = _Pacer(self.tokens_per_second if paced else 0)
        seq = itertools.count()
        response = Response(
            id=response_id, created_at=time.time(), model=MODEL_NAME, object="response", output=[],
            tool_choice="auto", tools=[], parallel_tool_calls=False, status="in_progress",
        )
        yield ResponseCreatedEvent(type="response.created", response=response, sequence_number=next(seq))
        await clock.first_token()
        output: list[Any] = []
        for index, part in enumerate(parts):
            item_id = f"{response_id}_{index}"
            if isinstance(part, _Message):
                events = self._message_events(part.text, item_id, index, seq, output)
            elif isinstance(part, _Reasoning):
                events = self._reasoning_events(part.text, item_id, index, seq, output)
            else:
                events = self._call_events(part, item_id, index, seq, output)
            for event, is_token in events:
                if is_token:
                    await clock.tick()
                yield event
        input_tokens = _estimate_tokens((instructions or "") + json.dumps(input, default=str))
        output_tokens = sum(_estimate_tokens(getattr(p, "text", "") or json.dumps(getattr(p, "arguments", {}))) for p in parts)
        usage = ResponseUsage(
            input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )
        completed = response.model_copy(update={"output": output, "status": "completed", "usage": usage})
        yield ResponseCompletedEvent(type="response.completed", response=completed, sequence_number=next(seq))

    @staticmethod
    def _message_events(text: str, item_id: str, index: int, seq: Iterable[int], output: list[Any]):
        seq = iter(seq)
        empty = ResponseOutputMessage(id=item_id, type="message", role="assistant", status="in_progress", content=[])
        yield ResponseOutputItemAddedEvent(type="response.output_item.added", item=empty, output_index=index, sequence_number=next(seq)), False
        part = ResponseOutputText(type="output_text", text="", annotations=[], logprobs=[])
        common = {"item_id": item_id, "output_index": index, "content_index": 0}
        yield ResponseContentPartAddedEvent(type="response.content_part.added", part=part, sequence_number=next(seq), **common), False
        for delta in _chunks(text):
            yield ResponseTextDeltaEvent(type="response.output_text.delta", delta=delta, logprobs=[], sequence_number=next(seq), **common), True
        yield ResponseTextDoneEvent(type="response.output_text.done", text=text, logprobs=[], sequence_number=next(seq), **common), False
        done_part = part.model_copy(update={"text": text})
        yield ResponseContentPartDoneEvent(type="response.content_part.done", part=done_part, sequence_number=next(seq), **common), False
        message = empty.model_copy(update={"status": "completed", "content": [done_part]})
        output.append(message)
        yield ResponseOutputItemDoneEvent(type="response.output_item.done", item=message, output_index=index, sequence_number=next(seq)), False

    @staticmethod
    def _reasoning_events(text: str, item_id: str, index: int, seq: Iterable[int], output: list[Any]):
        seq = iter(seq)
        empty = ResponseReasoningItem(id=item_id, type="reasoning", summary=[])
        yield ResponseOutputItemAddedEvent(type="response.output_item.added", item=empty, output_index=index, sequence_number=next(seq)), False
        common = {"item_id": item_id, "output_index": index, "summary_index": 0}
        yield ResponseReasoningSummaryPartAddedEvent(
            type="response.reasoning_summary_part.added", part={"type": "summary_text", "text": ""}, sequence_number=next(seq), **common
        ), False
        for delta in _chunks(text):
            yield ResponseReasoningSummaryTextDeltaEvent(
                type="response.reasoning_summary_text.delta", delta=delta, sequence_number=next(seq), **common
            ), True
        yield ResponseReasoningSummaryTextDoneEvent(type="response.reasoning_summary_text.done", text=text, sequence_number=next(seq), **common), False
        yield ResponseReasoningSummaryPartDoneEvent(
            type="response.reasoning_summary_part.done", part={"type": "summary_text", "text": text}, sequence_number=next(seq), **common
        ), False
        item = empty.model_copy(update={"summary": [Summary(type="summary_text", text=text)]})
        output.append(item)
        yield ResponseOutputItemDoneEvent(type="response.output_item.done", item=item, output_index=index, sequence_number=next(seq)), False

    @staticmethod
    def _call_events(call: _Call, item_id: str, index: int, seq: Iterable[int], output: list[Any]):
        seq = iter(seq)
        arguments = json.dumps(call.arguments)
        call_id = f"call_{item_id}"
        empty = ResponseFunctionToolCall(
            id=item_id, call_id=call_id, type="function_call", name=call.name, arguments="", status="in_progress"
        )
        yield ResponseOutputItemAddedEvent(type="response.output_item.added", item=empty, output_index=index, sequence_number=next(seq)), False
        yield ResponseFunctionCallArgumentsDeltaEvent(
            type="response.function_call_arguments.delta", delta=arguments, item_id=item_id, output_index=index, sequence_number=next(seq)
        ), True
        yield ResponseFunctionCallArgumentsDoneEvent(
            type="response.function_call_arguments.done", arguments=arguments, name=call.name, item_id=item_id,
            output_index=index, sequence_number=next(seq),
        ), False
        item = empty.model_copy(update={"arguments": arguments, "status": "completed"})
        output.append(item)
        yield ResponseOutputItemDoneEvent(type="response.output_item.done", item=item, output_index=index, sequence_number=next(seq)), False


class _Pacer:
    """Sleeps so that deltas come out at a steady rate, without drift."""

    def __init__(self, tokens_per_second: float):
        self.interval = 1.0 / tokens_per_second if tokens_per_second > 0 else 0.0
        self.next_at = 0.0

    async def first_token(self) -> None:
        # A real model takes a moment before its first token; about eight token times, at most 0.3 s.
        if self.interval:
            await asyncio.sleep(min(0.3, 8 * self.interval))
            self.next_at = time.monotonic()

    async def tick(self) -> None:
        if not self.interval:
            return
        self.next_at += self.interval
        delay = self.next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class DemoModelProvider(ModelProvider):
    """Answers every model name with the demo model, so agents keep the configured model name."""

    def __init__(self, tokens_per_second: float = 40.0):
        self.model = DemoModel(tokens_per_second)

    def get_model(self, model_name: str | None) -> Model:
        return self.model
